"""What the circuit breaker counts: faults, once per client request; never load signals.

A breaker is for a target that is broken (connection failures, timeouts, 5xx that are not overload,
malformed answers). A 429 or a 529 (or a 503 that says "overloaded") is the upstream saying "busy":
it rests the target for a moment instead. Before this was so, one client request meeting a 529
made three attempts that each counted, two such requests opened the breaker, and every request,
healthy ones included, was refused for the whole cooldown.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

import anthropic
import pytest
from failover_conftest import Served, provider_entry

from aimux_core.state import CircuitState, FakeClock, MemoryStore
from aimux_core.state.breaker import CircuitBreaker
from aimux_core.state.breaker_model import BreakerSettings, BreakerState
from fakes import Fault, Reply
from fakes.anthropic_upstream import AnthropicUpstream

pytestmark = pytest.mark.timeout(60)


def single_route(fake: AnthropicUpstream, **top: Any) -> dict[str, Any]:
    return {
        "providers": {"solo": provider_entry(fake)},
        "models": {"solo-model": {"provider": "solo", "upstream_model": "solo-1"}},
        **top,
    }


def breaker_record(served: Served, provider: str = "solo") -> BreakerState:
    """The provider's breaker as the store holds it (what every instance decides from)."""
    return BreakerState.from_item(asyncio.run(served.store.get(f"breaker#{provider}", "state")))


@pytest.mark.parametrize(
    "fault",
    [
        lambda: Fault.http(529),
        lambda: Fault.http(503, error_type="overloaded_error", message="Overloaded"),
        lambda: Fault.http(429, headers={"retry-after-ms": "50"}),
    ],
    ids=["529", "503-overloaded", "429"],
)
def test_load_signals_never_open_the_breaker(
    anthropic_upstream: AnthropicUpstream, aimux: Callable[..., Served], fault: Callable[[], Fault]
) -> None:
    """Four client requests meet nothing but load signals (twelve attempts, more than twice the
    breaker's threshold of 5): the breaker stays closed with no failure counted, and the next request
    is served by the recovered upstream instead of being refused."""
    anthropic_upstream.enqueue(*[fault() for _ in range(12)])
    served = aimux(single_route(anthropic_upstream))
    client = served.anthropic()
    for _ in range(4):
        with pytest.raises(anthropic.APIStatusError) as caught:
            client.messages.create(model="solo-model", max_tokens=64, messages=[{"role": "user", "content": "hi"}])
        headers = caught.value.response.headers
        assert headers["x-aimux-attempts"] == "3"
        assert int(headers["retry-after"]) >= 1 and int(headers["retry-after-ms"]) >= 1
    record = breaker_record(served)
    assert record.state is CircuitState.CLOSED and record.consecutive_failures == 0
    headers, message = served.ask("solo-model")
    assert message.content[0].text == Reply().text and headers["x-aimux-attempts"] == "1"
    assert len(anthropic_upstream.message_requests) == 13


def test_plain_503_is_a_fault(anthropic_upstream: AnthropicUpstream, aimux: Callable[..., Served]) -> None:
    """A 503 that does not say "overloaded" (no backend, maintenance page) is a fault: it counts."""
    anthropic_upstream.enqueue(*[Fault.http(503, body="<html>no healthy upstream</html>") for _ in range(3)])
    served = aimux(single_route(anthropic_upstream))
    with pytest.raises(anthropic.APIStatusError) as caught:
        served.ask("solo-model")
    assert breaker_record(served).consecutive_failures == 1
    headers = caught.value.response.headers  # still a 529 to the client: it says when to come back
    assert caught.value.status_code == 529 and headers["retry-after"] == "1" and headers["x-aimux-attempts"] == "3"


