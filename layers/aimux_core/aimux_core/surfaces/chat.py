"""The OpenAI surface: ``POST /v1/chat/completions``.

Translate the Chat Completions request to canonical, dispatch, translate the answer back:
a ``chat.completion`` object, or ``chat.completion.chunk`` SSE ending in ``data: [DONE]``.
Errors use OpenAI's ``{"error": {...}}`` shape (529 becomes 503, which OpenAI clients know);
a failure mid-stream is one ``data: {"error": ...}`` chunk and no ``[DONE]``.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterable
from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from ..errors import AimuxError
from ..translate.errors import error_headers, openai_error_body, openai_status
from ..translate.openai_request import chat_to_messages, client_tool_names
from ..translate.openai_response import message_to_chat_completion
from ..translate.openai_stream_encode import ChatChunkEncoder
from ..translate.provenance_key import PROVENANCE_KEY, ensure_provenance_key
from ..wire.anthropic import StreamEvent
from ..wire.anthropic_rules import check_request
from ..wire.openai import ChatCompletionRequest
from ..wire.sse import OPENAI_DONE, openai_frame
from .exchange import Exchange, serve
from .http import cache_directive, gateway_of, json_response, parse_body, read_body, request_context, routing_meta


def openai_error_response(error: AimuxError, request_id: str) -> Response:
    headers = {"x-request-id": request_id, **error_headers(error)}
    return json_response(openai_error_body(error), openai_status(error), headers)


async def create_chat_completion(request: Request) -> Response:
    return await serve(request, "openai", _create_chat_completion, openai_error_response)


async def _create_chat_completion(exchange: Exchange) -> Response:
    request = exchange.request
    key = await exchange.authenticate()
    parsed = parse_body(ChatCompletionRequest, await read_body(request), "openai")
    exchange.client_model = parsed.model
    directive = cache_directive(request)
    gateway = gateway_of(request)
    limits = gateway.limits_for(parsed.model)
    if not PROVENANCE_KEY.ready and any(getattr(m, "reasoning_content", None) for m in parsed.messages):
        await ensure_provenance_key()  # reasoning sent back is signed as the client's (chat_to_messages)
    canonical = chat_to_messages(parsed, default_max_tokens=limits.max_output)
    check_request(canonical, None)
    exchange.check_model(parsed.model)
    context = request_context(request, exchange.request_id)
    context.anthropic_version = None
    context.key = key
    meta = routing_meta(request, canonical, backend=_backend(parsed))
    include_reasoning = parsed.reasoning_effort is not None
    created = int(time.time())
    tool_names = client_tool_names(parsed)
    if canonical.wants_stream:
        opened = await gateway.open_stream(canonical, context, meta, cache_directive=directive)
        encoder = ChatChunkEncoder(
            model=parsed.model,
            created=created,
            include_usage=bool(parsed.stream_options and parsed.stream_options.include_usage),
            include_reasoning=include_reasoning,
            tool_names=tool_names,
        )
        return exchange.stream(gateway, opened.served, opened.events, _ChatFrames(encoder))
    message, served = await gateway.create(canonical, context, meta, cache_directive=directive)
    completion = message_to_chat_completion(
        message, model=parsed.model, created=created, include_reasoning=include_reasoning, tool_names=tool_names
    )
    return exchange.answer(gateway, served, message.usage, completion)


def _backend(parsed: ChatCompletionRequest) -> str | None:
    """The aimux-only ``backend`` field of an OpenAI client's body (translation does not carry it)."""
    value = (parsed.__pydantic_extra__ or {}).get("backend")
    return value if isinstance(value, str) else None


def _frame(chunk: dict[str, Any]) -> bytes:
    return openai_frame(json.dumps(chunk, separators=(",", ":"), ensure_ascii=False))


class _ChatFrames:
    """``chat.completion.chunk`` SSE ending in ``data: [DONE]``; a failure mid-stream is one
    ``data: {"error": ...}`` chunk and no ``[DONE]``."""

    __slots__ = ("encoder",)

    def __init__(self, encoder: ChatChunkEncoder) -> None:
        self.encoder = encoder

    def frames(self, event: StreamEvent) -> Iterable[bytes]:
        return [_frame(chunk) for chunk in self.encoder.feed(event)]

    def closing(self) -> Iterable[bytes]:
        return [*(_frame(chunk) for chunk in self.encoder.finish()), OPENAI_DONE]

    def error_frame(self, error: AimuxError) -> bytes:
        return _frame(openai_error_body(error))
