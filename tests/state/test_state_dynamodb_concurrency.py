"""Atomicity under real concurrency, against dynalite (exact under concurrency; moto loses updates).

Each thread stands for one Lambda instance: its own event loop and its own ``DynamoStore`` /
``CircuitBreaker`` (so its own snapshot cache), all on one table. Requests really
overlap at the server. A barrier lines the threads up where the race matters.
"""

from __future__ import annotations

import asyncio
import random
import threading
from collections.abc import Awaitable, Callable
from decimal import Decimal
from typing import TypeVar

from aimux_core.state import (
    ABSENT,
    Absent,
    BreakerSettings,
    CircuitBreaker,
    CircuitState,
    ConditionFailed,
    FakeClock,
    Transition,
)
from aimux_core.state.dynamodb import DynamoStore
from support.dynamo import DynamoServer

T = TypeVar("T")
OPEN, HALF_OPEN, CLOSED = CircuitState.OPEN, CircuitState.HALF_OPEN, CircuitState.CLOSED
THREAD_SECONDS = 60


def instance_store(server: DynamoServer, clock: FakeClock) -> DynamoStore:
    """A store for one instance. The boto3 client is shared (building 16 costs 4 s of CPU on this
    box); what matters here is that the requests overlap at the server, and they do."""
    return DynamoStore(server.table, client=server.shared_client(), clock=clock)


def run_threads(count: int, work: Callable[[int], Awaitable[T]]) -> list[T]:
    """Run ``work(i)`` on ``count`` threads, each in its own event loop; results in thread order."""
    results: list[T | None] = [None] * count
    errors: list[BaseException] = []

    def main(i: int) -> None:
        try:
            results[i] = asyncio.run(work(i))
        except BaseException as error:  # handed to the test thread below
            errors.append(error)

    threads = [threading.Thread(target=main, args=(i,), name=f"instance-{i}") for i in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=THREAD_SECONDS)
    assert not any(thread.is_alive() for thread in threads), "an instance thread did not finish in time"
    if errors:
        raise errors[0]
    return results  # type: ignore[return-value]


def read(server: DynamoServer, clock: FakeClock, pk: str, sk: str) -> dict:
    item = asyncio.run(instance_store(server, clock).get(pk, sk))
    assert item is not None
    return item


def test_16_threads_x_200_admissions_against_a_limit_of_1000_admit_exactly_1000(
    dynalite_server: DynamoServer, clock: FakeClock, ns: str
) -> None:
    pk, sk = f"rate#key#{ns}", f"{int(clock.now() // 60):010d}"
    barrier = threading.Barrier(16, timeout=THREAD_SECONDS)

    async def admit(i: int) -> int:
        store = instance_store(dynalite_server, clock)
        await store.get("warm-up", "x")  # build the client before the race starts
        barrier.wait()
        admitted = 0
        for _ in range(200):
            try:
                await store.add(pk, sk, {"requests": 1}, limit=("requests", 1000), expires_at=clock.now() + 120)
                admitted += 1
            except ConditionFailed:
                pass
        return admitted

    admitted = run_threads(16, admit)

    assert sum(admitted) == 1000
    item = read(dynalite_server, clock, pk, sk)
    assert (item["requests"], item["version"]) == (1000, 1000)


def breaker_instances(server: DynamoServer, clock: FakeClock, settings: BreakerSettings, transitions: list) -> Callable:
    lock = threading.Lock()

    def record(transition: Transition) -> None:
        with lock:
            transitions.append(transition)

    return lambda: CircuitBreaker(instance_store(server, clock), clock, settings, on_transition=record)


def test_concurrent_failures_from_eight_instances_open_the_breaker_exactly_once(
    dynalite_server: DynamoServer, clock: FakeClock, ns: str
) -> None:
    settings = BreakerSettings(failure_threshold=5, failure_ratio=0.5, min_requests=10)
    transitions: list[Transition] = []
    new_instance = breaker_instances(dynalite_server, clock, settings, transitions)
    barrier = threading.Barrier(8, timeout=THREAD_SECONDS)

    async def fail_together(i: int) -> None:
        breaker = new_instance()
        admissions = [await breaker.allow(ns) for _ in range(12)]
        assert all(a.allowed and a.generation == 0 for a in admissions)
        barrier.wait()  # every instance admitted its requests while closed; now they all fail at once
        await asyncio.gather(*(breaker.record_failure(ns, a) for a in admissions))

    run_threads(8, fail_together)

    assert [(t.from_state, t.to_state) for t in transitions] == [(CLOSED, OPEN)]
    stored = read(dynalite_server, clock, f"breaker#{ns}", "state")
    assert (stored["state"], stored["generation"]) == ("open", 1)


