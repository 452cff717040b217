"""The ``Store`` contract (see ``aimux_core.state.store``), once, for every implementation in ``STORE_FIXTURES``."""

from __future__ import annotations

import asyncio
import math

import pytest

from aimux_core.state import ABSENT, ConditionFailed, FakeClock, Store

pytestmark = pytest.mark.anyio


# --- get / put: conditional create, compare-and-set, blind put ---


async def test_get_of_a_missing_item_is_none(store: Store, ns: str) -> None:
    assert await store.get(f"{ns}#a", "x") is None


async def test_create_writes_version_1_and_get_returns_keys_and_attributes(store: Store, ns: str) -> None:
    version = await store.put(f"{ns}#a", "x", {"name": "alpha", "n": 3}, expect_version=ABSENT)
    assert version == 1
    assert await store.get(f"{ns}#a", "x") == {"pk": f"{ns}#a", "sk": "x", "version": 1, "name": "alpha", "n": 3}


async def test_create_over_an_existing_item_fails_and_writes_nothing(store: Store, ns: str) -> None:
    await store.put(f"{ns}#a", "x", {"n": 1}, expect_version=ABSENT)
    with pytest.raises(ConditionFailed):
        await store.put(f"{ns}#a", "x", {"n": 2}, expect_version=ABSENT)
    assert (await store.get(f"{ns}#a", "x"))["n"] == 1


async def test_compare_and_set_advances_the_version(store: Store, ns: str) -> None:
    await store.put(f"{ns}#a", "x", {"n": 1}, expect_version=ABSENT)
    assert await store.put(f"{ns}#a", "x", {"n": 2}, expect_version=1) == 2
    assert await store.put(f"{ns}#a", "x", {"n": 3}, expect_version=2) == 3
    assert await store.get(f"{ns}#a", "x") == {"pk": f"{ns}#a", "sk": "x", "version": 3, "n": 3}


async def test_compare_and_set_with_a_stale_version_fails_and_writes_nothing(store: Store, ns: str) -> None:
    await store.put(f"{ns}#a", "x", {"n": 1}, expect_version=ABSENT)
    await store.put(f"{ns}#a", "x", {"n": 2}, expect_version=1)
    with pytest.raises(ConditionFailed):
        await store.put(f"{ns}#a", "x", {"n": 99}, expect_version=1)
    assert await store.get(f"{ns}#a", "x") == {"pk": f"{ns}#a", "sk": "x", "version": 2, "n": 2}


async def test_compare_and_set_on_a_missing_item_fails(store: Store, ns: str) -> None:
    with pytest.raises(ConditionFailed):
        await store.put(f"{ns}#a", "x", {"n": 1}, expect_version=1)
    assert await store.get(f"{ns}#a", "x") is None


async def test_put_replaces_the_whole_item(store: Store, ns: str) -> None:
    await store.put(f"{ns}#a", "x", {"old": 1, "kept": "no"}, expect_version=ABSENT)
    await store.put(f"{ns}#a", "x", {"new": 2}, expect_version=1)
    assert await store.get(f"{ns}#a", "x") == {"pk": f"{ns}#a", "sk": "x", "version": 2, "new": 2}


async def test_blind_put_writes_version_0_whatever_was_there(store: Store, ns: str) -> None:
    assert await store.put(f"{ns}#a", "x", {"n": 1}, expect_version=None) == 0
    await store.put(f"{ns}#a", "x", {"n": 2}, expect_version=0)
    assert await store.put(f"{ns}#a", "x", {"n": 3}, expect_version=None) == 0
    assert await store.get(f"{ns}#a", "x") == {"pk": f"{ns}#a", "sk": "x", "version": 0, "n": 3}


async def test_store_owned_attributes_in_a_callers_item_are_ignored(store: Store, ns: str) -> None:
    await store.put(f"{ns}#a", "x", {"pk": "other", "sk": "other", "version": 41, "n": 1}, expect_version=ABSENT)
    assert await store.get(f"{ns}#a", "x") == {"pk": f"{ns}#a", "sk": "x", "version": 1, "n": 1}
    assert await store.get("other", "other") is None


