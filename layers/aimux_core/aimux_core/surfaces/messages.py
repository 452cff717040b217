"""The Anthropic surface: ``POST /v1/messages`` and ``POST /v1/messages/count_tokens``.

The body is the canonical model already, so this surface only validates, dispatches and
encodes (a client that did not enable thinking gets no thinking blocks: ``client_thinking``).
Streaming is decided by ``body.stream`` (Claude Code sends ``Accept: application/json`` even when
streaming). Errors before the first byte get their HTTP status; errors after it end the stream
with an ``event: error`` and no ``message_stop``.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from functools import partial

from starlette.requests import Request
from starlette.responses import Response, StreamingResponse

from ..accounting.record import StreamTally
from ..errors import AimuxError
from ..translate.client_thinking import hide_thinking, thinking_enabled, without_thinking
from ..translate.errors import anthropic_error_body, error_headers
from ..wire.anthropic import CountTokensRequest, ErrorBody, ErrorEvent, MessagesRequest, StreamEvent
from ..wire.anthropic_rules import check_request
from ..wire.sse import anthropic_frame
from .exchange import Exchange, authenticate
from .http import (
    SSE_HEADERS,
    SSE_MEDIA_TYPE,
    cache_directive,
    gateway_of,
    json_response,
    new_request_id,
    parse_body,
    read_body,
    request_context,
    routing_meta,
    served_headers,
    unexpected_error,
)


def anthropic_error_response(error: AimuxError, request_id: str) -> Response:
    headers = {"request-id": request_id, "x-request-id": request_id, **error_headers(error)}
    return json_response(anthropic_error_body(error, request_id), error.status, headers)


async def create_message(request: Request) -> Response:
    exchange = Exchange(request, "anthropic")
    request_id = exchange.request_id
    try:
        key = await exchange.authenticate()
        parsed = parse_body(MessagesRequest, await read_body(request), "dotted")
        exchange.client_model = parsed.model
        directive = cache_directive(request)
        context = request_context(request, request_id)
        check_request(parsed, context.anthropic_version)
        exchange.admit_model(parsed.model)
        context.key = key
        gateway = gateway_of(request)
        meta = routing_meta(request, parsed)
        if parsed.wants_stream:
            opened = await gateway.open_stream(parsed, context, meta, cache_directive=directive)
            events = opened.events if thinking_enabled(parsed) else hide_thinking(opened.events)
            headers = {
                **SSE_HEADERS,
                **served_headers(request_id, opened.served),
                **exchange.started_stream(opened.served),
            }
            tally = StreamTally(exchange.timer)
            finished = partial(exchange.stream_finished, gateway, opened.served, tally)
            return StreamingResponse(
                _encode_stream(events, tally, finished, request_id),
                media_type=SSE_MEDIA_TYPE,
                headers=headers,
            )
        message, served = await gateway.create(parsed, context, meta, cache_directive=directive)
        if not thinking_enabled(parsed):
            message = without_thinking(message)
        headers = {**served_headers(request_id, served), **exchange.answered(gateway, served, message.usage)}
        return json_response(message.dump_json(), 200, headers)
    except AimuxError as error:
        exchange.failed(error)
        return anthropic_error_response(error, request_id)
    except Exception as exc:
        error = unexpected_error(exc, request_id)
        exchange.failed(error)
        return anthropic_error_response(error, request_id)


async def count_tokens(request: Request) -> Response:
    request_id = new_request_id()
    try:
        await authenticate(request)
        parsed = parse_body(CountTokensRequest, await read_body(request), "dotted")
        check_request(parsed, request.headers.get("anthropic-version"))
        counted = MessagesRequest.model_validate({**parsed.dump(), "max_tokens": 1})  # routable shape
        context = request_context(request, request_id)
        tokens, source = await gateway_of(request).count_tokens(counted, context, routing_meta(request, counted))
        headers = {"request-id": request_id, "x-request-id": request_id, "x-aimux-token-count": source}
        return json_response({"input_tokens": tokens}, 200, headers)
    except AimuxError as error:
        return anthropic_error_response(error, request_id)
    except Exception as exc:
        return anthropic_error_response(unexpected_error(exc, request_id), request_id)


async def _encode_stream(
    events: AsyncIterator[StreamEvent], tally: StreamTally, finished: Callable[[], None], request_id: str
) -> AsyncIterator[bytes]:
    """Canonical events as Anthropic SSE; a failure mid-stream becomes a final ``event: error`` (one that
    is aimux's own fault quotes ``request_id``, the id in the response's ``request-id`` header).

    ``finished`` runs once the stream ended for any reason (done, failed, client gone): the usage
    seen so far is settled and the request's record published.
    """
    try:
        async for event in events:
            tally.observe(event)
            yield anthropic_frame(event.type, event.dump_json())
    except AimuxError as error:
        tally.fail(error.kind)
        yield _error_frame(error)
    except Exception as exc:
        tally.fail("api_error")
        yield _error_frame(unexpected_error(exc, request_id))
    finally:
        await events.aclose()  # type: ignore[attr-defined]
        finished()


def _error_frame(error: AimuxError) -> bytes:
    event = ErrorEvent(error=ErrorBody(type=error.kind, message=error.message))
    return anthropic_frame("error", event.dump_json())
