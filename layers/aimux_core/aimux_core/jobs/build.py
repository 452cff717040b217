"""``build_jobs``: the ``Jobs`` of a gateway and its settings, with the worker that handles its queue.

Deployed (a queue URL and a bucket): SQS and S3, the messages handled by the worker function (or
``aimux worker``). Locally: an in-process ``LocalQueue`` handled by this process's ``Worker``, blobs
under ``AIMUX_DATA_DIR`` (``./.aimux``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ..settings import Settings
from .blobs import Blobs, LocalBlobs, S3Blobs
from .ledger import Ledgers
from .queue import LocalQueue, Queue, SqsQueue
from .runtime import Jobs
from .settings import JobSettings
from .worker import Worker

if TYPE_CHECKING:
    from ..gateway import Gateway
    from ..state.store import Store


def store_of(gateway: Gateway) -> Store | None:
    admission = gateway.admission
    return admission.ledger.store if admission is not None else None


def build_jobs(
    gateway: Gateway,
    settings: Settings | JobSettings | None = None,
    *,
    ledgers: Ledgers,
    store: Store | None = None,
    blobs: Blobs | None = None,
    queue: Queue | None = None,
) -> Jobs:
    """``Jobs`` for ``gateway``: its store (``store``, else the gateway's, else this process's memory), and
    blobs and queue from the settings. Without a queue URL the queue is this process's ``LocalQueue``.
    ``ledgers``: how each request run is accounted (``surfaces.exchange.off_path_exchanges``)."""
    if isinstance(settings, Settings):
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
    jobs = Jobs(gateway, store, blobs, queue or _Unset(), jobs_settings, ledgers)
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
