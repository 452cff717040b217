"""Anthropic Message Batches: ``/v1/messages/batches`` create, list, retrieve, cancel, results, delete.

The official SDK's ``client.messages.batches.*`` works unchanged: the shapes are ``jobs/batches_anthropic.py``'s,
errors Anthropic's (``{"type": "error", ...}``), and ``results_url`` points back at this gateway (under the
prefix the client used), so ``batches.results(id)`` reads the JSONL from here. A key sees only its own
batches (another key's id is a 404, as an unknown one).

The requests are kept in the blob store and run later by a worker (``jobs/``); creating a batch costs one
blob write, one store transaction and one queue message, whatever its size.
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response

from ..errors import InvalidRequest, NotFound
from ..jobs.batches_anthropic import BatchCreate, batch_object, check_create, deleted_object, input_lines
from ..jobs.finish import results_blob
from ..jobs.ids import ANTHROPIC_BATCH, has_shape, new_id
from ..jobs.items import RunContext
from ..jobs.records import PROCESSING_SECONDS, BatchRecord
from .exchange import authenticate
from .http import json_response, parse_body, read_body, request_context
from .jobs_http import answered_in, base_url, jobs_of, owner_of, page_limit

JSONL_MEDIA_TYPE = "application/x-jsonl"


def _headers(request_id: str) -> dict[str, str]:
    return {"request-id": request_id, "x-request-id": request_id}


def _results_url(request: Request, batch_id: str) -> str:
    return f"{base_url(request)}/v1/messages/batches/{batch_id}/results"


@answered_in("anthropic")
async def create_batch(request: Request, request_id: str) -> Response:
    key = await authenticate(request)
    jobs = jobs_of(request)
    parsed = parse_body(BatchCreate, await read_body(request), "dotted")
    context = request_context(request, request_id)
    check_create(parsed, context.anthropic_version, jobs.settings.max_requests)
    now = jobs.clock.now()
    batch_id = new_id(ANTHROPIC_BATCH, now)
    blob = f"batches/{batch_id}/input.jsonl"
    await jobs.blobs.put(blob, input_lines(parsed))
    run_context = RunContext(
        "anthropic", context.anthropic_version, tuple(context.betas), request.headers.get("x-aimux-provider") or None
    )
    record = BatchRecord(
        batch_id,
        "anthropic",
        owner_of(key),
        len(parsed.requests),
        now,
        now + PROCESSING_SECONDS,
        blob,
        run_context.to_item(),
    )
    await jobs.book.create(record)
    await jobs.queue.send([{"kind": "batch.start", "batch": batch_id}])
    return json_response(batch_object(record, _results_url(request, batch_id)), 200, _headers(request_id))


async def _owned(request: Request) -> tuple[BatchRecord, str]:
    """The caller's batch named in the path (404 otherwise), and its owner."""
    key = await authenticate(request)
    batch_id = request.path_params["batch_id"]
    record = await jobs_of(request).book.get(batch_id) if has_shape(batch_id, ANTHROPIC_BATCH) else None
    owner = owner_of(key)
    if record is None or record.owner != owner or record.deleted or record.dialect != "anthropic":
        raise NotFound(f"no message batch with id {batch_id[:80]!r}")
    return record, owner


@answered_in("anthropic")
async def retrieve_batch(request: Request, request_id: str) -> Response:
    record, _ = await _owned(request)
    return json_response(batch_object(record, _results_url(request, record.id)), 200, _headers(request_id))


@answered_in("anthropic")
async def cancel_batch(request: Request, request_id: str) -> Response:
    record, _ = await _owned(request)
    jobs = jobs_of(request)
    if not record.closed:
        await jobs.book.request_cancel(record.id)
        await jobs.queue.send([{"kind": "batch.cancel", "batch": record.id}])
        record = await jobs.book.get(record.id) or record
    return json_response(batch_object(record, _results_url(request, record.id)), 200, _headers(request_id))


@answered_in("anthropic")
async def batch_results(request: Request, request_id: str) -> Response:
    record, _ = await _owned(request)
    if not record.closed:
        raise InvalidRequest(
            f"message batch {record.id} has not ended yet: its results are available once processing_status is ended"
        )
    data = await jobs_of(request).blobs.get(results_blob(record.id))
    if data is None:
        raise NotFound(f"the results of message batch {record.id} are no longer available")
    return Response(data, 200, _headers(request_id), media_type=JSONL_MEDIA_TYPE)


@answered_in("anthropic")
async def delete_batch(request: Request, request_id: str) -> Response:
    record, _ = await _owned(request)
    if not record.closed:
        raise InvalidRequest(
            f"message batch {record.id} is still processing: cancel it, and delete it once it has ended"
        )
    jobs = jobs_of(request)
    await jobs.book.mark_deleted(record)
    for blob in (record.input_blob, results_blob(record.id)):
        await jobs.blobs.delete(blob)
    return json_response(deleted_object(record.id), 200, _headers(request_id))


@answered_in("anthropic")
async def list_batches(request: Request, request_id: str) -> Response:
    """Newest first; ``before_id`` / ``after_id`` cursors and ``limit`` (1-1000, default 20) as documented."""
    key = await authenticate(request)
    jobs = jobs_of(request)
    query = request.query_params
    limit = page_limit(query.get("limit"), 20, 1000)
    ids = list(reversed(await jobs.book.list_ids("anthropic", owner_of(key))))  # newest first
    before, after = query.get("before_id"), query.get("after_id")
    if before:
        end = ids.index(before) if before in ids else 0
        page, has_more = ids[max(0, end - limit) : end], end - limit > 0
    else:
        start = ids.index(after) + 1 if after and after in ids else (len(ids) if after else 0)
        page, has_more = ids[start : start + limit], start + limit < len(ids)
    records = [r for r in [await jobs.book.get(batch_id) for batch_id in page] if r is not None and not r.deleted]
    data = [batch_object(r, _results_url(request, r.id)) for r in records]
    body = {
        "data": data,
        "has_more": has_more,
        "first_id": data[0]["id"] if data else None,
        "last_id": data[-1]["id"] if data else None,
    }
    return json_response(body, 200, _headers(request_id))
