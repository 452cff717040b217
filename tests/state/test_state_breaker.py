"""Breaker transitions, one step at a time, driven by a fake clock."""

from __future__ import annotations

from dataclasses import replace

import pytest

from aimux_core.state import (
    BreakerSettings,
    BreakerState,
    CircuitBreaker,
    CircuitState,
    FakeClock,
    Item,
    MemoryStore,
    Store,
    Transition,
    TransitionReason,
    breaker_key,
)
from aimux_core.state.breaker_model import ratio_trips, window_sk

pytestmark = pytest.mark.anyio

CLOSED, OPEN, HALF_OPEN = CircuitState.CLOSED, CircuitState.OPEN, CircuitState.HALF_OPEN
CONSECUTIVE_ONLY = BreakerSettings(
    failure_threshold=3, failure_ratio=None, cooldown_seconds=30, probe_lease_seconds=10, cache_seconds=0
)


def make(store: Store, clock: FakeClock, settings: BreakerSettings = CONSECUTIVE_ONLY) -> tuple[CircuitBreaker, list]:
    transitions: list[Transition] = []
    return CircuitBreaker(store, clock, settings, on_transition=transitions.append), transitions


async def fail(breaker: CircuitBreaker, key: str, times: int = 1) -> None:
    for _ in range(times):
        admission = await breaker.allow(key)
        assert admission.allowed
        await breaker.record_failure(key, admission)


async def succeed(breaker: CircuitBreaker, key: str, times: int = 1) -> None:
    for _ in range(times):
        admission = await breaker.allow(key)
        assert admission.allowed
        await breaker.record_success(key, admission)


async def state_of(breaker: CircuitBreaker, key: str) -> CircuitState:
    return (await breaker.snapshot([key]))[key].state


async def open_breaker(breaker: CircuitBreaker, key: str) -> None:
    await fail(breaker, key, breaker.settings.failure_threshold or 1)
    assert await state_of(breaker, key) is OPEN


async def test_a_new_key_is_closed_and_admits(store: Store, clock: FakeClock, ns: str) -> None:
    breaker, _ = make(store, clock)
    admission = await breaker.allow(ns)
    assert (admission.allowed, admission.state, admission.generation, admission.is_probe) == (True, CLOSED, 0, False)
    view = (await breaker.snapshot([ns]))[ns]
    assert (view.state, view.consecutive_failures, view.available, view.retry_at) == (CLOSED, 0, True, None)


async def test_n_consecutive_failures_open_it(store: Store, clock: FakeClock, ns: str) -> None:
    breaker, transitions = make(store, clock)
    await fail(breaker, ns, 2)
    assert await state_of(breaker, ns) is CLOSED
    await fail(breaker, ns)
    view = (await breaker.snapshot([ns]))[ns]
    assert (view.state, view.opened_at, view.retry_at, view.available) == (OPEN, clock.now(), clock.now() + 30, False)
    assert [(t.from_state, t.to_state, t.reason, t.generation) for t in transitions] == [
        (CLOSED, OPEN, TransitionReason.CONSECUTIVE_FAILURES, 1)
    ]
    refused = await breaker.allow(ns)
    assert (refused.allowed, refused.reason, refused.retry_after) == (False, "open", 30)


async def test_a_success_ends_the_run_of_failures(store: Store, clock: FakeClock, ns: str) -> None:
    breaker, transitions = make(store, clock)
    await fail(breaker, ns, 2)
    await succeed(breaker, ns)
    assert (await breaker.snapshot([ns]))[ns].consecutive_failures == 0
    await fail(breaker, ns, 2)
    assert await state_of(breaker, ns) is CLOSED and transitions == []


async def test_failure_ratio_opens_once_the_window_has_enough_requests(store: Store, clock: FakeClock, ns: str) -> None:
    settings = BreakerSettings(failure_threshold=None, failure_ratio=0.5, min_requests=10, cache_seconds=0)
    breaker, transitions = make(store, clock, settings)
    await fail(breaker, ns, 9)
    assert await state_of(breaker, ns) is CLOSED  # 9/9 failed, but below min_requests
    await fail(breaker, ns)
    assert await state_of(breaker, ns) is OPEN
    assert transitions[0].reason is TransitionReason.FAILURE_RATIO


async def test_failure_ratio_counts_successes_too(store: Store, clock: FakeClock, ns: str) -> None:
    settings = BreakerSettings(failure_threshold=None, failure_ratio=0.5, min_requests=10, cache_seconds=0)
    breaker, _ = make(store, clock, settings)
    await succeed(breaker, ns, 6)
    await fail(breaker, ns, 5)  # 5 of 11
    assert await state_of(breaker, ns) is CLOSED
    await fail(breaker, ns)  # 6 of 12
    assert await state_of(breaker, ns) is OPEN