def test_half_open_admits_exactly_the_configured_probes_across_instances(
    dynalite_server: DynamoServer, clock: FakeClock, ns: str
) -> None:
    settings = BreakerSettings(failure_threshold=1, failure_ratio=None, half_open_max_probes=3)
    transitions: list[Transition] = []
    new_instance = breaker_instances(dynalite_server, clock, settings, transitions)

    async def open_it() -> None:
        opener = new_instance()
        await opener.record_failure(ns, await opener.allow(ns))

    asyncio.run(open_it())
    clock.advance(settings.cooldown_seconds)
    barrier = threading.Barrier(8, timeout=THREAD_SECONDS)

    async def ask_together(i: int) -> list:
        breaker = new_instance()
        await breaker.snapshot(["warm-up"])
        barrier.wait()
        return list(await asyncio.gather(*(breaker.allow(ns) for _ in range(10))))

    answers = [a for per_instance in run_threads(8, ask_together) for a in per_instance]

    probes = [a for a in answers if a.allowed]
    assert len(probes) == 3 and all(a.is_probe for a in probes)
    assert len({a.lease_id for a in probes}) == 3
    assert [(t.from_state, t.to_state) for t in transitions] == [(CLOSED, OPEN), (OPEN, HALF_OPEN)]
    stored = read(dynalite_server, clock, f"breaker#{ns}", "state")
    assert set(stored["probe_leases"]) == {a.lease_id for a in probes}


def test_concurrent_spend_adds_of_float_amounts_sum_exactly_in_micro_dollars(
    dynalite_server: DynamoServer, clock: FakeClock, ns: str
) -> None:
    rng = random.Random(7)
    costs = [[rng.uniform(0.000001, 0.05) for _ in range(50)] for _ in range(16)]  # USD per request
    barrier = threading.Barrier(16, timeout=THREAD_SECONDS)

    async def spend(i: int) -> None:
        store = instance_store(dynalite_server, clock)
        await store.get("warm-up", "x")
        barrier.wait()
        for usd in costs[i]:
            await store.add(f"spend#{ns}", "day#2026-11-22", {"cost_micros": round(usd * 1_000_000), "usd": usd})

    run_threads(16, spend)

    item = read(dynalite_server, clock, f"spend#{ns}", "day#2026-11-22")
    flat = [usd for per_thread in costs for usd in per_thread]
    assert item["cost_micros"] == sum(round(usd * 1_000_000) for usd in flat)  # the figure budgets use
    assert item["version"] == 800
    # DynamoDB adds decimals exactly, so even the float column is the exact decimal sum; MemoryStore
    # sums binary floats instead, which is why spend is kept in integer micro-dollars.
    assert item["usd"] == float(sum(Decimal(str(usd)) for usd in flat))


def test_racing_creates_then_racing_compare_and_sets_across_instances_have_one_winner_each(
    dynalite_server: DynamoServer, clock: FakeClock, ns: str
) -> None:
    barrier = threading.Barrier(8, timeout=THREAD_SECONDS)

    async def attempt(store: DynamoStore, i: int, expect: int | Absent) -> bool:
        try:
            await store.put(f"{ns}#key", "meta", {"owner": i}, expect_version=expect)
        except ConditionFailed:
            return False
        return True

    async def race(i: int) -> tuple[bool, bool]:
        store = instance_store(dynalite_server, clock)
        await store.get("warm-up", "x")
        barrier.wait()
        created = await attempt(store, i, ABSENT)
        barrier.wait()
        return created, await attempt(store, i, 1)

    outcomes = run_threads(8, race)

    assert sum(created for created, _ in outcomes) == 1
    assert sum(swapped for _, swapped in outcomes) == 1
    assert read(dynalite_server, clock, f"{ns}#key", "meta")["version"] == 2
