"""Properties of the breaker under random histories.

1. Sequentially, the breaker is exactly a small reference model of the state machine.
2. Under random concurrent interleavings across instances, transitions form one legal chain (each
   generation entered once, from the state the previous transition left) and no write ever leaves more
   live probe leases than ``half_open_max_probes``.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from aimux_core.state import (
    Absent,
    BreakerPermit,
    BreakerSettings,
    CircuitBreaker,
    CircuitState,
    FakeClock,
    MemoryStore,
    Transition,
)

CLOSED, OPEN, HALF_OPEN = CircuitState.CLOSED, CircuitState.OPEN, CircuitState.HALF_OPEN
LEGAL = {(CLOSED, OPEN), (OPEN, HALF_OPEN), (HALF_OPEN, OPEN), (HALF_OPEN, CLOSED)}
KEY = "provider"

breaker_settings = st.builds(
    BreakerSettings,
    failure_threshold=st.integers(1, 4),
    failure_ratio=st.none(),
    cooldown_seconds=st.just(30.0),
    half_open_max_probes=st.integers(1, 3),
    success_to_close=st.integers(1, 2),
    probe_lease_seconds=st.just(10.0),
    cache_seconds=st.just(0.0),
)


@dataclass
class Model:
    """The state machine of ``breaker_model``, written the plainest way."""

    s: BreakerSettings
    state: CircuitState = CLOSED
    generation: int = 0
    failures: int = 0
    opened_at: float = 0.0
    successes: int = 0
    leases: dict[str, float] = field(default_factory=dict)

    def live(self, now: float) -> dict[str, float]:
        return {k: v for k, v in self.leases.items() if v > now}

    def move(self, state: CircuitState, now: float) -> None:
        self.state, self.generation = state, self.generation + 1
        self.failures, self.successes, self.leases = 0, 0, {}
        if state is OPEN:
            self.opened_at = now

    def allow(self, now: float, lease_id: str | None) -> tuple[bool, bool, int]:
        if self.state is CLOSED:
            return True, False, self.generation
        if self.state is OPEN:
            if now < self.opened_at + self.s.cooldown_seconds:
                return False, False, self.generation
            self.move(HALF_OPEN, now)
        if len(self.live(now)) >= self.s.half_open_max_probes:
            return False, False, self.generation
        self.leases = {**self.live(now), str(lease_id): now + self.s.probe_lease_seconds}
        return True, True, self.generation

    def result(self, admission: BreakerPermit, ok: bool, now: float) -> None:
        if not admission.allowed or admission.generation != self.generation:
            return
        if admission.is_probe:
            if ok:
                self.leases = {k: v for k, v in self.live(now).items() if k != admission.lease_id}
                self.successes += 1
                if self.successes >= self.s.success_to_close:
                    self.move(CLOSED, now)
            else:
                self.move(OPEN, now)
        elif ok:
            self.failures = 0
        else:
            self.failures += 1
            if self.failures >= (self.s.failure_threshold or 10**9):
                self.move(OPEN, now)


# "ok"/"fail" are a whole request (allow, then its result at once), which walks the machine deep quickly;
# "allow" keeps an admission pending and "success"/"failure" resolve one later, for leases and stale phases.
operation = st.one_of(
    st.tuples(st.sampled_from(["ok", "fail", "fail", "allow"]), st.just(0)),
    st.tuples(st.sampled_from(["success", "failure"]), st.integers(0, 7)),
    st.tuples(st.just("advance"), st.sampled_from([1, 5, 10, 30, 30])),
)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(breaker_settings, st.lists(operation, max_size=40))
def test_sequentially_the_breaker_is_the_reference_model(s: BreakerSettings, ops: list[tuple[str, int]]) -> None:
    asyncio.run(_replay(s, ops))


async def _replay(s: BreakerSettings, ops: list[tuple[str, int]]) -> None:
    clock = FakeClock()
    breaker, model = CircuitBreaker(MemoryStore(clock), clock, s), Model(s)
    pending: list[BreakerPermit] = []
    for op, arg in ops:
        now = clock.now()
        if op == "advance":
            clock.advance(arg)
        elif op in ("allow", "ok", "fail"):
            admission = await breaker.allow(KEY)
            expected = model.allow(now, admission.lease_id)
            assert (admission.allowed, admission.is_probe, admission.generation) == expected
            if op == "allow":
                pending.append(admission)
            else:
                await (breaker.record_success if op == "ok" else breaker.record_failure)(KEY, admission)
                model.result(admission, op == "ok", now)
        elif pending:
            admission = pending.pop(arg % len(pending))
            ok = op == "success"
            await (breaker.record_success if ok else breaker.record_failure)(KEY, admission)
            model.result(admission, ok, now)
        view = (await breaker.snapshot([KEY]))[KEY]
        assert (view.state, view.generation, view.consecutive_failures) == (
            model.state,
            model.generation,
            model.failures,
        )
        if view.state is HALF_OPEN:
            assert view.probes_in_flight == len(model.live(clock.now()))


class CheckedStore(MemoryStore):
    """Asserts after every breaker write that no more than ``max_probes`` leases are live."""

    def __init__(self, clock: FakeClock, max_probes: int) -> None:
        super().__init__(clock)
        self._clock_ref, self._max = clock, max_probes

    async def put(self, pk: str, sk: str, item: Mapping[str, Any], *, expect_version: int | Absent | None) -> int:
        version = await super().put(pk, sk, item, expect_version=expect_version)
        live = [exp for exp in (item.get("probe_leases") or {}).values() if exp > self._clock_ref.now()]
        assert len(live) <= self._max, f"{len(live)} live leases, max {self._max}"
        return version


round_of_work = st.tuples(
    st.sampled_from([0, 0, 1, 10, 30]),  # seconds to advance before the round
    st.lists(
        st.tuples(st.sampled_from(["allow", "success", "failure"]), st.integers(0, 3), st.integers(0, 3)), max_size=12
    ),
)


@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(breaker_settings, st.lists(round_of_work, max_size=8))
def test_random_concurrent_interleavings_keep_the_invariants(
    s: BreakerSettings, rounds: list[tuple[int, list[tuple[str, int, int]]]]
) -> None:
    asyncio.run(_race(s, rounds))


async def _race(s: BreakerSettings, rounds: list[tuple[int, list[tuple[str, int, int]]]]) -> None:
    clock = FakeClock()
    store = CheckedStore(clock, s.half_open_max_probes)
    transitions: list[Transition] = []
    breakers = [CircuitBreaker(store, clock, s, on_transition=transitions.append) for _ in range(3)]
    pending: list[BreakerPermit] = []

    async def act(kind: str, instance: int, delay: int) -> None:
        for _ in range(delay):
            await asyncio.sleep(0)
        breaker = breakers[instance % len(breakers)]
        if kind == "allow":
            pending.append(await breaker.allow(KEY))
        elif pending:
            admission = pending.pop(0)
            await (breaker.record_success if kind == "success" else breaker.record_failure)(KEY, admission)

    for advance, work in rounds:
        clock.advance(advance)
        await asyncio.gather(*(act(kind, instance, delay) for kind, instance, delay in work))

    assert [t.generation for t in transitions] == list(range(1, len(transitions) + 1))
    previous = CLOSED
    for t in transitions:
        assert (t.from_state, t.to_state) in LEGAL and t.from_state is previous
        previous = t.to_state
    assert (await breakers[0].snapshot([KEY]))[KEY].state is previous
