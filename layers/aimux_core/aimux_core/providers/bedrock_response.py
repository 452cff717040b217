"""Bedrock Converse output → canonical: whole responses, ConverseStream events, errors.

Response (``converse_message``): text, reasoning (signature kept byte-exact; ``""`` when absent),
redacted reasoning (base64 of the bytes), toolUse (names restored) and citations content (as text)
→ blocks; other kinds are skipped. ``stopReason``: end_turn/tool_use/max_tokens/stop_sequence/
model_context_window_exceeded unchanged, guardrail_intervened/content_filtered → ``refusal``,
malformed_* (and unknown values) → ``end_turn`` with a warning. ``stop_sequence`` comes from
``additionalModelResponseFields`` (requested by the request mapping). Usage ``inputTokens``/
``outputTokens``/``cacheReadInputTokens``/``cacheWriteInputTokens`` → ``input_tokens``/
``output_tokens``/``cache_read_input_tokens``/``cache_creation_input_tokens`` (Bedrock's
``inputTokens`` excludes cache reads and writes, as Anthropic's does).

Stream (``ConverseStreamDecoder``; ``feed(event)`` per dict boto3 yields from ``response["stream"]``,
``finish()`` at the end). The output always follows the Messages grammar:

- ``messageStart`` → ``message_start`` carrying the caller's input-token *estimate* (Converse reports
  usage only at the end), cache counts 0, ``output_tokens`` 1; an event arriving first synthesises it.
- Text and reasoning blocks arrive without ``contentBlockStart`` (unlike Anthropic's streams): their first delta, or
  a delta for a new ``contentBlockIndex``, synthesises ``content_block_start`` (``text``, or
  ``thinking`` with ``{"thinking": "", "signature": ""}``) after closing a still-open block, so
  blocks never interleave. ``contentBlockStart.toolUse`` → ``tool_use`` with ``input: {}``; its
  ``toolUse.input`` fragments → ``input_json_delta``.
- reasoning text → ``thinking_delta``; ``signature`` is held and sent as one ``signature_delta`` right
  before that block's ``content_block_stop`` (where Anthropic sends it); ``redactedContent`` bytes
  are collected and sent as one complete ``redacted_thinking`` block (base64 ``data``, no deltas).
- ``contentBlockStop`` → ``content_block_stop``; other start kinds (server-side tool results,
  images) and ``citation`` deltas are skipped.
- ``messageStop`` is held until ``metadata`` (Bedrock sends it last) so ``message_delta`` carries the
  stop reason *and* the real cumulative usage; then ``message_stop``.
- in-stream exception events raise ``UpstreamError``; so does ``finish()`` before ``messageStop`` and
  ``metadata`` were seen: a cut stream never looks complete. Parts of the wrong type raise
  ``TypeError``/``ValueError``/``AttributeError`` (the adapter reports them as ``malformed_answer``).

Errors (``bedrock_error``): a Bedrock error code, from an HTTP answer or an exception event (either
spelling, ``ThrottlingException``/``throttlingException``) → ``UpstreamError`` per ``BEDROCK_ERRORS``;
unknown codes fall back to the HTTP status table of ``upstream_errors``.
"""

from __future__ import annotations

import base64
import logging
from collections.abc import Mapping
from typing import Any

from ..errors import UpstreamError
from ..translate.stream import StreamTranslator
from ..translate.tool_names import restore_tool_name
from ..translate.upstream_errors import (
    auth_failure,
    connection_error,
    excerpt,
    malformed_answer,
    retry_after_seconds,
    upstream_error,
)
from ..wire.anthropic import (
    ContentBlock,
    ContentBlockDeltaEvent,
    ContentBlockStartEvent,
    ContentBlockStopEvent,
    InputJsonDelta,
    Message,
    MessageDeltaBody,
    MessageDeltaEvent,
    MessageDeltaUsage,
    MessageStartEvent,
    MessageStopEvent,
    RedactedThinkingBlock,
    SignatureDelta,
    StreamEvent,
    TextBlock,
    TextDelta,
    ThinkingBlock,
    ThinkingDelta,
    ToolUseBlock,
    Usage,
)

log = logging.getLogger(__name__)

STOP_REASONS = {
    "end_turn": "end_turn",
    "tool_use": "tool_use",
    "max_tokens": "max_tokens",
    "stop_sequence": "stop_sequence",
    "model_context_window_exceeded": "model_context_window_exceeded",
    "guardrail_intervened": "refusal",
    "content_filtered": "refusal",
    "malformed_model_output": "end_turn",
    "malformed_tool_use": "end_turn",
}


