"""A ``MemoryStore`` that remembers what was written to it, to prove what reached the store (and what did not)."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

from aimux_core.state import FakeClock, Item, MemoryStore
from aimux_core.state.transaction import Operation


class SpyStore(MemoryStore):
    """A ``MemoryStore`` that keeps every write's arguments and counts reads, to prove what reached the store."""

    def __init__(self, clock: FakeClock) -> None:
        super().__init__(clock)
        self.writes: list[str] = []
        self.gets = 0

    async def get(self, pk: str, sk: str) -> Item | None:
        self.gets += 1
        return await super().get(pk, sk)

    async def put(self, pk: str, sk: str, item: Mapping[str, Any], *, expect_version: Any) -> int:
        self.writes.append(json.dumps([pk, sk, dict(item)], default=str))
        return await super().put(pk, sk, item, expect_version=expect_version)

    async def transact(self, operations: Sequence[Operation]) -> None:
        self.writes.append(repr(list(operations)))
        await super().transact(operations)

    def everything(self) -> str:
        """Every write ever made and every item held now, as one text to scan."""
        return "\n".join(self.writes) + "\n" + json.dumps(self._partitions, default=str)
