"""Per-provider caps: concurrency slots with leases, rpm, both in one round trip, and the leak bound."""

from __future__ import annotations

import asyncio

import pytest
from limits_support import T0, CountingStore

from aimux_core.config.sections import LimitsConfig
from aimux_core.limits.provider_caps import Lease, ProviderLimiter, ProviderLimits
from aimux_core.state.clock import FakeClock
from aimux_core.state.store import Store

pytestmark = pytest.mark.anyio

L = 960  # the default lease epoch
E0 = int(T0 // L) * L  # the epoch T0 falls in


def limiter(store: Store, clock: FakeClock, name: str, **limits: int | None) -> ProviderLimiter:
    return ProviderLimiter(store, clock, {name: ProviderLimits(**limits)})


async def test_a_provider_without_limits_costs_nothing(counting: CountingStore, clock: FakeClock, ns: str) -> None:
    pl = ProviderLimiter(counting, clock, {})
    lease = await pl.try_acquire(ns)
    assert lease is not None and not lease.holds_slot
    await pl.release(lease)
    assert counting.total == 0 and not pl.is_capped(ns)


async def test_concurrency_slots_are_acquired_and_released(store: Store, clock: FakeClock, ns: str) -> None:
    pl = limiter(store, clock, ns, max_concurrency=2)
    first, second = await pl.try_acquire(ns), await pl.try_acquire(ns)
    assert first is not None and second is not None and first.holds_slot
    assert await pl.try_acquire(ns) is None, "capped: routing skips this target"
    await pl.release(first)
    await pl.release(first)  # idempotent
    third = await pl.try_acquire(ns)
    assert third is not None
    assert (await pl.usage(ns)).inflight == 2


async def test_limits_come_from_the_config_section(store: Store, clock: FakeClock, ns: str) -> None:
    pl = ProviderLimiter(store, clock, {ns: LimitsConfig(rpm=5, max_concurrency=1)})
    assert pl.limits(ns) == ProviderLimits(rpm=5, max_concurrency=1) and pl.is_capped(ns)
    assert await pl.try_acquire(ns) is not None
    assert await pl.try_acquire(ns) is None


async def test_warm_acquire_with_both_caps_is_one_round_trip(
    counting: CountingStore, clock: FakeClock, ns: str
) -> None:
    pl = limiter(counting, clock, ns, rpm=100, max_concurrency=10)
    lease = await pl.try_acquire(ns)
    assert lease is not None
    assert counting.calls == {"get": 1, "add": 1}, "first use in an epoch reads the previous epoch once"
    counting.reset()  # T0 is 420 s into its epoch: that read is settled and cached for the rest of it
    for _ in range(5):
        held = await pl.try_acquire(ns)
        assert held is not None
        await pl.release(held)
    assert counting.calls == {"add": 10}, "one add to acquire, one to release"


async def test_rpm_alone_is_exact_and_resets_each_minute(counting: CountingStore, clock: FakeClock, ns: str) -> None:
    pl = limiter(counting, clock, ns, rpm=3)
    leases = [await pl.try_acquire(ns) for _ in range(4)]
    assert [lease is not None for lease in leases] == [True, True, True, False]
    assert counting.calls == {"add": 4}, "no previous-epoch read without a concurrency cap"
    for lease in leases:
        if lease is not None:
            await pl.release(lease)  # no slot held: nothing to write
    assert counting.calls == {"add": 4}
    clock.advance(60)
    assert await pl.try_acquire(ns) is not None


async def test_rpm_refusal_with_a_concurrency_cap_is_compensated(store: Store, clock: FakeClock, ns: str) -> None:
    pl = limiter(store, clock, ns, rpm=2, max_concurrency=10)
    held = [await pl.try_acquire(ns), await pl.try_acquire(ns)]
    assert all(held)
    assert await pl.try_acquire(ns) is None
    usage = await pl.usage(ns)
    assert (usage.inflight, usage.requests_this_minute) == (2, 2), "the refused attempt was given back"


async def test_a_slot_from_the_previous_epoch_still_counts(store: Store, clock: FakeClock, ns: str) -> None:
    clock.set(E0 + L - 10)  # near the end of an epoch
    pl = limiter(store, clock, ns, max_concurrency=1)
    old = await pl.try_acquire(ns)
    assert old is not None
    clock.advance(20)  # the next epoch: the long request is still running
    assert await pl.try_acquire(ns) is None
    other_instance = limiter(store, clock, ns, max_concurrency=1)
    assert await other_instance.try_acquire(ns) is None
    await pl.release(old)
    assert await pl.try_acquire(ns) is not None, "our own release is seen at once"
    clock.advance(1.5)
    assert await other_instance.try_acquire(ns) is None, "the new lease holds the only slot"


async def test_a_refusal_rereads_the_previous_epoch(store: Store, clock: FakeClock, ns: str) -> None:
    clock.set(E0 + L - 10)
    first = limiter(store, clock, ns, max_concurrency=1)
    old = await first.try_acquire(ns)
    assert old is not None
    clock.advance(20)
    second = limiter(store, clock, ns, max_concurrency=1)
    assert await second.try_acquire(ns) is None
    await first.release(old)  # released by another instance
    assert await second.try_acquire(ns) is None, "within refresh_seconds the cached count stands"
    clock.advance(1.5)
    assert await second.try_acquire(ns) is not None, "refused, re-read, admitted"


async def test_a_leaked_slot_is_freed_within_two_lease_epochs(store: Store, clock: FakeClock, ns: str) -> None:
    clock.set(E0 + 100)
    pl = limiter(store, clock, ns, max_concurrency=1)
    leaked = await pl.try_acquire(ns)  # never released: the Lambda crashed
    assert leaked is not None and leaked.forgotten_at == E0 + 2 * L
    assert leaked.forgotten_at - leaked.acquired_at <= 2 * L
    clock.set(E0 + L + 100)
    assert await pl.try_acquire(ns) is None, "still counted during the next epoch"
    clock.set(E0 + 2 * L)
    fresh = limiter(store, clock, ns, max_concurrency=1)
    lease = await fresh.try_acquire(ns)
    assert lease is not None, "freed at the end of the epoch after the one it was taken in"
    await pl.release(leaked)  # a release after the leak bound is dropped, it cannot free someone else's slot
    assert await fresh.try_acquire(ns) is None


async def test_a_read_inside_the_skew_margin_is_taken_again(counting: CountingStore, clock: FakeClock, ns: str) -> None:
    clock.set(E0 + L + 0.5)  # 0.5 s into an epoch: a lagging instance may still add to the previous one
    pl = limiter(counting, clock, ns, max_concurrency=5)
    assert await pl.try_acquire(ns) is not None
    assert await pl.try_acquire(ns) is not None
    assert counting.calls["get"] == 1
    clock.advance(2)
    assert await pl.try_acquire(ns) is not None
    assert counting.calls["get"] == 2, "re-read once past the skew margin"
    assert await pl.try_acquire(ns) is not None
    assert counting.calls["get"] == 2


@pytest.mark.parametrize(("rpm", "cap", "expected"), [(None, 7, 7), (30, None, 30), (200, 7, 7), (5, 50, 5)])
async def test_two_hundred_racing_tasks_never_exceed_the_caps(
    store: Store, clock: FakeClock, ns: str, rpm: int | None, cap: int | None, expected: int
) -> None:
    instances = [limiter(store, clock, ns, rpm=rpm, max_concurrency=cap) for _ in range(4)]
    in_flight = peak = 0

    async def attempt(i: int) -> Lease | None:
        nonlocal in_flight, peak
        lease = await instances[i % 4].try_acquire(ns)
        if lease is not None:
            in_flight += 1
            peak = max(peak, in_flight)
            await asyncio.sleep(0)
        return lease

    leases = [lease for lease in await asyncio.gather(*(attempt(i) for i in range(200))) if lease is not None]
    assert len(leases) == expected and peak <= expected
    usage = await instances[0].usage(ns)
    if cap is not None:
        assert usage.inflight == expected
    if rpm is not None:
        assert usage.requests_this_minute == expected
    await asyncio.gather(*(instances[0].release(lease) for lease in leases))
    assert (await instances[0].usage(ns)).inflight == 0
