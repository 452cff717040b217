"""``GET /v1/models`` and ``GET /v1/models/{id}``: one catalog, two shapes.

The path is shared by both APIs, so the shape follows the caller: under ``/anthropic/v1`` or with
``anthropic-version`` (or ``x-api-key``) Anthropic's page (``data``, ``has_more``, ``first_id``,
``last_id``; ``limit``/``after_id``/``before_id`` paging), under ``/openai/v1`` or otherwise OpenAI's
``{"object": "list", "data": [...]}``. Errors take the same shape.

Like every client route these need the caller's key when auth is on (401 first), and a key
restricted to some models sees only those (``allowed_models``; another id is 404, as if absent).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from starlette.requests import Request
from starlette.responses import Response

from ..errors import AimuxError, InvalidRequest, NotFound
from ..routing.catalog import ModelEntry
from .error_answers import anthropic_error_response, openai_error_response
from .exchange import authenticate
from .http import gateway_of, json_response, new_request_id, unexpected_error, wants_anthropic

if TYPE_CHECKING:
    from ..keys.record import ApiKeyRecord


def _visible(entries: Iterable[ModelEntry], key: ApiKeyRecord | None) -> list[ModelEntry]:
    """The catalog entries the caller may use (all when auth is off or the key has no model allow-list)."""
    if key is None:
        return list(entries)
    from ..keys.ring import model_allowed  # the key ring's modules load only when auth is on

    return [entry for entry in entries if model_allowed(key, entry.id)]


def _anthropic_model(entry: ModelEntry) -> dict[str, Any]:
    return {
        "type": "model",
        "id": entry.id,
        "display_name": entry.display_name,
        "created_at": entry.created_at,
        "max_input_tokens": entry.context_window,
        "max_tokens": entry.max_output,
    }


def _openai_model(entry: ModelEntry) -> dict[str, Any]:
    return {"id": entry.id, "object": "model", "created": entry.created_unix, "owned_by": entry.provider}


def _anthropic_page(entries: list[ModelEntry], request: Request) -> dict[str, Any]:
    query = request.query_params
    raw_limit = query.get("limit", "20")
    if not raw_limit.isdigit() or not 1 <= int(raw_limit) <= 1000:
        raise InvalidRequest("limit: must be an integer between 1 and 1000", param="limit")
    limit = int(raw_limit)
    ids = [entry.id for entry in entries]
    start, stop = 0, len(entries)
    if after := query.get("after_id"):
        start = ids.index(after) + 1 if after in ids else len(ids)
    if before := query.get("before_id"):
        stop = ids.index(before) if before in ids else 0
        start = max(start, stop - limit)
    page = entries[start:stop][:limit]
    has_more = (start + len(page) < stop) if not query.get("before_id") else start > 0
    return {
        "data": [_anthropic_model(entry) for entry in page],
        "has_more": has_more,
        "first_id": page[0].id if page else None,
        "last_id": page[-1].id if page else None,
    }


def _error(request: Request, error: AimuxError, request_id: str) -> Response:
    if wants_anthropic(request):
        return anthropic_error_response(error, request_id)
    return openai_error_response(error, request_id)


async def list_models(request: Request) -> Response:
    request_id = new_request_id()
    headers = {"request-id": request_id, "x-request-id": request_id}
    try:
        key = await authenticate(request)
        entries = _visible(gateway_of(request).catalog, key)
        if wants_anthropic(request):
            return json_response(_anthropic_page(entries, request), 200, headers)
    except AimuxError as error:
        return _error(request, error, request_id)
    except Exception as exc:
        return _error(request, unexpected_error(exc, request_id), request_id)
    return json_response({"object": "list", "data": [_openai_model(e) for e in entries]}, 200, headers)


async def get_model(request: Request) -> Response:
    request_id = new_request_id()
    model_id = request.path_params["model_id"]
    try:
        key = await authenticate(request)
        entry = gateway_of(request).catalog.get(model_id)
        if entry is not None and not _visible([entry], key):
            entry = None
        if entry is None:
            raise NotFound(f"model: {model_id!r} is not a routable model", param="model")
    except AimuxError as error:
        return _error(request, error, request_id)
    except Exception as exc:
        return _error(request, unexpected_error(exc, request_id), request_id)
    body = _anthropic_model(entry) if wants_anthropic(request) else _openai_model(entry)
    return json_response(body, 200, {"request-id": request_id, "x-request-id": request_id})
