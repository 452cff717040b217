"""The worker function's handler (``assembly.worker_handler`` builds it), and ``aimux worker``'s loop.

One event loop and one ``Jobs`` per process, built on the first invocation by the factory the
composition root gives (the gateway from the same configuration as the client functions, its store the
state table): a warm container keeps its upstream connections and key cache. Events:

- SQS (``Records``): the messages are handled concurrently; the answer lists the ones that failed
  (``batchItemFailures``, with ``ReportBatchItemFailures`` on the event source mapping), so only they
  come back. The gateway's background writes (spend, token windows, breaker) finish before it returns.
- the schedule (``{"aimux": "tick"}``, from EventBridge Scheduler): ``Worker.tick``.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import Any

from .queue import SqsQueue
from .runtime import Jobs

log = logging.getLogger("aimux.jobs")


class WorkerHandler:
    """``handler(event, context)`` for Lambda; ``build`` makes the process's ``Jobs`` on first use."""

    def __init__(self, build: Callable[[], Jobs]) -> None:
        self.build = build
        self.jobs: Jobs | None = None
        self._loop: asyncio.AbstractEventLoop | None = None

    def __call__(self, event: dict[str, Any], context: Any = None) -> dict[str, Any]:
        if self.jobs is None:
            self.jobs = self.build()
        if self._loop is None:
            self._loop = asyncio.new_event_loop()
        if isinstance(event.get("Records"), list):
            failed = self._loop.run_until_complete(_records(self.jobs, event["Records"]))
            return {"batchItemFailures": [{"itemIdentifier": message_id} for message_id in failed]}
        if event.get("aimux") == "tick":
            self._loop.run_until_complete(_tick(self.jobs))
            return {"ticked": True}
        log.error("worker: ignoring an event that is neither SQS records nor the tick")
        return {}


async def _records(jobs: Jobs, records: list[dict[str, Any]]) -> list[str]:
    assert jobs.worker is not None
    try:
        return await jobs.worker.handle_records(records)
    finally:
        await jobs.gateway.drain()


async def _tick(jobs: Jobs) -> None:
    assert jobs.worker is not None
    try:
        await jobs.worker.tick()
    finally:
        await jobs.gateway.drain()


async def consume(jobs: Jobs, stop: asyncio.Event, *, tick_seconds: float) -> None:
    """``aimux worker``: receive from the queue (long polls), handle, delete what succeeded (the rest comes
    back after the visibility timeout, like the event source mapping), tick now and then."""
    queue = jobs.queue
    assert isinstance(queue, SqsQueue) and jobs.worker is not None
    loop = asyncio.get_running_loop()
    next_tick = loop.time()
    while not stop.is_set():
        if loop.time() >= next_tick:
            await _tick(jobs)
            next_tick = loop.time() + tick_seconds
        received = await queue.receive(10, wait_seconds=1)
        if not received:
            continue
        records = [{"messageId": m.message_id, "body": m.body} for m in received]
        failed = set(await _records(jobs, records))
        await queue.delete([m.receipt for m in received if m.message_id not in failed])
