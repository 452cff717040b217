"""What a worker does with a batch: start it, run its requests, end it (see ``records.py`` for the state).

batch.start    read the input; OpenAI: validate it (a bad line fails the batch); decide how it runs,
               once (``plan``): at a provider's batch API (``native/``) when every request goes to one
               provider that has one, else here: one ``batch.items`` message per ``chunk`` requests
batch.items    claim each named request, serve it (``items.run``), commit its result line; a request
               worth another attempt is released and sent again with a delay; then end the batch if
               that was the last request
batch.cancel   a native batch: cancel it at the provider; here: end the batch once nothing runs
tick           (the schedule) poll native batches; stop batches past their 24 h; end canceled ones
               whose last requests' workers died; send ``batch.start`` again for one never started
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import TYPE_CHECKING, Any

from ..state.store import ConditionFailed
from .batches_openai import validate_input
from .finish import finish
from .items import Retry, RunContext
from .lines import INLINE_LINE_BYTES, answered_line, line_spans, request_of
from .native.plan import plan_batch
from .native.submit import cancel_native, poll_native, submit
from .records import Claimed, Outcome, is_open_for_work

if TYPE_CHECKING:
    from .records import BatchRecord
    from .runtime import Jobs

log = logging.getLogger("aimux.jobs")
RESTART_AFTER_SECONDS = 120.0  # a batch still not started this long after creation: its start message was lost


class BatchWorker:
    def __init__(self, jobs: Jobs) -> None:
        self.jobs = jobs

    async def start(self, batch_id: str) -> None:
        jobs, book = self.jobs, self.jobs.book
        record = await book.get(batch_id)
        if record is None or record.closed:
            return
        data = await jobs.blobs.get(record.input_blob)
        if data is None:
            raise RuntimeError(f"batch {batch_id}: input {record.input_blob} is missing")
        if record.dialect == "openai":
            spans, errors = validate_input(data, record.endpoint, jobs.settings.max_requests)
            if errors:
                await self._fail(record, errors)
                return
            await book.mark_started(batch_id, total=len(spans) if not record.total else 0)
        else:
            spans = line_spans(data)
            await book.mark_started(batch_id)
        record = await book.get(batch_id)
        if record is None or record.stop:
            await self.maybe_finish(batch_id)
            return
        plan = await plan_batch(jobs, record, data, spans)
        if plan.get("mode") == "native":
            await submit(jobs, record, plan, data, spans)
            return
        chunk = jobs.settings.chunk
        messages = [
            {
                "kind": "batch.items",
                "batch": batch_id,
                "items": [[index, start, end] for index, (start, end) in enumerate(spans)][n : n + chunk],
            }
            for n in range(0, len(spans), chunk)
        ]
        await jobs.queue.send(messages)

    async def items(self, batch_id: str, items: list[list[int]]) -> None:
        jobs, book = self.jobs, self.jobs.book
        record = await book.get(batch_id)
        if record is None or not is_open_for_work(record):
            if record is not None and not record.closed:
                await self.maybe_finish(batch_id)
            return
        low, high = min(i[1] for i in items), max(i[2] for i in items)
        data = await jobs.blobs.get(record.input_blob, low, high) or b""
        key = await jobs.owner_key(record.owner)
        context = RunContext.from_item(record.dialect, record.context)
        limit = asyncio.Semaphore(jobs.settings.concurrency)
        later: list[tuple[float, list[int]]] = []

        async def one(index: int, start: int, end: int) -> None:
            custom_id, body = request_of(record.dialect, data[start - low : end - low])
            async with limit:
                retry = await self._serve(record, key, context, index, custom_id, body)
            if retry is not None:
                later.append((retry, [index, start, end]))

        await asyncio.gather(*(one(*item) for item in items))
        if later:
            delay = min(delay for delay, _ in later)
            await jobs.queue.send([{"kind": "batch.items", "batch": batch_id, "items": [i for _, i in later]}], delay)
        await self.maybe_finish(batch_id)

    async def _serve(
        self, record: BatchRecord, key: Any, context: RunContext, index: int, custom_id: str, body: dict[str, Any]
    ) -> float | None:
        """Serve one request unless it is done or taken; seconds until it should be tried again, if so."""
        jobs, book = self.jobs, self.jobs.book
        settings = jobs.settings
        claim = await book.claim(record.id, index, custom_id, settings.lease_seconds)
        if claim == "busy":
            return min(settings.lease_seconds, 60.0)
        if not isinstance(claim, Claimed):
            return None  # done already, or the batch stopped
        request_id = f"{record.id}:{index}"
        try:
            answer = await jobs.run(key, context, body, request_id, attempt=claim.attempts, owner=record.owner)
        except Retry as retry:
            await book.release(record.id, index, claim, jobs.clock.now() + retry.after)
            return retry.after
        line = answered_line(record.dialect, custom_id, answer)
        blob = ""
        if len(line) > INLINE_LINE_BYTES:
            blob = f"batches/{record.id}/items/{index}-{claim.version}.json"
            await jobs.blobs.put(blob, line.encode())
            line = ""
        outcome: Outcome = "succeeded" if answer.error is None else "errored"
        if not await book.commit(record.id, index, claim, outcome, custom_id, line=line, line_blob=blob):
            log.info("batch %s request %d: result not kept (claim lost or batch ended)", record.id, index)
        return None

    async def cancel(self, batch_id: str) -> None:
        plan = await self.jobs.book.plan(batch_id)
        if plan is not None and plan.get("mode") == "native":
            await cancel_native(self.jobs, batch_id, plan)
            return
        await self.maybe_finish(batch_id)

    async def maybe_finish(self, batch_id: str) -> None:
        """End the batch when nothing is left to answer; else leave it to the last request or the tick."""
        jobs = self.jobs
        record = await jobs.book.get(batch_id)
        if record is None or record.closed or not record.started_at:
            return
        now = jobs.clock.now()
        if record.done >= record.total:
            await finish(jobs, record, expired=False)
            return
        if not record.stop:
            return
        stopped_at = record.cancel_initiated_at or record.deadline
        if record.running <= 0 or now >= stopped_at + jobs.settings.lease_seconds:
            await finish(jobs, record, expired=not record.cancel_initiated_at)

    async def tick(self, batch_id: str) -> None:
        """The schedule's look at one open batch."""
        jobs, book = self.jobs, self.jobs.book
        record = await book.get(batch_id)
        if record is None or record.closed:
            await jobs.store.delete("batches#open", batch_id)
            return
        now = jobs.clock.now()
        plan = await book.plan(batch_id)
        if plan is not None and plan.get("mode") == "native":
            await poll_native(jobs, record, plan)
            return
        if not record.started_at and now > record.created_at + RESTART_AFTER_SECONDS:
            await jobs.queue.send([{"kind": "batch.start", "batch": batch_id}])
            return
        if now >= record.deadline and not record.stop:
            with contextlib.suppress(ConditionFailed):
                await book.add(batch_id, {"stop": 1}, limit=("stop", 1))
        await self.maybe_finish(batch_id)

    async def _fail(self, record: BatchRecord, errors: list[dict[str, Any]]) -> None:
        """An OpenAI input that did not validate: the batch ``failed`` with ``errors``, nothing runs."""
        book, now = self.jobs.book, self.jobs.clock.now()
        await book.put_errors(record.id, errors)
        with contextlib.suppress(ConditionFailed):
            await book.add(record.id, {"failed_at": now, "closed": 1, "ended_at": now}, expect={"closed": 0})
        await self.jobs.store.delete("batches#open", record.id)