async def test_values_round_trip_and_integral_numbers_read_back_as_int(store: Store, ns: str) -> None:
    item = {
        "s": "",
        "i": -7,
        "f": 0.25,
        "whole": 2.0,
        "b": True,
        "none": None,
        "list": [1, "a", [2.0]],
        "map": {"k": {"n": 1.5}},
    }
    await store.put(f"{ns}#a", "x", item, expect_version=ABSENT)
    got = await store.get(f"{ns}#a", "x")
    assert got is not None
    assert {k: got[k] for k in item} == {**item, "whole": 2, "list": [1, "a", [2]]}
    assert type(got["whole"]) is int and type(got["b"]) is bool and type(got["f"]) is float


async def test_bytes_round_trip_as_binary_values(store: Store, ns: str) -> None:
    """DynamoDB's binary type (B), for compressed payloads: any byte, top level and nested, empty too."""
    payload = bytes(range(256)) * 3
    item = {"blob": payload, "empty": b"", "nested": {"parts": [b"\x00\xff", "text"]}}
    await store.put(f"{ns}#a", "x", item, expect_version=ABSENT)
    got = await store.get(f"{ns}#a", "x")
    assert got is not None
    assert {k: got[k] for k in item} == item
    assert type(got["blob"]) is bytes


async def test_a_refused_add_returns_the_live_item_with_its_binary_values(store: Store, ns: str) -> None:
    await store.put(f"{ns}#a", "x", {"blob": b"\x01\x02", "n": 1}, expect_version=None)
    with pytest.raises(ConditionFailed) as refused:
        await store.add(f"{ns}#a", "x", {"n": 1}, limit={"n": 1})
    assert refused.value.item is not None and refused.value.item["blob"] == b"\x01\x02"


async def test_returned_items_are_the_callers_own_copies(store: Store, ns: str) -> None:
    source = {"map": {"n": 1}, "list": [1]}
    await store.put(f"{ns}#a", "x", source, expect_version=ABSENT)
    source["map"]["n"] = 2
    got = await store.get(f"{ns}#a", "x")
    assert got is not None
    got["map"]["n"] = 3
    got["list"].append(2)
    assert (await store.get(f"{ns}#a", "x"))["map"] == {"n": 1}
    assert (await store.get(f"{ns}#a", "x"))["list"] == [1]


@pytest.mark.parametrize(
    "value",
    [(1, 2), {1, 2}, math.nan, math.inf, bytearray(b"mutable"), object(), {1: "non-string key"}, {"": "empty key"}],
    ids=["tuple", "set", "nan", "inf", "bytearray", "object", "int-key", "empty-key"],
)
async def test_values_a_dynamodb_table_cannot_hold_are_refused(store: Store, ns: str, value: object) -> None:
    with pytest.raises((TypeError, ValueError)):
        await store.put(f"{ns}#a", "x", {"v": value}, expect_version=None)
    assert await store.get(f"{ns}#a", "x") is None


@pytest.mark.parametrize("pk, sk", [("", "x"), ("p", ""), (None, "x")])
async def test_keys_are_non_empty_strings(store: Store, pk: str, sk: str) -> None:
    with pytest.raises(ValueError):
        await store.get(pk, sk)


# --- add: atomic counters with a limit ---


async def test_add_creates_the_item_and_returns_it_whole(store: Store, ns: str) -> None:
    item = await store.add(f"{ns}#c", "w", {"requests": 1, "tokens": 250})
    assert item == {"pk": f"{ns}#c", "sk": "w", "version": 1, "requests": 1, "tokens": 250}
    assert await store.get(f"{ns}#c", "w") == item


async def test_add_accumulates_leaves_other_attributes_and_advances_the_version(store: Store, ns: str) -> None:
    await store.put(f"{ns}#c", "w", {"label": "keep", "requests": 5}, expect_version=ABSENT)
    item = await store.add(f"{ns}#c", "w", {"requests": 2, "cost": 0.5})
    assert item == {"pk": f"{ns}#c", "sk": "w", "version": 2, "label": "keep", "requests": 7, "cost": 0.5}
    item = await store.add(f"{ns}#c", "w", {"requests": -3, "cost": 0.25})
    assert (item["requests"], item["cost"], item["version"]) == (4, 0.75, 3)


