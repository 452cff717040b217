"""``Store.transact``: conditional puts, deletes and adds on several items, all-or-nothing.

Runs on MemoryStore and on DynamoStore over moto (TransactWriteItems). dynalite has no
TransactWriteItems (UnknownOperationException), so it is listed and skipped with that reason.
"""

from __future__ import annotations

import pytest

from aimux_core.state import ABSENT, ConditionFailed, FakeClock, Store, StoreError
from aimux_core.state.transaction import MAX_OPERATIONS, AddOp, DeleteOp, PutOp

pytestmark = pytest.mark.anyio

NO_TRANSACTIONS = "dynalite has no TransactWriteItems (UnknownOperationException): memory and moto cover transact"


@pytest.fixture(params=["memory_store", "moto_store", "dynalite_store"])
def tx_store(request: pytest.FixtureRequest) -> Store:
    if request.param == "dynalite_store":
        pytest.skip(NO_TRANSACTIONS)
    return request.getfixturevalue(request.param)


async def test_key_rotation_creates_the_new_key_and_disables_the_old_together(tx_store: Store, ns: str) -> None:
    await tx_store.put(f"key#{ns}-old", "meta", {"name": "ci", "disabled": False}, expect_version=ABSENT)

    await tx_store.transact(
        [
            PutOp(f"key#{ns}-new", "meta", {"name": "ci", "disabled": False, "replaces": f"{ns}-old"}, ABSENT),
            PutOp(f"key#{ns}-old", "meta", {"name": "ci", "disabled": True}, expect_version=1),
        ]
    )

    new, old = await tx_store.get(f"key#{ns}-new", "meta"), await tx_store.get(f"key#{ns}-old", "meta")
    assert new is not None and (new["version"], new["disabled"], new["replaces"]) == (1, False, f"{ns}-old")
    assert (old["disabled"], old["version"]) == (True, 2)


async def test_one_failed_condition_writes_nothing_and_names_the_item(tx_store: Store, ns: str) -> None:
    await tx_store.put(f"{ns}#a", "x", {"n": 1}, expect_version=ABSENT)
    await tx_store.put(f"{ns}#b", "x", {"n": 1}, expect_version=ABSENT)
    await tx_store.add(f"{ns}#c", "x", {"n": 5})

    with pytest.raises(ConditionFailed) as failed:
        await tx_store.transact(
            [
                PutOp(f"{ns}#a", "x", {"n": 2}, expect_version=1),
                AddOp(f"{ns}#c", "x", {"n": 1}),
                DeleteOp(f"{ns}#d", "x"),
                PutOp(f"{ns}#b", "x", {"n": 2}, expect_version=7),  # stale
            ]
        )

    assert (failed.value.pk, failed.value.sk) == (f"{ns}#b", "x")
    assert (await tx_store.get(f"{ns}#a", "x"))["version"] == 1
    assert (await tx_store.get(f"{ns}#c", "x"))["n"] == 5


async def test_adds_in_a_transaction_count_and_respect_their_limit(tx_store: Store, ns: str, clock: FakeClock) -> None:
    await tx_store.transact(
        [
            AddOp(f"spend#{ns}", "day", {"cost_micros": 700}, limit=("cost_micros", 1000), expires_at=clock.now() + 60),
            AddOp(f"spend#{ns}", "month", {"cost_micros": 700}),
        ]
    )
    day = await tx_store.get(f"spend#{ns}", "day")
    assert (day["cost_micros"], day["version"], day["expires_at"]) == (700, 1, clock.now() + 60)

    with pytest.raises(ConditionFailed):
        await tx_store.transact(
            [
                AddOp(f"spend#{ns}", "month", {"cost_micros": 400}),
                AddOp(f"spend#{ns}", "day", {"cost_micros": 400}, limit=("cost_micros", 1000)),
            ]
        )
    assert (await tx_store.get(f"spend#{ns}", "month"))["cost_micros"] == 700  # rolled back with the day


