"""A fake Anthropic Messages API: ``POST /v1/messages`` (JSON or SSE) and
``POST /v1/messages/count_tokens``.

The stream follows the documented grammar exactly (Anthropic's streaming messages documentation): ``message_start`` with
usage, blocks strictly one at a time (thinking, then text, then each tool_use), one ``ping``
after the first block opens, ``message_delta`` with cumulative usage, ``message_stop``. Errors
use ``{"type":"error","error":{"type","message"},"request_id"}``; mid-stream errors are
``event: error``. In strict mode it rejects what the real API rejects before doing any work
(missing auth / ``anthropic-version`` / required fields) without consuming the script.
"""

from __future__ import annotations

import json
from typing import Any, ClassVar

from fakes import sse
from fakes.base import Endpoint, FakeUpstream, Rendered
from fakes.httpserver import RecordedRequest, Response
from fakes.prompt_cache import CacheBlock, PromptCacheModel, anthropic_blocks
from fakes.script import Fault, Quirk, Reply, ReplyQueue, Usage

ERROR_TYPES = {
    400: "invalid_request_error",
    401: "authentication_error",
    402: "billing_error",
    403: "permission_error",
    404: "not_found_error",
    413: "request_too_large",
    429: "rate_limit_error",
    500: "api_error",
    504: "timeout_error",
    529: "overloaded_error",
}
ERROR_MESSAGES = {
    "invalid_request_error": "messages: text content blocks must be non-empty",
    "authentication_error": "invalid x-api-key",
    "billing_error": "Your credit balance is too low to access the Anthropic API.",
    "permission_error": "Your API key does not have permission to use the specified resource.",
    "not_found_error": "The requested resource could not be found.",
    "request_too_large": "Request exceeds the maximum allowed number of bytes.",
    "rate_limit_error": "Number of request tokens has exceeded your per-minute rate limit.",
    "api_error": "Internal server error",
    "timeout_error": "Request timed out",
    "overloaded_error": "Overloaded",
}
STATUS_FOR_TYPE = {error_type: status for status, error_type in ERROR_TYPES.items()}
# Other vocabularies a test might use, mapped onto Anthropic stop reasons.
STOP_REASONS = {"stop": "end_turn", "length": "max_tokens", "tool_calls": "tool_use", "content_filter": "refusal"}


