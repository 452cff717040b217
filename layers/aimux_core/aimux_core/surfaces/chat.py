"""The OpenAI surface: ``POST /v1/chat/completions``.

Translate the Chat Completions request to canonical, dispatch, translate the answer back:
a ``chat.completion`` object, or ``chat.completion.chunk`` SSE ending in ``data: [DONE]``.
Errors use OpenAI's ``{"error": {...}}`` shape (529 becomes 503, which OpenAI clients know);
a failure mid-stream is one ``data: {"error": ...}`` chunk and no ``[DONE]``.
"""

from __future__ import annotations

import json
import time
from collections.abc import AsyncIterator, Callable
from functools import partial

from starlette.requests import Request
from starlette.responses import Response, StreamingResponse

from ..accounting.record import StreamTally
from ..errors import AimuxError
from ..translate.chat_call import prepare_chat
from ..translate.errors import error_headers, openai_error_body, openai_status
from ..translate.openai_stream import ChatChunkEncoder
from ..wire.anthropic import StreamEvent
from ..wire.openai import ChatCompletionRequest
from ..wire.sse import OPENAI_DONE, openai_frame
from .exchange import Exchange
from .http import (
    SSE_HEADERS,
    SSE_MEDIA_TYPE,
    gateway_of,
    json_response,
    parse_body,
    read_body,
    request_context,
    routing_meta,
    served_headers,
    unexpected_error,
)
from .jobs_http import ASYNC_HEADER, accept_async


def openai_error_response(error: AimuxError, request_id: str) -> Response:
    headers = {"x-request-id": request_id, **error_headers(error)}
    return json_response(openai_error_body(error), openai_status(error), headers)


async def create_chat_completion(request: Request) -> Response:
    exchange = Exchange(request, "openai")
    request_id = exchange.request_id
    try:
        key = await exchange.authenticate()
        body = await read_body(request)
        parsed = parse_body(ChatCompletionRequest, body, "openai")
        exchange.client_model = parsed.model
        gateway = gateway_of(request)
        call = await prepare_chat(parsed, gateway.limits_for(parsed.model).max_output)
        canonical = call.canonical
        exchange.admit_model(parsed.model)
        context = request_context(request, request_id)
        context.anthropic_version = None
        if ASYNC_HEADER in request.headers:  # answered 202 now, served by a worker (surfaces/jobs_http.py)
            return await accept_async(request, "openai", key, body, context, stream=canonical.wants_stream)
        context.key = key
        meta = routing_meta(request, canonical, backend=call.backend)
        created = int(time.time())
        if canonical.wants_stream:
            include_usage = bool(parsed.stream_options and parsed.stream_options.include_usage)
            opened = await gateway.open_stream(canonical, context, meta)
            encoder = ChatChunkEncoder(
                model=parsed.model,
                created=created,
                include_usage=include_usage,
                include_reasoning=call.include_reasoning,
                tool_names=call.tool_names,
            )
            headers = {
                **SSE_HEADERS,
                **served_headers(request_id, opened.served),
                **exchange.started_stream(opened.served),
            }
            tally = StreamTally(exchange.timer)
            finished = partial(exchange.stream_finished, gateway, opened.served, tally)
            return StreamingResponse(
                _encode_stream(opened.events, encoder, tally, finished, request_id),
                media_type=SSE_MEDIA_TYPE,
                headers=headers,
            )
        message, served = await gateway.create(canonical, context, meta)
        completion = call.completion(message, created)
        headers = {**served_headers(request_id, served), **exchange.answered(gateway, served, message.usage)}
        return json_response(completion, 200, headers)
    except AimuxError as error:
        exchange.failed(error)
        return openai_error_response(error, request_id)
    except Exception as exc:
        error = unexpected_error(exc, request_id)
        exchange.failed(error)
        return openai_error_response(error, request_id)


def _frame(chunk: dict) -> bytes:  # type: ignore[type-arg]
    return openai_frame(json.dumps(chunk, separators=(",", ":"), ensure_ascii=False))


async def _encode_stream(
    events: AsyncIterator[StreamEvent],
    encoder: ChatChunkEncoder,
    tally: StreamTally,
    finished: Callable[[], None],
    request_id: str,
) -> AsyncIterator[bytes]:
    """Chunks and ``[DONE]``; a failure mid-stream is one error chunk (quoting ``request_id`` when it
    is aimux's own fault) and no ``[DONE]``.

    ``finished`` runs once the stream ended for any reason: usage is settled and the record published.
    """
    try:
        async for event in events:
            tally.observe(event)
            for chunk in encoder.feed(event):
                yield _frame(chunk)
        for chunk in encoder.finish():
            yield _frame(chunk)
        yield OPENAI_DONE
    except AimuxError as error:
        tally.fail(error.kind)
        yield _frame(openai_error_body(error))
    except Exception as exc:
        tally.fail("api_error")
        yield _frame(openai_error_body(unexpected_error(exc, request_id)))
    finally:
        await events.aclose()  # type: ignore[attr-defined]
        finished()
