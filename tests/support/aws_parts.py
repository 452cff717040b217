"""AWS's parts for the jobs tests: an SQS queue with its dead-letter queue, an S3 bucket and the state table,
all served by moto over HTTP (the session's ``moto_server``)."""

from __future__ import annotations

import json
import secrets
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest

from support.dynamo import REGION, DynamoServer, ensure_table, fake_aws_env, moto_server  # noqa: F401


@dataclass
class AwsParts:
    """A queue (short visibility timeout, so killed work comes back soon), a bucket and the table."""

    endpoint: str
    queue_url: str
    bucket: str
    table: str

    def client(self, service: str) -> Any:
        import boto3

        session = boto3.session.Session(
            aws_access_key_id="testing", aws_secret_access_key="testing", region_name=REGION
        )
        return session.client(service, endpoint_url=self.endpoint)

    def env(self) -> dict[str, str]:
        """What a deployed function reads (endpoints pointed at moto)."""
        return {
            "AIMUX_QUEUE_URL": self.queue_url,
            "AWS_ENDPOINT_URL_SQS": self.endpoint,
            "AIMUX_BUCKET": self.bucket,
            "AWS_ENDPOINT_URL_S3": self.endpoint,
            "AIMUX_TABLE": self.table,
            "AIMUX_DYNAMODB_ENDPOINT": self.endpoint,
        }


@pytest.fixture
def aws(moto_server: DynamoServer, monkeypatch: pytest.MonkeyPatch) -> Iterator[AwsParts]:  # noqa: F811
    fake_aws_env(monkeypatch)
    ensure_table(moto_server)
    name = "aimux-work-" + secrets.token_hex(4)
    parts = AwsParts(moto_server.endpoint_url, "", name, moto_server.table)
    sqs = parts.client("sqs")
    dead = sqs.create_queue(QueueName=name + "-dead")["QueueUrl"]
    dead_arn = sqs.get_queue_attributes(QueueUrl=dead, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    redrive = json.dumps({"deadLetterTargetArn": dead_arn, "maxReceiveCount": "5"})
    parts.queue_url = sqs.create_queue(QueueName=name, Attributes={"VisibilityTimeout": "3", "RedrivePolicy": redrive})[
        "QueueUrl"
    ]
    parts.client("s3").create_bucket(Bucket=name)
    yield parts
