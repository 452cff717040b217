"""Batches and their requests in the state store: every change one conditional write or one transaction.

Items (docs/architecture.md, DynamoDB table):

    batch#<id>        meta          the batch: owner, dialect, counters and instants (all numbers, so
                                    every change is an ADD with a condition, never a read-modify-write)
    batch#<id>        item#<index>  one request: claimed (``state=running``, ``lease_until``) then done
                                    (``outcome``, the result ``line`` in the caller's dialect, or
                                    ``line_blob`` when it is too big for an item)
    batch#<id>        plan          how it runs: ``mode`` queue, or native with the provider-side batch
    batch#<id>        errors        why an OpenAI batch failed validation (its ``errors``)
    batches#<dialect>#<owner>  <id> the owner's list index (ids sort by creation time)
    batches#open      <id>          batches not ended yet (the poll schedule walks them)

Exactly once per request, whatever the queue delivers twice or a crash leaves behind:

    claim    transact: put item (absent, or CAS on an expired claim's version) state=running
                       + ADD batch running 1 / stop 0  if stop <= 0   (a cancel refuses new claims)
    release  transact: put item (CAS on the claim's version) released, lease_until = the retry time
                       + ADD batch running -1                 (retried later; a new claim adds it back)
    commit   transact: put item (CAS on the claim's version) state=done, the line
                       + ADD batch done 1, running -1, n_<outcome> 1, closed 0  if closed <= 0
    finish   ADD batch closed 1, ended_at now, n_canceled|n_expired (total - done)
                       if done = <as read> and closed = 0

A worker that dies mid-request leaves a claim whose lease expires; the message comes back and the next
worker re-claims it (CAS on the version it read). A worker that outlived its lease cannot commit over the
new claim (the version moved on), and nothing commits into a finished batch (``closed``). So every
request ends with one line, and the counters always equal the lines.
"""

from __future__ import annotations

import contextlib
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from typing import Any, Literal

from ..state.clock import Clock
from ..state.store import ABSENT, Absent, ConditionFailed, Item, Store
from ..state.transaction import AddOp, PutOp
from .ids import ALL, ITEM_RANGE, item_sk

Dialect = Literal["anthropic", "openai"]
Outcome = Literal["succeeded", "errored", "canceled", "expired"]
META = "meta"
PLAN = "plan"
ERRORS = "errors"
OPEN_PK = "batches#open"
RETENTION_SECONDS = 30 * 86_400  # Anthropic keeps results 29 days, OpenAI files 30: keep records 30 days
PROCESSING_SECONDS = 24 * 3600  # both APIs: a batch not done in 24 h expires


def batch_pk(batch_id: str) -> str:
    return f"batch#{batch_id}"


def list_pk(dialect: str, owner: str) -> str:
    return f"batches#{dialect}#{owner}"


@dataclass(frozen=True, slots=True)
class BatchRecord:
    """One batch as stored. Counters and instants are numbers (0: not yet); strings are set at creation.

    ``context``: what the requests need besides their bodies (``anthropic_version``, ``betas``, the
    explicit ``provider``); ``input_blob``: the requests, one JSON line each, in the caller's dialect.
    """

    id: str
    dialect: Dialect
    owner: str
    total: int
    created_at: float
    deadline: float
    input_blob: str
    context: dict[str, Any] = field(default_factory=dict)
    endpoint: str = ""
    completion_window: str = ""
    input_file_id: str = ""
    metadata: dict[str, str] | None = None
    done: int = 0
    running: int = 0
    n_succeeded: int = 0
    n_errored: int = 0
    n_canceled: int = 0
    n_expired: int = 0
    stop: int = 0
    closed: int = 0
    deleted: int = 0
    started_at: float = 0
    cancel_initiated_at: float = 0
    ended_at: float = 0
    finalizing_at: float = 0
    failed_at: float = 0
    version: int = 0

    def to_item(self) -> Item:
        item = {f.name: getattr(self, f.name) for f in fields(self) if f.name not in ("id", "version")}
        item["kind"] = "batch"
        item["expires_at"] = self.created_at + RETENTION_SECONDS
        return item

    @classmethod
    def from_item(cls, batch_id: str, item: Mapping[str, Any]) -> BatchRecord:
        known = {f.name for f in fields(cls)} - {"id"}
        return cls(id=batch_id, **{name: value for name, value in item.items() if name in known})

    @property
    def counted(self) -> int:
        return self.n_succeeded + self.n_errored + self.n_canceled + self.n_expired


@dataclass(frozen=True, slots=True)
class ItemState:
    """A request's item: ``state`` running (claimed) or done; ``version`` for the next compare-and-set."""

    index: int
    state: str
    version: int
    lease_until: float = 0
    attempts: int = 0
    outcome: str = ""
    line: str = ""
    line_blob: str = ""
    custom_id: str = ""

    @classmethod
    def from_item(cls, item: Mapping[str, Any]) -> ItemState:
        return cls(
            index=int(str(item["sk"]).partition("#")[2]),
            state=str(item.get("state", "")),
            version=int(item["version"]),
            lease_until=float(item.get("lease_until") or 0),
            attempts=int(item.get("attempts") or 0),
            outcome=str(item.get("outcome") or ""),
            line=str(item.get("line") or ""),
            line_blob=str(item.get("line_blob") or ""),
            custom_id=str(item.get("custom_id") or ""),
        )


