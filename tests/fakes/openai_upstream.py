"""A fake OpenAI-compatible Chat Completions server: ``POST <base_path>/chat/completions``.

Streams match the recorded openai-python snapshots (fixtures ``openai_stream_*.sse``): the first
chunk carries ``role`` plus ``content:""`` (or ``content:null`` and the first tool-call fragment
when the answer starts with a tool call), tool-call fragments are keyed by ``index`` with
``id``/``type``/``name`` only in the first one, a ``delta:{}`` finish chunk, a ``choices: []``
usage chunk only when ``stream_options.include_usage`` asked for it, then ``data: [DONE]``.
Provider dialects (Gemini, vLLM, OpenRouter, DeepSeek...) are reachable through
:class:`~fakes.script.Quirk` flags, ``reasoning_field`` and ``base_path``.
"""

from __future__ import annotations

import json
import time
from typing import Any, ClassVar

from fakes import sse
from fakes.base import Endpoint, FakeUpstream, Rendered
from fakes.httpserver import RecordedRequest, Response
from fakes.script import Fault, Quirk, Reply, StreamErrorStyle

# status -> (type, code, message), shaped like the real API's answers
ERRORS: dict[int, tuple[str, str | None, str]] = {
    400: ("invalid_request_error", None, "Invalid request."),
    401: ("invalid_request_error", "invalid_api_key", "Incorrect API key provided: sk-fake***. You can find your "
          "API key at https://platform.openai.com/account/api-keys."),
    403: ("invalid_request_error", None, "You are not allowed to sample from this model."),
    404: ("invalid_request_error", "model_not_found", "The model does not exist or you do not have access to it."),
    429: ("requests", "rate_limit_exceeded", "Rate limit reached for requests. Please try again in 1s."),
    500: ("server_error", None, "The server had an error while processing your request. Sorry about that!"),
    502: ("server_error", None, "Bad gateway."),
    503: ("server_error", None, "The engine is currently overloaded, please try again later."),
}
# Anthropic stop reasons (the script vocabulary) -> finish_reason; other values pass through.
FINISH_REASONS = {"end_turn": "stop", "stop_sequence": "stop", "max_tokens": "length", "tool_use": "tool_calls",
                  "refusal": "content_filter"}


