"""``aimux worker``: the worker function's job outside Lambda, consuming ``AIMUX_QUEUE_URL`` (SQS).

For a deployment that runs workers on its own machines, and for tests that stop a worker with SIGKILL
mid-batch: what it had started comes back after the queue's visibility timeout and the item leases,
and another worker finishes it. ``aimux serve`` needs no separate worker: it handles its in-process
queue itself.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import signal
import sys
from typing import Any


def add_worker_parser(commands: Any) -> None:
    worker = commands.add_parser("worker", help="consume the SQS work queue (AIMUX_QUEUE_URL) like the worker function")
    worker.add_argument("--config", metavar="FILE", help="configuration file (default as for serve)")
    worker.set_defaults(run=_worker)


def _worker(args: argparse.Namespace) -> int:
    from ..config import ConfigError, resolve_config
    from ..config.runtime import build_gateway_from_config
    from ..settings import Settings
    from .settings import JobSettings

    logging.basicConfig(level=Settings.from_env().log_level, format="%(levelname)s %(name)s: %(message)s")
    try:
        settings = JobSettings.from_env()
        if not settings.queue_url:
            print("aimux: aimux worker needs AIMUX_QUEUE_URL (aimux serve runs its own in-process queue)",
                  file=sys.stderr)
            return 1
        gateway = build_gateway_from_config(resolve_config(os.environ, path=args.config))
    except ConfigError as exc:
        for line in exc.lines():
            print(f"aimux: {line}", file=sys.stderr)
        return 1
    except ValueError as exc:
        print(f"aimux: {exc}", file=sys.stderr)
        return 1
    from .lambda_entry import consume
    from .runtime import build_jobs

    jobs = build_jobs(gateway, settings=settings)

    async def run() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(signum, stop.set)
        print(f"aimux: worker consuming {settings.queue_url}", file=sys.stderr)
        await consume(jobs, stop, tick_seconds=settings.poll_seconds)

    asyncio.run(run())
    return 0
