"""Errors in each client's dialect, and validation failures as messages that name the field.

Anthropic: ``{"type":"error","error":{"type","message"},"request_id"}``.
OpenAI:    ``{"error":{"message","type","param","code"}}``.

Anthropic error kinds map to OpenAI ``type``/``code`` pairs the OpenAI SDKs and IDEs expect
(``invalid_api_key`` for 401, ``rate_limit_exceeded`` for 429, ``server_error`` for 5xx).
"""

from __future__ import annotations

from typing import Any

from pydantic import ValidationError

from ..errors import AimuxError, InvalidRequest
from ..wire.headers import header_safe

_OPENAI_TYPE_CODE: dict[str, tuple[str, str | None]] = {
    "invalid_request_error": ("invalid_request_error", None),
    "authentication_error": ("invalid_request_error", "invalid_api_key"),
    "permission_error": ("permission_error", "permission_denied"),
    "not_found_error": ("invalid_request_error", "model_not_found"),
    "request_too_large": ("invalid_request_error", "request_too_large"),
    "rate_limit_error": ("rate_limit_error", "rate_limit_exceeded"),
    "billing_error": ("insufficient_quota", "insufficient_quota"),
    "timeout_error": ("server_error", "timeout"),
    "overloaded_error": ("server_error", "overloaded"),
    "api_error": ("server_error", None),
}


def anthropic_error_body(error: AimuxError, request_id: str | None = None) -> dict[str, Any]:
    body: dict[str, Any] = {"type": "error", "error": {"type": error.kind, "message": error.message}}
    if request_id:
        body["request_id"] = request_id
    return body


def openai_status(error: AimuxError) -> int:
    """OpenAI clients know no 529: overload is 503 there."""
    return 503 if error.status == 529 else error.status


def openai_error_body(error: AimuxError) -> dict[str, Any]:
    kind, code = _OPENAI_TYPE_CODE.get(error.kind, ("server_error", None))
    return {"error": {"message": error.message, "type": kind, "param": error.param, "code": code}}


def error_headers(error: AimuxError) -> dict[str, str]:
    headers = {name: header_safe(value) for name, value in error.headers.items()}
    if error.retry_after is not None:
        headers["retry-after"] = str(max(0, round(error.retry_after)))
    return headers


# --------------------------------------------------------------------------- validation failures

_UNION_MEMBER_TAGS = frozenset(
    {
        "text", "image", "document", "thinking", "redacted_thinking", "tool_use", "tool_result", "other",
        "str", "int", "float", "bool", "list", "dict", "none",
    }
)  # fmt: skip


def _location(loc: tuple[int | str, ...]) -> str:
    """``('messages', 0, 'content', 'list[...]', 1, 'text', 'text')`` → ``messages.0.content.1.text``.

    pydantic puts the name of the union member it tried into the path (``list[...]``, the
    discriminator tag); clients want the JSON path, so those entries are dropped.
    """
    parts: list[str] = []
    previous: int | str | None = None
    for item in loc:
        if isinstance(item, str) and (
            "[" in item or (item in _UNION_MEMBER_TAGS and (previous is None or isinstance(previous, int)
                                                          or "[" in str(previous)))
        ):
            previous = item
            continue
        parts.append(str(item))
        previous = item
    return ".".join(parts)


def invalid_request_from_validation(exc: ValidationError, *, root: str = "body") -> InvalidRequest:
    """The most specific validation failure as one clear 400 that names the field."""
    errors = exc.errors(include_url=False, include_input=False)
    if not errors:
        return InvalidRequest(f"{root}: invalid request")
    first = errors[0]
    if first["type"] in ("json_invalid", "json_type"):
        return InvalidRequest(f"{root}: the request body is not valid JSON ({first['msg']})")
    if first["type"] == "model_type" and not first["loc"]:
        return InvalidRequest(f"{root}: the request body must be a JSON object")
    best = max(errors, key=lambda e: len(e["loc"]))
    where = _location(tuple(best["loc"])) or root
    return InvalidRequest(f"{where}: {best['msg']}", param=where)
