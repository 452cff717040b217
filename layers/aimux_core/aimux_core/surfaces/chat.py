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
from ..translate.errors import error_headers, openai_error_body, openai_status
from ..translate.openai_request import chat_to_messages, client_tool_names
from ..translate.openai_response import message_to_chat_completion
from ..translate.openai_stream import ChatChunkEncoder
from ..translate.provenance_key import PROVENANCE_KEY, ensure_provenance_key
from ..wire.anthropic import StreamEvent
from ..wire.anthropic_rules import check_request
from ..wire.openai import ChatCompletionRequest
from ..wire.sse import OPENAI_DONE, openai_frame
from .exchange import Exchange
from .http import (
    SSE_HEADERS,
    SSE_MEDIA_TYPE,
    cache_directive,
    gateway_of,
    json_response,
    parse_body,
    read_body,
    request_context,
    routing_meta,
    served_headers,
    unexpected_error,
)


def openai_error_response(error: AimuxError, request_id: str) -> Response:
    headers = {"x-request-id": request_id, **error_headers(error)}
    return json_response(openai_error_body(error), openai_status(error), headers)


async def create_chat_completion(request: Request) -> Response:
    exchange = Exchange(request, "openai")
    request_id = exchange.request_id
    try:
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
        exchange.admit_model(parsed.model)
        context = request_context(request, request_id)
        context.anthropic_version = None
        context.key = key
        meta = routing_meta(request, canonical, backend=_backend(parsed))
        include_reasoning = parsed.reasoning_effort is not None
        created = int(time.time())
        tool_names = client_tool_names(parsed)
        if canonical.wants_stream:
            include_usage = bool(parsed.stream_options and parsed.stream_options.include_usage)
            opened = await gateway.open_stream(canonical, context, meta, cache_directive=directive)
            encoder = ChatChunkEncoder(
                model=parsed.model,
                created=created,
                include_usage=include_usage,
                include_reasoning=include_reasoning,
                tool_names=tool_names,
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
        message, served = await gateway.create(canonical, context, meta, cache_directive=directive)
        completion = message_to_chat_completion(
            message, model=parsed.model, created=created, include_reasoning=include_reasoning, tool_names=tool_names
        )
        headers = {**served_headers(request_id, served), **exchange.answered(gateway, served, message.usage)}
        return json_response(completion, 200, headers)
    except AimuxError as error:
        exchange.failed(error)
        return openai_error_response(error, request_id)
    except Exception as exc:
        error = unexpected_error(exc, request_id)
        exchange.failed(error)
        return openai_error_response(error, request_id)


def _backend(parsed: ChatCompletionRequest) -> str | None:
    """The aimux-only ``backend`` field of an OpenAI client's body (translation does not carry it)."""
    value = (parsed.__pydantic_extra__ or {}).get("backend")
    return value if isinstance(value, str) else None


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
