"""The one interface to shared state: items by ``(pk, sk)``, written only by atomic, conditional operations.

aimux runs as many Lambda instances at once; whatever they must agree on (breakers, health, rate
windows, spend, API keys) lives behind ``Store``: ``MemoryStore`` locally and in tests, one DynamoDB
table when deployed. Every operation maps onto a single DynamoDB request in the common case (GetItem,
PutItem, UpdateItem, Query, DeleteItem, TransactWriteItems; the mapping is drawn in ``dynamodb.py``),
so no caller ever needs a read-modify-write race to change shared state.

Contract of a ``Store`` (``tests/state/test_state_store_contract.py`` checks it for every implementation):

Items
  - An item is addressed by ``(pk, sk)``, two non-empty strings, and is a dict of attributes. Attribute
    values are JSON-like: ``str``, ``int``, ``float`` (finite), ``bool``, ``None``, ``list`` and ``dict``
    with string keys, nested freely, plus ``bytes`` (DynamoDB's binary type, for compressed payloads).
    Numbers read back as ``int`` when integral, else ``float`` (DynamoDB keeps one number type). Every
    item a store returns includes ``pk``, ``sk`` and ``version`` and is the caller's own copy.
  - Reserved attributes: ``pk``, ``sk`` and ``version`` are written by the store (values under those
    names in a caller's item are ignored); ``expires_at`` (epoch seconds) is the item's expiry, and an
    ``expires_at`` of None in a put means "no expiry" (the attribute is not stored).

Expiry
  - An item whose ``expires_at <= clock.now()`` is absent, for every operation: ``get`` returns None,
    ``query`` skips it, a create (``expect_version=ABSENT``) succeeds over it, a compare-and-set on it
    fails, ``add`` starts from zero (a fresh item). Physical deletion is the backend's business
    (DynamoDB TTL deletes days late; correctness never depends on it).

Version
  - ``version`` counts writes: an item created by ``put(..., expect_version=ABSENT)`` or by ``add`` has
    version 1; every later successful ``put`` or ``add`` adds exactly 1. A blind put
    (``expect_version=None``) writes version 0: it starts an unversioned history, so reserve blind puts
    for items nobody compare-and-sets (or for a deliberate overwrite).

Operations (all async, each atomic with respect to every other operation on the same item)
  - ``get(pk, sk) -> dict | None``: the live item or None. Strongly consistent.
  - ``put(pk, sk, item, *, expect_version) -> int``: replace the whole item and return its new version.
    ``expect_version=ABSENT``: only if no live item exists (conditional create). An ``int``: only if the
    live item's version equals it (compare-and-set). ``None``: unconditionally. A failed condition
    raises ``ConditionFailed`` and writes nothing.
  - ``add(pk, sk, deltas, *, limit=None, expect=None, remove=(), expires_at=None, set=None) -> dict``: atomically
    add each numeric delta (missing attributes count as 0; the item is created if absent) and return
    the whole new item. ``limit=(name, bound)`` refuses the write with ``ConditionFailed`` when it
    would leave ``item[name] > bound`` (a result exactly at the bound is admitted); ``limit={name:
    bound, ...}`` does so for several attributes at once (refused if any would pass its bound).
    ``expect={name: number, ...}`` refuses it unless the live item holds each of those values (an
    absent item or attribute never matches). ``remove`` names attributes the same write deletes (never
    one that also has a delta). ``set`` maps attributes the same write overwrites with a value (any value
    an item may hold; never one that also has a delta or is removed): the last writer's value stays, so
    it suits "the latest" notes beside counters. ``expires_at`` given overwrites the item's expiry; None
    leaves it as it is. Other attributes are untouched. A refused ``add`` raises ``ConditionFailed`` whose ``item`` is
    the live item as the refusal saw it (None: absent), so the caller can explain or repair without
    another read.
  - ``query(pk, sk_from, sk_to) -> list[dict]``: live items of partition ``pk`` with
    ``sk_from <= sk <= sk_to`` (string order, inclusive both ends), ascending by ``sk``.
  - ``delete(pk, sk) -> None``: remove the item; deleting an absent item is not an error.
  - ``transact(operations) -> None``: apply a short list of conditional writes on distinct items
    (``PutOp``, ``DeleteOp``, ``AddOp`` from ``state.transaction``, each with the same condition and
    effect as ``put`` / ``delete`` / ``add``; ``DeleteOp`` may expect an int version) all-or-nothing:
    when any condition fails, ``ConditionFailed`` names the first failing item and nothing is written.
    Used where two items must change together (key rotation: create the new key, disable the old).
    DynamoDB: one TransactWriteItems (not every emulator has it; dynalite does not).

Errors
  - ``StoreError`` is the base of everything a store raises about the store itself.
  - ``ConditionFailed``: a condition (create, compare-and-set, limit) did not hold; nothing was written.
    Callers re-read and decide again.
  - ``StoreUnavailable``: the backend throttled, timed out or could not be reached; the outcome of a
    write that raised it is unknown. (What aimux does then is decided by the caller, not the store.)
  - Invalid arguments (bad keys, non-numeric deltas, unsupported values) are programming errors and
    raise ``ValueError`` / ``TypeError``, never ``StoreError``.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from typing import Any, Protocol

from .transaction import Operation
from .values import ABSENT, EXPIRES_AT, RESERVED, Absent, Item

__all__ = [
    "ABSENT",
    "EXPIRES_AT",
    "RESERVED",
    "Absent",
    "ConditionFailed",
    "Item",
    "Operation",
    "Store",
    "StoreError",
    "StoreUnavailable",
]


class StoreError(Exception):
    """Base of the errors a store raises about the state it keeps."""


class ConditionFailed(StoreError):
    """A conditional write was refused because its condition did not hold; nothing was written."""

    def __init__(self, pk: str, sk: str, reason: str, *, item: Item | None = None) -> None:
        super().__init__(f"condition failed on ({pk!r}, {sk!r}): {reason}")
        self.pk = pk
        self.sk = sk
        self.reason = reason
        self.item = item
        """For a refused ``add``: the live item the condition was checked against (None: absent)."""


class StoreUnavailable(StoreError):
    """The backend could not answer (throttled, timed out, unreachable); a write's outcome is unknown."""


class Store(Protocol):
    """Shared state as items by ``(pk, sk)``; see the module docstring for the full contract."""

    async def get(self, pk: str, sk: str) -> Item | None:
        """The live item, or None when it is absent or expired."""
        ...

    async def put(self, pk: str, sk: str, item: Mapping[str, Any], *, expect_version: int | Absent | None) -> int:
        """Replace the item if ``expect_version`` holds (ABSENT, equal version, or None = always)."""
        ...

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
        """Atomically add ``deltas`` (refused past ``limit`` or unless ``expect`` holds), delete
        ``remove``, overwrite ``set``, and return the whole new item."""
        ...

    async def query(self, pk: str, sk_from: str, sk_to: str) -> list[Item]:
        """Live items of ``pk`` with ``sk_from <= sk <= sk_to``, ascending by ``sk``."""
        ...

    async def delete(self, pk: str, sk: str) -> None:
        """Remove the item if present."""
        ...

    async def transact(self, operations: Sequence[Operation]) -> None:
        """Apply conditional puts, deletes and adds on distinct items all-or-nothing."""
        ...
