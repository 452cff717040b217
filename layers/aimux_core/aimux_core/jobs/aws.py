"""The boto3 clients of long work (SQS, S3): built on first use, with short connect and longer read timeouts.

boto3 is imported here only when a deployed process first sends work or reads a blob, so the client
functions' cold start never pays for it. Three attempts in the standard retry mode ride out throttling.
``endpoint_url`` comes from the settings (``AWS_ENDPOINT_URL_SQS`` / ``_S3``: moto in tests).
"""

from __future__ import annotations

from typing import Any, Literal


def client(service: Literal["sqs", "s3"], endpoint_url: str | None = None) -> Any:
    import boto3  # the AWS SDK on first use only (cold start), as state/dynamodb_client.py does
    from botocore.config import Config

    config = Config(connect_timeout=3, read_timeout=30, retries={"total_max_attempts": 3, "mode": "standard"})
    return boto3.session.Session().client(service, endpoint_url=endpoint_url, config=config)
