"""Errors in each client's dialect, and validation failures as messages that name the field.

Anthropic: ``{"type":"error","error":{"type","message"},"request_id"}``.
OpenAI:    ``{"error":{"message","type","param","code"}}``.

Anthropic error kinds map to OpenAI ``type``/``code`` pairs the OpenAI SDKs and IDEs expect
(``invalid_api_key`` for 401, ``rate_limit_exceeded`` for 429, ``server_error`` for 5xx).
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import ValidationError

from ..errors import AimuxError, InvalidRequest
from ..wire.base import OTHER_TAG
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
    code = error.openai_code or code
    return {"error": {"message": error.message, "type": kind, "param": error.param, "code": code}}


def error_headers(error: AimuxError) -> dict[str, str]:
    headers = {name: header_safe(value) for name, value in error.headers.items()}
    if error.retry_after is not None:
        headers["retry-after"] = str(max(0, round(error.retry_after)))
    return headers


# --------------------------------------------------------------------------- validation failures

PathStyle = Literal["dotted", "openai"]
"""``dotted``: Anthropic's ``messages.0.content.1.type``; ``openai``: OpenAI's ``messages[0].content[1].type``."""

# pydantic's names for the members of a plain union (``str | list[...]``) in an error's ``loc``.
_TYPE_MEMBERS = frozenset({"str", "int", "float", "bool", "none", "list", "dict"})
_TAG_FIELDS = ("type", "role")  # the discriminators of the wire unions
_UNKNOWN = object()


def field_path(loc: tuple[int | str, ...], document: Any = None, *, missing: bool = False) -> list[int | str]:
    """The JSON path of a validation error's ``loc`` in ``document`` (the parsed body), union members removed.

    pydantic puts the union member it tried into ``loc`` (``'list[...]'``, ``'str'``, a discriminator
    tag such as ``'text'`` or ``'user'``); a client wants the path in its own JSON. Walking the document
    tells the two apart: an item is part of the path when it is an index or key of the node reached
    so far, and not the tag that node's ``type``/``role`` selected (a tag comes once, before the
    member's fields: ``{"type": "text", "text": 5}`` fails at ``(..., 'text', 'text')``). A key that
    is absent stays only as the last item of a ``missing`` error (the field that is required).
    Without a document (None) only pydantic's member names are dropped.
    """
    path: list[int | str] = []
    node = _UNKNOWN if document is None else document
    tag_seen = False
    last = len(loc) - 1
    for position, item in enumerate(loc):
        if isinstance(item, str) and ("[" in item or item in _TYPE_MEMBERS):
            continue
        if node is _UNKNOWN:
            path.append(item)
        elif isinstance(item, int) and isinstance(node, list) and 0 <= item < len(node):
            path.append(item)
            node, tag_seen = node[item], False
        elif isinstance(item, str) and isinstance(node, dict):
            following = loc[position + 1] if position < last else None
            if position == last and missing and item not in node:
                path.append(item)  # the required field (a tag never ends a ``missing`` error's loc)
            elif not tag_seen and _is_tag(node, item, following):
                tag_seen = True
            elif item in node:
                path.append(item)
                node, tag_seen = node[item], False
    return path


def _is_tag(node: dict[str, Any], item: str, following: int | str | None) -> bool:
    """Whether ``item`` in a ``loc`` at ``node`` is the union tag ``node`` was dispatched by, not its key.

    Ambiguous when the tag names a field too (``{"type": "function", "function": {...}}``): then the
    item after it decides, a member's field (a key of ``node``) or a key inside ``node[item]``.
    """
    if item != OTHER_TAG and not any(node.get(field) == item for field in _TAG_FIELDS):
        return False
    if item not in node:
        return True
    child = node[item]
    inside = (isinstance(child, dict) and following in child) or (
        isinstance(child, list) and isinstance(following, int) and 0 <= following < len(child)
    )
    if following in node:
        return True  # a field of the member (also when the same name is nested inside: tags come first)
    return not inside and not isinstance(child, dict | list)


def format_path(path: list[int | str], style: PathStyle) -> str:
    if style == "dotted":
        return ".".join(str(item) for item in path)
    text = ""
    for item in path:
        text += f"[{item}]" if isinstance(item, int) else (f".{item}" if text else item)
    return text


def invalid_request_from_validation(
    exc: ValidationError, *, document: Any = None, style: PathStyle = "dotted", root: str = "body"
) -> InvalidRequest:
    """The most specific validation failure as one clear 400 that names the field.

    ``document``: the parsed body, so the path is the client's own JSON path (see ``field_path``);
    ``style``: how the caller's dialect writes paths (``param`` and the message's prefix). The message
    never quotes the input (no prompt text, no key), only the field and what it should be.
    """
    errors = exc.errors(include_url=False, include_input=False)
    if not errors:
        return InvalidRequest(f"{root}: invalid request")
    first = errors[0]
    if first["type"] in ("json_invalid", "json_type"):
        return InvalidRequest(f"{root}: the request body is not valid JSON ({first['msg']})")
    if first["type"] == "model_type" and not first["loc"]:
        return InvalidRequest(f"{root}: the request body must be a JSON object")
    best = max(errors, key=lambda e: len(e["loc"]))
    kind, message = best["type"], best["msg"]
    path = field_path(tuple(best["loc"]), document, missing=kind == "missing")
    ctx = best.get("ctx") or {}
    discriminator = str(ctx.get("discriminator", ""))
    if kind in ("union_tag_invalid", "union_tag_not_found") and discriminator.startswith("'"):
        # A union tagged by a field (``role``) that is absent or not one of the expected values: name
        # that field, and list the values without echoing what was sent.
        path.append(discriminator.strip("'"))
        expected = ctx.get("expected_tags")
        message = f"Input should be one of {expected}" if kind == "union_tag_invalid" else "Field required"
    where = format_path(path, style) or root
    return InvalidRequest(f"{where}: {message}", param=where)
