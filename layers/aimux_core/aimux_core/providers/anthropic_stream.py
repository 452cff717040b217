"""Turn an Anthropic-dialect SSE stream into canonical events that follow the grammar exactly.

First-party Anthropic already does; the Anthropic-compatible endpoints (GLM, MiniMax, Kimi,
DeepSeek) mostly do. ``StreamNormaliser`` is a pure, synchronous reducer (one upstream event in,
zero or more canonical events out) so every quirk is unit-testable without a network:

- exactly one ``message_start``; its ``model`` becomes the client's name and its usage is
  completed (``input_tokens``/``output_tokens`` always present, cache counts ``0`` when absent);
- blocks are re-indexed 0, 1, 2… in the order they open; a block the upstream forgets to close is
  closed before the next one (or before ``message_delta``/``message_stop``); a delta for a block
  that is not the open one is a protocol error, never forwarded;
- ``tool_use`` ids outside ``[a-zA-Z0-9_-]`` (Kimi's ``functions.Bash:0``) are re-encoded
  reversibly (``encode_tool_id``) so the history stays valid for any upstream;
- ``tool_use`` whose complete ``input`` arrives in ``content_block_start`` (Kimi) opens with
  ``input: {}`` and gets one ``input_json_delta`` carrying that JSON (only if no real deltas came);
- tool input is checked at ``content_block_stop``: text that is not a JSON object (GLM's XML-ish
  fragments) raises ``UpstreamError`` at the next event instead of handing the client a broken tool
  call, unless that event is the ``message_delta`` saying ``max_tokens`` (a partial input is what the
  API itself sends when it cuts an answer mid-call; ``ping`` may come in between);
- ``echo``-reasoning upstreams: their own signatures are dropped and every thinking block gets an
  aimux signature (``signature_delta`` just before its ``content_block_stop``) so Claude Code keeps
  the reasoning and aimux can send it back next turn (any non-aimux signature would be dropped on
  the way back anyway);
- ``message_delta`` without usage gets ``output_tokens`` from ``message_start``, one without a
  ``stop_reason`` gets the one its content implies (``tool_use``/``end_turn``), and a missing
  ``message_delta`` is synthesised before ``message_stop``;
- ``event: error`` raises ``UpstreamError`` with the status its ``error.type`` maps to
  (``overloaded_error`` → 529, ``rate_limit_error`` → 429…); a body that ends before
  ``message_stop`` raises too (``finish``): a truncated answer never ends cleanly;
- ``ping`` passes through (dropped before ``message_start``), unknown event types pass unchanged,
  ``data: [DONE]`` and empty payloads are ignored, and payloads with ``null`` usage counts, a
  missing ``type`` (taken from the ``event:`` line) or a ``tool_use`` without ``input`` are repaired;
- anything else that breaks the schema (a ``type`` that is an object, a delta of the wrong type,
  JSON that is not an event) or the grammar raises ``malformed_answer``: a retryable upstream fault.
"""

from __future__ import annotations

import json
import secrets
from dataclasses import dataclass, field
from typing import Any, assert_never

from ..errors import UpstreamError
from ..translate.stream import StreamTranslator
from ..translate.thinking import sign_reasoning
from ..translate.tool_names import encode_tool_id
from ..translate.upstream_errors import PARSE_FAULTS, excerpt, malformed_answer, upstream_error
from ..wire.anthropic import (
    ContentBlockDeltaEvent,
    ContentBlockStartEvent,
    ContentBlockStopEvent,
    ErrorEvent,
    InputJsonDelta,
    MessageDeltaBody,
    MessageDeltaEvent,
    MessageDeltaUsage,
    MessageStartEvent,
    MessageStopEvent,
    OtherEvent,
    PingEvent,
    SignatureDelta,
    StreamEvent,
    ThinkingBlock,
    ThinkingDelta,
    ToolUseBlock,
    Usage,
    stream_event_adapter,
)
from ..wire.sse import ServerSentEvent

# Anthropic error.type -> the HTTP status the API uses for it (mid-stream errors carry no status).
_STATUS_FOR_ERROR_TYPE = {
    "invalid_request_error": 400,
    "authentication_error": 401,
    "billing_error": 402,
    "permission_error": 403,
    "not_found_error": 404,
    "request_too_large": 413,
    "rate_limit_error": 429,
    "api_error": 500,
    "timeout_error": 504,
    "overloaded_error": 529,
}
_USAGE_COUNTS = ("input_tokens", "output_tokens", "cache_creation_input_tokens", "cache_read_input_tokens")


