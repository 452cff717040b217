"""``BreakerGuard.view`` (the health view routing reads on every request): between cache refreshes it is
answered from the per-process caches without suspending (no task, no gather); a stale entry reads the
store, breakers and health together, and both paths give the same view."""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine
from typing import Any

from aimux_core.routing.guard import BreakerGuard
from aimux_core.routing.select import HealthView
from aimux_core.routing.table import Target
from aimux_core.state import MemoryStore
from aimux_core.state.breaker import CircuitBreaker
from aimux_core.state.breaker_model import BreakerSettings
from aimux_core.state.clock import FakeClock
from aimux_core.state.health import HealthSettings, HealthTracker

TARGETS = [Target("alpha", "m1"), Target("beta", "m2")]


def _guard(clock: FakeClock, store: MemoryStore) -> BreakerGuard:
    settings = BreakerSettings(failure_threshold=1, cooldown_seconds=30, cache_seconds=2.0)
    default = CircuitBreaker(store, clock, settings)
    beta = CircuitBreaker(store, clock, settings)
    health = HealthTracker(store, clock, HealthSettings(cache_seconds=2.0), breaker=default)
    return BreakerGuard(default, health, breakers={"beta": beta})


def _completes_without_suspending(coroutine: Coroutine[Any, Any, HealthView]) -> HealthView | None:
    """The coroutine's result if its first step finished it; None (and closed) if it had to wait."""
    try:
        coroutine.send(None)
    except StopIteration as done:
        result: HealthView = done.value
        return result
    coroutine.close()
    return None


def test_a_warm_view_is_answered_without_suspending_and_equals_the_one_read_from_the_store() -> None:
    clock, store = FakeClock(), MemoryStore(FakeClock())
    guard = _guard(clock, store)

    async def main() -> tuple[HealthView, HealthView | None, HealthView | None, HealthView]:
        beta = guard.breaker_for(TARGETS[1])
        key = guard.breaker_key(TARGETS[1])
        await beta.record_failure(key, await beta.allow(key))  # threshold 1: beta's circuit opens
        guard.breaker_for(TARGETS[0])._cache.invalidate()  # a cold cache, as in a fresh process
        beta._cache.invalidate()
        cold = await guard.view(TARGETS)
        warm = _completes_without_suspending(guard.view(TARGETS))
        clock.advance(2.5)  # past cache_seconds: the next view reads the store again
        stale = _completes_without_suspending(guard.view(TARGETS))
        return cold, warm, stale, await guard.view(TARGETS)

    cold, warm, stale, again = asyncio.run(main())
    assert "beta/m2" in cold.resting and "alpha/m1" not in cold.resting
    assert warm is not None, "every entry is fresh: the view must not wait on anything"
    assert warm == cold
    assert stale is None, "a stale entry is read from the store"
    assert again.resting.keys() == cold.resting.keys()
