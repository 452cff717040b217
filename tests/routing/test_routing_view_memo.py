"""The health view is kept between requests while it would be computed identically (``routing/view_memo.py``).

Its cost grows with the number of configured targets, and every request reads it; so ``BreakerGuard.view``
hands out the same view while none of the caches it came from has changed or gone stale, and never when
the view depends on the time (an open circuit, a cooldown). Each test checks both halves: the kept view is
the one handed out (the same object), and whenever it is not kept, the view handed out equals a fresh
guard's over the same store.
"""

from __future__ import annotations

import asyncio

from aimux_core.routing.guard import BreakerGuard
from aimux_core.routing.select import HealthView
from aimux_core.routing.table import Target
from aimux_core.state import MemoryStore
from aimux_core.state.breaker import CircuitBreaker
from aimux_core.state.breaker_model import BreakerSettings
from aimux_core.state.clock import FakeClock
from aimux_core.state.health import HealthSettings, HealthTracker

TARGETS = tuple(Target(provider, f"m{index}") for index, provider in enumerate(["alpha", "beta", "gamma"] * 4))


def _guard(clock: FakeClock, store: MemoryStore) -> BreakerGuard:
    settings = BreakerSettings(failure_threshold=2, cooldown_seconds=30, cache_seconds=2.0)
    default = CircuitBreaker(store, clock, settings)
    beta = CircuitBreaker(store, clock, settings)
    health = HealthTracker(store, clock, HealthSettings(cache_seconds=3.0), breaker=default)
    return BreakerGuard(default, health, breakers={"beta": beta})


async def _fresh_view(clock: FakeClock, store: MemoryStore) -> HealthView:
    """The view a guard with empty caches reads from ``store`` now: what the kept one must equal."""
    return await _guard(clock, store).view(TARGETS)


async def _succeed(guard: BreakerGuard, target: Target, latency_ms: float) -> None:
    ticket = await guard.acquire(target)
    await guard.succeeded(target, ticket, latency_ms, None)
    await guard.drain()


def test_a_view_is_handed_out_again_until_a_cache_it_came_from_changes_or_goes_stale() -> None:
    clock, store = FakeClock(), MemoryStore(FakeClock())
    guard = _guard(clock, store)

    async def main() -> None:
        for target in TARGETS:
            await _succeed(guard, target, 100.0)
        clock.advance(3.5)  # every cache stale: the next view reads the store
        first = await guard.view(TARGETS)  # read from the store
        kept = await guard.view(TARGETS)  # computed from the caches, and kept
        assert kept == first == await _fresh_view(clock, store)
        assert await guard.view(TARGETS) is kept
        assert await guard.view(list(TARGETS)) is kept, "the same targets in another sequence"
        assert await guard.view(TARGETS[:3]) is not kept, "other targets: another view"

        kept = await guard.view(TARGETS)
        await _succeed(guard, TARGETS[0], 50.0)  # re-reads alpha's unchanged breaker record: no change
        assert await guard.view(TARGETS) is kept

        clock.advance(1.0)
        assert await guard.view(TARGETS) is kept, "every entry still fresh"
        clock.advance(1.0)  # 2.0 s: the breaker entries are stale
        refreshed = await guard.view(TARGETS)
        assert refreshed is not kept
        assert refreshed == await _fresh_view(clock, store)

    asyncio.run(main())


def test_a_circuit_that_opens_is_seen_at_once_and_such_a_view_is_never_kept() -> None:
    clock, store = FakeClock(), MemoryStore(FakeClock())
    guard = _guard(clock, store)
    beta = next(target for target in TARGETS if target.provider == "beta")

    async def main() -> None:
        await guard.view(TARGETS)
        kept = await guard.view(TARGETS)
        assert await guard.view(TARGETS) is kept and not kept.resting
        breaker, key = guard.breaker_for(beta), guard.breaker_key(beta)
        for _ in range(2):  # threshold 2: beta's circuit opens, put in this process's cache
            await breaker.record_failure(key, await breaker.allow(key))
        opened = await guard.view(TARGETS)
        assert opened is not kept
        assert {t.key for t in TARGETS if t.provider == "beta"} <= opened.resting.keys()
        later = await guard.view(TARGETS)
        assert later is not opened, "an open circuit's recovery moves with the clock: recomputed each time"
        clock.advance(1.0)
        moved = await guard.view(TARGETS)
        assert moved.resting[beta.key].recovers_in == opened.resting[beta.key].recovers_in - 1.0
        assert moved == await _fresh_view(clock, store)

    asyncio.run(main())


def test_warming_finds_nothing_to_read_while_the_view_is_kept() -> None:
    clock, store = FakeClock(), MemoryStore(FakeClock())
    guard = _guard(clock, store)

    async def main() -> None:
        await guard.view(TARGETS)
        await guard.view(TARGETS)
        guard.warm(TARGETS)
        assert not guard._warming
        clock.advance(2.0)
        guard.warm(TARGETS)  # stale: read in the background
        assert guard._warming
        await asyncio.gather(*guard._warming)

    asyncio.run(main())
