"""OpenAI Files and Batch: ``/v1/files`` (purpose ``batch``) and ``/v1/batches``, as the official SDK calls them.

``client.files.create(file=..., purpose="batch")``, ``client.batches.create/retrieve/list/cancel`` and
``client.files.content(output_file_id)`` work unchanged: shapes from ``jobs/batches_openai.py`` and
``jobs/files.py``, errors OpenAI's (``{"error": {...}}``). Files hold batch input (and the output and error
files batches write); other purposes are refused with a 400 saying so. A key sees only its own files and
batches. Batch lines must target ``/v1/chat/completions`` (the endpoint aimux serves).
"""

from __future__ import annotations

import json
from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from ..errors import InvalidRequest, NotFound
from ..jobs.batches_openai import ENDPOINTS, batch_object, status_of
from ..jobs.files import FileRecord
from ..jobs.ids import FILE, OPENAI_BATCH, has_shape, new_id
from ..jobs.items import RunContext
from ..jobs.records import PROCESSING_SECONDS, BatchRecord
from .exchange import authenticate
from .http import json_response, read_body
from .jobs_http import answered_in, jobs_of, owner_of, page_limit
from .multipart import parse_form

MAX_METADATA = 16


def _headers(request_id: str) -> dict[str, str]:
    return {"x-request-id": request_id}


@answered_in("openai")
async def upload_file(request: Request, request_id: str) -> Response:
    key = await authenticate(request)
    form = parse_form(await read_body(request), request.headers.get("content-type", ""))
    purpose = form.get("purpose")
    if purpose is None:
        raise InvalidRequest("purpose: Field required", param="purpose")
    if purpose.data.decode(errors="replace") != "batch":
        raise InvalidRequest("purpose: aimux stores files for the Batch API only; use purpose 'batch'", param="purpose")
    upload = form.get("file")
    if upload is None or upload.filename is None:
        raise InvalidRequest("file: a file part is required", param="file")
    seconds = _expires_after(form)
    jobs = jobs_of(request)
    name = upload.filename[:255] or "upload.jsonl"
    record = await jobs.files.upload(owner_of(key), name, "batch", upload.data, seconds)
    return json_response(record.wire(), 200, _headers(request_id))


def _expires_after(form: dict[str, Any]) -> float | None:
    part = form.get("expires_after[seconds]")
    if part is None:
        return None
    raw = part.data.decode(errors="replace")
    if not raw.isdigit() or not 3600 <= int(raw) <= 2_592_000:
        raise InvalidRequest("expires_after.seconds: between 3600 and 2592000", param="expires_after.seconds")
    return float(raw)


async def _owned_file(request: Request) -> FileRecord:
    key = await authenticate(request)
    file_id = request.path_params["file_id"]
    record = await jobs_of(request).files.get(file_id) if file_id.startswith(FILE) and len(file_id) < 64 else None
    if record is None or record.owner != owner_of(key):
        raise NotFound(f"No such File object: {file_id[:64]}", param="id")
    return record


@answered_in("openai")
async def retrieve_file(request: Request, request_id: str) -> Response:
    return json_response((await _owned_file(request)).wire(), 200, _headers(request_id))


@answered_in("openai")
async def file_content(request: Request, request_id: str) -> Response:
    record = await _owned_file(request)
    data = await jobs_of(request).files.content(record)
    return Response(data, 200, _headers(request_id), media_type="application/octet-stream")


@answered_in("openai")
async def delete_file(request: Request, request_id: str) -> Response:
    record = await _owned_file(request)
    await jobs_of(request).files.delete(record)
    return json_response({"id": record.id, "object": "file", "deleted": True}, 200, _headers(request_id))


@answered_in("openai")
async def list_files(request: Request, request_id: str) -> Response:
    key = await authenticate(request)
    jobs = jobs_of(request)
    ids = list(reversed(await jobs.files.list_ids(owner_of(key))))
    if request.query_params.get("order") == "asc":
        ids.reverse()
    page, has_more = _page(ids, request.query_params.get("after"), _limit(request, 10_000, 10_000))
    records = [r for r in [await jobs.files.get(file_id) for file_id in page] if r is not None]
    purpose = request.query_params.get("purpose")
    data = [r.wire() for r in records if purpose in (None, "", r.purpose)]
    return json_response(_list(data, has_more), 200, _headers(request_id))


