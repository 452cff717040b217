"""Strict checks of the two error dialects, as the official SDKs and the API references define them.

Anthropic: ``{"type": "error", "error": {"type", "message"}, "request_id"}`` with the ``request-id`` header.
OpenAI:    ``{"error": {"message", "type", "param", "code"}}`` (``param`` and ``code`` may be null).
"""

from __future__ import annotations

from typing import Any

import httpx

ANTHROPIC_ERROR_TYPES = frozenset(
    {
        "invalid_request_error", "authentication_error", "billing_error", "permission_error", "not_found_error",
        "request_too_large", "rate_limit_error", "api_error", "timeout_error", "overloaded_error",
    }
)  # fmt: skip


def anthropic_error(response: httpx.Response, status: int | None = None, kind: str | None = None) -> str:
    """The message of an Anthropic-dialect error answer, after checking every part of its shape."""
    if status is not None:
        assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/json"), response.headers
    body: Any = response.json()
    assert isinstance(body, dict) and set(body) == {"type", "error", "request_id"}, body
    assert body["type"] == "error" and body["request_id"] == response.headers["request-id"], body
    error = body["error"]
    assert isinstance(error, dict) and set(error) == {"type", "message"}, body
    assert error["type"] in ANTHROPIC_ERROR_TYPES, body
    assert kind is None or error["type"] == kind, body
    assert isinstance(error["message"], str) and error["message"], body
    return str(error["message"])


def openai_error(response: httpx.Response, status: int | None = None) -> dict[str, Any]:
    """The ``error`` object of an OpenAI-dialect error answer, after checking every part of its shape."""
    if status is not None:
        assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/json"), response.headers
    body: Any = response.json()
    assert isinstance(body, dict) and set(body) == {"error"}, body
    error = body["error"]
    assert isinstance(error, dict) and set(error) == {"message", "type", "param", "code"}, body
    assert isinstance(error["message"], str) and error["message"] and isinstance(error["type"], str), body
    assert error["param"] is None or isinstance(error["param"], str), body
    assert error["code"] is None or isinstance(error["code"], str), body
    return dict(error)
