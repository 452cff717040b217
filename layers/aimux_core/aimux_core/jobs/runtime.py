"""The pieces long work runs on, assembled once per process: store, blobs, queue, gateway, settings.

    deployed (AIMUX_QUEUE_URL, AIMUX_BUCKET)   SQS + S3; the worker function handles the messages
    local                                      an in-process ``LocalQueue`` handled by this process's
                                               ``Worker``, blobs under ``AIMUX_DATA_DIR`` (``./.aimux``)

The client API builds its ``Jobs`` on the first batch or async request (``surfaces/jobs_http.py``
``jobs_of``), on the gateway and store it already serves with; the worker function builds one at its
first invocation (``functions/worker/app.py``). Either way nothing here runs at import time.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from ..state.clock import Clock, SystemClock
from .blobs import Blobs, LocalBlobs, S3Blobs
from .files import FileBook
from .items import NO_OWNER
from .queue import LocalQueue, Queue, SqsQueue
from .records import BatchBook
from .settings import JobSettings

if TYPE_CHECKING:
    from ..gateway import Gateway
    from ..keys.record import ApiKeyRecord
    from ..state.store import Store
    from .worker import Worker



@dataclass
class Jobs:
    gateway: Gateway
    store: Store
    blobs: Blobs
    queue: Queue
    settings: JobSettings
    clock: Clock = field(default_factory=SystemClock)
    worker: Worker | None = None

    @property
    def book(self) -> BatchBook:
        return BatchBook(self.store, self.clock)

    @property
    def files(self) -> FileBook:
        return FileBook(self.store, self.blobs, self.clock)

    async def owner_key(self, owner: str) -> ApiKeyRecord | None:
        """The current record of the key that sent the work (None: auth was off, or the key is gone)."""
        if owner == NO_OWNER:
            return None
        from ..keys.admin import record_by_id

        return await record_by_id(self.store, owner)


def store_of(gateway: Gateway) -> Store | None:
    admission = gateway.admission
    return admission.ledger.store if admission is not None else None


def build_jobs(
    gateway: Gateway,
    *,
    env: Mapping[str, str] | None = None,
    store: Store | None = None,
    settings: JobSettings | None = None,
    blobs: Blobs | None = None,
    queue: Queue | None = None,
) -> Jobs:
    """``Jobs`` for ``gateway``: its store (else ``AIMUX_TABLE``, else memory), and blobs and queue from
    the settings. Without ``AIMUX_QUEUE_URL`` the queue is this process's ``LocalQueue``, handled here."""
    from .worker import Worker

    environment: Mapping[str, Any] = os.environ if env is None else env
    settings = settings or JobSettings.from_env(environment)
    if store is None:
        store = store_of(gateway)
    if store is None:
        from ..keys.mode import store_from_env

        store = store_from_env(environment)
    if blobs is None:
        blobs = S3Blobs(settings.bucket) if settings.bucket else LocalBlobs(settings.data_dir)
    jobs = Jobs(gateway, store, blobs, queue or _placeholder(), settings)
    worker = Worker(jobs)
    jobs.worker = worker
    if queue is None:
        if settings.queue_url:
            jobs.queue = SqsQueue(settings.queue_url)
        else:
            jobs.queue = LocalQueue(
                worker.handle,
                workers=settings.local_workers,
                retry_seconds=min(settings.lease_seconds, 30.0),
                tick=worker.tick,
                poll_seconds=settings.poll_seconds,
            )
    return jobs


class _Unset:
    async def send(self, messages: Any, delay: float = 0) -> None:  # pragma: no cover - replaced at once
        raise RuntimeError("queue not set")


def _placeholder() -> Queue:
    return _Unset()