def stop_reason(value: Any) -> str:
    """The Anthropic stop reason for a Converse ``stopReason``."""
    mapped = STOP_REASONS.get(value) if isinstance(value, str) else None
    if mapped is None or (mapped == "end_turn" and value != "end_turn"):
        log.warning("bedrock: stopReason %r reported as end_turn", value)
    return mapped or "end_turn"


def stop_sequence(reason: str, fields: Any) -> str | None:
    """The matched stop sequence, which Converse returns only when ``/stop_sequence`` was requested."""
    if reason != "stop_sequence" or not isinstance(fields, Mapping):
        return None
    value = fields.get("stop_sequence")
    return value if isinstance(value, str) else None


def usage_fields(usage: Any) -> dict[str, int]:
    """Anthropic usage numbers (all four, cache counts 0 when Bedrock omits them)."""
    usage = usage if isinstance(usage, Mapping) else {}
    return {
        "input_tokens": int(usage.get("inputTokens") or 0),
        "output_tokens": int(usage.get("outputTokens") or 0),
        "cache_creation_input_tokens": int(usage.get("cacheWriteInputTokens") or 0),
        "cache_read_input_tokens": int(usage.get("cacheReadInputTokens") or 0),
    }


def redacted_data(value: Any) -> str:
    """Redacted reasoning bytes as the base64 string Anthropic clients carry (and send back)."""
    raw = value if isinstance(value, bytes | bytearray) else str(value or "").encode()
    return base64.b64encode(raw).decode()


def converse_message(
    response: Mapping[str, Any], *, model: str, message_id: str, tool_names: Mapping[str, str] | None = None
) -> Message:
    """The canonical ``Message`` for a ``converse`` response."""
    names = dict(tool_names or {})
    message = (response.get("output") or {}).get("message") or {}
    blocks: list[ContentBlock] = []
    for item in message.get("content") or ():
        if "text" in item:
            blocks.append(TextBlock(text=item["text"]))
        elif "reasoningContent" in item:
            reasoning = item["reasoningContent"]
            if "redactedContent" in reasoning:
                blocks.append(RedactedThinkingBlock(data=redacted_data(reasoning["redactedContent"])))
            else:
                text = reasoning.get("reasoningText") or {}
                blocks.append(ThinkingBlock(thinking=text.get("text", ""), signature=text.get("signature", "")))
        elif "toolUse" in item:
            use = item["toolUse"]
            tool_input = use.get("input")
            blocks.append(
                ToolUseBlock(
                    id=use["toolUseId"],
                    name=restore_tool_name(use["name"], names),
                    input=tool_input if isinstance(tool_input, dict) else {},
                )
            )
        elif "citationsContent" in item:
            parts = item["citationsContent"].get("content") or ()
            blocks.append(TextBlock(text="".join(p.get("text", "") for p in parts)))
    reason = stop_reason(response.get("stopReason"))
    return Message(
        id=message_id,
        model=model,
        content=blocks,
        stop_reason=reason,
        stop_sequence=stop_sequence(reason, response.get("additionalModelResponseFields")),
        usage=Usage(**usage_fields(response.get("usage"))),
    )


# --------------------------------------------------------------------------- errors

# Bedrock error code → (status the client sees, kind, retryable). Credential problems are the
# gateway's, never the caller's: 502, not 401/403, and another target may serve (``AUTH_FAILURES``).
BEDROCK_ERRORS: dict[str, tuple[int, str, bool]] = {
    "ThrottlingException": (429, "rate_limit_error", True),
    "ServiceQuotaExceededException": (429, "rate_limit_error", True),
    "ValidationException": (400, "invalid_request_error", False),
    "AccessDeniedException": (502, "api_error", True),
    "UnrecognizedClientException": (502, "api_error", True),
    "InvalidSignatureException": (502, "api_error", True),
    "ExpiredTokenException": (502, "api_error", True),
    "ResourceNotFoundException": (404, "not_found_error", False),
    "ModelTimeoutException": (504, "timeout_error", True),
    "ServiceUnavailableException": (529, "overloaded_error", True),
    "ModelNotReadyException": (529, "overloaded_error", True),
    "InternalServerException": (500, "api_error", True),
    "ModelStreamErrorException": (500, "api_error", True),
    "ModelErrorException": (500, "api_error", True),
}

