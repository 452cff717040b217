"""Error answers in each client dialect: Anthropic's ``{"type": "error", ...}`` with ``request-id``, OpenAI's
``{"error": {...}}`` (529 shown as 503). One home for both, so every surface module (messages, chat, the
batch and job routes) renders errors the same way without importing another surface."""

from __future__ import annotations

from starlette.responses import Response

from ..errors import AimuxError
from ..translate.errors import anthropic_error_body, error_headers, openai_error_body, openai_status
from .http import json_response


def anthropic_error_response(error: AimuxError, request_id: str) -> Response:
    headers = {"request-id": request_id, "x-request-id": request_id, **error_headers(error)}
    return json_response(anthropic_error_body(error, request_id), error.status, headers)


def openai_error_response(error: AimuxError, request_id: str) -> Response:
    headers = {"x-request-id": request_id, **error_headers(error)}
    return json_response(openai_error_body(error), openai_status(error), headers)
