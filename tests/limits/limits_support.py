"""Shared helpers of the limits tests (a module, not the conftest, so test files can import it)."""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping
from typing import Any

from aimux_core.state.store import Absent, Item, Store

# 2026-11-22T10:15:00Z: the start of a minute, well inside a day and a month.
T0 = 1_795_342_500.0


class CountingStore:
    """A thin wrapper that counts store calls by operation (each is one round trip to DynamoDB)."""

    def __init__(self, inner: Store) -> None:
        self.inner = inner
        self.calls: Counter[str] = Counter()

    @property
    def total(self) -> int:
        return sum(self.calls.values())

    def reset(self) -> None:
        self.calls.clear()

    async def get(self, pk: str, sk: str) -> Item | None:
        self.calls["get"] += 1
        return await self.inner.get(pk, sk)

    async def put(self, pk: str, sk: str, item: Mapping[str, Any], *, expect_version: int | Absent | None) -> int:
        self.calls["put"] += 1
        return await self.inner.put(pk, sk, item, expect_version=expect_version)

    async def add(self, pk: str, sk: str, deltas: Mapping[str, int | float], **kwargs: Any) -> Item:
        self.calls["add"] += 1
        return await self.inner.add(pk, sk, deltas, **kwargs)

    async def query(self, pk: str, sk_from: str, sk_to: str) -> list[Item]:
        self.calls["query"] += 1
        return await self.inner.query(pk, sk_from, sk_to)

    async def delete(self, pk: str, sk: str) -> None:
        self.calls["delete"] += 1
        await self.inner.delete(pk, sk)
