"""Thinking blocks reach an Anthropic client only when its request enabled thinking.

Anthropic sends no ``thinking`` (or ``redacted_thinking``) block unless the request asks for
thinking (``enabled`` or ``adaptive``). Other upstreams reason regardless (DeepSeek's thinking mode
is on by default, OpenAI-compatible servers return ``reasoning_content`` unasked), so for a client
that did not enable thinking aimux removes those blocks: ``without_thinking`` for an answer,
``hide_thinking`` for a stream (later blocks are re-indexed, so the stream grammar stays exact).
Nothing an upstream needs is lost: ``reasoning.ReasoningEcho`` kept it before the client's view
was made. (OpenAI clients get reasoning only with ``reasoning_effort``: the chat encoders decide.)
"""

from __future__ import annotations

from ..wire.anthropic import (
    ContentBlockDeltaEvent,
    ContentBlockStartEvent,
    ContentBlockStopEvent,
    EventStream,
    Message,
    MessagesRequest,
    RedactedThinkingBlock,
    ThinkingBlock,
)

_THINKING_BLOCKS = (ThinkingBlock, RedactedThinkingBlock)


def thinking_enabled(request: MessagesRequest) -> bool:
    """Whether the client asked for thinking (any type but ``disabled``)."""
    return request.thinking is not None and request.thinking.type != "disabled"


def without_thinking(message: Message) -> Message:
    """``message`` without thinking blocks (itself when it has none)."""
    if not any(isinstance(block, _THINKING_BLOCKS) for block in message.content):
        return message
    kept = [b for b in message.content if not isinstance(b, _THINKING_BLOCKS)]
    return message.model_copy(update={"content": kept})


async def hide_thinking(events: EventStream) -> EventStream:
    """``events`` without thinking blocks; the blocks after one move down by one index."""
    hidden: set[int] = set()
    try:
        async for event in events:
            if isinstance(event, ContentBlockStartEvent) and isinstance(event.content_block, _THINKING_BLOCKS):
                hidden.add(event.index)
                continue
            if hidden and isinstance(event, ContentBlockStartEvent | ContentBlockDeltaEvent | ContentBlockStopEvent):
                index = event.index
                if index in hidden:
                    continue
                # blocks come one at a time, in order: every hidden block precedes this one
                event.index = index - len(hidden)  # each stream's events are its own: changed in place
            yield event
    finally:
        await events.aclose()
