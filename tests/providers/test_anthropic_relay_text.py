"""The relay's text fast path (``anthropic_relay._text_delta_index`` + ``StreamNormaliser.passes_text_delta``).

A plain text delta for the open text block is relayed without building its event model. Each case here
runs the same frames, as one read, through ``relay_frames`` and through the event path (the SSE parser
and the normaliser, as ``AnthropicProvider.stream`` does without the relay) and requires the same
frames on the wire (event names and decoded payloads: the relay keeps the upstream's key order) and
the same error, for the shapes the fast path must take and every near miss it must leave to the
models: extra keys, a float index, a text that is not a string, a delta in a tool or a signed thinking
block, a delta after a tool input that did not parse, a payload holding two JSON values.
"""

from __future__ import annotations

import json
import re
from typing import Any

import pytest

from aimux_core.errors import UpstreamError
from aimux_core.providers.anthropic_relay import Relay, relay_frames
from aimux_core.providers.anthropic_stream import StreamNormaliser
from aimux_core.wire.anthropic import StreamEvent
from aimux_core.wire.raw_frames import RawFrames
from aimux_core.wire.sse import SSEParser, anthropic_frame

START = (
    '{"type":"message_start","message":{"id":"msg_1","type":"message","role":"assistant","content":[],'
    '"model":"m","stop_reason":null,"stop_sequence":null,"usage":{"input_tokens":3,"output_tokens":1}}}'
)
TEXT_START = '{"type":"content_block_start","index":0,"content_block":{"type":"text","text":""}}'
TOOL_START = '{"type":"content_block_start","index":0,"content_block":{"type":"tool_use","id":"toolu_1","name":"Bash","input":{}}}'
THINKING_START = '{"type":"content_block_start","index":0,"content_block":{"type":"thinking","thinking":""}}'
STOP = '{"type":"content_block_stop","index":0}'
END = (
    '{"type":"message_delta","delta":{"stop_reason":"end_turn","stop_sequence":null},"usage":{"output_tokens":5}}',
    '{"type":"message_stop"}',
)


def _delta(text: str = "hi", index: Any = 0) -> str:
    return json.dumps({"type": "content_block_delta", "index": index, "delta": {"type": "text_delta", "text": text}})


_TYPE = re.compile(r'"type": ?"(\w+)"')


def _frames(*payloads: str) -> list[bytes]:
    """``event: TYPE`` + ``data: PAYLOAD`` frames, TYPE the payload's first ``type`` (it need not parse)."""
    frames = []
    for payload in payloads:
        found = _TYPE.search(payload)
        assert found is not None
        frames.append(f"event: {found[1]}\ndata: {payload}".encode())
    return frames


def _wire(events: list[StreamEvent]) -> list[tuple[str, Any]]:
    """(event name, decoded payload) of every frame the surface would write."""
    raw = b"".join(e.frames if isinstance(e, RawFrames) else anthropic_frame(e.type, e.dump_json()) for e in events)
    out = []
    for frame in raw.split(b"\n\n"):
        if frame:
            name, data = frame.split(b"\n", 1)
            out.append((name.decode(), json.loads(data[len(b"data: ") :])))
    return out


def _relayed(frames: list[bytes], normaliser: StreamNormaliser) -> tuple[list[StreamEvent], Exception | None]:
    events: list[StreamEvent] = []
    try:
        events.extend(relay_frames(frames, normaliser, Relay(hides_thinking=False)))
    except UpstreamError as error:
        return events, error
    return events, None


def _event_path(frames: list[bytes], normaliser: StreamNormaliser) -> tuple[list[StreamEvent], Exception | None]:
    events: list[StreamEvent] = []
    parser = SSEParser()
    try:
        for frame in frames:
            for sse in parser.feed(frame + b"\n\n"):
                events.extend(normaliser.feed_sse(sse))
    except UpstreamError as error:
        return events, error
    return events, None


def _same(payloads: tuple[str, ...], provider: str = "anthropic", sign: bool = False) -> list[StreamEvent]:
    """Both paths on the frames; asserts the same wire and error, returns the relay's events."""
    relayed, relay_error = _relayed(_frames(*payloads), StreamNormaliser(provider, "claude-x", sign_thinking=sign))
    slow, slow_error = _event_path(_frames(*payloads), StreamNormaliser(provider, "claude-x", sign_thinking=sign))
    assert _wire(relayed) == _wire(slow)
    assert (type(relay_error), str(relay_error)) == (type(slow_error), str(slow_error))
    return relayed