async def test_add_up_to_exactly_the_limit_is_admitted_and_past_it_refused(store: Store, ns: str) -> None:
    for expected in (1, 2, 3):
        item = await store.add(f"{ns}#c", "w", {"requests": 1}, limit=("requests", 3))
        assert item["requests"] == expected
    with pytest.raises(ConditionFailed):
        await store.add(f"{ns}#c", "w", {"requests": 1}, limit=("requests", 3))
    assert (await store.get(f"{ns}#c", "w"))["requests"] == 3
    assert (await store.get(f"{ns}#c", "w"))["version"] == 3  # the refused add wrote nothing


async def test_limit_counts_the_whole_delta(store: Store, ns: str) -> None:
    await store.add(f"{ns}#c", "w", {"tokens": 900}, limit=("tokens", 1000))
    with pytest.raises(ConditionFailed):
        await store.add(f"{ns}#c", "w", {"tokens": 101}, limit=("tokens", 1000))
    assert (await store.add(f"{ns}#c", "w", {"tokens": 100}, limit=("tokens", 1000)))["tokens"] == 1000


async def test_a_first_add_over_the_limit_creates_nothing(store: Store, ns: str) -> None:
    with pytest.raises(ConditionFailed):
        await store.add(f"{ns}#c", "w", {"tokens": 5}, limit=("tokens", 4))
    assert await store.get(f"{ns}#c", "w") is None


async def test_limit_on_an_attribute_the_add_does_not_touch(store: Store, ns: str) -> None:
    await store.add(f"{ns}#c", "w", {"generation": 2})
    assert (await store.add(f"{ns}#c", "w", {"n": 1}, limit=("generation", 2)))["n"] == 1
    with pytest.raises(ConditionFailed):
        await store.add(f"{ns}#c", "w", {"n": 1}, limit=("generation", 1))


async def test_add_to_a_non_numeric_attribute_is_a_programming_error(store: Store, ns: str) -> None:
    await store.put(f"{ns}#c", "w", {"name": "text"}, expect_version=ABSENT)
    with pytest.raises(TypeError):
        await store.add(f"{ns}#c", "w", {"name": 1})


@pytest.mark.parametrize("deltas", [{}, {"version": 1}, {"pk": 1}, {"expires_at": 1}, {"n": "1"}, {"n": True}])
async def test_add_refuses_bad_deltas(store: Store, ns: str, deltas: dict) -> None:
    with pytest.raises((TypeError, ValueError)):
        await store.add(f"{ns}#c", "w", deltas)


async def test_add_sets_expires_at_when_given_and_keeps_it_otherwise(store: Store, ns: str, clock: FakeClock) -> None:
    first = await store.add(f"{ns}#c", "w", {"n": 1}, expires_at=clock.now() + 60)
    assert first["expires_at"] == clock.now() + 60
    assert (await store.add(f"{ns}#c", "w", {"n": 1}))["expires_at"] == clock.now() + 60
    assert (await store.add(f"{ns}#c", "w", {"n": 1}, expires_at=clock.now() + 90))["expires_at"] == clock.now() + 90


async def test_add_sets_values_beside_its_counters_in_the_same_write(store: Store, ns: str) -> None:
    note = {"at": 1.5, "message": "upstream said 529", "status": 529}
    first = await store.add(f"{ns}#s", "w", {"count": 1}, set={"last": note, "kind": "overloaded"})
    assert first == {"pk": f"{ns}#s", "sk": "w", "version": 1, "count": 1, "last": note, "kind": "overloaded"}
    second = await store.add(f"{ns}#s", "w", {"count": 1}, set={"last": {"at": 2, "message": "later"}})
    assert second["count"] == 2 and second["last"] == {"at": 2, "message": "later"} and second["kind"] == "overloaded"
    assert await store.get(f"{ns}#s", "w") == second


