"""Routing does not wait for a health refresh (``HealthTracker.usable_snapshot``): a health snapshot past its
``cache_seconds`` but within ``stale_seconds`` more is used as it is while one refresh runs in the
background; an older one (an instance idle for longer) is read before routing, as a cold one is. Breaker
records are never used stale.

The store holds every health ``Query`` until the test lets it through, so "did routing wait for it" is
answered by whether the view finished while the query was held.
"""

from __future__ import annotations

import asyncio
import logging
import sys
from typing import Any

import pytest

from aimux_core.routing.guard import BreakerGuard
from aimux_core.routing.select import HealthView
from aimux_core.routing.table import Target
from aimux_core.state import MemoryStore
from aimux_core.state.breaker import CircuitBreaker
from aimux_core.state.breaker_model import BreakerSettings
from aimux_core.state.clock import FakeClock
from aimux_core.state.health import HealthSettings, HealthTracker
from aimux_core.state.store import StoreUnavailable

TARGETS = (Target("alpha", "m1"), Target("beta", "m2"))
HEALTH = HealthSettings(cache_seconds=2.0, stale_seconds=30.0, min_requests=1)


class HeldQueries(MemoryStore):
    """Counts health queries; holds each until ``release`` is set; fails them while ``failing``."""

    def __init__(self, clock: FakeClock) -> None:
        super().__init__(clock, interleave=False)
        self.release = asyncio.Event()
        self.release.set()
        self.queries = 0
        self.failing = False

    async def query(self, pk: str, sk_from: str, sk_to: str) -> Any:
        if pk.startswith("health#"):
            self.queries += 1
            await self.release.wait()
            if self.failing:
                raise StoreUnavailable("query", "the store is down")
        return await super().query(pk, sk_from, sk_to)


def _guard(clock: FakeClock, store: MemoryStore, health: HealthSettings = HEALTH) -> BreakerGuard:
    breaker = CircuitBreaker(store, clock, BreakerSettings(cache_seconds=3_600.0))  # breakers stay fresh here
    return BreakerGuard(breaker, HealthTracker(store, clock, health))


async def _stale_by(seconds: float) -> tuple[HeldQueries, BreakerGuard, HealthView]:
    """A guard whose first view (read cold: alpha answered in 300 ms) is ``seconds`` old; meanwhile the fleet
    saw alpha slow down to 40 s (buckets other instances wrote: no cache of this process touched). The
    store now holds every health query until ``release`` is set."""
    clock = FakeClock()
    store = HeldQueries(clock)
    guard = _guard(clock, store)
    await guard.health.record(TARGETS[0].key, ok=True, latency_ms=300.0)
    first = await guard.view(TARGETS)
    for _ in range(2):
        await guard.health.record(TARGETS[0].key, ok=True, latency_ms=40_000.0)
    clock.advance(seconds)
    store.release.clear()
    return store, guard, first


async def _finished_while_held(store: HeldQueries, view: asyncio.Task[HealthView]) -> bool:
    """Whether ``view`` finished while the store held every health query."""
    await asyncio.sleep(0.01)
    finished = view.done()
    store.release.set()
    await view
    return finished


@pytest.mark.anyio
async def test_a_stale_health_snapshot_is_used_while_one_refresh_runs_and_the_refresh_is_seen_next() -> None:
    store, guard, first = await _stale_by(2.5)  # past cache_seconds, within stale_seconds
    assert set(first.latencies_ms) == {"alpha/m1"}
    queries_before = store.queries
    views = [asyncio.ensure_future(guard.view(TARGETS)) for _ in range(5)]
    await asyncio.sleep(0.01)
    assert all(view.done() for view in views), "routing waited for the health refresh"
    assert all(view.result() == first for view in views), "the stale snapshot is what routing used"
    assert store.queries - queries_before == len(TARGETS), "five requests, one refresh (a query per target)"

    store.release.set()
    await guard.drain()  # a Lambda invocation's end waits for the refresh as for its writes
    refreshed = await guard.view(TARGETS)
    assert refreshed.latencies_ms["alpha/m1"] > first.latencies_ms["alpha/m1"], refreshed
    assert store.queries - queries_before == len(TARGETS), "the refreshed snapshot is fresh: no more reads"


@pytest.mark.anyio
async def test_a_snapshot_older_than_its_grace_is_read_before_routing() -> None:
    store, guard, first = await _stale_by(2.0 + 30.0)  # idle longer than cache_seconds + stale_seconds
    view = asyncio.ensure_future(guard.view(TARGETS))
    assert not await _finished_while_held(store, view), "a snapshot this old must not route a request"
    assert view.result().latencies_ms["alpha/m1"] > first.latencies_ms["alpha/m1"]