def _raw_count(events: list[StreamEvent]) -> int:
    return sum(e.frames.count(b"event: ") for e in events if isinstance(e, RawFrames))


def test_plain_text_deltas_are_relayed_as_the_upstream_bytes() -> None:
    payloads = (START, TEXT_START, _delta("one "), _delta("two"), _delta(' "quoted" \\ é ☃ \n'), STOP, *END)
    relayed = _same(payloads)
    assert _raw_count(relayed) == 3  # the three deltas, one run (the stop is rebuilt by the normaliser)
    raw = b"".join(e.frames for e in relayed if isinstance(e, RawFrames))
    assert raw.startswith(_frames(_delta("one "))[0])


def test_keys_in_another_order_still_take_the_fast_path() -> None:
    reordered = '{"delta":{"text":"x","type":"text_delta"},"index":0,"type":"content_block_delta"}'
    frames = [*_frames(START, TEXT_START), b"event: content_block_delta\ndata: " + reordered.encode()]
    relayed, error = _relayed(frames, StreamNormaliser("anthropic", "claude-x"))
    slow, slow_error = _event_path(frames, StreamNormaliser("anthropic", "claude-x"))
    assert error is None and slow_error is None and _wire(relayed) == _wire(slow)
    assert [e.frames for e in relayed if isinstance(e, RawFrames)] == [frames[2] + b"\n\n"]


@pytest.mark.parametrize(
    "delta",
    [
        '{"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"x"},"extra":1}',
        '{"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"x","extra":[1]}}',
        '{"type":"content_block_delta","index":0.0,"delta":{"type":"text_delta","text":"x"}}',
        '{"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":5}}',
        '{"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":null}}',
        '{"type":"content_block_delta","index":0,"delta":{"type":"text_delta"}}',
        '{"type":"content_block_delta","index":true,"delta":{"type":"text_delta","text":"x"}}',
        '{"type":"content_block_delta","index":-1,"delta":{"type":"text_delta","text":"x"}}',
        '{"type":"content_block_delta","index":99999999999999999999,"delta":{"type":"text_delta","text":"x"}}',
        '{"type":"content_block_delta","index":1,"delta":{"type":"text_delta","text":"x"}}',
        '{"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"x"}},{"type":"ping"}',
        '{"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"x"}',
    ],
    ids=[
        "extra_key", "extra_delta_key", "float_index", "number_text", "null_text", "no_text",
        "bool_index", "negative_index", "huge_index", "block_not_open", "two_values", "not_json",
    ],
)  # fmt: skip
def test_near_misses_behave_as_on_the_event_path(delta: str) -> None:
    frames = (START, TEXT_START, _delta("a"), delta, _delta("b"), STOP, *END)
    _same(frames)


def test_a_text_delta_in_a_tool_block_goes_through_the_normaliser() -> None:
    _same((START, TOOL_START, _delta("x"), STOP, *END))


def test_a_text_delta_in_a_signed_thinking_block_goes_through_the_normaliser() -> None:
    relayed = _same((START, THINKING_START, _delta("x"), STOP, *END), provider="deepseek", sign=True)
    assert any(e.type == "content_block_delta" and e.delta.type == "signature_delta" for e in relayed)  # type: ignore[union-attr]


def test_a_text_delta_after_a_tool_input_that_did_not_parse_fails_as_on_the_event_path() -> None:
    tool_delta = '{"type":"content_block_delta","index":0,"delta":{"type":"input_json_delta","partial_json":"<x"}}'
    text_start = '{"type":"content_block_start","index":1,"content_block":{"type":"text","text":""}}'
    payloads = (START, TOOL_START, tool_delta, STOP, text_start, _delta("x", index=1), *END)
    _, error = _relayed(_frames(*payloads), StreamNormaliser("glm", "claude-x"))
    assert error is not None and "not a JSON object" in str(error)
    _same(payloads, provider="glm")


def test_nothing_after_message_stop_is_relayed() -> None:
    relayed = _same((START, TEXT_START, _delta("a"), STOP, *END, _delta("late")))
    assert b"late" not in b"".join(e.frames for e in relayed if isinstance(e, RawFrames))
