"""The Anthropic surface: ``POST /v1/messages`` and ``POST /v1/messages/count_tokens``.

The body is the canonical model already, so this surface only validates, dispatches and
encodes (a client that did not enable thinking gets no thinking blocks: ``client_thinking``).
Streaming is decided by ``body.stream`` (Claude Code sends ``Accept: application/json`` even when
streaming). Errors before the first byte get their HTTP status; errors after it end the stream
with an ``event: error`` and no ``message_stop``.
"""

from __future__ import annotations

from collections.abc import Iterable

from starlette.requests import Request
from starlette.responses import Response

from ..errors import AimuxError
from ..translate.client_thinking import hide_thinking, thinking_enabled, without_thinking
from ..wire.anthropic import CountTokensRequest, ErrorBody, ErrorEvent, MessagesRequest, StreamEvent
from ..wire.anthropic_rules import check_request
from ..wire.raw_frames import RawFrames
from ..wire.sse import anthropic_frame, event_frame
from .error_answers import anthropic_error_response
from .exchange import Exchange, authenticate, serve
from .http import (
    cache_directive,
    gateway_of,
    header_map,
    json_response,
    new_request_id,
    parse_body,
    read_body,
    request_context,
    routing_meta,
    unexpected_error,
)
from .jobs_http import ASYNC_HEADER, accept_async


async def create_message(request: Request) -> Response:
    return await serve(request, "anthropic", _create_message, anthropic_error_response)


async def _create_message(exchange: Exchange) -> Response:
    request = exchange.http
    key = await exchange.authenticate()
    body = await read_body(request)
    parsed = parse_body(MessagesRequest, body, "dotted")
    exchange.client_model = parsed.model
    directive = cache_directive(request)
    context = request_context(request, exchange.request_id)
    check_request(parsed, context.anthropic_version)
    exchange.check_model(parsed.model)
    if ASYNC_HEADER in header_map(request):  # answered 202 now, served by a worker (surfaces/jobs_http.py)
        return await accept_async(request, "anthropic", key, body, context, stream=parsed.wants_stream)
    exchange.bind(context)
    gateway = gateway_of(request)
    meta = routing_meta(request, parsed)
    if parsed.wants_stream:
        # The adapter may relay frames (_AnthropicFrames writes RawFrames unchanged); with thinking not
        # asked for, it stops relaying at a thinking block, so hide_thinking still sees those as events.
        context.raw_frames = True
        opened = await gateway.open_stream(parsed, context, meta, cache_directive=directive)
        events = opened.events if thinking_enabled(parsed) else hide_thinking(opened.events)
        return exchange.stream(gateway, opened.served, events, _AnthropicFrames())
    message, served = await gateway.create(parsed, context, meta, cache_directive=directive)
    if not thinking_enabled(parsed):
        message = without_thinking(message)
    return exchange.answer(gateway, served, message.usage, message.dump_json())


async def count_tokens(request: Request) -> Response:
    request_id = new_request_id()
    try:
        await authenticate(request)
        parsed = parse_body(CountTokensRequest, await read_body(request), "dotted")
        check_request(parsed, header_map(request).get("anthropic-version"))
        counted = MessagesRequest.model_validate({**parsed.dump(), "max_tokens": 1})  # routable shape
        context = request_context(request, request_id)
        tokens, source = await gateway_of(request).count_tokens(counted, context, routing_meta(request, counted))
        headers = {"request-id": request_id, "x-request-id": request_id, "x-aimux-token-count": source}
        return json_response({"input_tokens": tokens}, 200, headers)
    except AimuxError as error:
        return anthropic_error_response(error, request_id)
    except Exception as exc:
        return anthropic_error_response(unexpected_error(exc, request_id), request_id)


class _AnthropicFrames:
    """Canonical events as Anthropic SSE; a failure mid-stream is a final ``event: error`` and no
    ``message_stop``."""

    def frames(self, event: StreamEvent) -> Iterable[bytes]:
        if isinstance(event, RawFrames):  # relayed upstream frames, already Anthropic SSE
            return (event.frames,)
        return (event_frame(event),)

    def closing(self) -> Iterable[bytes]:
        return ()

    def error_frame(self, error: AimuxError) -> bytes:
        event = ErrorEvent(error=ErrorBody(type=error.kind, message=error.message))
        return anthropic_frame("error", event.dump_json())
