"""Edges where a DynamoDB server could disagree with ``MemoryStore``, run on every store."""

from __future__ import annotations

import pytest

from aimux_core.state import ABSENT, ConditionFailed, Store

pytestmark = pytest.mark.anyio


async def test_a_limit_on_a_non_numeric_attribute_refuses(store: Store, ns: str) -> None:
    """moto answers a raw ``string <= number`` comparison with HTTP 500; the ``attribute_type`` guard avoids it."""
    await store.put(f"{ns}#a", "x", {"label": "text"}, expect_version=ABSENT)
    with pytest.raises(ConditionFailed):
        await store.add(f"{ns}#a", "x", {"n": 1}, limit=("label", 5))
    assert (await store.get(f"{ns}#a", "x"))["version"] == 1


async def test_fractional_limits_are_exact(store: Store, ns: str) -> None:
    for _ in range(4):
        await store.add(f"{ns}#f", "x", {"usd": 0.25}, limit=("usd", 1.0))
    with pytest.raises(ConditionFailed):
        await store.add(f"{ns}#f", "x", {"usd": 0.25}, limit=("usd", 1.0))
    assert (await store.get(f"{ns}#f", "x"))["usd"] == 1


async def test_a_negative_counter_may_take_a_delta_larger_than_the_bound(store: Store, ns: str) -> None:
    await store.add(f"{ns}#n", "x", {"n": -10})
    assert (await store.add(f"{ns}#n", "x", {"n": 12}, limit=("n", 5)))["n"] == 2


async def test_a_reversed_query_range_is_empty(store: Store, ns: str) -> None:
    await store.add(f"{ns}#q", "m", {"n": 1})
    assert await store.query(f"{ns}#q", "z", "a") == []


async def test_keys_and_names_that_are_reserved_words_in_dynamodb_expressions(store: Store, ns: str) -> None:
    item = {"state": "open", "name": "x", "ttl": 1, "size": 2, "a.b": 3, "#c": 4, ":d": 5}
    await store.put(f"{ns}#r", "state", item, expect_version=ABSENT)
    updated = await store.add(f"{ns}#r", "state", {"size": 1, "a.b": 1}, limit=("ttl", 1))
    assert {k: updated[k] for k in item} == {**item, "size": 3, "a.b": 4}
