"""``wire/sse.event_frame`` writes every canonical event as ``anthropic_frame(event.type, event.dump_json())``
did, byte for byte: the template it uses for plain text deltas, and the model dump for everything else
(text deltas with extra fields, other deltas, other events)."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from aimux_core.wire.anthropic import ContentBlockDeltaEvent, StreamEvent, stream_event_adapter
from aimux_core.wire.sse import anthropic_frame, event_frame


def _slow(event: StreamEvent) -> bytes:
    return anthropic_frame(event.type, event.dump_json())


@settings(max_examples=400, deadline=None)
@given(
    index=st.integers(min_value=0, max_value=10**6),
    text=st.text(alphabet=st.characters(exclude_categories=["Cs"])),  # a lone surrogate is not UTF-8
)
def test_a_plain_text_delta_is_written_as_the_model_dump_writes_it(index: int, text: str) -> None:
    built = ContentBlockDeltaEvent.model_validate(
        {"type": "content_block_delta", "index": index, "delta": {"type": "text_delta", "text": text}}
    )
    assert event_frame(built) == _slow(built)


@pytest.mark.parametrize(
    "payload",
    [
        {"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": "a"}, "extra": 1},
        {"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": "a", "citation": None}},
        {"type": "content_block_delta", "index": 2, "delta": {"type": "input_json_delta", "partial_json": '{"a'}},
        {"type": "content_block_delta", "index": 1, "delta": {"type": "thinking_delta", "thinking": "hm"}},
        {"type": "content_block_delta", "index": 1, "delta": {"type": "future_delta", "x": [1, 2]}},
        {"type": "content_block_start", "index": 0, "content_block": {"type": "text", "text": ""}},
        {"type": "message_delta", "delta": {"stop_reason": "end_turn"}, "usage": {"output_tokens": 5}},
        {"type": "ping"},
        {"type": "message_stop"},
    ],
)
def test_every_other_event_is_written_by_the_model_dump(payload: dict[str, Any]) -> None:
    event = stream_event_adapter.validate_python(payload)
    assert event_frame(event) == _slow(event)
    assert event_frame(event).startswith(f"event: {payload['type']}\n".encode())
