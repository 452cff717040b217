"""A finished ``Message`` as the canonical event stream Anthropic would have sent for it.

For answers that exist before the stream does (a response-cache hit asked for as a stream): the surfaces
encode these events with the same encoders as an upstream's, so the client's grammar is exact.

    message_start   the message with no content, no stop reason, its input usage and output_tokens 1
    ping
    per block       content_block_start (empty text / thinking / tool input), its deltas, content_block_stop
                    text: one text_delta, then a citations_delta per citation; thinking: one
                    thinking_delta, then its signature_delta; tool_use (and any block with an object
                    ``input``, e.g. server_tool_use): the input as one input_json_delta; other blocks
                    (redacted_thinking, web_search_tool_result...) arrive whole in their start
    message_delta   stop reason and sequence, the cumulative usage
    message_stop

Folding the events (``wire/accumulate.py``) gives the message back.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

from .anthropic import (
    ContentBlock,
    ContentBlockDeltaEvent,
    ContentBlockStartEvent,
    ContentBlockStopEvent,
    EventStream,
    InputJsonDelta,
    Message,
    MessageDeltaBody,
    MessageDeltaEvent,
    MessageDeltaUsage,
    MessageStartEvent,
    MessageStopEvent,
    OtherDelta,
    PingEvent,
    SignatureDelta,
    StreamEvent,
    TextBlock,
    TextDelta,
    ThinkingBlock,
    ThinkingDelta,
    content_block_adapter,
)


def message_events(message: Message) -> Iterator[StreamEvent]:
    """The stream of ``message`` (see the module docstring)."""
    usage = message.usage
    start_usage = usage.model_copy(update={"output_tokens": min(usage.output_tokens, 1)})
    opening = message.model_copy(
        update={"content": [], "stop_reason": None, "stop_sequence": None, "usage": start_usage}
    )
    opening.__pydantic_fields_set__.update({"stop_reason", "stop_sequence"})
    yield MessageStartEvent(message=opening)
    yield PingEvent()
    for index, block in enumerate(message.content):
        yield from _block_events(index, block)
    yield MessageDeltaEvent(
        delta=MessageDeltaBody(stop_reason=message.stop_reason, stop_sequence=message.stop_sequence),
        usage=MessageDeltaUsage.model_validate(usage.dump()),
    )
    yield MessageStopEvent()


async def replay(message: Message) -> EventStream:
    """``message_events`` as the async iterator the surfaces consume (closable like an upstream's)."""
    for event in message_events(message):
        yield event


def _block_events(index: int, block: ContentBlock) -> Iterator[StreamEvent]:
    if isinstance(block, TextBlock):
        opening: dict[str, Any] = {"type": "text", "text": ""}
        if block.citations is not None:
            opening["citations"] = []
        yield _start(index, opening)
        if block.text:
            yield ContentBlockDeltaEvent(index=index, delta=TextDelta(text=block.text))
        for citation in block.citations or ():
            yield ContentBlockDeltaEvent(index=index, delta=OtherDelta(type="citations_delta", citation=citation))
    elif isinstance(block, ThinkingBlock):
        yield _start(index, {"type": "thinking", "thinking": "", "signature": ""})
        if block.thinking:
            yield ContentBlockDeltaEvent(index=index, delta=ThinkingDelta(thinking=block.thinking))
        if block.signature:
            yield ContentBlockDeltaEvent(index=index, delta=SignatureDelta(signature=block.signature))
    else:
        whole = block.dump()
        tool_input = whole.get("input")
        if isinstance(tool_input, dict):  # tool_use, server_tool_use, mcp_tool_use: input arrives as JSON
            yield _start(index, {**whole, "input": {}})
            if tool_input:
                text = json.dumps(tool_input, separators=(",", ":"), ensure_ascii=False)
                yield ContentBlockDeltaEvent(index=index, delta=InputJsonDelta(partial_json=text))
        else:
            yield _start(index, whole)
    yield ContentBlockStopEvent(index=index)


def _start(index: int, block: dict[str, Any]) -> ContentBlockStartEvent:
    return ContentBlockStartEvent(index=index, content_block=content_block_adapter.validate_python(block))
