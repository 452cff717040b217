"""``MemoryStore``: the ``Store`` contract in one process, for local runs and tests.

Atomicity comes from asyncio itself: each operation does its whole check-and-mutate without an
``await``. No other task can run inside that section, so every operation is atomic with respect to every
other. The store is bound to one event loop and is not thread-safe.

``interleave`` (the default, for tests): each operation first yields to the event loop once, as a network
store would, so concurrent tasks really interleave between a caller's read and its write and a race in
the code above the store shows up. ``interleave=False`` (``state.backend.build_store``: the local gateway
of ``aimux serve``) skips that yield: the same results for any one order of operations, without a trip
through the loop per call (~2.4 us each, four or more per request), and a write made after the answer
finishes in its first step (``state/background.py``).

``transact`` checks every operation's condition against the current items before writing any of them,
all inside one such section, so a transaction is all-or-nothing and nothing interleaves with it.

Expired items are treated as absent by every operation and dropped lazily when touched; ``sweep()``
drops all of them (a long local run calls it now and then, or never: health buckets are small).
"""

from __future__ import annotations

import asyncio
import copy
from collections.abc import Collection, Mapping, Sequence
from typing import Any

from .clock import Clock, SystemClock
from .store import ABSENT, EXPIRES_AT, Absent, ConditionFailed, Item
from .transaction import AddOp, DeleteOp, Operation, PutOp, prepare
from .values import Limits, add_args, check_key, is_live, normalize_number, put_args