async def test_a_refused_add_sets_nothing(store: Store, ns: str) -> None:
    await store.add(f"{ns}#s", "w", {"count": 3}, set={"note": "first"})
    with pytest.raises(ConditionFailed):
        await store.add(f"{ns}#s", "w", {"count": 1}, limit=("count", 3), set={"note": "refused"})
    assert (await store.get(f"{ns}#s", "w"))["note"] == "first"


async def test_set_on_an_expired_item_starts_a_fresh_one(store: Store, ns: str, clock: FakeClock) -> None:
    await store.add(f"{ns}#s", "x", {"count": 4}, set={"old": "gone"}, expires_at=clock.now() + 5)
    clock.advance(5)
    fresh = await store.add(f"{ns}#s", "x", {"count": 1}, set={"note": "new"}, expires_at=clock.now() + 5)
    assert {k: v for k, v in fresh.items() if k != "expires_at"} == {
        "pk": f"{ns}#s",
        "sk": "x",
        "version": 1,
        "count": 1,
        "note": "new",
    }


@pytest.mark.parametrize(
    "values", [{"count": "x"}, {"gone": 1}, {"version": 2}, {"expires_at": 5}, {"bad": (1, 2)}, {"nan": math.nan}]
)
async def test_set_refuses_what_it_cannot_write(store: Store, ns: str, values: dict) -> None:
    with pytest.raises((TypeError, ValueError)):
        await store.add(f"{ns}#s", "w", {"count": 1}, remove=["gone"], set=values)


# --- expiry: an item past its expires_at is absent for every operation ---


async def test_an_item_is_live_until_now_reaches_expires_at(store: Store, ns: str, clock: FakeClock) -> None:
    await store.put(f"{ns}#e", "x", {"expires_at": clock.now() + 10}, expect_version=ABSENT)
    clock.advance(9.999)
    assert await store.get(f"{ns}#e", "x") is not None
    clock.advance(0.001)
    assert await store.get(f"{ns}#e", "x") is None


async def test_expired_items_can_be_created_over_but_not_compare_and_set(
    store: Store, ns: str, clock: FakeClock
) -> None:
    await store.put(f"{ns}#e", "x", {"n": 1, "expires_at": clock.now() + 1}, expect_version=ABSENT)
    await store.put(f"{ns}#e", "y", {"n": 1, "expires_at": clock.now() + 1}, expect_version=ABSENT)
    clock.advance(1)
    with pytest.raises(ConditionFailed):
        await store.put(f"{ns}#e", "x", {"n": 2}, expect_version=1)
    assert await store.put(f"{ns}#e", "y", {"n": 2}, expect_version=ABSENT) == 1
    assert await store.get(f"{ns}#e", "y") == {"pk": f"{ns}#e", "sk": "y", "version": 1, "n": 2}


async def test_add_to_an_expired_item_starts_from_zero(store: Store, ns: str, clock: FakeClock) -> None:
    await store.add(f"{ns}#e", "w", {"n": 7}, expires_at=clock.now() + 5)
    await store.put(f"{ns}#e", "p", {"label": "old", "n": 3, "expires_at": clock.now() + 5}, expect_version=ABSENT)
    clock.advance(5)
    assert await store.add(f"{ns}#e", "w", {"n": 1}, limit=("n", 1)) == {
        "pk": f"{ns}#e",
        "sk": "w",
        "version": 1,
        "n": 1,
    }
    assert await store.add(f"{ns}#e", "p", {"n": 1}) == {"pk": f"{ns}#e", "sk": "p", "version": 1, "n": 1}


async def test_a_none_expiry_means_no_expiry_and_is_not_stored(store: Store, ns: str, clock: FakeClock) -> None:
    await store.put(f"{ns}#e", "x", {"n": 1, "expires_at": None}, expect_version=ABSENT)
    clock.advance(10**9)
    assert await store.get(f"{ns}#e", "x") == {"pk": f"{ns}#e", "sk": "x", "version": 1, "n": 1}
    with pytest.raises(TypeError):
        await store.put(f"{ns}#e", "y", {"expires_at": "tomorrow"}, expect_version=ABSENT)


