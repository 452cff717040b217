"""The worker: one entry point for every queue message, and the tick the schedule (or the local queue) runs.

    batch.start / batch.items / batch.cancel   ``batch_worker.BatchWorker``
    job.run / job.deliver                      ``async_jobs``
    tick                                       every open batch (native polls, expiry, lost starts) and
                                               every unfinished job whose worker died (``job.run`` again)

``handle_records`` is what the worker function and ``aimux worker`` call with SQS messages: it handles
them concurrently and returns the ids of those that raised, for SQS's ``ReportBatchItemFailures``
(only they come back, after the visibility timeout; the others are deleted). A message of an unknown kind
or that is not JSON is logged and dropped: delivering it again cannot help.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from .async_jobs import OPEN_PK, deliver_job, get, run_job
from .batch_worker import BatchWorker
from .ids import ALL

if TYPE_CHECKING:
    from .queue import Message
    from .runtime import Jobs

log = logging.getLogger("aimux.jobs")


class Worker:
    def __init__(self, jobs: Jobs) -> None:
        self.jobs = jobs
        self.batches = BatchWorker(jobs)

    async def handle(self, message: Message) -> None:
        kind = message.get("kind")
        if kind == "batch.start":
            await self.batches.start(str(message["batch"]))
        elif kind == "batch.items":
            await self.batches.items(str(message["batch"]), list(message["items"]))
        elif kind == "batch.cancel":
            await self.batches.cancel(str(message["batch"]))
        elif kind == "job.run":
            await run_job(self.jobs, str(message["job"]))
        elif kind == "job.deliver":
            await deliver_job(self.jobs, str(message["job"]), int(message.get("attempt") or 1))
        else:
            log.error("dropping a message of unknown kind %r", kind)

    async def tick(self) -> None:
        """One pass over open batches and unfinished jobs (errors are logged per batch, never stop the pass)."""
        for batch_id in await self.jobs.book.open_ids():
            try:
                await self.batches.tick(batch_id)
            except Exception:
                log.exception("polling batch %s failed", batch_id)
        await self._stalled_jobs()

    async def _stalled_jobs(self) -> None:
        now = self.jobs.clock.now()
        for item in await self.jobs.store.query(OPEN_PK, *ALL):
            record = await get(self.jobs, str(item["sk"]))
            if record is None:
                await self.jobs.store.delete(OPEN_PK, str(item["sk"]))
            elif not record.finished_at and record.lease_until <= now and now - record.created_at > 60:
                await self.jobs.queue.send([{"kind": "job.run", "job": record.id}])

    async def handle_records(self, records: Sequence[dict[str, Any]]) -> list[str]:
        """SQS records (``messageId``, ``body``): the ids of the messages whose handling failed."""

        async def one(record: dict[str, Any]) -> str | None:
            message_id = str(record.get("messageId") or record.get("MessageId") or "")
            try:
                message = json.loads(record.get("body") or record.get("Body") or "")
            except ValueError:
                log.error("dropping message %s: not JSON", message_id)
                return None
            if not isinstance(message, dict):
                log.error("dropping message %s: not a JSON object", message_id)
                return None
            try:
                await self.handle(message)
            except Exception:
                log.exception("message %s (%s) failed; it will be delivered again", message_id, message.get("kind"))
                return message_id
            return None

        failed = await asyncio.gather(*(one(record) for record in records))
        return [message_id for message_id in failed if message_id]
