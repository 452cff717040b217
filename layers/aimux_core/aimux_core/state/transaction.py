"""The operations of ``Store.transact``: conditional puts, deletes and adds applied all-or-nothing.

Key rotation needs two writes that must happen together (create the new key item, disable the old
one); a transaction is a short list of these operations, each with its own condition, on distinct
items. ``prepare`` validates and normalises them once, with the same value rules as the single-item
operations, so ``MemoryStore`` and ``DynamoStore`` refuse exactly the same transactions.

    PutOp(pk, sk, item, expect_version)         like put(): ABSENT, an int version, or None (blind)
    DeleteOp(pk, sk, expect_version=None)       None: unconditional; an int: only that live version
    AddOp(pk, sk, deltas, limit, expires_at)    like add(): counters, refused past the limit

Rules: 1 to ``MAX_OPERATIONS`` operations (DynamoDB's TransactWriteItems ceiling), each item at most
once (DynamoDB refuses two operations on one item in a transaction).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from .values import Absent, check_expect_version, check_key, check_limit, clean_deltas, clean_item, normalize_number

MAX_OPERATIONS = 100


@dataclass(frozen=True, slots=True)
class PutOp:
    """Replace an item if ``expect_version`` holds (ABSENT: no live item; int: that version; None: always)."""

    pk: str
    sk: str
    item: Mapping[str, Any]
    expect_version: int | Absent | None


@dataclass(frozen=True, slots=True)
class DeleteOp:
    """Remove an item; with an int ``expect_version``, only if the live item has that version."""

    pk: str
    sk: str
    expect_version: int | None = None


@dataclass(frozen=True, slots=True)
class AddOp:
    """Add numeric deltas (refused past ``limit``), optionally setting ``expires_at``, as ``Store.add``."""

    pk: str
    sk: str
    deltas: Mapping[str, int | float]
    limit: tuple[str, int | float] | None = None
    expires_at: float | None = None


Operation = PutOp | DeleteOp | AddOp


def prepare(operations: Sequence[Operation]) -> list[Operation]:
    """Validated, normalised copies of ``operations`` (ValueError/TypeError on a programming error)."""
    if isinstance(operations, str | bytes) or not isinstance(operations, Sequence):
        raise TypeError(f"a transaction is a sequence of operations, got {type(operations).__name__}")
    if not 1 <= len(operations) <= MAX_OPERATIONS:
        raise ValueError(f"a transaction has 1 to {MAX_OPERATIONS} operations, got {len(operations)}")
    prepared: list[Operation] = []
    seen: set[tuple[str, str]] = set()
    for op in operations:
        if not isinstance(op, PutOp | DeleteOp | AddOp):
            raise TypeError(f"not a transaction operation: {op!r}")
        check_key(op.pk, op.sk)
        if (op.pk, op.sk) in seen:
            raise ValueError(f"a transaction touches ({op.pk!r}, {op.sk!r}) more than once")
        seen.add((op.pk, op.sk))
        prepared.append(_prepare_one(op))
    return prepared


def _prepare_one(op: Operation) -> Operation:
    if isinstance(op, PutOp):
        check_expect_version(op.expect_version)
        return PutOp(op.pk, op.sk, clean_item(op.item), op.expect_version)
    if isinstance(op, DeleteOp):
        check_expect_version(op.expect_version, allow_absent=False)
        return op
    limit = None if op.limit is None else check_limit(op.limit)
    expires_at = None if op.expires_at is None else normalize_number(op.expires_at)
    return AddOp(op.pk, op.sk, clean_deltas(op.deltas), limit, expires_at)
