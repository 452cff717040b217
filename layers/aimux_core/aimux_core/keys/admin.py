"""Admin operations on virtual keys: create, list, show, disable, enable, rotate, delete.

Used by the admin routes (``surfaces/admin.py``) and by ``aimux keys`` against DynamoDB. Each takes
the ``KeyRing`` so that a change made in this process is seen by this process's requests at once
(other processes see it within the ring's ``cache_seconds``).

A key is two items (layout in ``record.py``): the record under its hash, and an index entry under
``keys`` / ``<id>`` that lists it and maps the id to the current hash. Whatever touches both does it
in one ``store.transact`` (all-or-nothing, every write conditional): create (both created only if
absent), rotate (new record created, index moved by compare-and-set, old record deleted at the version
read) and delete. So no interruption or race can leave a working secret the index does not reach, and
a concurrent admin change makes the transaction fail as a whole and re-read (up to ``ATTEMPTS``).

Record-only changes (disable, enable) are compare-and-set on the record's version, retried on a race.
Plaintext keys are returned to the caller and never stored or logged; logs name keys by id.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Iterable
from dataclasses import replace
from typing import Any

from ..errors import AimuxError, NotFound
from ..limits.spend import SpendLedger
from ..state.store import ABSENT, ConditionFailed, Item, Store
from ..state.transaction import DeleteOp, Operation, PutOp
from . import validate
from .record import (
    INDEX_PK,
    INDEX_RANGE,
    META_SK,
    ApiKeyRecord,
    generate_key,
    hash_key,
    is_key_id,
    new_key_id,
    record_pk,
)
from .ring import KeyRing

log = logging.getLogger("aimux.keys")

ATTEMPTS = 5
SHOWN_ONCE = "store this key now: aimux keeps only its hash and cannot show it again"


class KeyConflict(AimuxError):
    """Another admin operation changed the key at the same moment; re-read and retry."""

    status = 409
    kind = "invalid_request_error"


async def create_key(
    keys: KeyRing,
    *,
    name: str,
    owner: str | None = None,
    project: str | None = None,
    allowed_models: Iterable[str] | None = None,
    allowed_routes: Iterable[str] | None = None,
    rpm: int | None = None,
    tpm: int | None = None,
    budget_daily_usd: float | None = None,
    budget_monthly_usd: float | None = None,
    budget_route: str | None = None,
) -> tuple[str, ApiKeyRecord]:
    """A new key: its plaintext (show it once, keep it nowhere) and its record. InvalidRequest names a bad field."""
    fields: dict[str, Any] = {
        "name": validate.text("name", name, required=True),
        "owner": validate.text("owner", owner),
        "project": validate.text("project", project),
        "allowed_models": validate.patterns("allowed_models", allowed_models),
        "allowed_routes": validate.patterns("allowed_routes", allowed_routes),
        "rpm": validate.positive_int("rpm", rpm),
        "tpm": validate.positive_int("tpm", tpm),
        "budget_daily_usd": validate.usd("budget_daily_usd", budget_daily_usd),
        "budget_monthly_usd": validate.usd("budget_monthly_usd", budget_monthly_usd),
        "budget_route": validate.text("budget_route", budget_route),
    }
    for _ in range(ATTEMPTS):
        plaintext = generate_key()
        record = ApiKeyRecord(id=new_key_id(), key_hash=hash_key(plaintext), created_at=keys.clock.now(), **fields)
        try:
            await keys.store.transact(
                [
                    PutOp(INDEX_PK, record.id, _index_item(record), ABSENT),
                    PutOp(record_pk(record.key_hash), META_SK, record.to_item(), ABSENT),
                ]
            )
        except ConditionFailed:
            continue  # an id (or, never in practice, a hash) already taken: draw again
        record = replace(record, version=1)
        keys.remember(record.key_hash, record)
        log.info("created API key %s (%s)", record.id, record.name)
        return plaintext, record
    raise KeyConflict("could not allocate a key id; retry")


async def list_keys(keys: KeyRing) -> list[ApiKeyRecord]:
    """Every key, oldest first (index entries whose record is missing are skipped)."""
    entries = await keys.store.query(INDEX_PK, *INDEX_RANGE)
    records = await asyncio.gather(*(keys.read(entry["key_hash"]) for entry in entries))
    found = [record for record in records if record is not None]
    for entry, record in zip(entries, records, strict=True):
        if record is None:
            log.warning("API key %s: index entry without a record (skipped; delete_key removes it)", entry["sk"])
    return sorted(found, key=lambda record: (record.created_at, record.id))


async def show_key(keys: KeyRing, key_id: str) -> ApiKeyRecord:
    """The key with this id, or NotFound."""
    _, record = await _load(keys.store, key_id)
    if record is None:
        raise _not_found(key_id)
    return record


async def record_by_id(store: Store, key_id: str) -> ApiKeyRecord | None:
    """The current record of ``key_id`` (None: unknown or deleted): work run later under a caller's key
    (batches, async jobs) is admitted with the key as it is now, not as it was when the work was sent."""
    return (await _load(store, key_id))[1]


async def describe_key(keys: KeyRing, key_id: str) -> dict[str, Any]:
    """What ``show`` answers: the key's public fields and its spend (USD) today and this month (UTC,
    settled), and what requests in flight hold against its budgets. NotFound for an unknown id."""
    record = await show_key(keys, key_id)
    totals = await SpendLedger(keys.store, keys.clock).totals(record.id)
    return {
        **record.public(),
        "spend_today_usd": totals.day_micro / 1_000_000,
        "spend_month_usd": totals.month_micro / 1_000_000,
        "spend_held_usd": totals.held_month_micro / 1_000_000,
    }


async def disable_key(keys: KeyRing, key_id: str) -> ApiKeyRecord:
    """Refuse the key from now on (403), keeping its record; idempotent."""
    now = keys.clock.now()
    record = await _change(keys, key_id, lambda r: r if r.disabled else replace(r, disabled=True, disabled_at=now))
    log.info("disabled API key %s", key_id)
    return record


async def enable_key(keys: KeyRing, key_id: str) -> ApiKeyRecord:
    """Accept a disabled key again; idempotent."""
    record = await _change(keys, key_id, lambda r: replace(r, disabled=False, disabled_at=None) if r.disabled else r)
    log.info("enabled API key %s", key_id)
    return record


async def delete_key(keys: KeyRing, key_id: str) -> ApiKeyRecord:
    """Remove the key for good and return what it was; NotFound if there is no such key."""
    for _ in range(ATTEMPTS):
        index, record = await _load(keys.store, key_id)
        if index is None:
            raise _not_found(key_id)
        ops: list[Operation] = [DeleteOp(INDEX_PK, key_id, index["version"])]
        if record is not None:
            ops.append(DeleteOp(record_pk(record.key_hash), META_SK, record.version))
        try:
            await keys.store.transact(ops)
        except ConditionFailed:
            continue  # changed meanwhile (disabled, rotated): read again
        keys.remember(index["key_hash"], None)
        if record is None:
            raise _not_found(key_id)  # only an index entry without its record was left; it is gone now
        log.info("deleted API key %s", key_id)
        return record
    raise KeyConflict(f"API key {key_id} kept changing while being deleted; retry")


async def rotate_key(keys: KeyRing, key_id: str) -> tuple[str, ApiKeyRecord]:
    """A new secret for the same id, limits and state; the old secret stops working (401)."""
    for _ in range(ATTEMPTS):
        index, old = await _load(keys.store, key_id)
        if index is None or old is None:
            raise _not_found(key_id)
        plaintext = generate_key()
        new = replace(old, key_hash=hash_key(plaintext), rotated_at=keys.clock.now(), version=0)
        try:
            await keys.store.transact(
                [
                    PutOp(record_pk(new.key_hash), META_SK, new.to_item(), ABSENT),
                    PutOp(INDEX_PK, key_id, _index_item(new), index["version"]),
                    DeleteOp(record_pk(old.key_hash), META_SK, old.version),
                ]
            )
        except ConditionFailed:
            continue  # the key changed between our reads and the write: read again
        new = replace(new, version=1)
        keys.remember(old.key_hash, None)
        keys.remember(new.key_hash, new)
        log.info("rotated API key %s", key_id)
        return plaintext, new
    raise KeyConflict(f"API key {key_id} kept changing during rotation; retry")


async def _change(keys: KeyRing, key_id: str, change: Callable[[ApiKeyRecord], ApiKeyRecord]) -> ApiKeyRecord:
    """Apply ``change`` to the record by compare-and-set, re-reading on a race."""
    for _ in range(ATTEMPTS):
        _, record = await _load(keys.store, key_id)
        if record is None:
            raise _not_found(key_id)
        changed = change(record)
        if changed == record:
            return record
        try:
            version = await keys.store.put(
                record_pk(record.key_hash), META_SK, changed.to_item(), expect_version=record.version
            )
        except ConditionFailed:
            continue
        changed = replace(changed, version=version)
        keys.remember(changed.key_hash, changed)
        return changed
    raise KeyConflict(f"API key {key_id} kept changing; retry")


async def _load(store: Store, key_id: str) -> tuple[Item | None, ApiKeyRecord | None]:
    """The index entry of ``key_id`` and the record it points to (either may be None)."""
    if not is_key_id(key_id):
        return None, None
    index = await store.get(INDEX_PK, key_id)
    if index is None:
        return None, None
    item = await store.get(record_pk(index["key_hash"]), META_SK)
    return index, ApiKeyRecord.from_item(item) if item is not None else None


def _index_item(record: ApiKeyRecord) -> Item:
    return {"kind": "api_key_index", "key_hash": record.key_hash, "created_at": record.created_at}


def _not_found(key_id: str) -> NotFound:
    return NotFound(f"no API key with id {key_id!r}")