class OpenAIUpstream(FakeUpstream):
    """Fake OpenAI-compatible API; ``base_url`` includes ``base_path`` (the SDK convention)."""

    dialect = "openai"
    supported_quirks: ClassVar[frozenset[Quirk]] = frozenset(Quirk)

    def __init__(self, *, default: Reply | None = None, strict: bool = True, base_path: str = "/v1",
                 reasoning_field: str = "reasoning_content") -> None:
        super().__init__(default=default, strict=strict)
        self.base_path = "/" + base_path.strip("/") if base_path.strip("/") else ""
        self.reasoning_field = reasoning_field  # "reasoning_content" (DeepSeek, GLM...) or "reasoning" (vLLM...)

    @property
    def base_url(self) -> str:
        return self.origin + self.base_path

    def route(self, request: RecordedRequest) -> Endpoint | None:
        if request.method == "POST" and request.path.rstrip("/") == f"{self.base_path}/chat/completions":
            return self._chat_completions
        return None

    async def _chat_completions(self, request: RecordedRequest, response: Response) -> None:
        body = request.json
        problem: tuple[int, str, str | None, str] | None = None
        if not isinstance(body, dict):
            problem = (400, "invalid_request_error", None, "We could not parse the JSON body of your request.")
        elif self.strict:
            for name in ("model", "messages"):
                if name not in body:
                    problem = (400, "invalid_request_error", "missing_required_parameter",
                               f"Missing required parameter: '{name}'.")
                    break
        if problem is not None:
            status, error_type, code, message = problem
            rendered = self._error(status, error_type, code, message, param=None)
            await self.emit(response, rendered, None)
            return
        await self.play(request, response, streaming=body.get("stream") is True)

    # -- rendering ------------------------------------------------------------------------------

    def render_reply(self, reply: Reply, request: RecordedRequest, streaming: bool) -> Rendered:
        body = request.json
        model = reply.model or str(body.get("model", "gpt-fake"))
        headers = {"x-request-id": self.next_id("req_")}
        ctx = _Ctx(id=self.next_id("chatcmpl-"), created=int(time.time()), model=model)
        calls = [(call, call.id or self.next_id("call_")) for call in reply.tool_calls]
        if not streaming:
            payload = json.dumps(self._completion(reply, ctx, calls)).encode()
            return Rendered(200, {"content-type": "application/json", **headers}, [payload],
                            extra_headers=dict(reply.headers))
        asked = bool((body.get("stream_options") or {}).get("include_usage"))
        include_usage = asked if reply.include_usage is None else reply.include_usage
        chunks = self._chunks(reply, ctx, calls, include_usage)
        frames = [sse.frame(chunk) for chunk in chunks] + [sse.frame("[DONE]")]
        stream_headers = {"content-type": sse.SSE_CONTENT_TYPE, **headers}
        return Rendered(200, stream_headers, sse.apply_quirks(frames, reply.quirks), streaming=True,
                        extra_headers=dict(reply.headers))

    def render_error(self, status: int, error_type: str | None, message: str | None) -> Rendered:
        default_type, code, default_message = ERRORS.get(
            status, ("server_error" if status >= 500 else "invalid_request_error", None, f"Error {status}"))
        return self._error(status, error_type or default_type, code, message or default_message, param=None)

    def _error(self, status: int, error_type: str, code: str | None, message: str, *, param: str | None) -> Rendered:
        body = {"error": {"message": message, "type": error_type, "param": param, "code": code}}
        headers = {"content-type": "application/json", "x-request-id": self.next_id("req_")}
        return Rendered(status, headers, [json.dumps(body).encode()])

    def stream_error_frames(self, fault: Fault, reply: Reply) -> list[bytes]:
        message = fault.message or "The server had an error while processing your request. Sorry about that!"
        error_type = fault.error_type or "server_error"
        if fault.style is StreamErrorStyle.OPENROUTER:
            chunk = {"id": self.next_id("gen-"), "object": "chat.completion.chunk", "created": int(time.time()),
                     "model": reply.model or "openrouter/fake", "provider": "fake",
                     "error": {"code": error_type, "message": message},
                     "choices": [{"index": 0, "delta": {"content": ""}, "finish_reason": "error"}]}
            frames = [sse.frame(chunk), sse.frame("[DONE]")]
        elif fault.style is StreamErrorStyle.VLLM:
            error = {"object": "error", "message": message, "type": error_type, "param": None,
                     "code": fault.status or 500}
            frames = [sse.frame(error), sse.frame("[DONE]")]
        else:
            frames = [sse.frame({"error": {"message": message, "type": error_type, "param": None, "code": None}})]
        return sse.apply_quirks(frames, reply.quirks)

    def malformed_frame(self, reply: Reply) -> bytes:
        broken = b'data: {"id":"chatcmpl-broken","object":"chat.completion.chunk","choices":[{"index":0,"del\n\n'
        return sse.apply_quirks([broken], reply.quirks)[0]

    def _finish_reason(self, reply: Reply) -> str:
        if reply.stop_reason is not None:
            return FINISH_REASONS.get(reply.stop_reason, reply.stop_reason)
        return "tool_calls" if reply.tool_calls else "stop"

    def _usage(self, reply: Reply) -> dict[str, Any]:
        usage = reply.usage
        prompt_details: dict[str, int] = {"cached_tokens": usage.cache_read_input_tokens, "audio_tokens": 0}
        if usage.cache_creation_input_tokens:
            prompt_details["cache_write_tokens"] = usage.cache_creation_input_tokens  # OpenRouter's name
        return {
            "prompt_tokens": usage.total_input,
            "completion_tokens": usage.output_tokens,
            "total_tokens": usage.total_input + usage.output_tokens,
            "prompt_tokens_details": prompt_details,
            "completion_tokens_details": {"reasoning_tokens": usage.reasoning_tokens, "audio_tokens": 0,
                                          "accepted_prediction_tokens": 0, "rejected_prediction_tokens": 0},
        }

    def _completion(self, reply: Reply, ctx: _Ctx, calls: list[tuple[Any, str]]) -> dict[str, Any]:
        message: dict[str, Any] = {"role": "assistant", "content": reply.full_text if reply.text is not None else None,
                                   "refusal": None}
        if reply.reasoning is not None:
            message[self.reasoning_field] = reply.full_reasoning
        if calls:
            message["tool_calls"] = [{"id": call_id, "type": "function",
                                      "function": {"name": call.name, "arguments": call.arguments_text}}
                                     for call, call_id in calls]
        message["annotations"] = []
        return {"id": ctx.id, "object": "chat.completion", "created": ctx.created, "model": ctx.model,
                "choices": [{"index": 0, "message": message, "logprobs": None,
                             "finish_reason": self._finish_reason(reply)}],
                "usage": self._usage(reply), "service_tier": "default", "system_fingerprint": "fp_fake"}

    def _deltas(self, reply: Reply, calls: list[tuple[Any, str]]) -> list[dict[str, Any]]:
        """Every delta in order; the first one carries the role."""
        deltas: list[dict[str, Any]] = []
        deltas += [{self.reasoning_field: piece} for piece in reply.reasoning_pieces()]
        deltas += [{"content": piece} for piece in reply.text_pieces()]
        for position, (call, call_id) in enumerate(calls):
            index = 0 if Quirk.TOOL_CALLS_SAME_INDEX in reply.quirks else position
            first = {"index": index, "id": call_id, "type": "function",
                     "function": {"name": call.name, "arguments": ""}}
            fragments = [{"index": index, "function": {"arguments": piece}}
                         for piece in call.argument_pieces(reply.chunk_size)]
            for fragment in (first, *fragments):
                if Quirk.TOOL_CALL_NO_INDEX in reply.quirks:
                    fragment.pop("index")
                deltas.append({"tool_calls": [fragment]})
        tool_first = reply.reasoning is None and reply.text is None and calls
        if tool_first:
            deltas[0] = {"role": "assistant", "content": None, **deltas[0], "refusal": None}
        else:
            deltas.insert(0, {"role": "assistant", "content": "", "refusal": None})
        return deltas

    def _chunks(self, reply: Reply, ctx: _Ctx, calls: list[tuple[Any, str]], include_usage: bool) -> list[Any]:
        finish = self._finish_reason(reply)
        usage_null = include_usage and Quirk.CHUNK_USAGE_NULL in reply.quirks

        def chunk(choices: list[dict[str, Any]] | None) -> dict[str, Any]:
            out = {"id": ctx.id, "object": "chat.completion.chunk", "created": ctx.created, "model": ctx.model,
                   "system_fingerprint": "fp_fake", "choices": choices}
            if usage_null:
                out["usage"] = None
            return out

        deltas = self._deltas(reply, calls)
        finish_inline = Quirk.FINISH_WITH_CONTENT in reply.quirks
        chunks = []
        for position, delta in enumerate(deltas):
            last = position == len(deltas) - 1
            reason = finish if finish_inline and last else None
            chunks.append(chunk([{"index": 0, "delta": delta, "logprobs": None, "finish_reason": reason}]))
        if not finish_inline:
            chunks.append(chunk([{"index": 0, "delta": {}, "logprobs": None, "finish_reason": finish}]))
        if include_usage:
            final = chunk(None if Quirk.USAGE_CHOICES_NULL in reply.quirks else [])
            final["usage"] = self._usage(reply)
            chunks.append(final)
        return chunks


class _Ctx:
    """Fields every chunk of one completion repeats."""

    def __init__(self, *, id: str, created: int, model: str) -> None:
        self.id = id
        self.created = created
        self.model = model