AUTH_FAILURES = frozenset(
    {"AccessDeniedException", "UnrecognizedClientException", "InvalidSignatureException", "ExpiredTokenException"}
)


def bedrock_error(
    provider: str,
    code: str,
    message: str | None,
    *,
    http_status: int | None = None,
    headers: Mapping[str, str] | None = None,
) -> UpstreamError:
    """The ``UpstreamError`` for a Bedrock error code (``ThrottlingException`` or the in-stream
    ``throttlingException`` spelling); unknown codes fall back to the HTTP status table."""
    name = code[:1].upper() + code[1:]
    detail = excerpt(message) if message else ""
    mapped = BEDROCK_ERRORS.get(name)
    if mapped is None:
        if http_status is not None:
            return upstream_error(provider, http_status, headers or {}, f"{name}: {detail}")
        mapped = (500, "api_error", True)
    if name in AUTH_FAILURES:
        return auth_failure(provider, http_status, f"{name}" + (f": {detail}" if detail else ""))
    status, kind, retryable = mapped
    if name == "ValidationException" and "too long" in detail.lower() and "prompt is too long" not in detail:
        detail = f"prompt is too long: {detail}"  # the phrase Claude Code reacts to by compacting
    return UpstreamError(
        f"upstream {provider} answered {name}" + (f": {detail}" if detail else ""),
        provider=provider,
        upstream_status=http_status,
        retryable=retryable,
        status=status,
        kind=kind,
        retry_after=retry_after_seconds(headers) if headers else None,
    )


# --------------------------------------------------------------------------- stream


class _Block:
    """The one open canonical block and the Bedrock block it comes from."""

    __slots__ = ("index", "kind", "redacted", "signature", "source")

    def __init__(self, source: Any, index: int, kind: str) -> None:
        self.source = source
        self.index = index
        self.kind = kind  # text | thinking | tool_use | redacted
        self.signature = ""
        self.redacted = bytearray()


