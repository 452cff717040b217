"""HTTP plumbing shared by the client surfaces: bounded body reads, request context, JSON answers.

Kept free of dialect logic: the Anthropic and OpenAI surfaces decide how errors look.
"""

from __future__ import annotations

import logging
import secrets
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError
from pydantic_core import from_json
from starlette.requests import Request
from starlette.responses import Response

from ..cache.policy import HEADER as CACHE_HEADER
from ..cache.policy import Directive, parse_directive
from ..errors import InternalError, RequestTooLarge, UnsupportedMediaType
from ..gateway import Gateway, Served
from ..providers.base import RequestContext
from ..redaction import remember_caller_secret
from ..routing.select import RequestMeta
from ..translate.errors import PathStyle, invalid_request_from_validation
from ..wire.anthropic import MessagesRequest
from ..wire.headers import header_safe
from ..wire.json_bytes import compact_json

JSON_MEDIA_TYPE = "application/json"
SSE_MEDIA_TYPE = "text/event-stream; charset=utf-8"
log = logging.getLogger("aimux.surfaces")
SSE_HEADERS = {"cache-control": "no-cache", "x-accel-buffering": "no"}
M = TypeVar("M", bound=BaseModel)


def gateway_of(request: Request) -> Gateway:
    """The app's gateway, built on first use when the app was created without one.

    Lambda handlers create their app at import time; building the gateway lazily keeps provider-key
    reads (SSM) and any network I/O out of the cold-start import. A configuration error becomes a
    500 naming the bad field (never a key), and building is retried on the next request.
    """
    state = request.app.state
    gateway: Gateway | None = getattr(state, "gateway", None)
    if gateway is None:
        from ..config import ConfigError  # the configuration package loads with the gateway, not at import

        try:
            gateway = state.gateway = state.build_gateway()
        except ConfigError as exc:
            raise InternalError("gateway configuration error: " + "; ".join(exc.lines())) from None
    return gateway


def unexpected_error(exc: BaseException, request_id: str) -> InternalError:
    """A bug, logged with its traceback server-side; the client gets a 500 that quotes the request id."""
    log.exception("unexpected error serving %s", request_id, exc_info=exc)
    return InternalError(f"internal error; quote request id {request_id} when reporting it")


def new_request_id() -> str:
    return "req_" + secrets.token_hex(12)


_HEADER_MAP = "aimux.headers"


def header_map(request: Request) -> dict[str, str]:
    """The request's headers by (lower-case) name, the first of a repeated one winning, as Starlette's
    ``request.headers.get`` answers; built once per request and kept in its scope.

    Why: each ``Headers.get`` walks the whole header list in Python, and a client request asks for ten
    headers or so (a Claude Code request carries twenty).
    """
    scope = request.scope
    found: dict[str, str] | None = scope.get(_HEADER_MAP)
    if found is None:
        found = {}
        for name, value in scope["headers"]:  # names are lower-case bytes (ASGI), values latin-1
            found.setdefault(name.decode("latin-1"), value.decode("latin-1"))
        scope[_HEADER_MAP] = found
    return found


def header_values(request: Request, name: bytes) -> list[str]:
    """Every value of a header that may repeat (``anthropic-beta``), in order: ``Headers.getlist``."""
    return [value.decode("latin-1") for key, value in request.scope["headers"] if key == name]


async def read_body(request: Request) -> bytes:
    """The request body, refusing anything over ``AIMUX_MAX_REQUEST_MB`` before buffering it all.

    A compressed body (``content-encoding`` other than ``identity``) is refused with 415 rather than
    inflated: neither Anthropic nor OpenAI clients compress requests, and inflating would let a small
    upload expand past the size cap.
    """
    headers = header_map(request)
    encoding = headers.get("content-encoding", "identity").strip().lower()
    if encoding not in ("", "identity"):
        shown = header_safe(encoding)[:40]
        raise UnsupportedMediaType(f"content-encoding: {shown!r} bodies are not supported; send the body uncompressed")
    limit: int = request.app.state.settings.max_request_bytes
    declared = headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise _too_large(limit)
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise _too_large(limit)
        chunks.append(chunk)
    return b"".join(chunks)


def parse_body(model: type[M], body: bytes, style: PathStyle) -> M:
    """``body`` validated as ``model``, or a 400 naming the bad field in the caller's path ``style``.

    One parse on the way in; only a failure parses the body again, to name the field by its JSON path.
    """
    try:
        return model.model_validate_json(body)
    except ValidationError as exc:
        raise invalid_request_from_validation(exc, document=_document(body), style=style) from None


