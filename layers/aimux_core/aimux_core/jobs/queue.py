"""The work queue: SQS when deployed, an in-process queue locally; messages are small JSON objects.

A message names work, never carries it: ``{"kind": "batch.items", "batch": "msgbatch_...", "items": [...]}``
points at a batch whose requests are in the blob store and whose state is in the state store. So a
message can be delivered twice, late, or after a crash, and the worker (``worker.py``) still does each
piece of work once: it claims items with conditional writes before it starts them.

``send(messages, delay=...)`` is the only thing the API side does. Delivery:

- ``SqsQueue``: ``SendMessageBatch`` (10 per call); the worker function is fed by an event source mapping
  with ``ReportBatchItemFailures``, so a message whose handling raised comes back after the visibility
  timeout and, after ``maxReceiveCount`` receives, goes to the dead-letter queue. ``receive``/``delete``
  serve ``aimux worker`` (the same worker outside Lambda) and tests.
- ``LocalQueue``: asyncio tasks in the serving process: ``workers`` messages at once, a message whose
  handler raised is delivered again after ``retry_seconds`` (at most ``max_receives`` times, then logged
  and dropped, as a dead-letter queue would keep it), and ``tick`` (polling native batches, expiring
  overdue ones) runs every ``poll_seconds``. Nothing survives the process, like the in-memory store.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

log = logging.getLogger("aimux.jobs")

Message = dict[str, Any]
MAX_DELAY_SECONDS = 900  # SQS's longest DelaySeconds
Handler = Callable[[Message], Awaitable[None]]


class Queue(Protocol):
    async def send(self, messages: Sequence[Message], delay: float = 0) -> None: ...


def encode(message: Message) -> str:
    return json.dumps(message, separators=(",", ":"), ensure_ascii=False)


@dataclass(slots=True)
class Received:
    """One SQS message as received: its body, and the receipt handle that deletes it."""

    message_id: str
    body: str
    receipt: str


class SqsQueue:
    """Send to (and, for ``aimux worker``, receive from) one SQS queue."""

    def __init__(self, url: str, *, endpoint_url: str | None = None, client: Any = None) -> None:
        self.url = url
        self._endpoint = endpoint_url
        self._client = client

    def _sqs(self) -> Any:
        if self._client is None:
            from .aws import client  # boto3 on the first message sent or received (cold start)

            self._client = client("sqs", self._endpoint)
        return self._client

    async def send(self, messages: Sequence[Message], delay: float = 0) -> None:
        seconds = max(0, min(MAX_DELAY_SECONDS, round(delay)))
        for start in range(0, len(messages), 10):
            entries = [
                {"Id": str(n), "MessageBody": encode(message), "DelaySeconds": seconds}
                for n, message in enumerate(messages[start : start + 10])
            ]
            await asyncio.to_thread(self._send_batch, entries)

    def _send_batch(self, entries: list[dict[str, Any]]) -> None:
        answer = self._sqs().send_message_batch(QueueUrl=self.url, Entries=entries)
        failed = answer.get("Failed") or []
        if failed:  # throttled or refused entries: once more, then raise (the caller answers 5xx/retries)
            again = [entry for entry in entries if entry["Id"] in {f["Id"] for f in failed}]
            answer = self._sqs().send_message_batch(QueueUrl=self.url, Entries=again)
            if answer.get("Failed"):
                raise RuntimeError(f"SQS refused {len(answer['Failed'])} messages: {answer['Failed'][0].get('Code')}")

    async def receive(self, max_messages: int = 10, wait_seconds: int = 1) -> list[Received]:
        answer = await asyncio.to_thread(
            lambda: self._sqs().receive_message(
                QueueUrl=self.url, MaxNumberOfMessages=max_messages, WaitTimeSeconds=wait_seconds
            )
        )
        return [Received(m["MessageId"], m["Body"], m["ReceiptHandle"]) for m in answer.get("Messages") or []]

    async def delete(self, receipts: Sequence[str]) -> None:
        for start in range(0, len(receipts), 10):
            entries = [{"Id": str(n), "ReceiptHandle": r} for n, r in enumerate(receipts[start : start + 10])]
            await asyncio.to_thread(self._delete_batch, entries)

    def _delete_batch(self, entries: list[dict[str, str]]) -> None:
        self._sqs().delete_message_batch(QueueUrl=self.url, Entries=entries)


class LocalQueue:
    """An in-process queue with redelivery and a periodic tick (see the module docstring)."""

    def __init__(
        self,
        handler: Handler,
        *,
        workers: int = 4,
        retry_seconds: float = 5.0,
        max_receives: int = 5,
        tick: Callable[[], Awaitable[None]] | None = None,
        poll_seconds: float = 30.0,
    ) -> None:
        self.handler = handler
        self.workers = workers
        self.retry_seconds = retry_seconds
        self.max_receives = max_receives
        self.tick = tick
        self.poll_seconds = poll_seconds
        self.dead: list[Message] = []
        self._queue: asyncio.Queue[tuple[Message, int]] | None = None
        self._tasks: list[asyncio.Task[None]] = []
        self._delayed: set[asyncio.TimerHandle] = set()
        self._busy = 0

    async def send(self, messages: Sequence[Message], delay: float = 0) -> None:
        self.start()
        for message in messages:
            self._put(dict(message), 0, delay)

    def start(self) -> None:
        """Start the worker tasks on the running loop (idempotent)."""
        if self._queue is not None:
            return
        self._queue = asyncio.Queue()
        self._tasks = [asyncio.ensure_future(self._work()) for _ in range(self.workers)]
        if self.tick is not None:
            self._tasks.append(asyncio.ensure_future(self._ticking()))

    async def idle(self) -> None:
        """Wait until nothing is queued, delayed or being handled (tests and benchmarks bound it)."""
        while self._queue is not None and (self._queue.qsize() or self._busy or self._delayed):
            await asyncio.sleep(0.01)

    async def stop(self) -> None:
        for handle in self._delayed:
            handle.cancel()
        self._delayed.clear()
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._tasks = []
        self._queue = None

    def _put(self, message: Message, receives: int, delay: float) -> None:
        assert self._queue is not None
        if delay <= 0:
            self._queue.put_nowait((message, receives))
            return
        loop = asyncio.get_running_loop()

        def due() -> None:
            self._delayed.discard(handle)
            if self._queue is not None:
                self._queue.put_nowait((message, receives))

        handle = loop.call_later(delay, due)
        self._delayed.add(handle)

    async def _work(self) -> None:
        assert self._queue is not None
        queue = self._queue
        while True:
            message, receives = await queue.get()
            self._busy += 1
            try:
                await self.handler(message)
            except Exception:
                receives += 1
                if receives >= self.max_receives:
                    log.exception("dropping message %s after %d receives", message.get("kind"), receives)
                    self.dead.append(message)
                else:
                    log.warning("message %s failed; delivering again", message.get("kind"), exc_info=True)
                    self._put(message, receives, self.retry_seconds)
            finally:
                self._busy -= 1

    async def _ticking(self) -> None:
        assert self.tick is not None
        while True:
            await asyncio.sleep(self.poll_seconds)
            try:
                await self.tick()
            except Exception:
                log.exception("periodic batch poll failed")
