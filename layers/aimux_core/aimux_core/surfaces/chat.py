"""The OpenAI surface: ``POST /v1/chat/completions``.

Translate the Chat Completions request to canonical, dispatch, translate the answer back:
a ``chat.completion`` object, or ``chat.completion.chunk`` SSE ending in ``data: [DONE]``.
Errors use OpenAI's ``{"error": {...}}`` shape (529 becomes 503, which OpenAI clients know);
a failure mid-stream is one ``data: {"error": ...}`` chunk and no ``[DONE]``.
"""

from __future__ import annotations

import time
from collections.abc import Iterable

from starlette.requests import Request
from starlette.responses import Response

from ..errors import AimuxError
from ..translate.chat_call import prepare_chat
from ..translate.errors import openai_error_body
from ..translate.openai_stream_encode import ChatChunkEncoder, ChunkForm, chunk_frame
from ..wire.anthropic import StreamEvent
from ..wire.openai import ChatCompletionRequest
from ..wire.raw_frames import RawFrames
from ..wire.sse import OPENAI_DONE
from .error_answers import openai_error_response
from .exchange import Exchange, serve
from .http import cache_directive, gateway_of, header_map, parse_body, read_body, request_context, routing_meta
from .jobs_http import ASYNC_HEADER, accept_async


async def create_chat_completion(request: Request) -> Response:
    return await serve(request, "openai", _create_chat_completion, openai_error_response)


async def _create_chat_completion(exchange: Exchange) -> Response:
    request = exchange.http
    key = await exchange.authenticate()
    body = await read_body(request)
    parsed = parse_body(ChatCompletionRequest, body, "openai")
    exchange.client_model = parsed.model
    directive = cache_directive(request)
    gateway = gateway_of(request)
    call = await prepare_chat(parsed, gateway.limits_for(parsed.model).max_output)
    canonical = call.canonical
    exchange.check_model(parsed.model)
    context = request_context(request, exchange.request_id)
    context.anthropic_version = None
    if ASYNC_HEADER in header_map(request):  # answered 202 now, served by a worker (surfaces/jobs_http.py)
        return await accept_async(request, "openai", key, body, context, stream=canonical.wants_stream)
    exchange.bind(context)
    meta = routing_meta(request, canonical, backend=call.backend)
    created = int(time.time())
    if canonical.wants_stream:
        form = ChunkForm(
            model=parsed.model,
            created=created,
            include_usage=bool(parsed.stream_options and parsed.stream_options.include_usage),
            include_reasoning=call.include_reasoning,
        )
        # An OpenAI-dialect adapter may write plain text chunks in this form itself (providers/openai_relay.py):
        # _ChatFrames writes those RawFrames unchanged.
        context.chat_form = form
        opened = await gateway.open_stream(canonical, context, meta, cache_directive=directive)
        encoder = ChatChunkEncoder(
            model=form.model,
            created=form.created,
            include_usage=form.include_usage,
            include_reasoning=form.include_reasoning,
            tool_names=call.tool_names,
        )
        return exchange.stream(gateway, opened.served, opened.events, _ChatFrames(encoder))
    message, served = await gateway.create(canonical, context, meta, cache_directive=directive)
    return exchange.answer(gateway, served, message.usage, call.completion(message, created))


class _ChatFrames:
    """``chat.completion.chunk`` SSE ending in ``data: [DONE]``; a failure mid-stream is one
    ``data: {"error": ...}`` chunk and no ``[DONE]``."""

    __slots__ = ("encoder",)

    def __init__(self, encoder: ChatChunkEncoder) -> None:
        self.encoder = encoder

    def frames(self, event: StreamEvent) -> Iterable[bytes]:
        if isinstance(event, RawFrames):  # relayed chunks, already in this stream's form
            return (event.frames,)
        return [chunk_frame(chunk) for chunk in self.encoder.feed(event)]

    def closing(self) -> Iterable[bytes]:
        return [*(chunk_frame(chunk) for chunk in self.encoder.finish()), OPENAI_DONE]

    def error_frame(self, error: AimuxError) -> bytes:
        return chunk_frame(openai_error_body(error))