async def test_query_skips_expired_items(store: Store, ns: str, clock: FakeClock) -> None:
    await store.put(f"{ns}#q", "1", {"expires_at": clock.now() + 1}, expect_version=ABSENT)
    await store.put(f"{ns}#q", "2", {"expires_at": clock.now() + 100}, expect_version=ABSENT)
    await store.put(f"{ns}#q", "3", {}, expect_version=ABSENT)
    clock.advance(1)
    assert [item["sk"] for item in await store.query(f"{ns}#q", "0", "9")] == ["2", "3"]


async def test_delete_of_an_expired_item_is_fine(store: Store, ns: str, clock: FakeClock) -> None:
    await store.put(f"{ns}#e", "x", {"expires_at": clock.now() + 1}, expect_version=ABSENT)
    clock.advance(2)
    await store.delete(f"{ns}#e", "x")
    assert await store.get(f"{ns}#e", "x") is None


# --- query and delete ---


async def test_query_is_an_inclusive_ascending_range_within_one_partition(store: Store, ns: str) -> None:
    for sk in ("0000000005", "0000000001", "0000000003", "0000000010", "0000000004"):
        await store.add(f"{ns}#h", sk, {"n": int(sk)})
    await store.add(f"{ns}#other", "0000000003", {"n": 1})
    found = await store.query(f"{ns}#h", "0000000003", "0000000005")
    assert [(item["sk"], item["n"]) for item in found] == [("0000000003", 3), ("0000000004", 4), ("0000000005", 5)]
    assert all(item["pk"] == f"{ns}#h" and item["version"] == 1 for item in found)
    assert await store.query(f"{ns}#h", "0000000006", "0000000009") == []
    assert await store.query(f"{ns}#nothing", "0", "9") == []


async def test_query_orders_by_string_not_by_number(store: Store, ns: str) -> None:
    for sk in ("9", "10", "window#2", "window#10"):
        await store.add(f"{ns}#h", sk, {"n": 1})
    assert [item["sk"] for item in await store.query(f"{ns}#h", "0", "z")] == ["10", "9", "window#10", "window#2"]


async def test_delete_removes_and_tolerates_absence(store: Store, ns: str) -> None:
    await store.put(f"{ns}#d", "x", {"n": 1}, expect_version=ABSENT)
    await store.delete(f"{ns}#d", "x")
    await store.delete(f"{ns}#d", "x")
    assert await store.get(f"{ns}#d", "x") is None
    assert await store.put(f"{ns}#d", "x", {"n": 2}, expect_version=ABSENT) == 1


# --- atomicity under concurrency ---


async def test_concurrent_adds_lose_no_increment(store: Store, ns: str) -> None:
    await asyncio.gather(*(store.add(f"{ns}#c", "n", {"n": 1, "f": 0.5}) for _ in range(200)))
    item = await store.get(f"{ns}#c", "n")
    assert (item["n"], item["f"], item["version"]) == (200, 100, 200)


async def test_concurrent_limited_adds_admit_exactly_the_limit(store: Store, ns: str) -> None:
    async def take() -> bool:
        try:
            await store.add(f"{ns}#c", "lim", {"n": 1}, limit=("n", 17))
        except ConditionFailed:
            return False
        return True

    assert sum(await asyncio.gather(*(take() for _ in range(60)))) == 17


async def test_concurrent_creates_and_compare_and_sets_have_one_winner(store: Store, ns: str) -> None:
    async def attempt(expect: object, n: int) -> bool:
        try:
            await store.put(f"{ns}#r", "x", {"winner": n}, expect_version=expect)  # type: ignore[arg-type]
        except ConditionFailed:
            return False
        return True

    assert sum(await asyncio.gather(*(attempt(ABSENT, n) for n in range(50)))) == 1
    assert sum(await asyncio.gather(*(attempt(1, n) for n in range(50)))) == 1
    assert (await store.get(f"{ns}#r", "x"))["version"] == 2
