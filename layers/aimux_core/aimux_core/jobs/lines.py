"""A batch's requests and results as JSON lines, in each API's format.

The input blob holds one request per line in the caller's dialect (Anthropic ``{"custom_id", "params"}``,
OpenAI ``{"custom_id", "method", "url", "body"}``); workers address a request by its byte span, so a queue
message names a few spans and the worker reads only those bytes. A result line is rendered once, when the
request is answered, and kept with the request's item (or, past ``INLINE_LINE_BYTES``, in the blob store).
"""

from __future__ import annotations

import json
from typing import Any

from . import batches_anthropic, batches_openai
from .items import Answer

INLINE_LINE_BYTES = 300_000  # DynamoDB items stop at 400 KB; bigger lines go to the blob store
Span = tuple[int, int]


def line_spans(data: bytes) -> list[Span]:
    """The byte span of every non-blank line."""
    spans: list[Span] = []
    offset = 0
    for raw in data.splitlines(keepends=True):
        start, offset = offset, offset + len(raw)
        if raw.strip():
            spans.append((start, offset))
    return spans


def request_of(dialect: str, raw: bytes) -> tuple[str, dict[str, Any]]:
    """``(custom_id, body)`` of one stored request line."""
    line = json.loads(raw)
    body = line["params"] if dialect == "anthropic" else line["body"]
    return str(line["custom_id"]), body


def answered_line(dialect: str, custom_id: str, answer: Answer) -> str:
    if dialect == "anthropic":
        if answer.error is None:
            return batches_anthropic.succeeded_line(custom_id, answer.body)
        return batches_anthropic.errored_line(custom_id, answer.error, answer.request_id)
    if answer.error is None:
        return batches_openai.succeeded_line(custom_id, answer.body, answer.request_id)
    return batches_openai.errored_line(custom_id, answer.error, answer.request_id)


def unanswered_line(dialect: str, custom_id: str, outcome: str) -> str:
    if dialect == "anthropic":
        return batches_anthropic.unanswered_line(custom_id, outcome)
    return batches_openai.unanswered_line(custom_id, outcome)