class MemoryStore:
    """A dict of partitions, each a dict of items by sort key."""

    def __init__(self, clock: Clock | None = None, *, interleave: bool = True) -> None:
        self._clock: Clock = clock or SystemClock()
        self._partitions: dict[str, dict[str, Item]] = {}
        self.interleave = interleave

    async def _turn(self) -> None:
        """Yield to the loop once before an operation, when ``interleave`` (see the module docstring)."""
        if self.interleave:
            await asyncio.sleep(0)

    async def get(self, pk: str, sk: str) -> Item | None:
        check_key(pk, sk)
        await self._turn()
        item = self._live(pk, sk)
        return _copy(item)

    async def put(self, pk: str, sk: str, item: Mapping[str, Any], *, expect_version: int | Absent | None) -> int:
        attributes = put_args(pk, sk, item, expect_version)
        await self._turn()
        written = self._put_result(pk, sk, attributes, expect_version)
        self._store(written)
        version: int = written["version"]
        return version

    async def add(
        self,
        pk: str,
        sk: str,
        deltas: Mapping[str, int | float],
        *,
        limit: tuple[str, int | float] | Mapping[str, int | float] | None = None,
        expect: Mapping[str, int | float] | None = None,
        remove: Collection[str] = (),
        expires_at: float | None = None,
        set: Mapping[str, Any] | None = None,
    ) -> Item:
        args = add_args(pk, sk, deltas, limit, expect, remove, expires_at, set)
        await self._turn()
        updated = self._add_result(
            pk, sk, args.deltas, args.limits, args.expires_at, args.expect, args.remove, args.set
        )
        self._store(updated)
        return _detached(updated)

    async def query(self, pk: str, sk_from: str, sk_to: str) -> list[Item]:
        check_key(pk, sk_from)
        check_key(pk, sk_to)
        await self._turn()
        partition = self._partitions.get(pk, {})
        found = []
        for sk in sorted(k for k in partition if sk_from <= k <= sk_to):
            item = self._live(pk, sk)
            if item is not None:
                found.append(_detached(item))
        return found

    async def delete(self, pk: str, sk: str) -> None:
        check_key(pk, sk)
        await self._turn()
        self._drop(pk, sk)

    async def transact(self, operations: Sequence[Operation]) -> None:
        """Compute every operation's result against the current items, then write them all (or none)."""
        prepared = prepare(operations)
        await self._turn()
        results: list[Item | tuple[str, str]] = []
        for op in prepared:
            if isinstance(op, PutOp):
                results.append(self._put_result(op.pk, op.sk, dict(op.item), op.expect_version))
            elif isinstance(op, AddOp):
                limits = () if op.limit is None else (op.limit,)
                results.append(self._add_result(op.pk, op.sk, dict(op.deltas), limits, op.expires_at))
            else:
                self._check_delete(op)
                results.append((op.pk, op.sk))
        for result in results:  # every condition held: no await from here on, so all land together
            if isinstance(result, tuple):
                self._drop(*result)
            else:
                self._store(result)

    def sweep(self) -> int:
        """Drop every expired item now; returns how many were dropped."""
        now = self._clock.now()
        expired = [
            (pk, sk) for pk, items in self._partitions.items() for sk, item in items.items() if not is_live(item, now)
        ]
        for pk, sk in expired:
            self._drop(pk, sk)
        return len(expired)

    def _put_result(self, pk: str, sk: str, attributes: Item, expect_version: int | Absent | None) -> Item:
        """The item a put would write, or ConditionFailed; writes nothing."""
        current = self._live(pk, sk)
        if expect_version is ABSENT:
            if current is not None:
                raise ConditionFailed(pk, sk, "item exists")
            version = 1
        elif expect_version is None:
            version = 0
        else:
            if current is None:
                raise ConditionFailed(pk, sk, f"item absent, expected version {expect_version}")
            if current["version"] != expect_version:
                raise ConditionFailed(pk, sk, f"version is {current['version']}, expected {expect_version}")
            version = expect_version + 1
        return {**attributes, "pk": pk, "sk": sk, "version": version}

    def _add_result(
        self,
        pk: str,
        sk: str,
        increments: dict[str, int | float],
        limits: Limits,
        expires_at: int | float | None,
        expect: Mapping[str, int | float] | None = None,
        remove: tuple[str, ...] = (),
        overwritten: Item | None = None,
    ) -> Item:
        """The item an add would leave, or ConditionFailed / TypeError; writes nothing."""
        current = self._live(pk, sk)
        base: Item = current if current is not None else {"pk": pk, "sk": sk, "version": 0}
        for name, value in (expect or {}).items():
            found = base.get(name)
            if found is None or isinstance(found, bool) or found != value:
                raise ConditionFailed(pk, sk, f"{name} is {found!r}, expected {value!r}", item=_copy(current))
        updated = dict(base)
        for name, delta in increments.items():
            previous = base.get(name, 0)
            if isinstance(previous, bool) or not isinstance(previous, int | float):
                raise TypeError(f"cannot add to non-numeric attribute {name!r} ({previous!r})")
            total = previous + delta
            updated[name] = total if type(total) is int else normalize_number(total)
        for limit_name, bound in limits:
            result = updated.get(limit_name, 0)
            if isinstance(result, bool) or not isinstance(result, int | float) or result > bound:
                reason = f"{limit_name} would be {result!r}, over the limit {bound}"
                raise ConditionFailed(pk, sk, reason, item=_copy(current))
        for name in remove:
            updated.pop(name, None)
        if overwritten:
            updated.update(copy.deepcopy(overwritten))
        if expires_at is not None:
            updated[EXPIRES_AT] = expires_at
        updated["version"] = base["version"] + 1
        return updated

    def _check_delete(self, op: DeleteOp) -> None:
        if op.expect_version is None:
            return
        current = self._live(op.pk, op.sk)
        if current is None or current["version"] != op.expect_version:
            found = "absent" if current is None else f"version {current['version']}"
            raise ConditionFailed(op.pk, op.sk, f"item {found}, expected version {op.expect_version}")

    def _store(self, item: Item) -> None:
        self._partitions.setdefault(item["pk"], {})[item["sk"]] = item

    def _live(self, pk: str, sk: str) -> Item | None:
        """The stored item if it is live; an expired one is dropped on the way."""
        item = self._partitions.get(pk, {}).get(sk)
        if item is not None and not is_live(item, self._clock.now()):
            self._drop(pk, sk)
            return None
        return item

    def _drop(self, pk: str, sk: str) -> None:
        partition = self._partitions.get(pk)
        if partition is not None:
            partition.pop(sk, None)
            if not partition:
                del self._partitions[pk]


def _copy(item: Item | None) -> Item | None:
    return _detached(item) if item is not None else None


_SCALARS = frozenset((str, int, float, bool, type(None), bytes))


def _detached(item: Item) -> Item:
    """A copy of ``item`` that shares nothing mutable with the stored one (callers may change what they get,
    as with DynamoDB). Most items hold only scalars (counters, versions, timestamps): a shallow copy then,
    ten times cheaper than ``deepcopy`` on every call of the hot path."""
    if all(map(_SCALARS.__contains__, map(type, item.values()))):  # no Python frame per value
        return dict(item)
    return copy.deepcopy(item)