class AnthropicUpstream(FakeUpstream):
    """Fake ``api.anthropic.com``; ``base_url`` has no ``/v1`` (the SDK convention)."""

    dialect = "anthropic"
    supported_quirks: ClassVar[frozenset[Quirk]] = frozenset({Quirk.SSE_COMMENTS, Quirk.CRLF})

    def __init__(self, *, default: Reply | None = None, strict: bool = True, count_tokens: int = 2095,
                 require_thinking_echo: bool = False, prompt_cache: PromptCacheModel | None = None) -> None:
        super().__init__(default=default, strict=strict, prompt_cache=prompt_cache)
        self.count_tokens_queue = ReplyQueue(Reply(usage=_usage_with_input(count_tokens)))
        # DeepSeek's Anthropic endpoint in thinking mode: a tool_use turn must come back with its thinking
        self.require_thinking_echo = require_thinking_echo

    @property
    def base_url(self) -> str:
        return self.origin

    def enqueue_count_tokens(self, *items: int | Fault) -> AnthropicUpstream:
        """Script ``count_tokens`` answers (an int is the ``input_tokens`` to report)."""
        self.count_tokens_queue.push(Reply(usage=_usage_with_input(i)) if isinstance(i, int) else i for i in items)
        return self

    @property
    def message_requests(self) -> list[RecordedRequest]:
        """Only the ``POST /v1/messages`` requests (not count_tokens)."""
        return [r for r in self.requests if r.path.rstrip("/") == "/v1/messages"]

    def route(self, request: RecordedRequest) -> Endpoint | None:
        if request.method != "POST":
            return None
        path = request.path.rstrip("/")
        if path == "/v1/messages":
            return self._messages
        if path == "/v1/messages/count_tokens":
            return self._count_tokens
        return None

    async def _messages(self, request: RecordedRequest, response: Response) -> None:
        if await self._rejected(request, response, ("model", "max_tokens", "messages")):
            return
        await self.play(request, response, streaming=request.json.get("stream") is True,
                        renderer=self.cached_renderer())

    def cache_blocks(self, request: RecordedRequest) -> list[CacheBlock]:
        return anthropic_blocks(request.json)

    async def _count_tokens(self, request: RecordedRequest, response: Response) -> None:
        if await self._rejected(request, response, ("model", "messages")):
            return
        await self.play(request, response, streaming=False, queue=self.count_tokens_queue,
                        renderer=self._render_count)

    def _render_count(self, reply: Reply, request: RecordedRequest, streaming: bool) -> Rendered:
        body = json.dumps({"input_tokens": reply.usage.input_tokens}).encode()
        headers = {"content-type": "application/json", "request-id": self.next_id("req_")}
        return Rendered(200, headers, [body], extra_headers=dict(reply.headers))

    async def _rejected(self, request: RecordedRequest, response: Response, required: tuple[str, ...]) -> bool:
        problem = self._validate(request, required) if self.strict else None
        if problem is None and not isinstance(request.json, dict):
            problem = (400, "invalid_request_error", "The request body is not valid JSON.")
        if problem is None:
            return False
        await self.emit(response, self.render_error(*problem), None)
        return True

    def _validate(self, request: RecordedRequest, required: tuple[str, ...]) -> tuple[int, str, str] | None:
        if "x-api-key" not in request.headers and "authorization" not in request.headers:
            return 401, "authentication_error", "x-api-key header is required"
        if "anthropic-version" not in request.headers:
            return 400, "invalid_request_error", "anthropic-version: header is required"
        body = request.json
        if isinstance(body, dict):
            for name in required:
                if name not in body:
                    return 400, "invalid_request_error", f"{name}: Field required"
            if self.require_thinking_echo and (body.get("thinking") or {}).get("type") != "disabled":
                return _missing_thinking(body.get("messages"))
        return None

    # -- rendering ------------------------------------------------------------------------------

    def render_reply(self, reply: Reply, request: RecordedRequest, streaming: bool) -> Rendered:
        headers = {"request-id": self.next_id("req_"), "anthropic-organization-id": "fake-org"}
        model = reply.model or str(request.json.get("model", "claude-fake"))
        if not streaming:
            body = json.dumps(self._message(reply, model)).encode()
            return Rendered(200, {"content-type": "application/json", **headers}, [body],
                            extra_headers=dict(reply.headers))
        frames = sse.apply_quirks([sse.frame(e, e["type"]) for e in self._events(reply, model)], reply.quirks)
        stream_headers = {"content-type": sse.SSE_CONTENT_TYPE, "cache-control": "no-cache", **headers}
        return Rendered(200, stream_headers, frames, streaming=True, extra_headers=dict(reply.headers))

    def render_error(self, status: int, error_type: str | None, message: str | None) -> Rendered:
        fallback = "api_error" if status >= 500 else "invalid_request_error"
        error_type = error_type or ERROR_TYPES.get(status) or fallback
        request_id = self.next_id("req_")
        error = {"type": error_type, "message": message or ERROR_MESSAGES.get(error_type, error_type)}
        body = {"type": "error", "error": error, "request_id": request_id}
        headers = {"content-type": "application/json", "request-id": request_id}
        if status == 429 or status == 529:
            headers["x-should-retry"] = "true"
        return Rendered(status, headers, [json.dumps(body).encode()])

    def stream_error_frames(self, fault: Fault, reply: Reply) -> list[bytes]:
        error_type = fault.error_type or "overloaded_error"
        message = fault.message or ERROR_MESSAGES.get(error_type, error_type)
        event = {"type": "error", "error": {"type": error_type, "message": message}}
        return sse.apply_quirks([sse.frame(event, "error")], reply.quirks)

    def stream_error_status(self, fault: Fault) -> int:
        return fault.status or STATUS_FOR_TYPE.get(fault.error_type or "overloaded_error", 500)

    def malformed_frame(self, reply: Reply) -> bytes:
        broken = b'event: content_block_delta\ndata: {"type":"content_block_delta","index":0,"delta":{"type":"te\n\n'
        return sse.apply_quirks([broken], reply.quirks)[0]

    def _stop_reason(self, reply: Reply) -> str:
        if reply.stop_reason is not None:
            return STOP_REASONS.get(reply.stop_reason, reply.stop_reason)
        return "tool_use" if reply.tool_calls else "end_turn"

    def _tool_ids(self, reply: Reply) -> list[str]:
        return [call.id or self.next_id("toolu_") for call in reply.tool_calls]

    def _message(self, reply: Reply, model: str) -> dict[str, Any]:
        content: list[dict[str, Any]] = []
        if reply.reasoning is not None:
            content.append({"type": "thinking", "thinking": reply.full_reasoning, "signature": reply.signature or ""})
        if reply.text is not None:
            content.append({"type": "text", "text": reply.full_text})
        for call, call_id in zip(reply.tool_calls, self._tool_ids(reply), strict=True):
            content.append({"type": "tool_use", "id": call_id, "name": call.name, "input": call.arguments_object})
        return {
            "id": self.next_id("msg_"), "type": "message", "role": "assistant", "model": model, "content": content,
            "stop_reason": self._stop_reason(reply), "stop_sequence": reply.stop_sequence,
            "usage": _usage(reply, reply.usage.output_tokens),
        }

    def _events(self, reply: Reply, model: str) -> list[dict[str, Any]]:
        start_usage = _usage(reply, 1)
        events: list[dict[str, Any]] = [{"type": "message_start", "message": {
            "id": self.next_id("msg_"), "type": "message", "role": "assistant", "model": model, "content": [],
            "stop_reason": None, "stop_sequence": None, "usage": start_usage}}]
        blocks: list[tuple[dict[str, Any], list[dict[str, Any]]]] = []
        if reply.reasoning is not None:
            deltas = [{"type": "thinking_delta", "thinking": piece} for piece in reply.reasoning_pieces()]
            if reply.signature is not None:
                deltas.append({"type": "signature_delta", "signature": reply.signature})
            blocks.append(({"type": "thinking", "thinking": "", "signature": ""}, deltas))
        if reply.text is not None:
            blocks.append(({"type": "text", "text": ""},
                           [{"type": "text_delta", "text": piece} for piece in reply.text_pieces()]))
        for call, call_id in zip(reply.tool_calls, self._tool_ids(reply), strict=True):
            pieces = ["", *call.argument_pieces(reply.chunk_size)]
            blocks.append(({"type": "tool_use", "id": call_id, "name": call.name, "input": {}},
                           [{"type": "input_json_delta", "partial_json": piece} for piece in pieces]))
        for index, (block, deltas) in enumerate(blocks):
            events.append({"type": "content_block_start", "index": index, "content_block": block})
            if index == 0:
                events.append({"type": "ping"})
            events += [{"type": "content_block_delta", "index": index, "delta": delta} for delta in deltas]
            events.append({"type": "content_block_stop", "index": index})
        if not blocks:
            events.append({"type": "ping"})
        events.append({"type": "message_delta",
                       "delta": {"stop_reason": self._stop_reason(reply), "stop_sequence": reply.stop_sequence},
                       "usage": _usage(reply, reply.usage.output_tokens, full=False)})
        events.append({"type": "message_stop"})
        return events


