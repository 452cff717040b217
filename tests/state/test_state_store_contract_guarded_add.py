"""The ``Store`` contract for ``add`` with several limits, expected values and removals, for every store.

These are what a budget reservation needs (``limits/reservations.py``): one write that checks a day and a
month counter at once, settles a hold only while it is still there, and removes it in the same write.
"""

from __future__ import annotations

import asyncio

import pytest

from aimux_core.state import ConditionFailed, FakeClock, Store

pytestmark = pytest.mark.anyio


async def test_several_limits_are_checked_together_and_any_one_refuses(store: Store, ns: str) -> None:
    limits = {"day": 10, "month": 25}
    assert (await store.add(f"{ns}#b", "m", {"day": 6, "month": 6}, limit=limits))["day"] == 6
    with pytest.raises(ConditionFailed):
        await store.add(f"{ns}#b", "m", {"day": 5, "month": 5}, limit=limits)  # the day would pass 10
    item = await store.add(f"{ns}#b", "m", {"day": 4, "month": 4}, limit=limits)
    assert (item["day"], item["month"], item["version"]) == (10, 10, 2)
    await store.add(f"{ns}#b", "m", {"month": 14})
    with pytest.raises(ConditionFailed):
        await store.add(f"{ns}#b", "m", {"day": 0, "month": 2}, limit=limits)  # the month would pass 25
    assert (await store.add(f"{ns}#b", "m", {"month": 1}, limit=limits))["month"] == 25


async def test_a_refused_add_carries_the_live_item_it_was_checked_against(store: Store, ns: str) -> None:
    with pytest.raises(ConditionFailed) as absent:
        await store.add(f"{ns}#b", "m", {"n": 5}, limit=("n", 4))
    assert absent.value.item is None
    await store.add(f"{ns}#b", "m", {"n": 3, "other": 1})
    with pytest.raises(ConditionFailed) as refused:
        await store.add(f"{ns}#b", "m", {"n": 2}, limit={"n": 4})
    assert refused.value.item == {"pk": f"{ns}#b", "sk": "m", "version": 1, "n": 3, "other": 1}


async def test_expect_applies_the_add_only_while_the_values_are_there(store: Store, ns: str) -> None:
    await store.add(f"{ns}#b", "m", {"total": 10, "hold_a": 4, "hold_b": 6})
    with pytest.raises(ConditionFailed) as wrong:
        await store.add(f"{ns}#b", "m", {"total": -4}, expect={"hold_a": 5})
    assert wrong.value.item is not None and wrong.value.item["total"] == 10
    with pytest.raises(ConditionFailed):
        await store.add(f"{ns}#b", "m", {"total": -4}, expect={"hold_missing": 0})  # absent never matches
    with pytest.raises(ConditionFailed):
        await store.add(f"{ns}#other", "m", {"total": 1}, expect={"hold_a": 4})  # nor does an absent item
    assert await store.get(f"{ns}#other", "m") is None
    item = await store.add(f"{ns}#b", "m", {"total": -4}, expect={"hold_a": 4, "hold_b": 6})
    assert (item["total"], item["version"]) == (6, 2)


async def test_remove_deletes_attributes_in_the_same_write(store: Store, ns: str) -> None:
    await store.add(f"{ns}#b", "m", {"total": 10, "hold_a": 4, "hold_b": 6})
    item = await store.add(f"{ns}#b", "m", {"total": -4}, expect={"hold_a": 4}, remove=["hold_a"])
    assert item == {"pk": f"{ns}#b", "sk": "m", "version": 2, "total": 6, "hold_b": 6}
    assert await store.get(f"{ns}#b", "m") == item
    with pytest.raises(ConditionFailed):  # a second settlement of the same hold finds it gone
        await store.add(f"{ns}#b", "m", {"total": -4}, expect={"hold_a": 4}, remove=["hold_a"])
    item = await store.add(f"{ns}#b", "m", {"total": 0}, remove=["hold_b", "never_there"])
    assert item == {"pk": f"{ns}#b", "sk": "m", "version": 3, "total": 6}


@pytest.mark.parametrize(
    ("expect", "remove"),
    [({"version": 1}, ()), ({"n": "1"}, ()), ({"n": True}, ()), ({}, ["n"]), ({}, ["pk"]), ({}, "hold")],
)
async def test_bad_expectations_and_removals_are_programming_errors(
    store: Store, ns: str, expect: dict, remove: object
) -> None:
    with pytest.raises((TypeError, ValueError)):
        await store.add(f"{ns}#b", "m", {"n": 1}, expect=expect, remove=remove)  # type: ignore[arg-type]


async def test_expect_on_an_expired_item_is_refused(store: Store, ns: str, clock: FakeClock) -> None:
    await store.add(f"{ns}#b", "m", {"hold": 3}, expires_at=clock.now() + 5)
    clock.advance(5)
    with pytest.raises(ConditionFailed) as refused:
        await store.add(f"{ns}#b", "m", {"total": 1}, expect={"hold": 3})
    assert refused.value.item is None
    assert await store.get(f"{ns}#b", "m") is None


async def test_concurrent_guarded_removals_of_one_attribute_have_one_winner(store: Store, ns: str) -> None:
    await store.add(f"{ns}#b", "m", {"total": 100, "hold": 7})

    async def settle() -> bool:
        try:
            await store.add(f"{ns}#b", "m", {"total": -7}, expect={"hold": 7}, remove=["hold"])
        except ConditionFailed:
            return False
        return True

    assert sum(await asyncio.gather(*(settle() for _ in range(30)))) == 1
    assert (await store.get(f"{ns}#b", "m"))["total"] == 93


async def test_concurrent_adds_under_two_limits_admit_exactly_what_fits(store: Store, ns: str) -> None:
    async def reserve(amount: int) -> bool:
        try:
            await store.add(f"{ns}#b", "m", {"day": amount, "month": amount}, limit={"day": 50, "month": 40})
        except ConditionFailed:
            return False
        return True

    admitted = sum(await asyncio.gather(*(reserve(4) for _ in range(40))))
    assert admitted == 10
    item = await store.get(f"{ns}#b", "m")
    assert (item["day"], item["month"]) == (40, 40)