def error_from_payload(provider: str, payload: dict[str, Any], *, midstream: bool) -> UpstreamError:
    """The ``UpstreamError`` for an Anthropic error object ``{"type":"error","error":{type,message}}``."""
    error = payload.get("error")
    kind = error.get("type") if isinstance(error, dict) else None
    status = _STATUS_FOR_ERROR_TYPE.get(kind or "", 500)
    text = json.dumps(payload)
    mapped = upstream_error(provider, status, {}, text)  # the same status/kind/retryable table as HTTP errors
    where = "sent an error mid-stream" if midstream else "answered 200 with an error"
    return UpstreamError(
        f"upstream {provider} {where} ({kind or 'unknown'}): {excerpt(text)}",
        provider=provider,
        upstream_status=status,
        retryable=mapped.retryable,
        status=mapped.status,
        kind=mapped.kind,
        cooldown=mapped.cooldown,
    )


def complete_usage(usage: Usage) -> Usage:
    """Mark ``input_tokens``/``output_tokens`` as sent and default absent cache counts to 0.

    Clients (Claude Code among them) read these keys unconditionally; canonical models dump only
    what was set, so a count the upstream left out must be set explicitly.
    """
    usage.input_tokens = usage.input_tokens
    usage.output_tokens = usage.output_tokens
    if usage.cache_creation_input_tokens is None:
        usage.cache_creation_input_tokens = 0
    if usage.cache_read_input_tokens is None:
        usage.cache_read_input_tokens = 0
    return usage


def parse_event(sse: ServerSentEvent, provider: str) -> StreamEvent | None:
    """One SSE event as a canonical event (``None`` for ``[DONE]``/empty data); errors raise."""
    data = sse.data
    if not data or data == "[DONE]":
        return None
    try:
        return stream_event_adapter.validate_json(data)
    except PARSE_FAULTS:  # ValidationError, or a TypeError from a tag that is not a string
        return _repaired(data, sse.event, provider)


def _repaired(data: str, name: str | None, provider: str) -> StreamEvent:
    """The slow path for payloads that fail validation: fix the known harmless deviations."""
    try:
        payload = json.loads(data)
    except ValueError:
        raise malformed_answer(provider, "sent a stream event that is not JSON") from None
    if not isinstance(payload, dict):
        raise malformed_answer(provider, "sent a stream event that is not a JSON object")
    if "type" not in payload and name:
        payload["type"] = name
    kind = payload.get("type")
    if not isinstance(kind, str):
        what = "without a type" if kind is None else f"whose type is a {type(kind).__name__}, not a string"
        raise malformed_answer(provider, f"sent a stream event {what}")
    if kind == "error" or name == "error":
        raise error_from_payload(provider, payload, midstream=True)
    if kind == "message_start" and isinstance(payload.get("message"), dict):
        message = payload["message"]
        message.setdefault("id", "msg_" + secrets.token_hex(12))
        message.setdefault("model", "")
        message.setdefault("content", [])
        _drop_null_counts(message)
    elif kind == "message_delta":
        _drop_null_counts(payload)
    elif kind == "content_block_start" and isinstance(payload.get("content_block"), dict):
        block = payload["content_block"]
        if block.get("type") == "tool_use" and not isinstance(block.get("input"), dict):
            block["input"] = {}
    try:
        return stream_event_adapter.validate_python(payload)
    except PARSE_FAULTS as exc:  # ValidationError, or a nested block or delta whose type is not a string
        raise malformed_answer(provider, f"sent a malformed {kind} event", exc) from None


def _drop_null_counts(holder: dict[str, Any]) -> None:
    usage = holder.get("usage")
    if isinstance(usage, dict):
        for key in _USAGE_COUNTS:
            if key in usage and usage[key] is None:
                del usage[key]


@dataclass(slots=True)
class _Block:
    """The one open block: its canonical index and what must be checked or added at its stop."""

    index: int
    upstream_index: int
    json_parts: list[str] | None = None  # tool_use: input_json_delta fragments
    pending_input: str | None = None  # tool_use: complete input from content_block_start (Kimi)
    thinking: list[str] | None = None  # thinking text, kept to sign it (echo upstreams only)


