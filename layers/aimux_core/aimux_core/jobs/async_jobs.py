"""Async jobs: ``POST /v1/messages`` or ``/v1/chat/completions`` with ``x-aimux-async`` answered ``202`` at once,
served later by a worker, fetched with ``GET /v1/jobs/{id}`` and, with a webhook, pushed to it.

    job#<id>     meta   ``owner``, ``dialect``, the request's ``context`` and ``body_blob``, ``webhook``;
                        ``started_at``/``lease_until``/``attempts`` while it runs (compare-and-set); then
                        ``finished_at``, ``status_code`` and the ``answer`` (or ``answer_blob``); delivery:
                        ``delivered_at``, ``delivery_attempts``, ``dead_at`` (each an ADD)
    jobs#open    <id>   jobs not finished (the schedule re-sends ``job.run`` for one whose worker died)
    jobs#dead-letters  <ms>.<id>   results no webhook attempt could deliver (``GET /admin/jobs/dead-letters``)

A job runs like a live request (``items.run``: routing, allow-lists, rate windows, budget, accounting),
non-streaming; retryable failures run again with backoff. The job object, also the webhook's body:

    {"id": "job_...", "type": "job", "status": "queued|running|succeeded|failed", "created_at", "completed_at",
     "webhook": {"url", "status": "pending|delivered|failed", "attempts", "delivered_at"} | null,
     "response": {"status_code", "body": <the message, chat.completion or error, in the caller's dialect>} | null}
"""

from __future__ import annotations

import contextlib
import json
import logging
from dataclasses import dataclass, field, fields
from typing import TYPE_CHECKING, Any

from ..state.store import ABSENT, ConditionFailed, Item
from ..state.transaction import PutOp
from .ids import ALL, JOB, new_id, rfc3339
from .items import Answer, Retry, RunContext
from .lines import INLINE_LINE_BYTES
from .webhooks import DeliveryFailed, Target, check_url, deliver, secret_for

if TYPE_CHECKING:
    from .runtime import Jobs

log = logging.getLogger("aimux.jobs")
META = "meta"
OPEN_PK = "jobs#open"
DEAD_PK = "jobs#dead-letters"
RETENTION_SECONDS = 30 * 86_400


def job_pk(job_id: str) -> str:
    return f"job#{job_id}"


@dataclass(frozen=True, slots=True)
class JobRecord:
    id: str
    dialect: str
    owner: str
    created_at: float
    body_blob: str
    context: dict[str, Any] = field(default_factory=dict)
    webhook: str | None = None
    started_at: float = 0
    lease_until: float = 0
    attempts: int = 0
    finished_at: float = 0
    status_code: int = 0
    answer: str | None = None
    answer_blob: str | None = None
    delivered_at: float = 0
    delivery_attempts: int = 0
    dead_at: float = 0
    last_delivery_error: str | None = None
    version: int = 0

    def to_item(self) -> Item:
        item = {f.name: getattr(self, f.name) for f in fields(self) if f.name not in ("id", "version")}
        return {**item, "kind": "job", "expires_at": self.created_at + RETENTION_SECONDS}

    @classmethod
    def from_item(cls, job_id: str, item: Item) -> JobRecord:
        known = {f.name for f in fields(cls)} - {"id"}
        return cls(id=job_id, **{k: v for k, v in item.items() if k in known})

    @property
    def status(self) -> str:
        if self.finished_at:
            return "succeeded" if self.status_code == 200 else "failed"
        return "running" if self.started_at else "queued"


async def accept(
    jobs: Jobs, dialect: str, owner: str, body: bytes, context: RunContext, webhook: str | None
) -> JobRecord:
    """Keep the request and queue it; the job as first stored (status ``queued``)."""
    now = jobs.clock.now()
    job_id = new_id(JOB, now)
    record = JobRecord(job_id, dialect, owner, now, f"jobs/{job_id}/request.json", context.to_item(), webhook)
    await jobs.blobs.put(record.body_blob, body)
    expires = now + RETENTION_SECONDS
    await jobs.store.transact(
        [
            PutOp(job_pk(job_id), META, record.to_item(), ABSENT),
            PutOp(OPEN_PK, job_id, {"expires_at": expires}, ABSENT),
        ]
    )
    await jobs.queue.send([{"kind": "job.run", "job": job_id}])
    return JobRecord.from_item(job_id, {**record.to_item(), "version": 1})