async def test_failures_that_slid_out_of_the_window_do_not_count(store: Store, clock: FakeClock, ns: str) -> None:
    settings = BreakerSettings(
        failure_threshold=None, failure_ratio=0.5, min_requests=10, window_seconds=60, window_buckets=6, cache_seconds=0
    )
    breaker, _ = make(store, clock, settings)
    await fail(breaker, ns, 8)
    clock.advance(60)
    await fail(breaker, ns, 8)
    assert await state_of(breaker, ns) is CLOSED
    clock.advance(30)  # the window still holds the second 8; 2 more make the 10 it needs
    await fail(breaker, ns, 2)
    assert await state_of(breaker, ns) is OPEN


async def test_cooldown_then_half_open_admits_a_bounded_number_of_probes(
    store: Store, clock: FakeClock, ns: str
) -> None:
    breaker, transitions = make(store, clock, replace(CONSECUTIVE_ONLY, half_open_max_probes=2))
    await open_breaker(breaker, ns)
    clock.advance(29.9)
    assert not (await breaker.allow(ns)).allowed
    clock.advance(0.1)
    first, second, third = [await breaker.allow(ns) for _ in range(3)]
    assert first.allowed and first.is_probe and first.state is HALF_OPEN and first.generation == 2
    assert second.allowed and second.is_probe and second.lease_id != first.lease_id
    assert (third.allowed, third.reason, third.retry_after) == (False, "probes_busy", 10)
    assert transitions[-1].reason is TransitionReason.COOLDOWN_ELAPSED
    view = (await breaker.snapshot([ns]))[ns]
    assert (view.state, view.probes_in_flight, view.available) == (HALF_OPEN, 2, False)


async def test_a_successful_probe_closes_it(store: Store, clock: FakeClock, ns: str) -> None:
    breaker, transitions = make(store, clock)
    await open_breaker(breaker, ns)
    clock.advance(30)
    probe = await breaker.allow(ns)
    await breaker.record_success(ns, probe)
    view = (await breaker.snapshot([ns]))[ns]
    assert (view.state, view.consecutive_failures, view.generation) == (CLOSED, 0, 3)
    assert transitions[-1].reason is TransitionReason.PROBES_SUCCEEDED
    assert (await breaker.allow(ns)).reason == "closed"


async def test_success_to_close_needs_that_many_probe_successes(store: Store, clock: FakeClock, ns: str) -> None:
    settings = BreakerSettings(failure_threshold=1, failure_ratio=None, success_to_close=2, cache_seconds=0)
    breaker, _ = make(store, clock, settings)
    await open_breaker(breaker, ns)
    clock.advance(settings.cooldown_seconds)
    await breaker.record_success(ns, await breaker.allow(ns))
    assert await state_of(breaker, ns) is HALF_OPEN
    await breaker.record_success(ns, await breaker.allow(ns))
    assert await state_of(breaker, ns) is CLOSED


async def test_a_failed_probe_reopens_it_with_a_new_cooldown(store: Store, clock: FakeClock, ns: str) -> None:
    breaker, transitions = make(store, clock)
    await open_breaker(breaker, ns)
    clock.advance(30)
    probe = await breaker.allow(ns)
    clock.advance(5)
    await breaker.record_failure(ns, probe)
    view = (await breaker.snapshot([ns]))[ns]
    assert (view.state, view.opened_at, view.retry_at) == (OPEN, clock.now(), clock.now() + 30)
    assert transitions[-1].reason is TransitionReason.PROBE_FAILED
    clock.advance(29)
    assert not (await breaker.allow(ns)).allowed
    clock.advance(1)
    assert (await breaker.allow(ns)).is_probe


async def test_an_expired_lease_frees_the_slot_of_a_stuck_probe(store: Store, clock: FakeClock, ns: str) -> None:
    breaker, _ = make(store, clock)
    await open_breaker(breaker, ns)
    clock.advance(30)
    stuck = await breaker.allow(ns)
    clock.advance(9.9)
    assert not (await breaker.allow(ns)).allowed
    clock.advance(0.1)  # probe_lease_seconds = 10
    replacement = await breaker.allow(ns)
    assert replacement.is_probe and replacement.lease_id != stuck.lease_id
    await breaker.record_success(ns, stuck)  # the stuck probe's late answer still counts
    assert await state_of(breaker, ns) is CLOSED


async def test_results_from_an_earlier_phase_are_ignored(store: Store, clock: FakeClock, ns: str) -> None:
    breaker, transitions = make(store, clock)
    long_request = await breaker.allow(ns)  # admitted while closed, in generation 0
    await open_breaker(breaker, ns)
    clock.advance(30)
    await breaker.record_success(ns, await breaker.allow(ns))
    assert await state_of(breaker, ns) is CLOSED
    for _ in range(5):
        await breaker.record_failure(ns, long_request)
    view = (await breaker.snapshot([ns]))[ns]
    assert (view.state, view.consecutive_failures, len(transitions)) == (CLOSED, 0, 3)


async def test_results_of_refused_requests_are_ignored(store: Store, clock: FakeClock, ns: str) -> None:
    breaker, _ = make(store, clock)
    await open_breaker(breaker, ns)
    refused = await breaker.allow(ns)
    await breaker.record_failure(ns, refused)
    await breaker.record_success(ns, refused)
    assert (await breaker.snapshot([ns]))[ns].generation == 1