class ConverseStreamDecoder(StreamTranslator[Mapping[str, Any], StreamEvent]):
    """A state machine from ConverseStream events to canonical events (see the module docstring)."""

    def __init__(
        self,
        *,
        provider: str,
        model: str,
        message_id: str,
        input_tokens: int,
        tool_names: Mapping[str, str] | None = None,
    ) -> None:
        self.provider = provider
        self.model = model
        self.message_id = message_id
        self.input_tokens = max(1, input_tokens)
        self.tool_names = dict(tool_names or {})
        self.started = False
        self.done = False
        self._open: _Block | None = None
        self._next_index = 0
        self._skipped: set[Any] = set()
        self._stop: tuple[str, str | None] | None = None
        self._usage: Mapping[str, Any] | None = None
        self._metadata_seen = False

    def feed(self, event: Mapping[str, Any]) -> list[StreamEvent]:
        """The canonical events that ``event`` (one single-key ConverseStream dict) completes."""
        out: list[StreamEvent] = []
        if self.done:
            return out
        for key, body in event.items():
            body = body if isinstance(body, Mapping) else {}
            if key.endswith("Exception"):
                raise bedrock_error(self.provider, key, body.get("message"))
            self._start(out)
            if key == "contentBlockStart":
                self._block_start(body, out)
            elif key == "contentBlockDelta":
                self._delta(body, out)
            elif key == "contentBlockStop":
                if self._open is not None and self._open.source == body.get("contentBlockIndex"):
                    self._close(out)
            elif key == "messageStop":
                self._close(out)
                reason = stop_reason(body.get("stopReason"))
                self._stop = (reason, stop_sequence(reason, body.get("additionalModelResponseFields")))
            elif key == "metadata":
                self._metadata_seen = True
                self._usage = body.get("usage") if isinstance(body.get("usage"), Mapping) else None
            if self._stop is not None and self._metadata_seen:
                self._finish_message(out)
                break
        return out

    def finish(self) -> list[StreamEvent]:
        """Nothing more to emit after a complete stream; ``UpstreamError`` for a truncated one."""
        if not self.done:
            missing = "messageStop" if self._stop is None else "metadata"
            raise connection_error(self.provider, f"stream ended before {missing}")
        return []

    # -- internals ----------------------------------------------------------------------------

    def _start(self, out: list[StreamEvent]) -> None:
        if self.started:
            return
        self.started = True
        usage = Usage(
            input_tokens=self.input_tokens, output_tokens=1, cache_creation_input_tokens=0, cache_read_input_tokens=0
        )
        message = Message(
            id=self.message_id, model=self.model, content=[], stop_reason=None, stop_sequence=None, usage=usage
        )
        out.append(MessageStartEvent(message=message))

    def _block_start(self, body: Mapping[str, Any], out: list[StreamEvent]) -> None:
        source = body.get("contentBlockIndex")
        tool = (body.get("start") or {}).get("toolUse")
        if not isinstance(tool, Mapping):
            self._skipped.add(source)  # server-side tool results, images: nothing canonical to say
            return
        self._close(out)
        name = restore_tool_name(str(tool.get("name", "")), self.tool_names)
        block = self._open_block(source, "tool_use")
        opening = ToolUseBlock(id=str(tool.get("toolUseId", "")), name=name, input={})
        out.append(ContentBlockStartEvent(index=block.index, content_block=opening))

    def _delta(self, body: Mapping[str, Any], out: list[StreamEvent]) -> None:
        source = body.get("contentBlockIndex")
        delta = body.get("delta")
        if not isinstance(delta, Mapping):  # also what botocore makes of an event it could not parse
            raise malformed_answer(self.provider, "streamed a contentBlockDelta without a delta")
        if source in self._skipped:
            return
        if "text" in delta:
            if delta["text"]:
                block = self._block_for(source, "text", out)
                out.append(ContentBlockDeltaEvent(index=block.index, delta=TextDelta(text=delta["text"])))
        elif "reasoningContent" in delta:
            reasoning = delta["reasoningContent"] or {}
            if "redactedContent" in reasoning:
                raw = reasoning["redactedContent"]
                self._block_for(source, "redacted", out).redacted += (
                    raw if isinstance(raw, bytes) else str(raw).encode()
                )
                return
            block = self._block_for(source, "thinking", out)
            if reasoning.get("text"):
                out.append(ContentBlockDeltaEvent(index=block.index, delta=ThinkingDelta(thinking=reasoning["text"])))
            if reasoning.get("signature"):
                block.signature += reasoning["signature"]
        elif "toolUse" in delta:
            tool = self._open
            if tool is None or tool.kind != "tool_use" or tool.source != source:
                what = f"streamed tool input for block {source} without contentBlockStart"
                raise malformed_answer(self.provider, what)
            fragment = (delta["toolUse"] or {}).get("input") or ""
            if fragment:
                out.append(ContentBlockDeltaEvent(index=tool.index, delta=InputJsonDelta(partial_json=fragment)))
        # citation deltas and future kinds carry nothing the folded message keeps

    def _block_for(self, source: Any, kind: str, out: list[StreamEvent]) -> _Block:
        """The open block for ``source`` of ``kind``, opening one (and closing the previous) if needed."""
        block = self._open
        if block is not None and block.source == source and block.kind == kind:
            return block
        self._close(out)
        block = self._open_block(source, kind)
        if kind == "text":
            out.append(ContentBlockStartEvent(index=block.index, content_block=TextBlock(text="")))
        elif kind == "thinking":
            opening = ThinkingBlock(thinking="", signature="")
            out.append(ContentBlockStartEvent(index=block.index, content_block=opening))
        return block  # a redacted block is announced whole when it closes

    def _open_block(self, source: Any, kind: str) -> _Block:
        self._open = _Block(source, self._next_index, kind)
        self._next_index += 1
        return self._open

    def _close(self, out: list[StreamEvent]) -> None:
        block, self._open = self._open, None
        if block is None:
            return
        if block.kind == "redacted":
            opening = RedactedThinkingBlock(data=redacted_data(bytes(block.redacted)))
            out.append(ContentBlockStartEvent(index=block.index, content_block=opening))
        elif block.kind == "thinking" and block.signature:
            out.append(ContentBlockDeltaEvent(index=block.index, delta=SignatureDelta(signature=block.signature)))
        out.append(ContentBlockStopEvent(index=block.index))

    def _finish_message(self, out: list[StreamEvent]) -> None:
        assert self._stop is not None
        reason, sequence = self._stop
        usage = (
            MessageDeltaUsage(**usage_fields(self._usage))
            if self._usage is not None
            else MessageDeltaUsage(output_tokens=0)
        )
        out.append(MessageDeltaEvent(delta=MessageDeltaBody(stop_reason=reason, stop_sequence=sequence), usage=usage))
        out.append(MessageStopEvent())
        self.done = True
