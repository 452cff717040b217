"""TTL on ``expires_at``, against moto: expired items are still in the table, and absent for every operation.

Neither moto nor dynalite (nor DynamoDB, for days) deletes expired items, so ``DynamoStore`` must
treat ``expires_at <= now`` as absent itself, in every read and every condition. Here the raw table
is inspected next to the store to show both sides. (The contract suite runs the same rules on every
store; these add the table's view, the boundary and the re-creation cycle.)
"""

from __future__ import annotations

import uuid

import pytest

from aimux_core.state import ABSENT, ConditionFailed, FakeClock
from aimux_core.state.dynamodb import DynamoStore, create_table
from aimux_core.state.transaction import AddOp, PutOp
from support.dynamo import DynamoServer

pytestmark = pytest.mark.anyio


def raw_item(server: DynamoServer, pk: str, sk: str) -> dict | None:
    return (
        server.shared_client()
        .get_item(TableName=server.table, Key={"pk": {"S": pk}, "sk": {"S": sk}}, ConsistentRead=True)
        .get("Item")
    )


async def test_create_table_turns_ttl_on_for_expires_at_and_is_idempotent(moto_server: DynamoServer) -> None:
    client, table = moto_server.shared_client(), f"aimux-ttl-{uuid.uuid4().hex[:6]}"
    create_table(client, table)
    create_table(client, table)  # already there: fine
    ttl = client.describe_time_to_live(TableName=table)["TimeToLiveDescription"]
    assert (ttl["TimeToLiveStatus"], ttl["AttributeName"]) == ("ENABLED", "expires_at")
    described = client.describe_table(TableName=table)["Table"]
    assert described["BillingModeSummary"]["BillingMode"] == "PAY_PER_REQUEST"
    assert {(k["AttributeName"], k["KeyType"]) for k in described["KeySchema"]} == {("pk", "HASH"), ("sk", "RANGE")}
    client.delete_table(TableName=table)


async def test_create_table_tolerates_a_server_without_a_ttl_api(dynalite_server: DynamoServer) -> None:
    client, table = dynalite_server.shared_client(), f"aimux-ttl-{uuid.uuid4().hex[:6]}"
    create_table(client, table)
    assert client.describe_table(TableName=table)["Table"]["TableStatus"] == "ACTIVE"
    client.delete_table(TableName=table)


async def test_an_expired_item_stays_in_the_table_but_is_absent_for_every_operation(
    moto_store: DynamoStore, moto_server: DynamoServer, clock: FakeClock, ns: str
) -> None:
    pk = f"{ns}#rate"
    await moto_store.put(pk, "a", {"n": 5, "expires_at": clock.now() + 30}, expect_version=ABSENT)
    await moto_store.put(pk, "b", {"n": 5, "expires_at": clock.now() + 30}, expect_version=ABSENT)
    clock.advance(30)  # exactly at expires_at: expired

    assert raw_item(moto_server, pk, "a")["n"] == {"N": "5"}  # still stored...
    assert await moto_store.get(pk, "a") is None  # ...but absent
    assert await moto_store.query(pk, "a", "z") == []
    with pytest.raises(ConditionFailed):
        await moto_store.put(pk, "a", {"n": 6}, expect_version=1)
    with pytest.raises(ConditionFailed):
        await moto_store.add(pk, "b", {"n": 2}, limit=("n", 1))  # from zero, 2 > 1: refused, not "5 + 2"
    assert raw_item(moto_server, pk, "b")["n"] == {"N": "5"}  # the refusal replaced nothing
    assert (await moto_store.add(pk, "b", {"n": 1}, limit=("n", 1)))["n"] == 1
    await moto_store.delete(pk, "a")
    assert raw_item(moto_server, pk, "a") is None


async def test_an_expired_item_can_be_recreated_again_and_again(
    moto_store: DynamoStore, moto_server: DynamoServer, clock: FakeClock, ns: str
) -> None:
    pk = f"{ns}#lease"
    for round_ in range(3):
        item = {"round": round_, "expires_at": clock.now() + 10}
        assert await moto_store.put(pk, "x", item, expect_version=ABSENT) == 1
        with pytest.raises(ConditionFailed):
            await moto_store.put(pk, "x", {"round": -1}, expect_version=ABSENT)  # live: taken
        clock.advance(10)
    await moto_store.put(pk, "x", {"round": 3}, expect_version=ABSENT)  # no expiry this time
    clock.advance(10**6)
    assert await moto_store.get(pk, "x") == {"pk": pk, "sk": "x", "version": 1, "round": 3}
    assert "expires_at" not in raw_item(moto_server, pk, "x")


async def test_an_add_over_an_expired_item_starts_a_fresh_one_with_the_new_expiry(
    moto_store: DynamoStore, moto_server: DynamoServer, clock: FakeClock, ns: str
) -> None:
    pk = f"{ns}#window"
    await moto_store.add(pk, "w", {"requests": 7, "tokens": 900}, expires_at=clock.now() + 60)
    clock.advance(60.5)
    item = await moto_store.add(pk, "w", {"requests": 1}, limit=("requests", 10), expires_at=clock.now() + 60)
    assert item == {"pk": pk, "sk": "w", "version": 1, "requests": 1, "expires_at": clock.now() + 60}
    assert "tokens" not in raw_item(moto_server, pk, "w")  # the old window's counters are gone


async def test_fractional_expiry_is_compared_exactly(moto_store: DynamoStore, clock: FakeClock, ns: str) -> None:
    await moto_store.put(f"{ns}#f", "x", {"expires_at": clock.now() + 0.25}, expect_version=ABSENT)
    clock.advance(0.249)
    assert await moto_store.get(f"{ns}#f", "x") is not None
    clock.advance(0.001)
    assert await moto_store.get(f"{ns}#f", "x") is None


async def test_a_transaction_treats_expired_items_as_absent_too(
    moto_store: DynamoStore, moto_server: DynamoServer, clock: FakeClock, ns: str
) -> None:
    pk = f"{ns}#tx"
    await moto_store.add(pk, "count", {"n": 50}, expires_at=clock.now() + 5)
    await moto_store.put(pk, "key", {"old": True, "expires_at": clock.now() + 5}, expect_version=ABSENT)
    clock.advance(5)
    await moto_store.transact([AddOp(pk, "count", {"n": 1}, limit=("n", 1)), PutOp(pk, "key", {"old": False}, ABSENT)])
    assert (await moto_store.get(pk, "count"))["n"] == 1
    assert (await moto_store.get(pk, "key"))["old"] is False
