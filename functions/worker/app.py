"""Lambda entry point of the worker: batch requests, async jobs and webhook deliveries from SQS, and the
schedule that polls native batches (``aimux_core.jobs.lambda_entry``).

Deliberately thin, like the other functions: the logic lives in the ``aimux_core`` layer. Nothing here
touches the network at import time; the gateway, the store and the AWS clients are built on the first
invocation and kept for the container's life.
"""

from __future__ import annotations

from aimux_core.collector import tune_for_serving
from aimux_core.jobs.lambda_entry import handle_event

handler = handle_event
tune_for_serving()  # last: freezes what the imports built (aimux_core/collector.py)