class Claimed:
    """``claim`` won: the item is ours until ``lease_until`` (commit with ``version``)."""

    __slots__ = ("attempts", "version")

    def __init__(self, version: int, attempts: int) -> None:
        self.version = version
        self.attempts = attempts


ClaimRefusal = Literal["stopped", "done", "busy"]


class BatchBook:
    """The batch and item records of one store (see the module docstring for the protocol)."""

    def __init__(self, store: Store, clock: Clock) -> None:
        self.store = store
        self.clock = clock

    async def create(self, record: BatchRecord) -> None:
        expires = record.created_at + RETENTION_SECONDS
        await self.store.transact(
            [
                PutOp(batch_pk(record.id), META, record.to_item(), ABSENT),
                PutOp(list_pk(record.dialect, record.owner), record.id, {"expires_at": expires}, ABSENT),
                PutOp(OPEN_PK, record.id, {"expires_at": expires}, ABSENT),
            ]
        )

    async def get(self, batch_id: str) -> BatchRecord | None:
        item = await self.store.get(batch_pk(batch_id), META)
        return None if item is None else BatchRecord.from_item(batch_id, item)

    async def list_ids(self, dialect: str, owner: str) -> list[str]:
        """The owner's batch ids, oldest first (index entries only: one query, no record reads)."""
        return [str(item["sk"]) for item in await self.store.query(list_pk(dialect, owner), *ALL)]

    async def open_ids(self) -> list[str]:
        return [str(item["sk"]) for item in await self.store.query(OPEN_PK, *ALL)]

    async def add(self, batch_id: str, deltas: Mapping[str, int | float], **conditions: Any) -> BatchRecord:
        """One conditional ADD on the batch record (``limit``/``expect`` as ``Store.add``)."""
        item = await self.store.add(batch_pk(batch_id), META, deltas, **conditions)
        return BatchRecord.from_item(batch_id, item)

    async def mark_started(self, batch_id: str, total: int = 0) -> bool:
        """Set ``started_at`` (and add ``total``, known only once an OpenAI input is validated) once;
        False when another worker started the batch first."""
        deltas = {"started_at": self.clock.now(), "total": total} if total else {"started_at": self.clock.now()}
        try:
            await self.add(batch_id, deltas, expect={"started_at": 0, "closed": 0})
        except ConditionFailed:
            return False
        return True

    async def request_cancel(self, batch_id: str) -> None:
        """Refuse new claims from now on (``stop``); requests already running finish. Idempotent."""
        with contextlib.suppress(ConditionFailed):  # canceling or ended already
            await self.add(
                batch_id, {"stop": 1, "cancel_initiated_at": self.clock.now()}, limit=("stop", 1), expect={"closed": 0}
            )

    async def claim(self, batch_id: str, index: int, custom_id: str, lease_seconds: float) -> Claimed | ClaimRefusal:
        pk = batch_pk(batch_id)
        sk = item_sk(index)
        current = await self.store.get(pk, sk)
        now = self.clock.now()
        attempts = 0
        if current is not None:
            state = ItemState.from_item(current)
            if state.state == "done":
                return "done"
            if state.lease_until > now:
                return "busy"
            attempts = state.attempts
        item = {
            "state": "running",
            "lease_until": now + lease_seconds,
            "attempts": attempts + 1,
            "custom_id": custom_id,
            "expires_at": now + RETENTION_SECONDS,
        }
        expect = ABSENT if current is None else int(current["version"])
        # ``running`` counts claims in flight: a new claim or a released one adds itself; taking over a dead
        # worker's claim does not (that claim was never taken off).
        fresh = current is None or bool(current.get("released"))
        deltas = {"stop": 0, "running": 1} if fresh else {"stop": 0}
        try:
            await self.store.transact([PutOp(pk, sk, item, expect), AddOp(pk, META, deltas, limit=("stop", 0))])
        except ConditionFailed as refused:
            return "stopped" if refused.sk == META else "busy"
        return Claimed(1 if current is None else int(current["version"]) + 1, attempts + 1)

    async def release(self, batch_id: str, index: int, claim: Claimed, retry_at: float) -> bool:
        """Give a claimed item back for a later attempt (a retryable failure): no longer in flight, not to
        be claimed before ``retry_at``; False if the claim moved on meanwhile."""
        pk, sk = batch_pk(batch_id), item_sk(index)
        current = await self.store.get(pk, sk)
        if current is None or int(current["version"]) != claim.version:
            return False
        kept = {k: v for k, v in current.items() if k not in ("pk", "sk", "version")}
        released = {**kept, "lease_until": retry_at, "released": True}
        try:
            await self.store.transact([PutOp(pk, sk, released, claim.version), AddOp(pk, META, {"running": -1})])
        except ConditionFailed:
            return False
        return True

    async def commit(
        self,
        batch_id: str,
        index: int,
        claim: Claimed,
        outcome: Outcome,
        custom_id: str,
        *,
        line: str = "",
        line_blob: str = "",
    ) -> bool:
        """Record the request's result and count it, together; False when the claim was lost or the batch ended."""
        return await self._write_done(
            batch_id, index, outcome, custom_id, line, line_blob, claim.version, claim.attempts
        )

    async def record_once(
        self, batch_id: str, index: int, outcome: Outcome, custom_id: str, line: str, line_blob: str = ""
    ) -> bool:
        """A result that needs no claim (a native batch's answer): written and counted once, False if it was."""
        return await self._write_done(batch_id, index, outcome, custom_id, line, line_blob, ABSENT, None)

    async def _write_done(
        self,
        batch_id: str,
        index: int,
        outcome: Outcome,
        custom_id: str,
        line: str,
        line_blob: str,
        expect: int | Absent,
        attempts: int | None,
    ) -> bool:
        """The result item (replacing version ``expect``: a claim's, or ABSENT) and the batch's counts in one
        transaction, refused once the batch is closed. A claimed request (``attempts`` given) also leaves
        ``running``."""
        pk = batch_pk(batch_id)
        now = self.clock.now()
        item = {
            "state": "done",
            "outcome": outcome,
            "custom_id": custom_id,
            "line": line or None,
            "line_blob": line_blob or None,
            **({} if attempts is None else {"attempts": attempts}),
            "finished_at": now,
            "expires_at": now + RETENTION_SECONDS,
        }
        deltas = {"done": 1, f"n_{outcome}": 1, "closed": 0}
        if attempts is not None:
            deltas["running"] = -1
        try:
            await self.store.transact(
                [PutOp(pk, item_sk(index), item, expect), AddOp(pk, META, deltas, limit=("closed", 0))]
            )
        except ConditionFailed:
            return False
        return True

    async def items(self, batch_id: str) -> list[ItemState]:
        return [ItemState.from_item(item) for item in await self.store.query(batch_pk(batch_id), *ITEM_RANGE)]

    async def close(self, record: BatchRecord, *, expired: bool) -> BatchRecord | None:
        """End the batch: requests never answered count as canceled (or expired); None if a commit raced."""
        left = record.total - record.done
        deltas: dict[str, int | float] = {"closed": 1, "ended_at": self.clock.now()}
        if left:
            deltas["n_expired" if expired else "n_canceled"] = left
        if record.running:
            deltas["running"] = -record.running
        try:
            closed = await self.add(record.id, deltas, expect={"done": record.done, "closed": 0})
        except ConditionFailed:
            return None
        await self.store.delete(OPEN_PK, record.id)
        return closed

    async def mark_deleted(self, record: BatchRecord) -> None:
        """Hide an ended batch (``deleted``); its records expire with the retention period."""
        await self.add(record.id, {"deleted": 1}, limit=("deleted", 1))
        await self.store.delete(list_pk(record.dialect, record.owner), record.id)

    async def plan(self, batch_id: str) -> Item | None:
        """How the batch runs (``mode`` queue or native, and the provider-side batch), once decided."""
        return await self.store.get(batch_pk(batch_id), PLAN)

    async def decide_plan(self, batch_id: str, plan: Mapping[str, Any]) -> Item:
        """Record ``plan`` unless one exists already; the plan in force either way (first writer wins)."""
        item = {**plan, "expires_at": self.clock.now() + RETENTION_SECONDS}
        try:
            await self.store.put(batch_pk(batch_id), PLAN, item, expect_version=ABSENT)
        except ConditionFailed:
            existing = await self.plan(batch_id)
            if existing is not None:
                return existing
            raise
        return {**item, "version": 1}

    async def update_plan(self, batch_id: str, plan: Mapping[str, Any], version: int) -> bool:
        clean = {k: v for k, v in plan.items() if k not in ("pk", "sk", "version")}
        try:
            await self.store.put(batch_pk(batch_id), PLAN, clean, expect_version=version)
        except ConditionFailed:
            return False
        return True

    async def put_errors(self, batch_id: str, errors: list[dict[str, Any]]) -> None:
        """The validation errors of a failed OpenAI batch (shown in its ``errors``)."""
        item = {"errors": errors, "expires_at": self.clock.now() + RETENTION_SECONDS}
        await self.store.put(batch_pk(batch_id), ERRORS, item, expect_version=None)

    async def errors(self, batch_id: str) -> list[dict[str, Any]]:
        item = await self.store.get(batch_pk(batch_id), ERRORS)
        return list(item["errors"]) if item is not None else []


def is_open_for_work(record: BatchRecord) -> bool:
    return not record.closed and not record.stop and not record.deleted
