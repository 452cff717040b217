"""OpenAI Files and Batch through the official SDK, unchanged: upload, create, retrieve, list, cancel, output files."""

from __future__ import annotations

import io
import json
from pathlib import Path

import openai
import pytest

from support.jobs_app import serve_jobs, wait_for

pytestmark = pytest.mark.timeout(120)


def line(custom_id: str, text: str, **body: object) -> str:
    request = {"model": "aimux-mock", "messages": [{"role": "user", "content": text}], **body}
    return json.dumps({"custom_id": custom_id, "method": "POST", "url": "/v1/chat/completions", "body": request})


def upload(client: openai.OpenAI, lines: list[str]) -> str:
    data = ("\n".join(lines) + "\n").encode()
    return client.files.create(file=("requests.jsonl", io.BytesIO(data)), purpose="batch").id


def done(client: openai.OpenAI, batch_id: str) -> openai.types.Batch | None:
    batch = client.batches.retrieve(batch_id)
    return batch if batch.status in ("completed", "failed", "cancelled", "expired") else None


def test_a_batch_writes_an_output_file_and_an_error_file(tmp_path: Path) -> None:
    with serve_jobs(tmp_path) as served:
        client = openai.OpenAI(base_url=f"{served.url}/v1", api_key="unused", max_retries=0)
        lines = [line(f"q{n}", f"question {n}") for n in range(9)] + [line("boom", "[[mock:error:400]] no")]
        file_id = upload(client, lines)
        uploaded = client.files.retrieve(file_id)
        assert (uploaded.purpose, uploaded.filename, uploaded.object) == ("batch", "requests.jsonl", "file")
        assert client.files.content(file_id).content.decode().count("\n") == 10

        created = client.batches.create(
            input_file_id=file_id, endpoint="/v1/chat/completions", completion_window="24h", metadata={"team": "search"}
        )
        assert created.status == "validating" and created.object == "batch" and created.metadata == {"team": "search"}
        batch = wait_for(lambda: done(client, created.id))
        assert batch.status == "completed"
        assert batch.request_counts is not None
        assert (batch.request_counts.total, batch.request_counts.completed, batch.request_counts.failed) == (10, 9, 1)
        assert batch.in_progress_at and batch.finalizing_at and batch.completed_at
        assert batch.output_file_id and batch.error_file_id

        output = [json.loads(x) for x in client.files.content(batch.output_file_id).text.splitlines()]
        assert sorted(o["custom_id"] for o in output) == sorted(f"q{n}" for n in range(9))
        for entry in output:
            assert entry["id"].startswith("batch_req_") and entry["error"] is None
            assert entry["response"]["status_code"] == 200
            completion = entry["response"]["body"]
            assert completion["object"] == "chat.completion" and completion["model"] == "aimux-mock"
            n = entry["custom_id"][1:]
            assert completion["choices"][0]["message"]["content"] == f'Mock reply to: "question {n}"'
        errors = [json.loads(x) for x in client.files.content(batch.error_file_id).text.splitlines()]
        assert [e["custom_id"] for e in errors] == ["boom"]
        assert errors[0]["response"]["status_code"] == 400
        assert errors[0]["response"]["body"]["error"]["type"] == "invalid_request_error"
        assert client.files.retrieve(batch.output_file_id).purpose == "batch_output"

        listed = client.batches.list(limit=5)
        assert [b.id for b in listed.data] == [created.id]


def test_a_bad_input_line_fails_the_batch_naming_the_line(tmp_path: Path) -> None:
    with serve_jobs(tmp_path) as served:
        client = openai.OpenAI(base_url=f"{served.url}/v1", api_key="unused", max_retries=0)
        other_endpoint = json.dumps({"custom_id": "u", "method": "POST", "url": "/v1/embeddings", "body": {}})
        file_id = upload(client, [line("a", "fine"), "{not json", line("a", "again"), other_endpoint])
        created = client.batches.create(input_file_id=file_id, endpoint="/v1/chat/completions", completion_window="24h")
        batch = wait_for(lambda: done(client, created.id))
        assert batch.status == "failed" and batch.failed_at and batch.output_file_id is None
        assert batch.errors is not None and batch.errors.data is not None
        assert [(e.code, e.line) for e in batch.errors.data] == [
            ("invalid_json", 2),
            ("duplicate_custom_id", 3),
            ("mismatched_url", 4),
        ]


def test_create_refuses_what_openai_refuses(tmp_path: Path) -> None:
    with serve_jobs(tmp_path) as served:
        client = openai.OpenAI(base_url=f"{served.url}/v1", api_key="unused", max_retries=0)
        file_id = upload(client, [line("a", "x")])
        with pytest.raises(openai.BadRequestError, match="endpoint"):
            client.batches.create(input_file_id=file_id, endpoint="/v1/embeddings", completion_window="24h")
        with pytest.raises(openai.NotFoundError):
            client.batches.create(input_file_id="file-gone", endpoint="/v1/chat/completions", completion_window="24h")
        with pytest.raises(openai.BadRequestError, match="purpose"):
            client.files.create(file=("x.jsonl", io.BytesIO(b"{}\n")), purpose="assistants")
        with pytest.raises(openai.NotFoundError):
            client.batches.retrieve("batch_0123456789abcdef01234567")
        deleted = client.files.delete(file_id)
        assert deleted.deleted and deleted.id == file_id
        with pytest.raises(openai.NotFoundError):
            client.files.retrieve(file_id)