async def test_a_success_in_half_open_from_a_normal_admission_does_not_close_it(
    store: Store, clock: FakeClock, ns: str
) -> None:
    breaker, _ = make(store, clock)
    await fail(breaker, ns, 2)
    late = await breaker.allow(ns)
    await fail(breaker, ns)
    clock.advance(30)
    await breaker.allow(ns)
    await breaker.record_success(ns, late)
    assert await state_of(breaker, ns) is HALF_OPEN


async def test_reset_closes_an_open_breaker(store: Store, clock: FakeClock, ns: str) -> None:
    breaker, transitions = make(store, clock)
    await breaker.reset(ns)  # nothing to do
    assert transitions == []
    await open_breaker(breaker, ns)
    await breaker.reset(ns)
    assert await state_of(breaker, ns) is CLOSED
    assert transitions[-1].reason is TransitionReason.RESET


async def test_breakers_are_independent_per_key(store: Store, clock: FakeClock, ns: str) -> None:
    breaker, _ = make(store, clock)
    model_key = breaker_key(ns, "model-a")
    assert model_key == f"{ns}/model-a" and breaker_key(ns) == ns
    await open_breaker(breaker, model_key)
    views = await breaker.snapshot([ns, model_key])
    assert (views[ns].state, views[model_key].state) == (CLOSED, OPEN)


# --- the per-process snapshot cache ---


async def test_snapshot_is_cached_for_cache_seconds(store: Store, clock: FakeClock, ns: str) -> None:
    settings = BreakerSettings(failure_threshold=1, failure_ratio=None, cache_seconds=2.0)
    here, _ = make(store, clock, settings)
    elsewhere, _ = make(store, clock, settings)  # another Lambda instance: same store, own cache
    assert (await here.snapshot([ns]))[ns].state is CLOSED
    await fail(elsewhere, ns)
    assert (await elsewhere.snapshot([ns]))[ns].state is OPEN  # its own write is seen at once
    clock.advance(1.9)
    assert (await here.snapshot([ns]))[ns].state is CLOSED  # stale, by design
    assert (await here.allow(ns)).allowed
    clock.advance(0.1)
    assert (await here.snapshot([ns]))[ns].state is OPEN
    assert not (await here.allow(ns)).allowed


async def test_the_closed_hot_path_reads_the_store_once_per_cache_period(clock: FakeClock, ns: str) -> None:
    store = CountingStore(clock)
    breaker = CircuitBreaker(store, clock, BreakerSettings(cache_seconds=2.0))
    for _ in range(50):
        assert (await breaker.allow(ns)).allowed
    assert store.reads == 1
    clock.advance(2)
    await breaker.allow(ns)
    assert store.reads == 2


# --- the record and its settings ---


def test_record_round_trips_through_an_item() -> None:
    record = BreakerState(HALF_OPEN, 4, 2, 10.0, 12.0, 1, {"lease": 99.0}, version=7)
    item = {**record.to_item(), "pk": "breaker#x", "sk": "state", "version": 7}
    assert BreakerState.from_item(item) == record
    assert BreakerState.from_item(None) == BreakerState()
    partial = BreakerState.from_item({"pk": "breaker#x", "sk": "state", "version": 1, "consecutive_failures": 2})
    assert (partial.state, partial.consecutive_failures, partial.generation, partial.version) == (CLOSED, 2, 0, 1)


@pytest.mark.parametrize(
    "bad",
    [
        {"failure_threshold": 0},
        {"failure_ratio": 0},
        {"failure_ratio": 1.5},
        {"window_seconds": 0},
        {"half_open_max_probes": 0},
        {"success_to_close": 0},
        {"probe_lease_seconds": 0},
        {"cache_seconds": -1},
        {"max_attempts": 0},
    ],
)
def test_settings_refuse_nonsense(bad: dict) -> None:
    with pytest.raises(ValueError):
        BreakerSettings(**bad)


def test_ratio_rule_and_window_keys() -> None:
    settings = BreakerSettings(failure_ratio=0.5, min_requests=4)
    assert not ratio_trips(3, 3, settings) and ratio_trips(4, 2, settings) and not ratio_trips(4, 1, settings)
    assert not ratio_trips(100, 100, BreakerSettings(failure_ratio=None))
    assert window_sk(3, 12) < window_sk(3, 100) < window_sk(4, 0)


class CountingStore(MemoryStore):
    """A MemoryStore that counts reads."""

    def __init__(self, clock: FakeClock) -> None:
        super().__init__(clock)
        self.reads = 0

    async def get(self, pk: str, sk: str) -> Item | None:
        self.reads += 1
        return await super().get(pk, sk)


async def test_a_failing_transition_hook_does_not_fail_the_request(store: Store, clock: FakeClock, ns: str) -> None:
    def broken_hook(transition: Transition) -> None:
        raise RuntimeError("metrics backend down")

    breaker = CircuitBreaker(store, clock, CONSECUTIVE_ONLY, on_transition=broken_hook)
    await open_breaker(breaker, ns)
