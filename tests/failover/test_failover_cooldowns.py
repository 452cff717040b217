"""Cooldowns are the fleet's, not one process's: what one instance learns, the others skip.

Two gateways on one store stand for two Lambda instances. Before, each kept its own cooldowns, so
every instance paid one wasted attempt (and the latency of a failover) to learn a target's 429.
Cooldowns shorter than the health view's age (2 s) stay local: they would be over before another
instance read them, and a burst of 529s then costs no store writes.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

import anthropic
import pytest
from failover_conftest import Served, provider_entry

from aimux_core.errors import UpstreamError
from aimux_core.state import FakeClock, HealthTracker, MemoryStore, SystemClock
from aimux_core.state.cooldowns import COOLDOWN_SK, Cooldown, Cooldowns, cooldown_pk
from fakes import Fault, Reply
from fakes.anthropic_upstream import AnthropicUpstream
from fakes.openai_upstream import OpenAIUpstream

pytestmark = pytest.mark.timeout(60)


def two_providers(first: AnthropicUpstream, second: OpenAIUpstream, **top: Any) -> dict[str, Any]:
    return {
        "providers": {"first": provider_entry(first), "second": provider_entry(second)},
        "models": {
            "first-model": {"provider": "first", "upstream_model": "up-first"},
            "second-model": {"provider": "second", "upstream_model": "up-second"},
        },
        "routes": {"default": [["first-model"], ["second-model"]]},
        **top,
    }


def test_a_rate_limit_learned_by_one_instance_is_skipped_by_the_others(
    anthropic_upstream: AnthropicUpstream, openai_upstream: OpenAIUpstream, aimux: Callable[..., Served]
) -> None:
    store = MemoryStore(SystemClock())
    config = two_providers(anthropic_upstream, openai_upstream)
    one, two, three = aimux(config, store), aimux(config, store), aimux(config, store)
    anthropic_upstream.enqueue(Fault.http(429, retry_after=30))
    headers, _ = one.ask("first-model")
    assert headers["x-aimux-provider"] == "second" and headers["x-aimux-attempts"] == "2"
    for instance in (two, three, one):
        headers, _ = instance.ask("first-model")
        assert headers["x-aimux-provider"] == "second" and headers["x-aimux-attempts"] == "1"
    assert len(anthropic_upstream.message_requests) == 1, "one wasted attempt for the whole fleet"
    summary = asyncio.run(HealthTracker(store, SystemClock()).summary("first/up-first"))
    assert summary.cooldown is not None and (summary.cooldown.reason, summary.cooldown.status) == ("rate_limit", 429)


def test_short_cooldowns_stay_in_their_process(
    anthropic_upstream: AnthropicUpstream, openai_upstream: OpenAIUpstream, aimux: Callable[..., Served]
) -> None:
    store = MemoryStore(SystemClock())
    served = aimux(two_providers(anthropic_upstream, openai_upstream), store)
    anthropic_upstream.enqueue(Fault.http(529))  # no retry-after: the default overload cooldown, 0.25 s
    headers, _ = served.ask("first-model")
    assert headers["x-aimux-provider"] == "second"
    assert asyncio.run(store.get(cooldown_pk("first/up-first"), COOLDOWN_SK)) is None


def test_every_target_resting_waits_for_the_soonest_when_it_fits_the_deadline(
    anthropic_upstream: AnthropicUpstream, aimux: Callable[..., Served]
) -> None:
    """A lone target rate limited for 0.4 s by an earlier request: the next one is not refused, it
    waits the cooldown out and is served in one attempt."""
    served = aimux({
        "providers": {"solo": provider_entry(anthropic_upstream)},
        "models": {"solo-model": {"provider": "solo", "upstream_model": "solo-1"}},
    })  # fmt: skip
    anthropic_upstream.enqueue(*[Fault.http(429, headers={"retry-after-ms": "400"}) for _ in range(3)])
    with pytest.raises(anthropic.RateLimitError) as caught:
        served.ask("solo-model")
    assert caught.value.response.headers["x-aimux-attempts"] == "3"
    assert int(caught.value.response.headers["retry-after-ms"]) <= 400
    anthropic_upstream.enqueue(Reply(text="after the wait"))
    headers, message = served.ask("solo-model")
    assert message.content[0].text == "after the wait" and headers["x-aimux-attempts"] == "1"


def test_every_target_resting_is_refused_at_once_when_configured(
    anthropic_upstream: AnthropicUpstream, aimux: Callable[..., Served]
) -> None:
    served = aimux({
        "providers": {"solo": provider_entry(anthropic_upstream)},
        "models": {"solo-model": {"provider": "solo", "upstream_model": "solo-1"}},
        "retry": {"when_all_down": "refuse"},
    })  # fmt: skip
    anthropic_upstream.enqueue(Fault.http(429, retry_after=20))
    with pytest.raises(anthropic.RateLimitError):
        served.ask("solo-model")
    with pytest.raises(anthropic.RateLimitError) as caught:
        served.ask("solo-model")
    headers = caught.value.response.headers
    assert headers["x-aimux-attempts"] == "0" and 15 <= int(headers["retry-after"]) <= 20
    assert "solo-model: cooling down (rate limit)" in caught.value.message
    assert len(anthropic_upstream.message_requests) == 1


@pytest.mark.anyio
async def test_sharing_keeps_the_later_end_when_instances_race() -> None:
    clock = FakeClock()
    store = MemoryStore(clock)
    long, short = Cooldowns(clock, store), Cooldowns(clock, store)
    long.start("p/m", UpstreamError("429", provider="p", upstream_status=429, kind="rate_limit_error", retry_after=60))
    await long.drain()
    short.start("p/m", UpstreamError("429", provider="p", upstream_status=429, kind="rate_limit_error", retry_after=5))
    await short.drain()
    stored = Cooldown.from_item("p/m", await store.get(cooldown_pk("p/m"), COOLDOWN_SK) or {})
    assert stored is not None and stored.until == clock.now() + 60
    assert short.get("p/m") == stored, "the instance that lost the race learned the later end"
