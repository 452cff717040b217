"""Canceling a batch stops the work that has not started; what runs finishes and is reported.

The upstream holds the first request (a stall) while the batch is canceled, one request at a time runs
(``chunk=1``, one local worker): the held one ends ``succeeded``, every other one ``canceled``, and the
upstream never sees them.
"""

from __future__ import annotations

import io
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import anthropic
import openai
import pytest

from fakes import Fault
from fakes.openai_upstream import OpenAIUpstream
from support.jobs_app import gateway_for, job_settings, serve_jobs, wait_for

pytestmark = pytest.mark.timeout(120)
REQUESTS = 8
HELD_SECONDS = 4.0  # the first request is in flight at least this long: the cancel arrives meanwhile


@pytest.fixture
def slow_upstream() -> Iterator[OpenAIUpstream]:
    with OpenAIUpstream() as fake:
        fake.enqueue(Fault.stall(HELD_SECONDS))
        yield fake
        fake.raise_for_errors()


def served(tmp_path: Path, fake: OpenAIUpstream) -> Any:
    document = {
        "providers": {"slow": {"preset": "vllm", "base_url": fake.base_url, "api_key_env": "SLOW_KEY"}},
        "models": {"slow-model": {"provider": "slow"}},
        "routes": {"default": ["slow-model"]},
    }
    settings = job_settings(tmp_path, chunk=1, concurrency=1, local_workers=1)
    return serve_jobs(tmp_path, gateway_for(document, {"SLOW_KEY": "k"}), settings=settings)


def test_canceling_an_anthropic_batch_stops_the_requests_not_started(
    tmp_path: Path, slow_upstream: OpenAIUpstream
) -> None:
    with served(tmp_path, slow_upstream) as app:
        client = anthropic.Anthropic(base_url=app.url, api_key="unused", max_retries=0)
        requests = [
            {
                "custom_id": f"r{n}",
                "params": {"model": "slow-model", "max_tokens": 16, "messages": [{"role": "user", "content": f"q{n}"}]},
            }
            for n in range(REQUESTS)
        ]
        batch = client.messages.batches.create(requests=requests)  # type: ignore[arg-type]
        wait_for(lambda: slow_upstream.requests)  # the first request is held by the upstream now
        canceling = client.messages.batches.cancel(batch.id)
        assert canceling.processing_status == "canceling" and canceling.cancel_initiated_at is not None
        ended = wait_for(lambda: (b := client.messages.batches.retrieve(batch.id)).processing_status == "ended" and b)
        counts = ended.request_counts
        assert (counts.succeeded, counts.canceled, counts.errored, counts.expired) == (1, REQUESTS - 1, 0, 0)
        assert len(slow_upstream.requests) == 1
        results = {r.custom_id: r.result.type for r in client.messages.batches.results(batch.id)}
        assert results == {"r0": "succeeded", **{f"r{n}": "canceled" for n in range(1, REQUESTS)}}
        again = client.messages.batches.cancel(batch.id)  # canceling an ended batch changes nothing
        assert again.processing_status == "ended" and again.request_counts == counts


def test_canceling_an_openai_batch_reports_cancelled_requests_in_the_error_file(
    tmp_path: Path, slow_upstream: OpenAIUpstream
) -> None:
    with served(tmp_path, slow_upstream) as app:
        client = openai.OpenAI(base_url=f"{app.url}/v1", api_key="unused", max_retries=0)
        lines = [
            json.dumps(
                {
                    "custom_id": f"c{n}",
                    "method": "POST",
                    "url": "/v1/chat/completions",
                    "body": {"model": "slow-model", "messages": [{"role": "user", "content": "x"}]},
                }
            )
            for n in range(REQUESTS)
        ]
        uploaded = client.files.create(file=("in.jsonl", io.BytesIO("\n".join(lines).encode())), purpose="batch")
        batch = client.batches.create(
            input_file_id=uploaded.id, endpoint="/v1/chat/completions", completion_window="24h"
        )
        wait_for(lambda: slow_upstream.requests)
        assert client.batches.cancel(batch.id).status == "cancelling"
        done = wait_for(lambda: (b := client.batches.retrieve(batch.id)).status == "cancelled" and b)
        assert done.request_counts is not None
        assert (done.request_counts.completed, done.request_counts.failed) == (1, REQUESTS - 1)
        assert done.cancelled_at and done.cancelling_at and done.output_file_id and done.error_file_id
        errors = [json.loads(x) for x in client.files.content(done.error_file_id).text.splitlines()]
        assert {e["error"]["code"] for e in errors} == {"batch_cancelled"} and len(errors) == REQUESTS - 1
        assert len(slow_upstream.requests) == 1
        with pytest.raises(openai.BadRequestError, match="cancelled"):
            client.batches.cancel(batch.id)
