"""Lambda entry point of the worker: batch requests, async jobs and webhook deliveries from SQS, and the
schedule that polls native batches (``aimux_core.assembly.worker_handler``, ``aimux_core.jobs``).

Deliberately thin, like the other functions: the logic lives in the ``aimux_core`` layer. Nothing here
touches the network at import time; the gateway, the store and the AWS clients are built on the first
invocation and kept for the container's life.
"""

from __future__ import annotations

from aimux_core.assembly import worker_handler
from aimux_core.collector import tune_for_serving
from aimux_core.settings import Settings

settings = Settings.from_env()  # every AIMUX_* variable, checked once: a bad one fails the init, not a message
handler = worker_handler(settings)
tune_for_serving(settings)  # last: freezes what the imports built (aimux_core/collector.py)
