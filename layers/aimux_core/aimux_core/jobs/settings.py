"""Settings of long work off the request path (batches, async jobs, webhooks), read from the environment once.

    AIMUX_QUEUE_URL            SQS queue the API sends work to (deployed); unset: an in-process queue
    AIMUX_BUCKET               S3 bucket for batch inputs and results (deployed); unset: a local folder
    AIMUX_DATA_DIR             that local folder (default ``./.aimux``)
    AIMUX_BATCH_CHUNK          requests per queue message (default 8)
    AIMUX_BATCH_CONCURRENCY    requests of one message run at once (default 4)
    AIMUX_BATCH_MAX_REQUESTS   requests per batch (default 100000, Anthropic's limit)
    AIMUX_JOB_LEASE_SECONDS    how long a worker owns an item it started (default 900: Lambda's longest run)
    AIMUX_BATCH_POLL_SECONDS   how often open batches are polled locally (default 30; deployed: the schedule)
    AIMUX_LOCAL_WORKERS        concurrent messages of the in-process queue (default 4)
    AIMUX_ASYNC_WEBHOOK_URL    the webhook of ``x-aimux-async: 1`` (none: poll ``GET /v1/jobs/{id}``)
    AIMUX_WEBHOOK_ATTEMPTS     deliveries before a result is parked as a dead letter (default 6)
    AIMUX_WEBHOOK_BACKOFF      seconds between deliveries, comma-separated (default 5,30,120,600,900,...)
    AIMUX_NATIVE_BATCHES       ``on`` (default): send a batch whose requests all go to one provider with a
                               batch API there, at its batch price; ``off``: always run batches here

"Local mode" (``aimux serve`` with its in-process queue: not on Lambda, no ``AIMUX_QUEUE_URL``) also lets
webhooks use ``http://`` to a loopback address, for tests and ``make run``; deployed (on Lambda, or any
worker of an SQS queue such as ``aimux worker``), webhooks are ``https://`` to public addresses only.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

DEFAULT_DATA_DIR = ".aimux"
# Seconds between webhook delivery attempts (SQS delays stop at 900 s; longer waits are chained).
WEBHOOK_BACKOFF = (5.0, 30.0, 120.0, 600.0, 900.0, 900.0, 900.0, 900.0)


@dataclass(frozen=True, slots=True)
class JobSettings:
    queue_url: str | None = None
    bucket: str | None = None
    data_dir: Path = Path(DEFAULT_DATA_DIR)
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
    def from_env(cls, env: Mapping[str, str] = os.environ) -> JobSettings:
        """The settings, ValueError naming the variable when one is malformed."""
        native = env.get("AIMUX_NATIVE_BATCHES", "on").strip().lower()
        if native not in ("on", "off"):
            raise ValueError(f"AIMUX_NATIVE_BATCHES must be 'on' or 'off', got {native!r}")
        return cls(
            queue_url=env.get("AIMUX_QUEUE_URL", "").strip() or None,
            bucket=env.get("AIMUX_BUCKET", "").strip() or None,
            data_dir=Path(env.get("AIMUX_DATA_DIR", "").strip() or DEFAULT_DATA_DIR),
            chunk=_number(env, "AIMUX_BATCH_CHUNK", 8, 1, 100),
            concurrency=_number(env, "AIMUX_BATCH_CONCURRENCY", 4, 1, 64),
            max_requests=_number(env, "AIMUX_BATCH_MAX_REQUESTS", 100_000, 1, 1_000_000),
            lease_seconds=float(_number(env, "AIMUX_JOB_LEASE_SECONDS", 900, 1, 43_200)),
            poll_seconds=float(_number(env, "AIMUX_BATCH_POLL_SECONDS", 30, 1, 86_400)),
            local_workers=_number(env, "AIMUX_LOCAL_WORKERS", 4, 1, 256),
            async_webhook_url=env.get("AIMUX_ASYNC_WEBHOOK_URL", "").strip() or None,
            webhook_attempts=_number(env, "AIMUX_WEBHOOK_ATTEMPTS", 6, 1, 20),
            webhook_backoff=_seconds(env, "AIMUX_WEBHOOK_BACKOFF") or WEBHOOK_BACKOFF,
            native_batches=native == "on",
            local_mode=not env.get("AWS_LAMBDA_FUNCTION_NAME") and not env.get("AIMUX_QUEUE_URL", "").strip(),
        )


def _number(env: Mapping[str, str], name: str, default: int, low: int, high: int) -> int:
    raw = env.get(name, "").strip()
    if not raw:
        return default
    try:
        value = int(raw)
    except ValueError:
        raise ValueError(f"{name} must be a whole number, got {raw!r}") from None
    if not low <= value <= high:
        raise ValueError(f"{name} must be between {low} and {high}, got {value}")
    return value


def _seconds(env: Mapping[str, str], name: str) -> tuple[float, ...]:
    raw = env.get(name, "").strip()
    if not raw:
        return ()
    try:
        values = tuple(float(part) for part in raw.split(","))
    except ValueError:
        raise ValueError(f"{name} must be comma-separated seconds, got {raw!r}") from None
    if any(not 0 <= value <= 900 for value in values):
        raise ValueError(f"{name}: each delay is 0 to 900 seconds (SQS's longest delay)")
    return values