@answered_in("openai")
async def create_batch(request: Request, request_id: str) -> Response:
    key = await authenticate(request)
    jobs = jobs_of(request)
    body = _json_object(await read_body(request))
    owner = owner_of(key)
    input_file_id = body.get("input_file_id")
    if not isinstance(input_file_id, str) or not input_file_id:
        raise InvalidRequest("input_file_id: Field required", param="input_file_id")
    endpoint = body.get("endpoint")
    if endpoint not in ENDPOINTS:
        raise InvalidRequest(f"endpoint: aimux runs batches of {', '.join(sorted(ENDPOINTS))}", param="endpoint")
    if body.get("completion_window") != "24h":
        raise InvalidRequest("completion_window: only '24h' is supported", param="completion_window")
    metadata = _metadata(body.get("metadata"))
    source = await jobs.files.get(input_file_id) if input_file_id.startswith(FILE) else None
    if source is None or source.owner != owner:
        raise NotFound(f"No such File object: {input_file_id[:64]}", param="input_file_id")
    if source.purpose != "batch":
        raise InvalidRequest("input_file_id: the file was not uploaded with purpose 'batch'", param="input_file_id")
    now = jobs.clock.now()
    batch_id = new_id(OPENAI_BATCH, now)
    context = RunContext("openai", provider=request.headers.get("x-aimux-provider") or None)
    record = BatchRecord(
        batch_id,
        "openai",
        owner,
        0,
        now,
        now + PROCESSING_SECONDS,
        source.blob,
        context.to_item(),
        endpoint=str(endpoint),
        completion_window="24h",
        input_file_id=source.id,
        metadata=metadata,
    )
    await jobs.book.create(record)
    await jobs.queue.send([{"kind": "batch.start", "batch": batch_id}])
    return json_response(batch_object(record), 200, _headers(request_id))


async def _owned_batch(request: Request) -> BatchRecord:
    key = await authenticate(request)
    batch_id = request.path_params["batch_id"]
    record = await jobs_of(request).book.get(batch_id) if has_shape(batch_id, OPENAI_BATCH) else None
    if record is None or record.owner != owner_of(key) or record.dialect != "openai" or record.deleted:
        raise NotFound(f"No batch found with id '{batch_id[:64]}'.", param="batch_id")
    return record


@answered_in("openai")
async def retrieve_batch(request: Request, request_id: str) -> Response:
    record = await _owned_batch(request)
    errors = await jobs_of(request).book.errors(record.id) if record.failed_at else None
    return json_response(batch_object(record, errors), 200, _headers(request_id))


@answered_in("openai")
async def cancel_batch(request: Request, request_id: str) -> Response:
    record = await _owned_batch(request)
    jobs = jobs_of(request)
    if record.closed:
        raise InvalidRequest(f"Cannot cancel a batch with status '{_status(record)}'.")
    await jobs.book.request_cancel(record.id)
    await jobs.queue.send([{"kind": "batch.cancel", "batch": record.id}])
    return json_response(batch_object(await jobs.book.get(record.id) or record), 200, _headers(request_id))


@answered_in("openai")
async def list_batches(request: Request, request_id: str) -> Response:
    key = await authenticate(request)
    jobs = jobs_of(request)
    ids = list(reversed(await jobs.book.list_ids("openai", owner_of(key))))
    page, has_more = _page(ids, request.query_params.get("after"), _limit(request, 20, 100))
    records = [r for r in [await jobs.book.get(batch_id) for batch_id in page] if r is not None]
    return json_response(_list([batch_object(r) for r in records], has_more), 200, _headers(request_id))


def _status(record: BatchRecord) -> str:
    return status_of(record)


def _page(ids: list[str], after: str | None, limit: int) -> tuple[list[str], bool]:
    start = ids.index(after) + 1 if after and after in ids else (len(ids) if after else 0)
    return ids[start : start + limit], start + limit < len(ids)


def _limit(request: Request, default: int, most: int) -> int:
    return page_limit(request.query_params.get("limit"), default, most)


def _list(data: list[dict[str, Any]], has_more: bool) -> dict[str, Any]:
    return {
        "object": "list",
        "data": data,
        "first_id": data[0]["id"] if data else None,
        "last_id": data[-1]["id"] if data else None,
        "has_more": has_more,
    }


def _json_object(body: bytes) -> dict[str, Any]:
    try:
        value = json.loads(body)
    except ValueError:
        raise InvalidRequest("body: the request body is not valid JSON") from None
    if not isinstance(value, dict):
        raise InvalidRequest("body: the request body must be a JSON object")
    return value


def _metadata(value: Any) -> dict[str, str] | None:
    if value is None:
        return None
    if (
        not isinstance(value, dict)
        or len(value) > MAX_METADATA
        or not all(
            isinstance(k, str) and len(k) <= 64 and isinstance(v, str) and len(v) <= 512 for k, v in value.items()
        )
    ):
        raise InvalidRequest(
            "metadata: at most 16 string pairs (keys up to 64, values up to 512 characters)", param="metadata"
        )
    return dict(value)
