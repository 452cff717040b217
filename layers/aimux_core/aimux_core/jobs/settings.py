"""What long work needs of the process's ``Settings`` (batches, async jobs, webhooks), as one small value.

The variables themselves (``AIMUX_QUEUE_URL``, ``AIMUX_BUCKET``, ``AIMUX_DATA_DIR``, ``AIMUX_BATCH_*``,
``AIMUX_JOB_LEASE_SECONDS``, ``AIMUX_WEBHOOK_*``, ``AIMUX_NATIVE_BATCHES``...) are read and checked by
``aimux_core.settings``, with the rest; ``JobSettings.of`` takes what the jobs package uses, so its
modules (and tests) depend on this value only.

``local_mode``: ``aimux serve`` with its in-process queue (not on Lambda, no queue URL). Webhooks may then
use ``http://`` to a loopback address, for tests and ``make run``; deployed (on Lambda, or any worker of
an SQS queue such as ``aimux worker``), webhooks are ``https://`` to public addresses only.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from ..settings import WEBHOOK_BACKOFF, Settings


@dataclass(frozen=True, slots=True)
class JobSettings:
    queue_url: str | None = None
    sqs_endpoint: str | None = None
    bucket: str | None = None
    s3_endpoint: str | None = None
    data_dir: Path = Path(".aimux")
    chunk: int = 8
    concurrency: int = 4
    max_requests: int = 100_000
    lease_seconds: float = 900.0
    poll_seconds: float = 30.0
    local_workers: int = 4
    async_webhook_url: str | None = None
    webhook_attempts: int = 6
    webhook_backoff: tuple[float, ...] = WEBHOOK_BACKOFF
    native_batches: bool = True
    local_mode: bool = True

    @classmethod
    def of(cls, settings: Settings) -> JobSettings:
        return cls(
            queue_url=settings.queue_url,
            sqs_endpoint=settings.sqs_endpoint,
            bucket=settings.bucket,
            s3_endpoint=settings.s3_endpoint,
            data_dir=Path(settings.data_dir),
            chunk=settings.batch_chunk,
            concurrency=settings.batch_concurrency,
            max_requests=settings.batch_max_requests,
            lease_seconds=settings.job_lease_seconds,
            poll_seconds=settings.batch_poll_seconds,
            local_workers=settings.local_workers,
            async_webhook_url=settings.async_webhook_url,
            webhook_attempts=settings.webhook_attempts,
            webhook_backoff=settings.webhook_backoff,
            native_batches=settings.native_batches,
            local_mode=settings.jobs_local_mode,
        )