@pytest.mark.anyio
async def test_without_stale_seconds_every_stale_snapshot_is_read_before_routing() -> None:
    clock = FakeClock()
    store = HeldQueries(clock)
    guard = _guard(clock, store, HealthSettings(cache_seconds=2.0, stale_seconds=0.0))
    await guard.view(TARGETS)
    clock.advance(2.0)
    store.release.clear()
    view = asyncio.ensure_future(guard.view(TARGETS))
    assert not await _finished_while_held(store, view)


@pytest.mark.anyio
async def test_a_failed_refresh_is_logged_routing_keeps_the_snapshot_and_the_next_request_tries_again(
    caplog: pytest.LogCaptureFixture,
) -> None:
    clock = FakeClock()
    store = HeldQueries(clock)
    guard = _guard(clock, store)
    first = await guard.view(TARGETS)
    clock.advance(2.5)
    store.failing = True
    with caplog.at_level(logging.WARNING):
        assert await guard.view(TARGETS) == first
        await guard.drain()
    assert any(
        "health snapshot refresh" in r.getMessage() and "StoreUnavailable" in r.getMessage() for r in caplog.records
    )
    queries = store.queries
    store.failing = False
    assert await guard.view(TARGETS) == first  # still stale: used again, and a new refresh starts
    await guard.drain()
    assert store.queries > queries
    assert guard.health.cache.peek_many(t.key for t in TARGETS) is not None, "the retry refreshed it"


@pytest.mark.anyio
async def test_warming_a_request_starts_the_refresh_and_no_view_task() -> None:
    clock = FakeClock()
    store = HeldQueries(clock)
    guard = _guard(clock, store)
    await guard.view(TARGETS)
    clock.advance(2.5)
    store.release.clear()
    queries = store.queries
    guard.warm(TARGETS)  # beside the key lookup, as ``Exchange.authenticate`` calls it
    assert not guard._warming, "the view is usable now: nothing to wait for in a task"
    await asyncio.sleep(0.01)
    assert store.queries - queries == len(TARGETS), "the refresh started at once"
    store.release.set()
    await guard.drain()
    assert guard.health.cache.peek_many(t.key for t in TARGETS) is not None


@pytest.mark.anyio
async def test_an_open_circuit_is_never_hidden_by_a_stale_health_snapshot() -> None:
    """Breakers are read fresh (their cache's ``cache_seconds``): only health is used stale."""
    clock = FakeClock()
    store = HeldQueries(clock)
    breaker = CircuitBreaker(store, clock, BreakerSettings(failure_threshold=1, cooldown_seconds=60, cache_seconds=2.0))
    guard = BreakerGuard(breaker, HealthTracker(store, clock, HEALTH))
    assert await guard.view(TARGETS) == HealthView()
    other = CircuitBreaker(store, clock, BreakerSettings(failure_threshold=1, cooldown_seconds=60, cache_seconds=2.0))
    await other.record_failure("beta", await other.allow("beta"))  # another instance opens beta's circuit
    clock.advance(2.5)
    store.release.clear()
    view = asyncio.ensure_future(guard.view(TARGETS))
    await asyncio.sleep(0.01)
    store.release.set()
    assert "beta/m2" in (await view).resting
    await guard.drain()


@pytest.mark.skipif(sys.version_info < (3, 12), reason="eager tasks came with Python 3.12")
@pytest.mark.anyio
async def test_a_view_from_a_stale_snapshot_is_not_kept_even_when_its_refresh_lands_at_once() -> None:
    """Under an eager task factory, on a store that answers without waiting (the local one), the refresh is
    done before routing has computed its view from the stale snapshot: that view must not be kept (the view
    memo would then hand it out as if it came from the refreshed snapshot, until the next change)."""
    loop = asyncio.get_running_loop()
    loop.set_task_factory(asyncio.eager_task_factory)  # type: ignore[attr-defined,unused-ignore]
    try:
        clock = FakeClock()
        store = MemoryStore(clock, interleave=False)
        guard = _guard(clock, store)
        await guard.health.record(TARGETS[0].key, ok=True, latency_ms=300.0)
        first = await guard.view(TARGETS)
        for _ in range(2):
            await guard.health.record(TARGETS[0].key, ok=True, latency_ms=40_000.0)
        clock.advance(2.5)
        assert await guard.view(TARGETS) == first  # the stale snapshot routes this request
        assert guard.health.cache.peek_many(t.key for t in TARGETS) is not None, "the refresh landed at once"
        fresh = await BreakerGuard(guard.default, HealthTracker(store, clock, HEALTH)).view(TARGETS)
        assert fresh.latencies_ms["alpha/m1"] > first.latencies_ms["alpha/m1"]
        assert await guard.view(TARGETS) == fresh, "the refreshed snapshot routes the next request"
    finally:
        loop.set_task_factory(None)