@dataclass(slots=True)
class StreamNormaliser(StreamTranslator[StreamEvent, StreamEvent]):
    """Upstream events in, grammar-exact canonical events out (see the module docstring)."""

    provider: str
    model: str
    sign_thinking: bool = False
    done: bool = field(default=False, init=False)
    _started: bool = field(default=False, init=False)
    _saw_message_delta: bool = field(default=False, init=False)
    _output_tokens: int = field(default=0, init=False)
    _next_index: int = field(default=0, init=False)
    _has_tool_use: bool = field(default=False, init=False)
    _open: _Block | None = field(default=None, init=False)
    _closed: set[int] = field(default_factory=set, init=False)  # upstream indexes already closed
    _partial_input: bool = field(default=False, init=False)  # a closed tool block's input did not parse

    def feed_sse(self, sse: ServerSentEvent) -> list[StreamEvent]:
        event = parse_event(sse, self.provider)
        return [] if event is None else self.feed(event)

    def feed(self, event: StreamEvent) -> list[StreamEvent]:
        if self.done:
            return []
        if self._partial_input and not isinstance(event, PingEvent):
            if not (isinstance(event, MessageDeltaEvent) and event.delta.stop_reason == "max_tokens"):
                raise malformed_answer(self.provider, "streamed tool input that is not a JSON object")
            self._partial_input = False
        if isinstance(event, ContentBlockDeltaEvent):  # the hot path first
            return self._delta(event)
        if isinstance(event, ContentBlockStartEvent):
            return self._start(event)
        if isinstance(event, ContentBlockStopEvent):
            return self._stop(event)
        if isinstance(event, MessageStartEvent):
            return self._message_start(event)
        if isinstance(event, MessageDeltaEvent):
            return self._message_delta(event)
        if isinstance(event, MessageStopEvent):
            return self._message_stop(event)
        if isinstance(event, ErrorEvent):
            raise error_from_payload(self.provider, event.dump(), midstream=True)
        if isinstance(event, PingEvent):
            return [event] if self._started else []
        if isinstance(event, OtherEvent):
            return [event]  # an event type newer than this code: passed on
        assert_never(event)

    def finish(self) -> list[StreamEvent]:
        """End of the upstream body: anything short of ``message_stop`` is a truncated answer."""
        if not self.done:
            raise truncated_stream(self.provider)
        return []

    def passes_text_delta(self, index: int) -> bool:
        """Whether a ``text_delta`` for upstream block ``index`` would leave ``feed`` unchanged (the same
        object, the same index) and change nothing here: then not feeding it is the same as feeding it.

        True only for the open block when its index needs no rewriting and it keeps nothing per delta
        (not a tool block, whose input is checked at its stop, nor a thinking block aimux signs), with no
        pending error (``_partial_input``) and the stream not done. The relay's text fast path asks this.
        """
        block = self._open
        return (
            block is not None
            and index == block.upstream_index == block.index
            and block.json_parts is None
            and block.thinking is None
            and not self._partial_input
            and not self.done
        )

    @property
    def content_started(self) -> bool:
        """Whether a content block has been emitted (the dispatcher commits to this upstream there)."""
        return self._next_index > 0

    @property
    def output_tokens(self) -> int:
        """``message_start``'s output count: what a ``message_delta`` without usage reports."""
        return self._output_tokens

    @property
    def has_tool_use(self) -> bool:
        return self._has_tool_use

    # -- events ----------------------------------------------------------------------------------

    def _message_start(self, event: MessageStartEvent) -> list[StreamEvent]:
        if self._started:
            raise self._protocol("second message_start")
        self._started = True
        message = event.message
        message.model = self.model
        if "usage" not in message.model_fields_set:
            message.usage = Usage()
        self._output_tokens = complete_usage(message.usage).output_tokens
        return [event]

    def _start(self, event: ContentBlockStartEvent) -> list[StreamEvent]:
        self._require_started("content_block_start")
        out = self._close() if self._open is not None else []
        block = event.content_block
        state = _Block(self._next_index, event.index)
        if isinstance(block, ToolUseBlock):
            self._has_tool_use = True
            block.id = encode_tool_id(block.id)
            state.json_parts = []
            if block.input:
                state.pending_input = json.dumps(block.input, ensure_ascii=False, separators=(",", ":"))
                block.input = {}
        elif isinstance(block, ThinkingBlock) and self.sign_thinking:
            state.thinking = [block.thinking] if block.thinking else []
        event.index = state.index
        self._next_index += 1
        self._open = state
        out.append(event)
        return out

    def _delta(self, event: ContentBlockDeltaEvent) -> list[StreamEvent]:
        block = self._open
        if block is None or event.index != block.upstream_index:
            raise self._protocol(f"content_block_delta for block {event.index}, which is not open")
        if event.index != block.index:
            event.index = block.index
        delta = event.delta
        if block.json_parts is not None:
            if isinstance(delta, InputJsonDelta) and delta.partial_json:
                block.pending_input = None  # real deltas carry the input: do not repeat it
                block.json_parts.append(delta.partial_json)
        elif block.thinking is not None:
            if isinstance(delta, ThinkingDelta):
                block.thinking.append(delta.thinking)
            elif isinstance(delta, SignatureDelta):
                return []  # replaced by the aimux signature at the block's stop
        return [event]

    def _stop(self, event: ContentBlockStopEvent) -> list[StreamEvent]:
        if self._open is not None and event.index == self._open.upstream_index:
            return self._close()
        if event.index in self._closed:
            return []  # already closed for the upstream, when its next block opened
        raise self._protocol(f"content_block_stop for block {event.index}, which is not open")

    def _message_delta(self, event: MessageDeltaEvent) -> list[StreamEvent]:
        self._require_started("message_delta")
        out = self._close(cut=event.delta.stop_reason == "max_tokens") if self._open is not None else []
        complete_message_delta(event, self._output_tokens, has_tool_use=self._has_tool_use)
        self._saw_message_delta = True
        out.append(event)
        return out

    def _message_stop(self, event: MessageStopEvent) -> list[StreamEvent]:
        self._require_started("message_stop")
        out = self._close() if self._open is not None else []
        if not self._saw_message_delta:
            out.append(missing_message_delta(self._output_tokens, has_tool_use=self._has_tool_use))
        self.done = True
        out.append(event)
        return out

    # -- helpers ---------------------------------------------------------------------------------

    def _close(self, *, cut: bool = False) -> list[StreamEvent]:
        """Finish the open block: add what it lacks, check its tool input, emit its stop."""
        block = self._open
        assert block is not None
        out: list[StreamEvent] = []
        if block.json_parts is not None:
            if block.pending_input is not None:
                out.append(
                    ContentBlockDeltaEvent(index=block.index, delta=InputJsonDelta(partial_json=block.pending_input))
                )
            elif not cut and not _is_object("".join(block.json_parts)):
                self._partial_input = True  # an error unless the next event says max_tokens
        elif block.thinking is not None:
            signature = sign_reasoning(self.provider, "".join(block.thinking))
            out.append(ContentBlockDeltaEvent(index=block.index, delta=SignatureDelta(signature=signature)))
        out.append(ContentBlockStopEvent(index=block.index))
        self._closed.add(block.upstream_index)
        self._open = None
        return out

    def _require_started(self, what: str) -> None:
        if not self._started:
            raise self._protocol(f"{what} before message_start")

    def _protocol(self, what: str) -> UpstreamError:
        return malformed_answer(self.provider, f"broke the stream grammar: {what}")


