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

from collections.abc import AsyncIterator

from ..wire.anthropic import Message, MessagesRequest, StreamEvent

_THINKING_BLOCKS = frozenset({"thinking", "redacted_thinking"})


def thinking_enabled(request: MessagesRequest) -> bool:
    """Whether the client asked for thinking (any type but ``disabled``)."""
    return request.thinking is not None and request.thinking.type != "disabled"


def without_thinking(message: Message) -> Message:
    """``message`` without thinking blocks (itself when it has none)."""
    if not any(block.type in _THINKING_BLOCKS for block in message.content):
        return message
    return message.model_copy(update={"content": [b for b in message.content if b.type not in _THINKING_BLOCKS]})


async def hide_thinking(events: AsyncIterator[StreamEvent]) -> AsyncIterator[StreamEvent]:
    """``events`` without thinking blocks; the blocks after one move down by one index."""
    hidden: set[int] = set()
    try:
        async for event in events:
            kind = event.type
            if kind == "content_block_start" and event.content_block.type in _THINKING_BLOCKS:  # type: ignore[union-attr]
                hidden.add(event.index)  # type: ignore[union-attr]
                continue
            if hidden and kind in ("content_block_delta", "content_block_stop", "content_block_start"):
                index = event.index  # type: ignore[union-attr]
                if index in hidden:
                    continue
                # blocks come one at a time, in order: every hidden block precedes this one
                event.index = index - len(hidden)  # type: ignore[union-attr]  # each stream's events are its own
            yield event
    finally:
        await events.aclose()  # type: ignore[attr-defined]
