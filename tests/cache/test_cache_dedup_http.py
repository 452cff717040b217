"""In-flight dedup over real HTTP, in one gateway: duplicates wait for the first request's answer.

The first request reaches a fake upstream that stalls; identical requests sent while it runs must not
reach the upstream (its request count proves it), and get the first answer, as a stream when they asked
for one. When the first request fails, or takes longer than ``max_wait_seconds``, they call the upstream
themselves. Requests nobody opted into the cache are never held back. (Two gateway processes sharing one
table, and a leader killed mid-request: ``tests/e2e_state/test_state_e2e_response_cache.py``.)
"""

from __future__ import annotations

import time
from collections.abc import Callable

import anthropic
import pytest
from cache_support import MODEL, PROMPT, CachedGateway, cached_gateway

from aimux_core.accounting.metrics import local_metrics
from fakes import Fault, Reply
from fakes.anthropic_upstream import AnthropicUpstream
from support.threaded_call import ThreadedCall

ANSWER = Reply(text="The first request's answer.")
SECTION = {"mode": "use", "sampling": True, "lease_seconds": 3}


def wait_for_upstream_requests(upstream: AnthropicUpstream, count: int, seconds: float = 15.0) -> None:
    deadline = time.monotonic() + seconds
    while len(upstream.message_requests) < count:
        assert time.monotonic() < deadline, f"the upstream saw {len(upstream.message_requests)} of {count} requests"
        time.sleep(0.02)


def send(served: CachedGateway, *, stream: bool = False, **headers: str) -> ThreadedCall:
    """One identical request to ``served`` on its own thread."""
    return ThreadedCall(served.url, model=MODEL, messages=PROMPT, stream=stream, headers=headers)


def dedup_saved() -> float:
    return float(local_metrics().snapshot()["aggregate"]["DedupSaved"])


def leader_then_duplicates(
    served: CachedGateway, upstream: AnthropicUpstream, make: Callable[[int], ThreadedCall], count: int
) -> tuple[ThreadedCall, list[ThreadedCall]]:
    leader = send(served)
    wait_for_upstream_requests(upstream, 1)
    duplicates = [make(index) for index in range(count)]
    return leader.result(), [call.result() for call in duplicates]


def test_duplicates_in_flight_wait_for_the_first_answer_as_buffered_or_stream(
    anthropic_upstream: AnthropicUpstream,
) -> None:
    anthropic_upstream.enqueue(Fault.stall(1.5, reply=ANSWER))
    before = dedup_saved()
    with cached_gateway(anthropic_upstream.base_url, SECTION) as served:
        leader, duplicates = leader_then_duplicates(
            served, anthropic_upstream, lambda index: send(served, stream=index % 2 == 1), 4
        )
    assert len(anthropic_upstream.message_requests) == 1
    assert (leader.headers["x-aimux-cache"], leader.headers["x-aimux-dedup"]) == ("stored", "leader")
    for call in duplicates:
        assert (call.headers["x-aimux-cache"], call.headers["x-aimux-dedup"]) == ("hit", "waited")
        assert call.message.model_dump() == leader.message.model_dump()
    assert dedup_saved() - before == 4


def test_when_the_first_request_fails_the_duplicates_call_the_upstream_themselves(
    anthropic_upstream: AnthropicUpstream,
) -> None:
    """The leader's call times out (no retry): its lease is given up at once, and the waiters fall back
    (one that polls after another's fallback answer was stored takes that answer)."""
    anthropic_upstream.enqueue(Fault.stall(3.0, reply=ANSWER))
    anthropic_upstream.default = Reply(text="A fallback answer.")
    top = {"retry": {"max_attempts": 1, "backoff_base": 0, "backoff_max": 0},
           "providers": {"up": {"preset": "anthropic", "base_url": anthropic_upstream.base_url,
                                "timeouts": {"total": 1.0, "first_byte": 1.0}}}}  # fmt: skip
    with cached_gateway(anthropic_upstream.base_url, SECTION, **top) as served:
        leader = send(served)
        wait_for_upstream_requests(anthropic_upstream, 1)
        duplicates = [send(served, stream=index == 0) for index in range(3)]
        with pytest.raises(anthropic.APIStatusError):
            leader.result()
        answers = [call.result() for call in duplicates]
    fell_back = [call for call in answers if call.headers["x-aimux-dedup"] == "fallback"]
    assert fell_back, "no waiter called the upstream itself"
    assert all(call.headers["x-aimux-cache"] == ("miss" if call.stream else "stored") for call in fell_back)
    # a waiter that polls after a fallback's answer was stored takes that one: still no extra call
    assert all(call.headers["x-aimux-cache"] == "hit" for call in answers if call not in fell_back)
    assert len(anthropic_upstream.message_requests) == 1 + len(fell_back)
    assert all(call.message.content[0].text == "A fallback answer." for call in answers)


def test_a_duplicate_waits_at_most_max_wait_seconds_then_calls_the_upstream(
    anthropic_upstream: AnthropicUpstream,
) -> None:
    anthropic_upstream.enqueue(Fault.stall(2.5, reply=ANSWER))
    anthropic_upstream.default = Reply(text="Did not wait any longer.")
    with cached_gateway(anthropic_upstream.base_url, {**SECTION, "max_wait_seconds": 0.3}) as served:
        leader, (impatient,) = leader_then_duplicates(served, anthropic_upstream, lambda _: send(served), 1)
    assert len(anthropic_upstream.message_requests) == 2
    assert (impatient.headers["x-aimux-dedup"], impatient.headers["x-aimux-cache"]) == ("timeout", "stored")
    assert impatient.message.content[0].text == "Did not wait any longer."
    assert leader.message.content[0].text == ANSWER.full_text


def test_requests_nobody_opted_in_are_never_held_back(anthropic_upstream: AnthropicUpstream) -> None:
    anthropic_upstream.enqueue(Fault.stall(1.0, reply=ANSWER))
    with cached_gateway(anthropic_upstream.base_url, {"mode": "off"}) as served:
        leader, others = leader_then_duplicates(served, anthropic_upstream, lambda _: send(served), 2)
        opted_out = [send(served, **{"x-aimux-cache": "off"}) for _ in range(2)]
        for call in opted_out:
            call.result()
    assert len(anthropic_upstream.message_requests) == 5
    assert all("x-aimux-dedup" not in call.headers for call in [leader, *others, *opted_out])