def _document(body: bytes) -> Any:
    """The body as plain JSON values, to name fields by their JSON path (only on the error path)."""
    try:
        return from_json(body)
    except ValueError:
        return None


def _too_large(limit: int) -> RequestTooLarge:
    return RequestTooLarge(f"request body: exceeds the gateway limit of {limit / 1048576:g} MB (AIMUX_MAX_REQUEST_MB)")


def wants_anthropic(request: Request) -> bool:
    """Whether to answer in Anthropic's dialect: by route, and by headers on the paths both APIs share.

    ``/anthropic/...`` and ``.../messages...`` are Anthropic's, ``/openai/...`` and ``.../chat/completions``
    OpenAI's; elsewhere (``/v1/models``, an unknown path) ``anthropic-version`` or ``x-api-key`` mark an
    Anthropic client.
    """
    path: str = request.url.path
    if path.startswith("/openai/") or path.endswith("/chat/completions"):
        return False
    if path.startswith("/anthropic/") or path.endswith(("/messages", "/messages/count_tokens")):
        return True
    if "/messages/batches" in path:
        return True
    headers = header_map(request)
    return "anthropic-version" in headers or "x-api-key" in headers


def api_key_of(request: Request) -> str | None:
    """``x-api-key`` wins over ``Authorization: Bearer`` when both are present (as Anthropic does).

    Whatever the caller presented (also an ``Authorization`` value of another scheme) is remembered for
    this request's redaction (``redaction.remember_caller_secret``): never quoted back to anyone.
    """
    headers = header_map(request)
    key = headers.get("x-api-key")
    if key:
        remember_caller_secret(key)
        return key
    authorization = headers.get("authorization", "")
    scheme, _, token = authorization.partition(" ")
    if scheme.lower() != "bearer":
        remember_caller_secret(authorization)
        return None
    token = token.strip()
    remember_caller_secret(token)
    return token or None


def request_context(request: Request, request_id: str) -> RequestContext:
    headers = header_map(request)
    betas = [beta.strip() for value in header_values(request, b"anthropic-beta") for beta in value.split(",")]
    betas = [beta for beta in betas if beta]
    return RequestContext(
        request_id=request_id,
        api_key=api_key_of(request),
        anthropic_version=headers.get("anthropic-version"),
        betas=betas,
        session_id=headers.get("x-claude-code-session-id"),
    )


def cache_directive(request: Request) -> Directive | None:
    """The client's ``x-aimux-cache`` (``use``, ``off``, ``refresh``), or a 400 naming the header."""
    return parse_directive(header_map(request).get(CACHE_HEADER))


def json_response(
    body: str | bytes | dict[str, Any], status: int = 200, headers: dict[str, str] | None = None
) -> Response:
    if isinstance(body, dict):
        body = compact_json(body)
    return Response(content=body, status_code=status, headers=headers, media_type=JSON_MEDIA_TYPE)


def served_headers(request_id: str, served: Served) -> dict[str, str]:
    """Headers every answer carries: the request id and which target served, by which route."""
    routing = {name: header_safe(value) for name, value in served.headers().items()}
    return {"request-id": request_id, "x-request-id": request_id, **routing}


def routing_meta(request: Request, body: MessagesRequest, *, backend: str | None = None) -> RequestMeta:
    """Explicit provider (path, ``x-aimux-provider``, body ``backend``, in that order) and the session to pin.

    ``backend`` is taken out of ``body`` whichever source wins, so no upstream ever sees it; a surface
    whose client body is not ``body`` (the OpenAI one translates, dropping unknown fields) passes the
    value it read from its own body.
    """
    backend = _backend(body) or backend
    headers = header_map(request)
    provider = request.path_params.get("provider") or headers.get("x-aimux-provider") or backend
    session = headers.get("x-claude-code-session-id")
    if not session and body.metadata is not None:
        session = body.metadata.user_id
    return RequestMeta(explicit_provider=provider or None, session_id=session or None)


def _backend(body: MessagesRequest) -> str | None:
    """The aimux-only ``backend`` body field: read here and removed, so no upstream ever sees it."""
    extra = body.__pydantic_extra__
    if not extra or "backend" not in extra:
        return None
    value = extra.pop("backend")
    return value if isinstance(value, str) else None
