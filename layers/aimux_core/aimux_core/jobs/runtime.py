"""The pieces long work runs on, assembled from the gateway and the settings: store, blobs, queue, worker.

    deployed (queue URL, bucket)   SQS + S3; the worker function (or ``aimux worker``) handles the messages
    local                          an in-process ``LocalQueue`` handled by this process's ``Worker``, blobs
                                   under ``AIMUX_DATA_DIR`` (``./.aimux``)

The client API builds its ``Jobs`` on the first batch or async request (``surfaces/jobs_http.py``
``jobs_of``), on the gateway and store it already serves with; the worker function's is built by the
composition root (``assembly.worker_handler``) at its first invocation. Nothing here runs at import time.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from ..accounting.metrics import Emission
from ..settings import Settings
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
    emission: Emission = field(default_factory=Emission)
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
        from ..keys.admin import record_by_id  # the key admin module: only for work sent with a key

        return await record_by_id(self.store, owner)


def store_of(gateway: Gateway) -> Store | None:
    admission = gateway.admission
    return admission.ledger.store if admission is not None else None


def build_jobs(
    gateway: Gateway,
    settings: Settings | JobSettings | None = None,
    *,
    store: Store | None = None,
    blobs: Blobs | None = None,
    queue: Queue | None = None,
    emission: Emission | None = None,
) -> Jobs:
    """``Jobs`` for ``gateway``: its store (``store``, else the gateway's, else this process's memory), and
    blobs and queue from the settings. Without a queue URL the queue is this process's ``LocalQueue``."""
    from .worker import Worker  # the worker's modules load with the first batch or job, not the client API's import

    if isinstance(settings, Settings):
        emission = emission or Emission.of(settings)
        settings = JobSettings.of(settings)
    jobs_settings = settings if settings is not None else JobSettings()
    if store is None:
        store = store_of(gateway)
    if store is None:
        from ..state.memory import MemoryStore  # a gateway without admission (tests, the mock): this process only

        store = MemoryStore()
    if blobs is None:
        bucket, folder = jobs_settings.bucket, jobs_settings.data_dir
        blobs = S3Blobs(bucket, endpoint_url=jobs_settings.s3_endpoint) if bucket else LocalBlobs(folder)
    jobs = Jobs(gateway, store, blobs, queue or _Unset(), jobs_settings, emission or Emission())
    worker = Worker(jobs)
    jobs.worker = worker
    if queue is None:
        if jobs_settings.queue_url:
            jobs.queue = SqsQueue(jobs_settings.queue_url, endpoint_url=jobs_settings.sqs_endpoint)
        else:
            jobs.queue = LocalQueue(
                worker.handle,
                workers=jobs_settings.local_workers,
                retry_seconds=min(jobs_settings.lease_seconds, 30.0),
                tick=worker.tick,
                poll_seconds=jobs_settings.poll_seconds,
            )
    return jobs


class _Unset:
    """The queue until ``build_jobs`` set the real one (the worker needs ``Jobs`` and the local queue the worker)."""

    async def send(self, messages: Any, delay: float = 0) -> None:
        raise RuntimeError("queue not set")
