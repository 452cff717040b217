"""The deployed shape on moto's server over HTTP: SQS between the API and the worker, S3 for inputs and
results, DynamoDB for the records; the worker function's handler fed SQS events as Lambda's poller does;
and a worker killed with SIGKILL mid-batch, after which another one finishes without losing or repeating
a request's answer.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import anthropic
import pytest

import aimux_core
from aimux_core.jobs.blobs import S3Blobs
from aimux_core.jobs.queue import SqsQueue
from aimux_core.state.dynamodb import DynamoStore
from fakes import Fault
from fakes.openai_upstream import OpenAIUpstream
from support.aws_parts import AwsParts
from support.dynamo import FAKE_AWS_ENV, REAL_AWS_ENV, REGION
from support.jobs_app import gateway_for, job_settings, ledgers, serve_jobs, wait_for

pytestmark = pytest.mark.timeout(180)


def document(fake: OpenAIUpstream) -> dict[str, Any]:
    return {
        "providers": {"compat": {"preset": "vllm", "base_url": fake.base_url, "api_key_env": "COMPAT_KEY"}},
        "models": {"compat-model": {"provider": "compat"}},
        "routes": {"default": ["compat-model"]},
    }


@pytest.fixture
def upstream() -> Iterator[OpenAIUpstream]:
    with OpenAIUpstream() as fake:
        yield fake
        fake.raise_for_errors()


def deployed_parts(aws: AwsParts) -> dict[str, Any]:
    return {
        "queue": SqsQueue(aws.queue_url, endpoint_url=aws.endpoint),
        "blobs": S3Blobs(aws.bucket, endpoint_url=aws.endpoint),
        "store": DynamoStore(aws.table, endpoint_url=aws.endpoint, region=REGION),
    }


def test_blobs_and_queue_on_s3_and_sqs(aws: AwsParts) -> None:
    parts = deployed_parts(aws)

    async def scenario() -> None:
        blobs, queue = parts["blobs"], parts["queue"]
        await blobs.put("batches/x/input.jsonl", b"0123456789")
        assert await blobs.get("batches/x/input.jsonl") == b"0123456789"
        assert await blobs.get("batches/x/input.jsonl", 2, 5) == b"234"
        assert await blobs.get("batches/x/missing") is None
        await blobs.delete("batches/x/input.jsonl")
        assert await blobs.get("batches/x/input.jsonl") is None
        await queue.send([{"kind": "job.run", "job": f"job_{n}"} for n in range(12)])
        received = []
        for _ in range(20):
            received += await queue.receive(10, wait_seconds=0)
            if len(received) >= 12:
                break
        assert sorted(json.loads(m.body)["job"] for m in received) == sorted(f"job_{n}" for n in range(12))
        await queue.delete([m.receipt for m in received])

    asyncio.run(scenario())


def test_worker_handler_reports_only_the_failed_message_of_an_sqs_batch(
    tmp_path: Path, aws: AwsParts, upstream: OpenAIUpstream
) -> None:
    """The API sends to SQS; the worker function's handler gets the messages as Lambda's poller delivers
    them, with one poisoned message among them: only that one is reported back (``batchItemFailures``)."""
    from aimux_core.jobs.build import build_jobs
    from aimux_core.jobs.lambda_entry import WorkerHandler

    parts = deployed_parts(aws)
    gateway = gateway_for(document(upstream), {"COMPAT_KEY": "k"}, store=parts["store"])
    settings = job_settings(tmp_path, queue_url=aws.queue_url, bucket=aws.bucket, chunk=1, concurrency=1)
    with serve_jobs(tmp_path, gateway, settings=settings, **parts) as served:
        # as the worker function has it (assembly.worker_handler)
        handler = WorkerHandler(lambda: build_jobs(gateway, settings, ledgers=ledgers(), **parts))
        client = anthropic.Anthropic(base_url=served.url, api_key="unused", max_retries=0)
        requests = [
            {
                "custom_id": f"r{n}",
                "params": {"model": "compat-model", "max_tokens": 8, "messages": [{"role": "user", "content": "x"}]},
            }
            for n in range(3)
        ]
        batch = client.messages.batches.create(requests=requests)  # type: ignore[arg-type]
        poison = {
            "messageId": "poison-1",
            "body": json.dumps({"kind": "batch.items", "batch": batch.id}),
            "eventSource": "aws:sqs",
        }
        failures: list[Any] = []

        def step() -> bool:
            # One message at a time: moto's DynamoDB loses concurrent updates of one item (tests/state).
            received = asyncio.run(parts["queue"].receive(1, wait_seconds=0))
            records = [{"messageId": m.message_id, "body": m.body, "eventSource": "aws:sqs"} for m in received]
            answer = handler({"Records": [*records, poison]}, None)
            failures.append(answer["batchItemFailures"])
            asyncio.run(parts["queue"].delete([m.receipt for m in received]))
            return client.messages.batches.retrieve(batch.id).processing_status == "ended"

        wait_for(step, every=0.1)
        assert all(f == [{"itemIdentifier": "poison-1"}] for f in failures)
        assert handler({"aimux": "tick"}, None) == {"ticked": True}
        results = {r.custom_id: r.result.type for r in client.messages.batches.results(batch.id)}
        assert results == {"r0": "succeeded", "r1": "succeeded", "r2": "succeeded"}
        data = asyncio.run(parts["blobs"].get(f"batches/{batch.id}/results.jsonl"))
        assert data is not None and data.count(b"\n") == 3  # the results live in S3


def test_a_worker_killed_mid_batch_loses_nothing_and_answers_nothing_twice(
    tmp_path: Path, aws: AwsParts, upstream: OpenAIUpstream
) -> None:
    requests_in_batch = 24
    for _ in range(requests_in_batch + 8):
        upstream.enqueue(Fault.stall(0.15))  # each answer takes a moment: the kill lands mid-batch
    parts = deployed_parts(aws)
    config = tmp_path / "aimux.yaml"
    config.write_text(json.dumps(document(upstream)))
    gateway = gateway_for(document(upstream), {"COMPAT_KEY": "k"}, store=parts["store"])
    settings = job_settings(tmp_path, queue_url=aws.queue_url, bucket=aws.bucket)
    env = (
        {k: v for k, v in os.environ.items() if k not in REAL_AWS_ENV}
        | FAKE_AWS_ENV
        | aws.env()
        | {
            "AIMUX_CONFIG": str(config),
            "COMPAT_KEY": "k",
            "AIMUX_AUTH": "off",
            "AIMUX_NATIVE_BATCHES": "off",
            "AIMUX_JOB_LEASE_SECONDS": "3",
            "AIMUX_BATCH_CHUNK": str(requests_in_batch),
            "AIMUX_BATCH_CONCURRENCY": "1",
            "AIMUX_BATCH_POLL_SECONDS": "1",
            "AIMUX_LOG_LEVEL": "WARNING",
        }
    )
    with serve_jobs(tmp_path, gateway, settings=settings, **parts) as served:
        client = anthropic.Anthropic(base_url=served.url, api_key="unused", max_retries=0)
        requests = [
            {
                "custom_id": f"doc-{n}",
                "params": {
                    "model": "compat-model",
                    "max_tokens": 8,
                    "messages": [{"role": "user", "content": f"n{n}"}],
                },
            }
            for n in range(requests_in_batch)
        ]
        batch = client.messages.batches.create(requests=requests)  # type: ignore[arg-type]
        first = _worker(env, tmp_path / "first.log")
        try:
            wait_for(lambda: len(upstream.requests) >= 6)
        finally:
            first.send_signal(signal.SIGKILL)
            first.wait(timeout=10)
        answered_before = len(upstream.requests)
        assert answered_before < requests_in_batch, "the first worker finished before it was killed"
        second = _worker(env, tmp_path / "second.log")
        try:
            ended = wait_for(
                lambda: (b := client.messages.batches.retrieve(batch.id)).processing_status == "ended" and b,
                seconds=120,
            )
        finally:
            second.send_signal(signal.SIGTERM)
            second.wait(timeout=20)
        assert (ended.request_counts.succeeded, ended.request_counts.errored) == (requests_in_batch, 0)
        lines = [r for r in client.messages.batches.results(batch.id)]
        assert sorted(r.custom_id for r in lines) == sorted(f"doc-{n}" for n in range(requests_in_batch))
        assert all(r.result.type == "succeeded" for r in lines)
        # Every request reached the upstream at least once; at most the one in flight at the kill twice.
        assert requests_in_batch <= len(upstream.requests) <= requests_in_batch + 1


def _worker(env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    """``aimux worker`` of this very layer (an absolute path first: the worker runs in the test's folder)."""
    layer = str(Path(aimux_core.__file__).parents[1])
    env = env | {"PYTHONPATH": os.pathsep.join(filter(None, (layer, env.get("PYTHONPATH"))))}
    with log.open("wb") as out:
        return subprocess.Popen(
            [sys.executable, "-m", "aimux_core.cli", "worker"],
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            cwd=log.parent,
        )
