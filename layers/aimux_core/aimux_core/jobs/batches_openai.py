"""OpenAI Batch on the wire: input lines, the ``batch`` object, output and error file lines.

Shapes as the Batch API documents them (and the official SDK's ``types/batch*.py``):

    input    {"custom_id": "...", "method": "POST", "url": "/v1/chat/completions", "body": {<chat request>}}
    batch    {"id", "object": "batch", "endpoint", "errors", "input_file_id", "completion_window",
              "status": validating|failed|in_progress|finalizing|completed|expired|cancelling|cancelled,
              "output_file_id", "error_file_id", "created_at", "in_progress_at", "expires_at",
              "finalizing_at", "completed_at", "failed_at", "expired_at", "cancelling_at", "cancelled_at",
              "request_counts": {"total", "completed", "failed"}, "metadata"}
    output   {"id": "batch_req_...", "custom_id", "response": {"status_code": 200, "request_id", "body"},
              "error": null}
    error    the same with the error's status and body, or "response": null and
             "error": {"code": "batch_cancelled"|"batch_expired", "message"} for requests never run

A batch's input is validated before any request runs (``validate_input``): a line that is not JSON, lacks
a field, names another endpoint or repeats a ``custom_id`` fails the batch with ``errors`` naming the line.
"""

from __future__ import annotations

import json
import secrets
from typing import Any

from pydantic import ValidationError

from ..errors import AimuxError
from ..translate.errors import invalid_request_from_validation, openai_error_body, openai_status
from ..wire.openai import ChatCompletionRequest
from .records import BatchRecord

CHAT_ENDPOINT = "/v1/chat/completions"
ENDPOINTS = frozenset({CHAT_ENDPOINT})
OUTPUT_SUFFIX = "o"  # output and error files get the batch id with a suffix: no extra write to name them
ERROR_SUFFIX = "e"


def output_file_id(batch_id: str) -> str:
    return "file-" + batch_id.removeprefix("batch_") + OUTPUT_SUFFIX


def error_file_id(batch_id: str) -> str:
    return "file-" + batch_id.removeprefix("batch_") + ERROR_SUFFIX


def validate_input(data: bytes, endpoint: str, max_requests: int) -> tuple[list[tuple[int, int]], list[dict[str, Any]]]:
    """The byte span of each request line, and the errors that fail the batch (empty when valid)."""
    spans: list[tuple[int, int]] = []
    errors: list[dict[str, Any]] = []
    seen: set[str] = set()
    offset = 0
    for number, raw in enumerate(data.splitlines(keepends=True), start=1):
        start, offset = offset, offset + len(raw)
        if not raw.strip():
            continue
        problem = _line_problem(raw, endpoint, seen)
        if problem is not None:
            code, message, param = problem
            errors.append({"code": code, "line": number, "message": message, "param": param})
            if len(errors) >= 100:
                break
            continue
        spans.append((start, offset))
    if not spans and not errors:
        errors.append({"code": "empty_file", "line": None, "message": "The input file has no requests.", "param": None})
    if len(spans) > max_requests:
        errors.append(
            {
                "code": "too_many_requests",
                "line": None,
                "param": None,
                "message": f"The input file has {len(spans)} requests; at most {max_requests} are allowed.",
            }
        )
    return spans, errors


def _line_problem(raw: bytes, endpoint: str, seen: set[str]) -> tuple[str, str, str | None] | None:
    try:
        line = json.loads(raw)
    except ValueError:
        return "invalid_json", "This line is not parseable as valid JSON.", None
    if not isinstance(line, dict):
        return "invalid_json", "This line is not a JSON object.", None
    custom_id = line.get("custom_id")
    if not isinstance(custom_id, str) or not custom_id:
        return "missing_required_parameter", "custom_id: a non-empty string is required.", "custom_id"
    if custom_id in seen:
        return "duplicate_custom_id", "The custom_id for this request is a duplicate of another request.", "custom_id"
    seen.add(custom_id)
    if line.get("method") != "POST":
        return "invalid_method", "method: only POST is supported.", "method"
    if line.get("url") != endpoint:
        return "mismatched_url", f"url: every request of this batch must use {endpoint}.", "url"
    body = line.get("body")
    if not isinstance(body, dict):
        return "missing_required_parameter", "body: a JSON object is required.", "body"
    if body.get("stream"):
        return "invalid_request", "body.stream: streaming is not supported in batches.", "body.stream"
    try:
        ChatCompletionRequest.model_validate(body)
    except ValidationError as exc:
        error = invalid_request_from_validation(exc, document=body, style="openai")
        return "invalid_request", f"body.{error.message}", f"body.{error.param}" if error.param else "body"
    return None


def status_of(record: BatchRecord) -> str:
    if record.failed_at:
        return "failed"
    if record.closed:
        if record.cancel_initiated_at:
            return "cancelled"
        return "expired" if record.n_expired else "completed"
    if record.stop:
        return "cancelling"
    if record.finalizing_at:
        return "finalizing"
    return "in_progress" if record.started_at else "validating"


def batch_object(record: BatchRecord, errors: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    status = status_of(record)
    ended = bool(record.closed) and not record.failed_at

    def instant(value: float) -> int | None:
        return int(value) if value else None

    failed = record.n_errored + record.n_canceled + record.n_expired
    return {
        "id": record.id,
        "object": "batch",
        "endpoint": record.endpoint,
        "errors": {"object": "list", "data": errors} if errors else None,
        "input_file_id": record.input_file_id,
        "completion_window": record.completion_window,
        "status": status,
        "output_file_id": output_file_id(record.id) if ended and record.n_succeeded else None,
        "error_file_id": error_file_id(record.id) if ended and failed else None,
        "created_at": int(record.created_at),
        "in_progress_at": instant(record.started_at),
        "expires_at": int(record.deadline),
        "finalizing_at": instant(record.finalizing_at),
        "completed_at": instant(record.ended_at) if status == "completed" else None,
        "failed_at": instant(record.failed_at),
        "expired_at": instant(record.ended_at) if status == "expired" else None,
        "cancelling_at": instant(record.cancel_initiated_at),
        "cancelled_at": instant(record.ended_at) if status == "cancelled" else None,
        "request_counts": {"total": record.total, "completed": record.n_succeeded, "failed": failed},
        "metadata": record.metadata,
    }


def _request_id() -> str:
    return "batch_req_" + secrets.token_hex(12)


def succeeded_line(custom_id: str, completion: dict[str, Any], request_id: str) -> str:
    response = {"status_code": 200, "request_id": request_id, "body": completion}
    return _json({"id": _request_id(), "custom_id": custom_id, "response": response, "error": None})


def errored_line(custom_id: str, error: AimuxError, request_id: str) -> str:
    response = {"status_code": openai_status(error), "request_id": request_id, "body": openai_error_body(error)}
    return _json({"id": _request_id(), "custom_id": custom_id, "response": response, "error": None})


def unanswered_line(custom_id: str, outcome: str) -> str:
    when = "cancelled" if outcome == "canceled" else "expired"
    error = {"code": f"batch_{when}", "message": f"This request could not be executed before the batch {when}."}
    return _json({"id": _request_id(), "custom_id": custom_id, "response": None, "error": error})


def _json(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False)
