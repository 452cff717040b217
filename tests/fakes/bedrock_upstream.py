"""A fake Bedrock Runtime endpoint for boto3 (``endpoint_url=fake.base_url``):
``POST /model/{modelId}/converse`` (JSON) and ``POST /model/{modelId}/converse-stream``
(AWS binary event-stream).

Stream events follow the ConverseStream shapes (the Bedrock Runtime API reference, ConverseStream): ``messageStart``;
text and reasoning blocks start implicitly with their first ``contentBlockDelta`` (no
``contentBlockStart``); tool blocks get ``contentBlockStart`` with ``toolUse``; every block ends
with ``contentBlockStop``; then ``messageStop`` and, last, ``metadata`` with usage and metrics.
Event payloads carry the ``p`` padding field real Bedrock adds. HTTP errors carry
``x-amzn-ErrorType`` and ``{"message": ...}``; mid-stream errors are exception messages.
SigV4 signatures are recorded, not checked.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable
from typing import Any, ClassVar
from urllib.parse import unquote

from fakes import eventstream
from fakes.base import Endpoint, FakeUpstream, Rendered
from fakes.httpserver import RecordedRequest, Response
from fakes.prompt_cache import CacheBlock, PromptCacheModel, converse_blocks
from fakes.script import Fault, Quirk, Reply

EVENTSTREAM_CONTENT_TYPE = "application/vnd.amazon.eventstream"
EXCEPTIONS_BY_STATUS = {
    400: "ValidationException",
    403: "AccessDeniedException",
    404: "ResourceNotFoundException",
    408: "ModelTimeoutException",
    424: "ModelErrorException",
    429: "ThrottlingException",
    500: "InternalServerException",
    503: "ServiceUnavailableException",
}
STATUS_BY_EXCEPTION = {name: status for status, name in EXCEPTIONS_BY_STATUS.items()}
STATUS_BY_EXCEPTION |= {"ModelNotReadyException": 429, "ModelStreamErrorException": 424}
MESSAGES = {
    "ValidationException": "The provided request is not valid.",
    "AccessDeniedException": "You don't have access to the model with the specified model ID.",
    "ResourceNotFoundException": "Could not resolve the foundation model from the provided model identifier.",
    "ModelTimeoutException": "Model has timed out in processing the request. Try your request again.",
    "ModelErrorException": "The model returned an error.",
    "ModelNotReadyException": "The model is not ready to serve inference requests.",
    "ThrottlingException": "Too many requests, please wait before trying again.",
    "InternalServerException": "The server encountered an internal error while processing the request.",
    "ServiceUnavailableException": "Bedrock is unable to process your request.",
    "ModelStreamErrorException": "The model stream encountered an error.",
}
ERROR_TYPE_SUFFIX = ":http://internal.amazon.com/coral/com.amazon.bedrock/"
STOP_REASONS = {"stop": "end_turn", "length": "max_tokens", "tool_calls": "tool_use", "refusal": "content_filtered",
                "content_filter": "content_filtered"}
PADDING = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"


class BedrockUpstream(FakeUpstream):
    """Fake ``bedrock-runtime``; ``base_url`` is the boto3 ``endpoint_url``."""

    dialect = "bedrock"
    invalid_request_type = "ValidationException"
    supported_quirks: ClassVar[frozenset[Quirk]] = frozenset()

    def __init__(self, *, default: Reply | None = None, strict: bool = True, padding: bool = True,
                 prompt_cache: PromptCacheModel | None = None) -> None:
        super().__init__(default=default, strict=strict, prompt_cache=prompt_cache)
        self.padding = padding

    @property
    def base_url(self) -> str:
        return self.origin

    @staticmethod
    def model_id(request: RecordedRequest) -> str:
        """The decoded ``modelId`` path label of a converse request."""
        parts = request.path.split("/")
        return unquote(parts[2]) if len(parts) >= 4 and parts[1] == "model" else ""

    def route(self, request: RecordedRequest) -> Endpoint | None:
        parts = request.path.split("/")
        if request.method != "POST" or len(parts) != 4 or parts[1] != "model":
            return None
        if parts[3] == "converse":
            return self._converse
        if parts[3] == "converse-stream":
            return self._converse_stream
        return None

    async def _converse(self, request: RecordedRequest, response: Response) -> None:
        if not await self._rejected(request, response):
            await self.play(request, response, streaming=False, renderer=self.cached_renderer())

    async def _converse_stream(self, request: RecordedRequest, response: Response) -> None:
        if not await self._rejected(request, response):
            await self.play(request, response, streaming=True, renderer=self.cached_renderer())

    def cache_blocks(self, request: RecordedRequest) -> list[CacheBlock]:
        return converse_blocks(request.json)

    def cache_model(self, request: RecordedRequest) -> str:
        return self.model_id(request)

    async def _rejected(self, request: RecordedRequest, response: Response) -> bool:
        body = request.json
        if not isinstance(body, dict):
            message = "Malformed input request, please reformat your input and try again."
        elif self.strict and not body.get("messages"):
            message = "The model returned the following errors: messages: field required"
        else:
            return False
        await self.emit(response, self.render_error(400, "ValidationException", message), None)
        return True

    # -- rendering ------------------------------------------------------------------------------

    def render_reply(self, reply: Reply, request: RecordedRequest, streaming: bool) -> Rendered:
        headers = {"x-amzn-requestid": str(uuid.uuid4())}
        if not streaming:
            body = json.dumps(self._converse_output(reply)).encode()
            return Rendered(200, {"content-type": "application/json", **headers}, [body],
                            extra_headers=dict(reply.headers))
        frames = [eventstream.event_message(name, self._padded(payload)) for name, payload in self._events(reply)]
        return Rendered(200, {"content-type": EVENTSTREAM_CONTENT_TYPE, **headers}, frames, streaming=True,
                        extra_headers=dict(reply.headers))

    def render_error(self, status: int, error_type: str | None, message: str | None) -> Rendered:
        name = _exception_name(error_type) if error_type else EXCEPTIONS_BY_STATUS.get(
            status, "InternalServerException" if status >= 500 else "ValidationException")
        headers = {"content-type": "application/json", "x-amzn-requestid": str(uuid.uuid4()),
                   "x-amzn-ErrorType": name + ERROR_TYPE_SUFFIX}
        body = json.dumps({"message": message or MESSAGES.get(name, name)}).encode()
        return Rendered(status, headers, [body])

    def stream_error_frames(self, fault: Fault, reply: Reply) -> list[bytes]:
        name = _event_name(fault.error_type or "serviceUnavailableException")
        payload: dict[str, Any] = {"message": fault.message or MESSAGES.get(_exception_name(name), name)}
        if name == "modelStreamErrorException":
            payload |= {"originalStatusCode": fault.status or 500, "originalMessage": payload["message"]}
        return [eventstream.exception_message(name, payload)]

    def stream_error_status(self, fault: Fault) -> int:
        name = _exception_name(fault.error_type or "ServiceUnavailableException")
        return fault.status or STATUS_BY_EXCEPTION.get(name, 500)

    def reshape_stream_frame(self, frame: bytes, edit: Callable[[Any], Any]) -> bytes:
        """An event message whose ``{event_type: payload}`` went through ``edit`` (exceptions are kept)."""
        headers, payload = eventstream.decode_message(frame)
        if headers.get(":message-type") != "event":
            return frame
        edited = edit({str(headers[":event-type"]): json.loads(payload)})
        ((name, body),) = edited.items()
        return eventstream.encode_message({**headers, ":event-type": name}, json.dumps(body).encode())

    def malformed_frame(self, reply: Reply) -> bytes:
        headers = {":event-type": "contentBlockDelta", ":content-type": "application/json", ":message-type": "event"}
        return eventstream.encode_message(headers, b'{"contentBlockIndex":0,"delta":{"te')

    def _stop_reason(self, reply: Reply) -> str:
        if reply.stop_reason is not None:
            return STOP_REASONS.get(reply.stop_reason, reply.stop_reason)
        return "tool_use" if reply.tool_calls else "end_turn"

    def _usage(self, reply: Reply) -> dict[str, int]:
        usage = reply.usage
        return {"inputTokens": usage.input_tokens, "outputTokens": usage.output_tokens,
                "totalTokens": usage.total_input + usage.output_tokens,
                "cacheReadInputTokens": usage.cache_read_input_tokens,
                "cacheWriteInputTokens": usage.cache_creation_input_tokens}

    def _padded(self, payload: dict[str, Any]) -> dict[str, Any]:
        return {**payload, "p": PADDING[: 8 + len(json.dumps(payload)) % 40]} if self.padding else payload

    def _converse_output(self, reply: Reply) -> dict[str, Any]:
        content: list[dict[str, Any]] = []
        if reply.reasoning is not None:
            text: dict[str, Any] = {"text": reply.full_reasoning}
            if reply.signature is not None:
                text["signature"] = reply.signature
            content.append({"reasoningContent": {"reasoningText": text}})
        if reply.text is not None:
            content.append({"text": reply.full_text})
        for call in reply.tool_calls:
            content.append({"toolUse": {"toolUseId": call.id or self.next_id("tooluse_"), "name": call.name,
                                        "input": call.arguments_object}})
        return {"output": {"message": {"role": "assistant", "content": content}},
                "stopReason": self._stop_reason(reply), "usage": self._usage(reply), "metrics": {"latencyMs": 42}}

    def _events(self, reply: Reply) -> list[tuple[str, dict[str, Any]]]:
        events: list[tuple[str, dict[str, Any]]] = [("messageStart", {"role": "assistant"})]
        index = 0

        def delta(body: dict[str, Any]) -> tuple[str, dict[str, Any]]:
            return "contentBlockDelta", {"contentBlockIndex": index, "delta": body}

        if reply.reasoning is not None:
            events += [delta({"reasoningContent": {"text": piece}}) for piece in reply.reasoning_pieces()]
            if reply.signature is not None:
                events.append(delta({"reasoningContent": {"signature": reply.signature}}))
            events.append(("contentBlockStop", {"contentBlockIndex": index}))
            index += 1
        if reply.text is not None:
            events += [delta({"text": piece}) for piece in reply.text_pieces()]
            events.append(("contentBlockStop", {"contentBlockIndex": index}))
            index += 1
        for call in reply.tool_calls:
            start = {"toolUse": {"toolUseId": call.id or self.next_id("tooluse_"), "name": call.name}}
            events.append(("contentBlockStart", {"contentBlockIndex": index, "start": start}))
            events += [delta({"toolUse": {"input": piece}}) for piece in call.argument_pieces(reply.chunk_size)]
            events.append(("contentBlockStop", {"contentBlockIndex": index}))
            index += 1
        events.append(("messageStop", {"stopReason": self._stop_reason(reply)}))
        events.append(("metadata", {"usage": self._usage(reply), "metrics": {"latencyMs": 42}}))
        return events


def _exception_name(name: str) -> str:
    """``throttlingException`` -> ``ThrottlingException`` (HTTP error code spelling)."""
    return name[:1].upper() + name[1:]


def _event_name(name: str) -> str:
    """``ThrottlingException`` -> ``throttlingException`` (stream event spelling)."""
    return name[:1].lower() + name[1:]