async def test_a_conditional_delete_needs_the_expected_version(tx_store: Store, ns: str) -> None:
    await tx_store.put(f"{ns}#a", "x", {"n": 1}, expect_version=ABSENT)
    with pytest.raises(ConditionFailed):
        await tx_store.transact([DeleteOp(f"{ns}#a", "x", expect_version=2)])
    await tx_store.transact([DeleteOp(f"{ns}#a", "x", expect_version=1), DeleteOp(f"{ns}#missing", "x")])
    assert await tx_store.get(f"{ns}#a", "x") is None


async def test_expired_items_are_absent_inside_a_transaction(tx_store: Store, ns: str, clock: FakeClock) -> None:
    for sk in ("create", "cas", "add", "delete"):
        await tx_store.put(f"{ns}#e", sk, {"n": 9, "expires_at": clock.now() + 1}, expect_version=ABSENT)
    clock.advance(1)

    with pytest.raises(ConditionFailed):
        await tx_store.transact([PutOp(f"{ns}#e", "cas", {"n": 1}, expect_version=1)])
    with pytest.raises(ConditionFailed):
        await tx_store.transact([DeleteOp(f"{ns}#e", "delete", expect_version=1)])
    await tx_store.transact(
        [
            PutOp(f"{ns}#e", "create", {"n": 1}, expect_version=ABSENT),
            AddOp(f"{ns}#e", "add", {"n": 1}, limit=("n", 1)),  # starts from zero, not from 9
        ]
    )
    assert await tx_store.get(f"{ns}#e", "create") == {"pk": f"{ns}#e", "sk": "create", "version": 1, "n": 1}
    assert await tx_store.get(f"{ns}#e", "add") == {"pk": f"{ns}#e", "sk": "add", "version": 1, "n": 1}


async def test_an_add_to_a_non_numeric_attribute_is_a_programming_error(tx_store: Store, ns: str) -> None:
    await tx_store.put(f"{ns}#a", "x", {"name": "text"}, expect_version=ABSENT)
    with pytest.raises(TypeError):
        await tx_store.transact([AddOp(f"{ns}#a", "x", {"name": 1}), AddOp(f"{ns}#b", "x", {"n": 1})])
    assert await tx_store.get(f"{ns}#b", "x") is None


@pytest.mark.parametrize(
    "operations, error",
    [
        ([], ValueError),
        ([DeleteOp("p", "s"), DeleteOp("p", "s")], ValueError),  # one item twice
        ([DeleteOp("p", str(i)) for i in range(MAX_OPERATIONS + 1)], ValueError),
        ([PutOp("p", "s", {"v": (1, 2)}, None)], TypeError),
        ([PutOp("p", "s", {}, expect_version="1")], TypeError),  # type: ignore[arg-type]
        ([DeleteOp("p", "s", expect_version=ABSENT)], TypeError),  # type: ignore[arg-type]
        ([AddOp("p", "s", {"version": 1})], ValueError),
        ([AddOp("p", "s", {"n": 1}, limit=("", 1))], ValueError),
        ([AddOp("", "s", {"n": 1})], ValueError),
        (["not an operation"], TypeError),
    ],
    ids=[
        "empty",
        "duplicate",
        "too-many",
        "bad-value",
        "bad-version",
        "absent-delete",
        "reserved",
        "no-limit-name",
        "bad-key",
        "not-an-op",
    ],
)
async def test_invalid_transactions_are_refused_before_anything_is_sent(
    store: Store, operations: list, error: type[Exception]
) -> None:
    """Validation happens before any request, so this runs on dynalite too."""
    with pytest.raises(error):
        await store.transact(operations)


async def test_dynalite_really_lacks_transactions(dynalite_store: Store, ns: str) -> None:
    """The reason the suite skips dynalite above; fails loudly (StoreError), never hangs or half-applies."""
    with pytest.raises(StoreError, match="UnknownOperationException"):
        await dynalite_store.transact([PutOp(f"{ns}#a", "x", {"n": 1}, ABSENT)])
    assert await dynalite_store.get(f"{ns}#a", "x") is None