async def get(jobs: Jobs, job_id: str) -> JobRecord | None:
    item = await jobs.store.get(job_pk(job_id), META)
    return None if item is None else JobRecord.from_item(job_id, item)


async def wire(jobs: Jobs, record: JobRecord) -> dict[str, Any]:
    """The job object (see the module docstring)."""
    response = None
    if record.finished_at:
        text = record.answer
        if record.answer_blob:
            data = await jobs.blobs.get(record.answer_blob)
            text = data.decode() if data is not None else None
        response = {"status_code": record.status_code, "body": json.loads(text) if text else None}
    webhook = None
    if record.webhook:
        shown = check_url(record.webhook, local_mode=True).shown
        state = "delivered" if record.delivered_at else "failed" if record.dead_at else "pending"
        webhook = {
            "url": shown,
            "status": state,
            "attempts": record.delivery_attempts,
            "delivered_at": rfc3339(record.delivered_at) if record.delivered_at else None,
        }
    return {
        "id": record.id,
        "type": "job",
        "status": record.status,
        "created_at": rfc3339(record.created_at),
        "completed_at": rfc3339(record.finished_at) if record.finished_at else None,
        "webhook": webhook,
        "response": response,
    }


async def run_job(jobs: Jobs, job_id: str) -> None:
    """``job.run``: serve the job once (claim by compare-and-set), keep its answer, queue its delivery."""
    record = await get(jobs, job_id)
    if record is None:
        return
    if record.finished_at:
        await _queue_delivery(jobs, record)  # a worker that died between the answer and the delivery
        return
    now = jobs.clock.now()
    if record.lease_until > now:
        await jobs.queue.send([{"kind": "job.run", "job": job_id}], record.lease_until - now)
        return
    claimed = {
        **record.to_item(),
        "started_at": record.started_at or now,
        "attempts": record.attempts + 1,
        "lease_until": now + jobs.settings.lease_seconds,
    }
    try:
        await jobs.store.put(job_pk(job_id), META, claimed, expect_version=record.version)
    except ConditionFailed:
        return  # another worker took it
    version = record.version + 1
    claim = JobRecord.from_item(job_id, {**claimed, "version": version})
    body = json.loads(await jobs.blobs.get(record.body_blob) or b"{}")
    key = await jobs.owner_key(record.owner)
    context = RunContext.from_item(record.dialect, record.context)  # type: ignore[arg-type]
    try:
        answer = await jobs.run(key, context, body, job_id, attempt=claim.attempts, owner=record.owner)
    except Retry as retry:
        released = {**claimed, "lease_until": now + retry.after}
        with contextlib.suppress(ConditionFailed):
            await jobs.store.put(job_pk(job_id), META, released, expect_version=version)
        await jobs.queue.send([{"kind": "job.run", "job": job_id}], retry.after)
        return
    finished = await _finish(jobs, claim, answer, version)
    if finished is not None:
        await _queue_delivery(jobs, finished)


async def _finish(jobs: Jobs, claim: JobRecord, answer: Answer, version: int) -> JobRecord | None:
    text = json.dumps(answer.body, separators=(",", ":"), ensure_ascii=False)
    item = {**claim.to_item(), "finished_at": jobs.clock.now(), "status_code": answer.status, "lease_until": 0}
    if len(text) > INLINE_LINE_BYTES:
        item["answer_blob"] = f"jobs/{claim.id}/answer.json"
        await jobs.blobs.put(item["answer_blob"], text.encode())
    else:
        item["answer"] = text
    try:
        await jobs.store.put(job_pk(claim.id), META, item, expect_version=version)
    except ConditionFailed:
        return None  # our claim was taken over after its lease: that worker's answer counts
    await jobs.store.delete(OPEN_PK, claim.id)
    return JobRecord.from_item(claim.id, {**item, "version": version + 1})


