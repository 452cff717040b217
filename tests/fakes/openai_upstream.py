"""A fake OpenAI-compatible Chat Completions server: ``POST <base_path>/chat/completions``.

Streams match the recorded openai-python snapshots (fixtures ``openai_stream_*.sse``): the first
chunk carries ``role`` plus ``content:""`` (or ``content:null`` and the first tool-call fragment
when the answer starts with a tool call), tool-call fragments are keyed by ``index`` with
``id``/``type``/``name`` only in the first one, a ``delta:{}`` finish chunk, a ``choices: []``
usage chunk only when ``stream_options.include_usage`` asked for it, then ``data: [DONE]``.
Provider dialects (Gemini, vLLM, OpenRouter, DeepSeek...) are reachable through
:class:`~fakes.script.Quirk` flags, ``reasoning_field`` and ``base_path``, and two request checks
real providers make:

- ``require_reasoning_echo`` (DeepSeek thinking mode): every assistant message with ``tool_calls``
  in the history must carry its ``reasoning_content``, else 400 with DeepSeek's message (unless the
  request says ``thinking: {"type": "disabled"}``).
- ``thought_signatures`` (Gemini 3): the first tool call of every answer carries
  ``extra_content.google.thought_signature`` (a fresh value per call); in a request, the first
  tool call of every assistant message must carry one: the exact value issued for that call id,
  or, for a call this fake never issued, any value (Google's ``skip_thought_signature_validator``
  included), else 400 like Gemini.
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
                 reasoning_field: str = "reasoning_content", require_reasoning_echo: bool = False,
                 thought_signatures: bool = False) -> None:
        super().__init__(default=default, strict=strict)
        self.base_path = "/" + base_path.strip("/") if base_path.strip("/") else ""
        self.reasoning_field = reasoning_field  # "reasoning_content" (DeepSeek, GLM...) or "reasoning" (vLLM...)
        self.require_reasoning_echo = require_reasoning_echo
        self.thought_signatures = thought_signatures
        self.issued_signatures: dict[str, str] = {}  # call id -> the thought signature it was given

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
        if problem is None and isinstance(body, dict):
            problem = self._history_problem(body)
        if problem is not None:
            status, error_type, code, message = problem
            rendered = self._error(status, error_type, code, message, param=None)
            await self.emit(response, rendered, None)
            return
        await self.play(request, response, streaming=body.get("stream") is True)

    def _history_problem(self, body: dict[str, Any]) -> tuple[int, str, str | None, str] | None:
        """What DeepSeek or Gemini would refuse in the request's history (see the module docstring)."""
        thinking = body.get("thinking")
        echo = self.require_reasoning_echo and not (isinstance(thinking, dict) and thinking.get("type") == "disabled")
        for i, message in enumerate(body.get("messages") or ()):
            calls = message.get("tool_calls") if isinstance(message, dict) else None
            if message.get("role") != "assistant" or not calls:
                continue
            if echo and not message.get("reasoning_content"):
                return (400, "invalid_request_error", "invalid_request_error",
                        "The `reasoning_content` in the thinking mode must be passed back to the API.")
            if self.thought_signatures:
                first = calls[0]
                signature = ((first.get("extra_content") or {}).get("google") or {}).get("thought_signature")
                issued = self.issued_signatures.get(first.get("id"))
                if signature is None or (issued is not None and signature != issued):
                    what = "is missing a thought_signature" if signature is None else "has an invalid thought_signature"
                    return (400, "INVALID_ARGUMENT", None,
                            f"Function call {what} in functionCall parts (messages[{i}].tool_calls[0]).")
        return None

    def _signature(self, call_id: str, position: int) -> dict[str, Any] | None:
        """Gemini signs the first call of an answer; the value is remembered for the next request."""
        if not self.thought_signatures or position != 0:
            return None
        signature = self.issued_signatures.setdefault(call_id, self.next_id("CiQBthought/sig+") + "==")
        return {"google": {"thought_signature": signature}}

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
            message["tool_calls"] = []
            for position, (call, call_id) in enumerate(calls):
                rendered = {"id": call_id, "type": "function",
                            "function": {"name": call.name, "arguments": call.arguments_text}}
                extra = self._signature(call_id, position)
                if extra is not None:
                    rendered["extra_content"] = extra
                message["tool_calls"].append(rendered)
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
            extra = self._signature(call_id, position)
            if extra is not None:
                first["extra_content"] = extra
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
