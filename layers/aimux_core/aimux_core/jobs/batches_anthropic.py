"""Anthropic Message Batches on the wire: the create body, the ``message_batch`` object, result lines.

Shapes as the Messages Batches API documents them (and the official SDK's ``types/messages/batch_*``):

    create   {"requests": [{"custom_id": "...", "params": {<Messages request>}}, ...]}
    batch    {"id", "type": "message_batch", "processing_status": in_progress|canceling|ended,
              "request_counts": {processing, succeeded, errored, canceled, expired}, "ended_at",
              "created_at", "expires_at", "cancel_initiated_at", "archived_at", "results_url"}
    result   {"custom_id", "result": {"type": "succeeded", "message": {...}}
                                   | {"type": "errored", "error": {"type": "error", "error": {...}}}
                                   | {"type": "canceled"} | {"type": "expired"}}

As documented, ``request_counts`` shows every request as ``processing`` until the whole batch ends, and
``results_url`` appears only then.
"""

from __future__ import annotations

import json
from typing import Any

from pydantic import Field

from ..errors import AimuxError, InvalidRequest
from ..translate.errors import anthropic_error_body
from ..wire.anthropic import MessagesRequest
from ..wire.anthropic_rules import check_request
from ..wire.base import WireModel
from .ids import rfc3339
from .records import BatchRecord

CUSTOM_ID_PATTERN = r"^[a-zA-Z0-9_-]{1,64}$"


class BatchRequest(WireModel):
    custom_id: str = Field(pattern=CUSTOM_ID_PATTERN)
    params: MessagesRequest


class BatchCreate(WireModel):
    requests: list[BatchRequest]


def check_create(parsed: BatchCreate, anthropic_version: str | None, max_requests: int) -> None:
    """Anthropic's own 400s for a batch: at least one request, unique ``custom_id``s, each request valid."""
    count = len(parsed.requests)
    if not count:
        raise InvalidRequest("requests: at least one request is required", param="requests")
    if count > max_requests:
        raise InvalidRequest(f"requests: at most {max_requests} requests per batch, got {count}", param="requests")
    seen: set[str] = set()
    for n, request in enumerate(parsed.requests):
        if request.custom_id in seen:
            where = f"requests.{n}.custom_id"
            raise InvalidRequest(f"{where}: duplicate custom_id; each request needs its own", param=where)
        seen.add(request.custom_id)
        if request.params.stream:
            where = f"requests.{n}.params.stream"
            raise InvalidRequest(f"{where}: streaming is not supported in batches", param=where)
        try:
            check_request(request.params, anthropic_version)
        except InvalidRequest as error:
            where = f"requests.{n}.params.{error.param}" if error.param else f"requests.{n}.params"
            raise InvalidRequest(f"requests.{n}.params.{error.message}", param=where) from None


def input_lines(parsed: BatchCreate) -> bytes:
    """The requests as stored: one ``{"custom_id", "params"}`` JSON line each (unknown fields kept)."""
    lines = [_json({"custom_id": r.custom_id, "params": r.params.dump()}) for r in parsed.requests]
    return ("\n".join(lines) + "\n").encode()


def batch_object(record: BatchRecord, results_url: str) -> dict[str, Any]:
    ended = bool(record.closed)
    status = "ended" if ended else "canceling" if record.stop else "in_progress"
    counts = {
        "processing": 0 if ended else record.total,
        "succeeded": record.n_succeeded if ended else 0,
        "errored": record.n_errored if ended else 0,
        "canceled": record.n_canceled if ended else 0,
        "expired": record.n_expired if ended else 0,
    }
    return {
        "id": record.id,
        "type": "message_batch",
        "processing_status": status,
        "request_counts": counts,
        "ended_at": rfc3339(record.ended_at) if ended else None,
        "created_at": rfc3339(record.created_at),
        "expires_at": rfc3339(record.deadline),
        "cancel_initiated_at": rfc3339(record.cancel_initiated_at) if record.cancel_initiated_at else None,
        "archived_at": None,
        "results_url": results_url if ended else None,
    }


def deleted_object(batch_id: str) -> dict[str, Any]:
    return {"id": batch_id, "type": "message_batch_deleted"}


def succeeded_line(custom_id: str, message: dict[str, Any]) -> str:
    return _json({"custom_id": custom_id, "result": {"type": "succeeded", "message": message}})


def errored_line(custom_id: str, error: AimuxError, request_id: str) -> str:
    result = {"type": "errored", "error": anthropic_error_body(error, request_id)}
    return _json({"custom_id": custom_id, "result": result})


def unanswered_line(custom_id: str, outcome: str) -> str:
    """``canceled`` or ``expired``: the request was never run."""
    return _json({"custom_id": custom_id, "result": {"type": outcome}})


def _json(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False)
