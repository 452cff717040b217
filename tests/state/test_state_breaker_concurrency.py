"""Racing tasks and racing instances: transitions happen once, probes stay bounded.

Several ``CircuitBreaker`` objects over one store stand for several Lambda instances (each has its own
snapshot cache); the store makes every operation yield, so the tasks really interleave between a read
and its compare-and-set.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import Mapping
from typing import Any

import pytest

from aimux_core.state import (
    Absent,
    BreakerPermit,
    BreakerSettings,
    CircuitBreaker,
    CircuitState,
    FakeClock,
    Store,
    Transition,
)

pytestmark = pytest.mark.anyio

OPEN, HALF_OPEN, CLOSED = CircuitState.OPEN, CircuitState.HALF_OPEN, CircuitState.CLOSED


class WriteLog:
    """Wraps a store and keeps every breaker record it wrote successfully, in order."""

    def __init__(self, inner: Store) -> None:
        self._inner = inner
        self.records: list[dict[str, Any]] = []

    async def put(self, pk: str, sk: str, item: Mapping[str, Any], *, expect_version: int | Absent | None) -> int:
        version = await self._inner.put(pk, sk, item, expect_version=expect_version)
        if sk == "state":
            self.records.append(dict(item))
        return version

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)


def instances(store: Store, clock: FakeClock, settings: BreakerSettings, count: int) -> tuple[list, list]:
    transitions: list[Transition] = []
    breakers = [CircuitBreaker(store, clock, settings, on_transition=transitions.append) for _ in range(count)]
    return breakers, transitions


@pytest.mark.parametrize("instance_count", [1, 5])
async def test_a_hundred_concurrent_failures_open_it_exactly_once(
    store: Store, clock: FakeClock, ns: str, instance_count: int
) -> None:
    log = WriteLog(store)
    settings = BreakerSettings(failure_threshold=5, failure_ratio=0.5, min_requests=10)
    breakers, transitions = instances(log, clock, settings, instance_count)
    admissions = [await breakers[i % instance_count].allow(ns) for i in range(100)]
    assert all(a.allowed and a.generation == 0 for a in admissions)

    await asyncio.gather(*(breakers[i % instance_count].record_failure(ns, a) for i, a in enumerate(admissions)))

    assert [(t.from_state, t.to_state) for t in transitions] == [(CLOSED, OPEN)]
    assert Counter(record["state"] for record in log.records) == {"open": 1}
    stored = await store.get(f"breaker#{ns}", "state")
    assert (stored["state"], stored["generation"]) == ("open", 1)


@pytest.mark.parametrize("instance_count", [1, 5])
async def test_fifty_concurrent_allows_in_half_open_admit_exactly_the_configured_probes(
    store: Store, clock: FakeClock, ns: str, instance_count: int
) -> None:
    settings = BreakerSettings(failure_threshold=1, failure_ratio=None, half_open_max_probes=3)
    breakers, transitions = instances(store, clock, settings, instance_count)
    await breakers[0].record_failure(ns, await breakers[0].allow(ns))
    clock.advance(settings.cooldown_seconds)

    answers = await asyncio.gather(*(breakers[i % instance_count].allow(ns) for i in range(50)))

    probes = [a for a in answers if a.allowed]
    assert len(probes) == 3 and all(a.is_probe for a in probes)
    assert len({a.lease_id for a in probes}) == 3
    assert [(t.from_state, t.to_state) for t in transitions] == [(CLOSED, OPEN), (OPEN, HALF_OPEN)]
    stored = await store.get(f"breaker#{ns}", "state")
    assert set(stored["probe_leases"]) == {a.lease_id for a in probes}


async def test_racing_probe_results_leave_the_half_open_phase_exactly_once(
    store: Store, clock: FakeClock, ns: str
) -> None:
    settings = BreakerSettings(failure_threshold=1, failure_ratio=None, half_open_max_probes=4, success_to_close=2)
    breakers, transitions = instances(store, clock, settings, 4)
    await breakers[0].record_failure(ns, await breakers[0].allow(ns))
    clock.advance(settings.cooldown_seconds)
    probes = [await b.allow(ns) for b in breakers]
    assert all(p.is_probe for p in probes)

    outcomes = [True, False, True, True]
    await asyncio.gather(
        *(
            (b.record_success if ok else b.record_failure)(ns, p)
            for b, p, ok in zip(breakers, probes, outcomes, strict=True)
        )
    )

    leaving = [t for t in transitions if t.from_state is HALF_OPEN]
    assert len(leaving) == 1 and leaving[0].to_state in (OPEN, CLOSED)
    assert [t.generation for t in transitions] == [1, 2, 3]


async def test_a_contended_decision_that_gives_up_never_over_admits(store: Store, clock: FakeClock, ns: str) -> None:
    settings = BreakerSettings(failure_threshold=1, failure_ratio=None, half_open_max_probes=2, max_attempts=1)
    breakers, _ = instances(store, clock, settings, 5)
    await breakers[0].record_failure(ns, await breakers[0].allow(ns))
    clock.advance(settings.cooldown_seconds)

    answers: list[BreakerPermit] = await asyncio.gather(*(breakers[i % 5].allow(ns) for i in range(50)))

    assert 1 <= sum(a.allowed for a in answers) <= 2
    assert {a.reason for a in answers if not a.allowed} <= {"contention", "probes_busy"}


async def test_concurrent_failures_and_successes_keep_the_record_consistent(
    store: Store, clock: FakeClock, ns: str
) -> None:
    settings = BreakerSettings(failure_threshold=1000, failure_ratio=None)
    breakers, transitions = instances(store, clock, settings, 3)
    admissions = [await breakers[i % 3].allow(ns) for i in range(60)]
    await asyncio.gather(
        *(
            (breakers[i % 3].record_failure if i % 2 else breakers[i % 3].record_success)(ns, a)
            for i, a in enumerate(admissions)
        )
    )
    stored = await store.get(f"breaker#{ns}", "state")
    assert transitions == [] and stored.get("state", "closed") == "closed"
    assert 0 <= stored["consecutive_failures"] <= 30


async def test_two_store_calls_run_at_once_and_both_end_before_an_error_is_raised() -> None:
    """``background.both``: the second call starts before the first ends; an error waits for the other call."""
    from aimux_core.state.background import both as _both

    order: list[str] = []
    second_started = asyncio.Event()

    async def first(fail: bool) -> str:
        await asyncio.wait_for(second_started.wait(), 1)  # would time out if the calls ran one after the other
        order.append("first")
        if fail:
            raise ValueError("first")
        return "a"

    async def second(fail: bool) -> str:
        second_started.set()
        await asyncio.sleep(0.01)
        order.append("second")
        if fail:
            raise KeyError("second")
        return "b"

    assert await _both(first(False), second(False)) == ("a", "b")
    cases: list[tuple[bool, bool, type[Exception]]] = [
        (True, False, ValueError),
        (True, True, ValueError),
        (False, True, KeyError),
    ]
    for first_fails, second_fails, raised in cases:
        order.clear()
        second_started.clear()
        with pytest.raises(raised):
            await _both(first(first_fails), second(second_fails))
        assert order == ["first", "second"]  # the second call had ended when the error came out