def test_one_client_request_counts_once_however_many_attempts(
    anthropic_upstream: AnthropicUpstream, aimux: Callable[..., Served]
) -> None:
    """Three broken attempts in one request count one failure; five such requests open the breaker
    (threshold 5), and the sixth, with every target down, is still tried (``when_all_down: try``)."""
    anthropic_upstream.enqueue(*[Fault.disconnect() for _ in range(14)])
    served = aimux(single_route(anthropic_upstream))
    for count in range(1, 5):
        with pytest.raises(anthropic.APIStatusError) as caught:
            served.ask("solo-model")
        assert caught.value.response.headers["x-aimux-attempts"] == "3"
        record = breaker_record(served)
        assert (record.state, record.consecutive_failures) == (CircuitState.CLOSED, count)
    with pytest.raises(anthropic.APIStatusError) as caught:
        served.ask("solo-model")
    # its first failure opened the circuit; with nowhere else to go it was called once more anyway
    assert caught.value.response.headers["x-aimux-attempts"] == "2"
    assert breaker_record(served).state is CircuitState.OPEN
    headers, message = served.ask("solo-model")  # the upstream is back; its circuit is still open
    assert message.content[0].text == Reply().text
    assert headers["x-aimux-route"].endswith("all targets down")


def test_open_circuit_is_refused_at_once_when_configured(
    anthropic_upstream: AnthropicUpstream, aimux: Callable[..., Served]
) -> None:
    """``retry.when_all_down: refuse``: a 529 without trying, with retry-after from the breaker's
    cooldown and ``x-aimux-attempts: 0``."""
    anthropic_upstream.enqueue(*[Fault.disconnect() for _ in range(15)])
    served = aimux(single_route(anthropic_upstream, retry={"when_all_down": "refuse"}))
    for _ in range(5):
        with pytest.raises(anthropic.APIStatusError):
            served.ask("solo-model")
    with pytest.raises(anthropic.APIStatusError) as caught:
        served.ask("solo-model")
    error = caught.value
    assert error.status_code == 529 and "circuit open" in error.message
    assert error.response.headers["x-aimux-attempts"] == "0"
    assert 1 <= int(error.response.headers["retry-after"]) <= 30
    # four requests of three attempts; the fifth opened the circuit with its first and stopped there
    assert len(anthropic_upstream.message_requests) == 13


@pytest.mark.anyio
async def test_a_probe_that_meets_a_load_signal_frees_its_slot() -> None:
    """Half-open, one probe slot: a probe answered 429 proves nothing either way, so the breaker stays
    half-open and the next request may probe (before, the slot stayed taken until its lease expired)."""
    clock = FakeClock()
    breaker = CircuitBreaker(MemoryStore(clock), clock, BreakerSettings(failure_threshold=1, cooldown_seconds=5))
    opener = await breaker.allow("p")
    await breaker.record_failure("p", opener)
    clock.advance(6)
    probe = await breaker.allow("p")
    assert probe.is_probe and not (await breaker.allow("p")).allowed, "the only probe slot is taken"
    await breaker.record_neutral("p", probe)
    again = await breaker.allow("p")
    assert again.allowed and again.is_probe
    assert (await breaker.snapshot(["p"]))["p"].state is CircuitState.HALF_OPEN


def test_a_stream_failing_after_an_earlier_attempt_counts_once(
    anthropic_upstream: AnthropicUpstream, aimux: Callable[..., Served]
) -> None:
    """First attempt broken before any content, second cut mid-stream (after content reached the
    client): one request, one failure on the breaker."""
    anthropic_upstream.enqueue(Fault.disconnect(), Fault.reset(after_events=4, reply=Reply(text="x" * 200)))
    served = aimux(single_route(anthropic_upstream))
    with pytest.raises(anthropic.APIError), served.anthropic().messages.stream(
        model="solo-model", max_tokens=64, messages=[{"role": "user", "content": "hi"}]
    ) as stream:
        for _ in stream:
            pass
    assert len(anthropic_upstream.message_requests) == 2
    assert breaker_record(served).consecutive_failures == 1
