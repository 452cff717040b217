"""client_thinking: an Anthropic client that did not enable thinking gets no thinking blocks."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest

from aimux_core.translate.client_thinking import hide_thinking, thinking_enabled, without_thinking
from aimux_core.wire.accumulate import accumulate
from aimux_core.wire.anthropic import Message, MessagesRequest, StreamEvent, stream_event_adapter

pytestmark = pytest.mark.anyio


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


def _events(*payloads: dict[str, Any]) -> list[StreamEvent]:
    return [stream_event_adapter.validate_python(p) for p in payloads]


def _stream() -> list[StreamEvent]:
    start = {"type": "message_start", "message": {
        "id": "msg_1", "type": "message", "role": "assistant", "model": "m", "content": [], "stop_reason": None,
        "stop_sequence": None, "usage": {"input_tokens": 3, "output_tokens": 1}}}
    return _events(
        start,
        {"type": "content_block_start", "index": 0,
         "content_block": {"type": "thinking", "thinking": "", "signature": ""}},
        {"type": "content_block_delta", "index": 0, "delta": {"type": "thinking_delta", "thinking": "hmm"}},
        {"type": "content_block_delta", "index": 0, "delta": {"type": "signature_delta", "signature": "aimux1.x.y"}},
        {"type": "content_block_stop", "index": 0},
        {"type": "content_block_start", "index": 1, "content_block": {"type": "text", "text": ""}},
        {"type": "content_block_delta", "index": 1, "delta": {"type": "text_delta", "text": "Hi"}},
        {"type": "content_block_stop", "index": 1},
        {"type": "content_block_start", "index": 2, "content_block": {"type": "redacted_thinking", "data": "x"}},
        {"type": "content_block_stop", "index": 2},
        {"type": "content_block_start", "index": 3, "content_block": {"type": "tool_use", "id": "t", "name": "f",
                                                                       "input": {}}},
        {"type": "content_block_delta", "index": 3, "delta": {"type": "input_json_delta", "partial_json": "{}"}},
        {"type": "content_block_stop", "index": 3},
        {"type": "message_delta", "delta": {"stop_reason": "tool_use", "stop_sequence": None},
         "usage": {"output_tokens": 9}},
        {"type": "message_stop"},
    )


async def _collect(events: list[StreamEvent]) -> list[StreamEvent]:
    async def source() -> AsyncIterator[StreamEvent]:
        for event in events:
            yield event

    return [event async for event in hide_thinking(source())]


@pytest.mark.parametrize(("thinking", "enabled"), [(None, False), ({"type": "disabled"}, False),
                                                   ({"type": "enabled", "budget_tokens": 1024}, True),
                                                   ({"type": "adaptive"}, True)])
def test_thinking_enabled(thinking: Any, enabled: bool) -> None:
    body = {"model": "m", "max_tokens": 9, "messages": [{"role": "user", "content": "hi"}]}
    assert thinking_enabled(MessagesRequest.model_validate({**body, **({"thinking": thinking} if thinking else {})})) \
        is enabled


async def test_stream_loses_thinking_blocks_and_stays_grammatical() -> None:
    out = await _collect(_stream())
    message = accumulate(out)
    assert [b.type for b in message.content] == ["text", "tool_use"]
    assert [e.index for e in out if e.type.startswith("content_block")] == [0, 0, 0, 1, 1, 1]  # type: ignore[union-attr]
    assert out[-2].usage.output_tokens == 9  # type: ignore[union-attr]


def test_answer_loses_thinking_blocks() -> None:
    message = accumulate(_stream())
    assert [b.type for b in without_thinking(message).content] == ["text", "tool_use"]
    plain = Message.model_validate({**message.dump(), "content": [{"type": "text", "text": "x"}]})
    assert without_thinking(plain) is plain