async def _queue_delivery(jobs: Jobs, record: JobRecord) -> None:
    if record.webhook and not record.delivered_at and not record.dead_at:
        await jobs.queue.send([{"kind": "job.deliver", "job": record.id, "attempt": record.delivery_attempts + 1}])


async def deliver_job(jobs: Jobs, job_id: str, attempt: int) -> None:
    """``job.deliver``: one delivery attempt; the next one queued with backoff, or a dead letter."""
    record = await get(jobs, job_id)
    if record is None or not record.webhook or not record.finished_at or record.delivered_at or record.dead_at:
        return
    if attempt <= record.delivery_attempts:
        return  # a duplicate of an attempt already made
    settings = jobs.settings
    body = json.dumps(await wire(jobs, record), separators=(",", ":"), ensure_ascii=False).encode()
    headers = {"x-aimux-job-id": record.id, "x-aimux-delivery-attempt": str(attempt)}
    try:
        await deliver(record.webhook, body, headers, await secret_for(record.owner), local_mode=settings.local_mode)
    except DeliveryFailed as failure:
        log.info("webhook delivery %d of job %s failed: %s", attempt, job_id, failure)
        await jobs.store.add(job_pk(job_id), META, {"delivery_attempts": 1})
        if attempt >= settings.webhook_attempts:
            await park(jobs, record, attempt, str(failure))
            return
        delay = settings.webhook_backoff[min(attempt, len(settings.webhook_backoff)) - 1]
        await jobs.queue.send([{"kind": "job.deliver", "job": job_id, "attempt": attempt + 1}], delay)
        return
    with contextlib.suppress(ConditionFailed):
        await jobs.store.add(
            job_pk(job_id), META, {"delivered_at": jobs.clock.now(), "delivery_attempts": 1}, expect={"delivered_at": 0}
        )


async def park(jobs: Jobs, record: JobRecord, attempts: int, reason: str) -> None:
    """A result no attempt delivered: a dead letter for the operator (``GET /admin/jobs/dead-letters``)."""
    now = jobs.clock.now()
    log.warning("webhook result of job %s parked as a dead letter after %d attempts: %s", record.id, attempts, reason)
    shown = check_url(record.webhook or "", local_mode=True).shown if record.webhook else ""
    letter = {
        "job_id": record.id,
        "owner": record.owner,
        "webhook": shown,
        "attempts": attempts,
        "last_error": reason,
        "parked_at": now,
        "expires_at": now + RETENTION_SECONDS,
    }
    await jobs.store.put(DEAD_PK, f"{int(now * 1000):015d}.{record.id}", letter, expect_version=None)
    with contextlib.suppress(ConditionFailed):
        await jobs.store.add(job_pk(record.id), META, {"dead_at": now}, expect={"dead_at": 0})


async def dead_letters(jobs: Jobs) -> list[Item]:
    return await jobs.store.query(DEAD_PK, *ALL)


async def redeliver(jobs: Jobs, letter_sk: str) -> bool:
    """Take a dead letter back into delivery (the operator fixed the receiver); False if there is none."""
    letter = await jobs.store.get(DEAD_PK, letter_sk)
    if letter is None:
        return False
    job_id = str(letter["job_id"])
    record = await get(jobs, job_id)
    if record is not None:
        with contextlib.suppress(ConditionFailed):
            await jobs.store.add(job_pk(job_id), META, {"dead_at": -record.dead_at}, expect={"dead_at": record.dead_at})
        await jobs.queue.send([{"kind": "job.deliver", "job": job_id, "attempt": record.delivery_attempts + 1}])
    await jobs.store.delete(DEAD_PK, letter_sk)
    return True


def webhook_target(url: str, *, local_mode: bool) -> Target:
    return check_url(url, local_mode=local_mode)