def _usage(reply: Reply, output_tokens: int, *, full: bool = True) -> dict[str, Any]:
    """Usage in the API's key order; ``full`` adds the nested cache split and service tier
    (message_start / Message), without it this is the cumulative ``message_delta`` usage."""
    usage = reply.usage
    result: dict[str, Any] = {
        "input_tokens": usage.input_tokens,
        "cache_creation_input_tokens": usage.cache_creation_input_tokens,
        "cache_read_input_tokens": usage.cache_read_input_tokens,
    }
    if full:
        result["cache_creation"] = {"ephemeral_5m_input_tokens": usage.cache_creation_input_tokens,
                                    "ephemeral_1h_input_tokens": 0}
    result["output_tokens"] = output_tokens
    if full:
        result["service_tier"] = "standard"
    return result


def _usage_with_input(tokens: int) -> Usage:
    return Usage(input_tokens=tokens)


def _missing_thinking(messages: Any) -> tuple[int, str, str] | None:
    """DeepSeek's refusal of an assistant tool_use turn sent back without its thinking block."""
    for i, message in enumerate(messages if isinstance(messages, list) else ()):
        content = message.get("content") if isinstance(message, dict) else None
        if message.get("role") != "assistant" or not isinstance(content, list):
            continue
        kinds = {block.get("type") for block in content if isinstance(block, dict)}
        if "tool_use" in kinds and "thinking" not in kinds:
            return 400, "invalid_request_error", (f"messages.{i}.content: the thinking block of a turn with tool "
                                                  "calls must be passed back in thinking mode")
    return None
