"""DynamoDB requests per store operation, counted with botocore's ``before-call`` event on the client.

The counts are the cost model of ``dynamodb.py``'s docstring. They differ between servers in one
place: a refused ``add`` learns why from the item DynamoDB (and moto) return with the refusal
(``ReturnValuesOnConditionCheckFailure=ALL_OLD``); dynalite ignores that, so there it costs a GetItem.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from aimux_core.state import ABSENT, BreakerSettings, CircuitBreaker, ConditionFailed, FakeClock, HealthTracker
from aimux_core.state.dynamodb import DynamoStore
from aimux_core.state.transaction import AddOp, PutOp
from support.dynamo import DynamoServer, ensure_table

pytestmark = pytest.mark.anyio


class Calls:
    """The DynamoDB operations a client sent since the last ``take``."""

    def __init__(self, client: Any) -> None:
        self.names: list[str] = []
        self._client = client
        client.meta.events.register("before-call.dynamodb.*", self._seen)

    def _seen(self, model: Any, **kwargs: Any) -> None:
        self.names.append(model.name)

    def take(self) -> list[str]:
        names, self.names = self.names, []
        return names

    def close(self) -> None:
        self._client.meta.events.unregister("before-call.dynamodb.*", self._seen)


@pytest.fixture(params=["moto_server", "dynalite_server"])
def counted(request: pytest.FixtureRequest, clock: FakeClock) -> Iterator[tuple[DynamoStore, Calls, str]]:
    server: DynamoServer = request.getfixturevalue(request.param)
    ensure_table(server)
    client = server.client()  # its own client: the hooks see only this test's calls
    calls = Calls(client)
    yield DynamoStore(server.table, client=client, clock=clock), calls, server.name
    calls.close()


async def test_round_trips_per_store_operation(
    counted: tuple[DynamoStore, Calls, str], clock: FakeClock, ns: str
) -> None:
    store, calls, server = counted
    dynalite = server == "dynalite"

    await store.get(f"{ns}#a", "x")
    assert calls.take() == ["GetItem"]
    await store.put(f"{ns}#a", "x", {"n": 1}, expect_version=ABSENT)
    await store.put(f"{ns}#a", "x", {"n": 2}, expect_version=1)
    await store.put(f"{ns}#a", "x", {"n": 3}, expect_version=None)
    assert calls.take() == ["PutItem"] * 3
    with pytest.raises(ConditionFailed):
        await store.put(f"{ns}#a", "x", {"n": 4}, expect_version=ABSENT)
    assert calls.take() == ["PutItem"]

    await store.add(f"{ns}#c", "w", {"n": 1}, limit=("n", 1), expires_at=clock.now() + 10)
    assert calls.take() == ["UpdateItem"]
    with pytest.raises(ConditionFailed):
        await store.add(f"{ns}#c", "w", {"n": 1}, limit=("n", 1))  # over the limit
    assert calls.take() == (["UpdateItem", "GetItem"] if dynalite else ["UpdateItem"])
    clock.advance(10)
    await store.add(f"{ns}#c", "w", {"n": 1}, limit=("n", 1))  # an expired item in the way
    assert calls.take() == (["UpdateItem", "GetItem", "PutItem"] if dynalite else ["UpdateItem", "PutItem"])

    await store.query(f"{ns}#c", "a", "z")
    assert calls.take() == ["Query"]
    await store.query(f"{ns}#c", "z", "a")  # an empty range is answered without asking
    assert calls.take() == []
    await store.delete(f"{ns}#a", "x")
    assert calls.take() == ["DeleteItem"]


async def test_round_trips_per_transaction(moto_server: DynamoServer, clock: FakeClock, ns: str) -> None:
    client = moto_server.client()
    calls = Calls(client)
    store = DynamoStore(moto_server.table, client=client, clock=clock)

    await store.transact([PutOp(f"{ns}#k", "new", {}, ABSENT), AddOp(f"{ns}#k", "n", {"n": 1}, expires_at=clock.now())])
    assert calls.take() == ["TransactWriteItems"]
    # the AddOp's item expired just now: clear it while still expired, then commit
    await store.transact([PutOp(f"{ns}#k", "new", {}, 1), AddOp(f"{ns}#k", "n", {"n": 1})])
    assert calls.take() == ["TransactWriteItems", "DeleteItem", "TransactWriteItems"]
    calls.close()


async def test_round_trips_of_the_breaker_and_health_paths(
    counted: tuple[DynamoStore, Calls, str], clock: FakeClock, ns: str
) -> None:
    """What the gateway pays per request: the hot path reads at most once per cache period."""
    store, calls, _ = counted
    breaker = CircuitBreaker(store, clock, BreakerSettings(failure_threshold=3, failure_ratio=None, cache_seconds=2))

    admission = await breaker.allow(ns)
    assert calls.take() == ["GetItem"]  # cold cache
    await breaker.allow(ns)
    assert calls.take() == []  # from the per-process copy
    await breaker.record_failure(ns, admission)
    assert calls.take() == ["UpdateItem"]  # one atomic ADD, phase-guarded
    await breaker.record_success(ns, admission)
    assert sorted(calls.take()) == ["GetItem", "PutItem"]  # re-read, then forget the failure run (CAS)

    await HealthTracker(store, clock).record(ns, ok=True, latency_ms=120)
    assert calls.take() == ["UpdateItem"]