def default_stop_reason(*, has_tool_use: bool) -> str:
    """For upstreams that leave ``stop_reason`` out: what the content implies."""
    return "tool_use" if has_tool_use else "end_turn"


def complete_message_delta(event: MessageDeltaEvent, output_tokens: int, *, has_tool_use: bool) -> None:
    """Fill what a ``message_delta`` left out: the implied ``stop_reason``, ``message_start``'s output count."""
    if event.delta.stop_reason is None:
        event.delta.stop_reason = default_stop_reason(has_tool_use=has_tool_use)
    if event.usage is None:
        event.usage = MessageDeltaUsage(output_tokens=output_tokens)
    elif "output_tokens" not in event.usage.model_fields_set:
        event.usage.output_tokens = output_tokens


def missing_message_delta(output_tokens: int, *, has_tool_use: bool) -> MessageDeltaEvent:
    """The ``message_delta`` synthesised before a ``message_stop`` that came without one."""
    return MessageDeltaEvent(
        delta=MessageDeltaBody(stop_reason=default_stop_reason(has_tool_use=has_tool_use), stop_sequence=None),
        usage=MessageDeltaUsage(output_tokens=output_tokens),
    )


def truncated_stream(provider: str) -> UpstreamError:
    """A body that ended before ``message_stop``: a truncated answer never ends cleanly."""
    return UpstreamError(f"upstream {provider}: stream ended before message_stop", provider=provider, status=500)


def _is_object(raw: str) -> bool:
    """Whether streamed tool input is a JSON object (no input at all counts as ``{}``)."""
    if not raw.strip():
        return True
    try:
        return isinstance(json.loads(raw), dict)
    except ValueError:
        return False
