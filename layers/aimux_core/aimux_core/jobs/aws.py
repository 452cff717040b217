"""The boto3 clients of long work (SQS, S3): built on first use, on a worker thread's terms.

boto3 is imported here only when a deployed process first sends work or reads a blob, so the client
functions' cold start never pays for it. Timeouts are short to connect and long enough to read a batch's
results; three attempts in the standard retry mode ride out throttling. ``AIMUX_<SERVICE>_ENDPOINT``
(tests, LocalStack-like setups) overrides the endpoint.
"""

from __future__ import annotations

import os
from typing import Any


def client(service: str, endpoint_url: str | None = None) -> Any:
    import boto3
    from botocore.config import Config

    endpoint = endpoint_url or os.environ.get(f"AIMUX_{service.upper()}_ENDPOINT") or None
    config = Config(connect_timeout=3, read_timeout=30, retries={"total_max_attempts": 3, "mode": "standard"})
    return boto3.session.Session().client(service, endpoint_url=endpoint, config=config)
