"""Fold a canonical event stream into the Message a non-streaming call would have returned.

A pure reducer (``MessageAccumulator.feed`` per event, ``message()`` at the end), so a provider
that only streams can still answer a non-streaming request, and tests can check that a stream
and its non-streaming twin agree. Tool input (``tool_use``, and any block that opens with an object
``input``, such as ``server_tool_use``) arrives as ``input_json_delta`` fragments and is parsed once at
``content_block_stop``; an empty accumulation means ``{}``. ``citations_delta`` appends to the text
block's ``citations``.
"""

from __future__ import annotations

import json
from typing import Any, assert_never

from .anthropic import (
    ContentBlock,
    ContentBlockDeltaEvent,
    ContentBlockStartEvent,
    ContentBlockStopEvent,
    ErrorEvent,
    InputJsonDelta,
    Message,
    MessageDeltaEvent,
    MessageStartEvent,
    MessageStopEvent,
    OtherEvent,
    PingEvent,
    SignatureDelta,
    StreamEvent,
    TextBlock,
    TextDelta,
    ThinkingBlock,
    ThinkingDelta,
    Usage,
)


class StreamProtocolError(ValueError):
    """The event stream broke the Messages streaming grammar."""


class MessageAccumulator:
    """Reduces ``message_start … message_stop`` into one ``Message``."""

    def __init__(self) -> None:
        self._message: Message | None = None
        self._blocks: list[ContentBlock] = []
        self._json: dict[int, list[str]] = {}
        self.error: ErrorEvent | None = None

    def feed(self, event: StreamEvent) -> None:
        if isinstance(event, MessageStartEvent):
            if self._message is not None:
                raise StreamProtocolError("second message_start")
            self._message = event.message.model_copy(deep=True)
        elif isinstance(event, ContentBlockStartEvent):
            if event.index != len(self._blocks):
                raise StreamProtocolError(f"content_block_start index {event.index} out of order")
            self._blocks.append(event.content_block.model_copy(deep=True))
            if isinstance(getattr(event.content_block, "input", None), dict):  # tool_use, server_tool_use...
                self._json[event.index] = []
        elif isinstance(event, ContentBlockDeltaEvent):
            self._apply_delta(event)
        elif isinstance(event, ContentBlockStopEvent):
            self._close(event.index)
        elif isinstance(event, MessageDeltaEvent):
            message = self._require_message()
            message.stop_reason = event.delta.stop_reason
            message.stop_sequence = event.delta.stop_sequence
            if event.usage is not None:
                usage = event.usage.model_dump(exclude_unset=True, exclude_none=True)
                message.usage = Usage.model_validate({**message.usage.dump(), **usage})
        elif isinstance(event, ErrorEvent):
            self.error = event
        elif isinstance(event, MessageStopEvent | PingEvent | OtherEvent):
            pass  # nothing to fold
        else:
            assert_never(event)

    def message(self) -> Message:
        message = self._require_message()
        message.content = list(self._blocks)
        return message

    def _require_message(self) -> Message:
        if self._message is None:
            raise StreamProtocolError("event before message_start")
        return self._message

    def _apply_delta(self, event: ContentBlockDeltaEvent) -> None:
        if event.index >= len(self._blocks):
            raise StreamProtocolError(f"delta for unopened block {event.index}")
        block, delta = self._blocks[event.index], event.delta
        if isinstance(delta, TextDelta) and isinstance(block, TextBlock):
            block.text += delta.text
        elif isinstance(delta, InputJsonDelta) and event.index in self._json:
            self._json[event.index].append(delta.partial_json)
        elif isinstance(delta, ThinkingDelta) and isinstance(block, ThinkingBlock):
            block.thinking += delta.thinking
        elif isinstance(delta, SignatureDelta) and isinstance(block, ThinkingBlock):
            block.signature = delta.signature
        elif delta.type == "citations_delta" and isinstance(block, TextBlock):
            citation = getattr(delta, "citation", None)
            if isinstance(citation, dict):
                block.citations = [*(block.citations or []), citation]
        # Other unknown deltas (future kinds) do not change the folded message.

    def _close(self, index: int) -> None:
        parts = self._json.pop(index, None)
        if parts is None:
            return
        block = self._blocks[index]
        raw = "".join(parts)
        parsed: Any = json.loads(raw) if raw.strip() else {}
        if not isinstance(parsed, dict):
            raise StreamProtocolError("tool input is not a JSON object")
        block.input = parsed  # type: ignore[union-attr]  # a ToolUseBlock, or an Other* block's extra field


def accumulate(events: list[StreamEvent]) -> Message:
    """Fold a complete list of events (a convenience for tests and buffered upstreams)."""
    acc = MessageAccumulator()
    for event in events:
        acc.feed(event)
    return acc.message()
