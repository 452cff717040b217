"""The relayed Anthropic stream (``providers/anthropic_relay.py``) against the event path, on the same streams.

Each case streams one scripted reply from the fake Anthropic upstream (real HTTP) through the real
adapter twice: with ``RequestContext.raw_frames`` (relay) and without (the event path, as for any other
client). Both event lists are written as the Anthropic surface writes them; the bytes must be equal
(the fake writes canonical frames, as Anthropic does), the relay must have forwarded the content as
``RawFrames`` (the upstream's own bytes), and a failing stream must fail the same way after the same
bytes. Plus the cases where the relay must not relay: an upstream whose events the normaliser rewrites.
"""

from __future__ import annotations

import re
from typing import Any

import pytest
from anthropic_adapter_helpers import REPLIES, Make, make, request  # noqa: F401

from aimux_core.errors import UpstreamError
from aimux_core.providers.anthropic_relay import Relay, relay_frames
from aimux_core.providers.anthropic_stream import StreamNormaliser
from aimux_core.providers.base import RequestContext, UpstreamCall
from aimux_core.wire.anthropic import StreamEvent
from aimux_core.wire.raw_frames import RawFrames
from aimux_core.wire.sse import anthropic_frame
from fakes.anthropic_upstream import AnthropicUpstream
from fakes.fixtures import anthropic_upstream  # noqa: F401
from fakes.script import Fault, Quirk, Reply

pytestmark = pytest.mark.anyio


def _wire(events: list[StreamEvent]) -> bytes:
    """What ``surfaces/messages._AnthropicFrames`` writes for these events."""
    return b"".join(e.frames if isinstance(e, RawFrames) else anthropic_frame(e.type, e.dump_json()) for e in events)


async def _run(provider: Any, relay: bool) -> tuple[list[StreamEvent], Exception | None]:
    """The events of one stream, and the error it ended with (None: it ended well)."""
    context = RequestContext("req_relay", raw_frames=relay)
    events: list[StreamEvent] = []
    try:
        thinking = {"type": "enabled", "budget_tokens": 512}  # as Claude Code asks: every event reaches it
        async for event in provider.stream(UpstreamCall(request(stream=True, thinking=thinking), "up", context)):
            events.append(event)
    except UpstreamError as error:
        return events, error
    return events, None


async def _both(fake: AnthropicUpstream, build: Make, reply: Reply | Fault) -> tuple[Any, Any]:
    provider = build(fake)
    fake.enqueue(reply)
    relayed = await _run(provider, True)
    fake.enqueue(reply)
    slow = await _run(provider, False)
    return relayed, slow


def _same_wire(relayed: list[StreamEvent], slow: list[StreamEvent]) -> None:
    ids = re.compile(rb'"id":"msg_[A-Za-z0-9_]+"')
    assert ids.sub(b"", _wire(relayed)) == ids.sub(b"", _wire(slow))


@pytest.mark.parametrize("case", sorted(REPLIES))
async def test_relayed_bytes_equal_the_event_path(
    anthropic_upstream: AnthropicUpstream,  # noqa: F811
    make: Make,  # noqa: F811
    case: str,
) -> None:
    (relayed, relay_error), (slow, slow_error) = await _both(anthropic_upstream, make, REPLIES[case])
    assert relay_error is None and slow_error is None
    _same_wire(relayed, slow)
    raw = [e for e in relayed if isinstance(e, RawFrames)]
    assert raw, "nothing was relayed"
    assert not any(isinstance(e, RawFrames) for e in slow)
    # Usage and the stream's ends stay events: what the tally and the dispatcher read.
    kinds = [e.type for e in relayed if not isinstance(e, RawFrames)]
    assert kinds[0] == "message_start" and kinds[-2:] == ["message_delta", "message_stop"]
    # The first content event is an event too: the dispatcher commits to the upstream on it.
    assert kinds[1] == "content_block_start"


async def test_paced_stream_relays_each_read(
    anthropic_upstream: AnthropicUpstream,  # noqa: F811
    make: Make,  # noqa: F811
) -> None:
    reply = Reply(text=[f"w{i} " for i in range(12)], chunk_delay=0.005)
    (relayed, _), (slow, _) = await _both(anthropic_upstream, make, reply)
    _same_wire(relayed, slow)
    assert sum(isinstance(e, RawFrames) for e in relayed) >= 6


@pytest.mark.parametrize("quirk", [Quirk.CRLF, Quirk.SSE_COMMENTS])
async def test_other_framing_gives_the_event_path_output(
    anthropic_upstream: AnthropicUpstream,  # noqa: F811
    make: Make,  # noqa: F811
    quirk: Quirk,
) -> None:
    reply = Reply(text="Hello there, friend.", chunk_size=4, quirks=frozenset({quirk}))
    (relayed, relay_error), (slow, slow_error) = await _both(anthropic_upstream, make, reply)
    assert relay_error is None and slow_error is None
    _same_wire(relayed, slow)


def _text_not_a_string(payload: Any) -> Any:
    if payload.get("type") != "content_block_delta":
        return payload
    return {**payload, "delta": {"type": "text_delta", "text": 5}}


@pytest.mark.parametrize(
    "fault",
    [
        Fault.stream_error(after_events=5, error_type="overloaded_error", message="busy"),
        Fault.truncate(after_events=6),
        Fault.malformed_json(after_events=6),
        Fault.reshape(_text_not_a_string),
        Fault.disconnect(after_events=6),
    ],
    ids=["stream_error", "truncate", "malformed_json", "reshape", "disconnect"],
)
async def test_failures_are_the_same_after_the_same_bytes(
    anthropic_upstream: AnthropicUpstream,  # noqa: F811
    make: Make,  # noqa: F811
    fault: Fault,
) -> None:
    (relayed, relay_error), (slow, slow_error) = await _both(anthropic_upstream, make, fault)
    assert relay_error is not None and slow_error is not None
    assert (type(relay_error), relay_error.kind, relay_error.status, relay_error.retryable) == (
        type(slow_error), slow_error.kind, slow_error.status, slow_error.retryable,
    )  # fmt: skip
    assert relay_error.message == slow_error.message
    _same_wire(relayed, slow)


def _frames(*events: str) -> list[bytes]:
    return [f"event: {e.split(':', 1)[0]}\ndata: {e.split(':', 1)[1]}".encode() for e in events]


START = (
    'message_start:{"type":"message_start","message":{"id":"msg_1","type":"message","role":"assistant",'
    '"content":[],"model":"m","stop_reason":null,"stop_sequence":null,"usage":{"input_tokens":3,"output_tokens":1}}}'
)


def test_events_the_normaliser_rewrites_are_not_relayed() -> None:
    """A tool id outside [a-zA-Z0-9_-] (Kimi's) is re-encoded by the normaliser: that frame leaves as an
    event, the unchanged deltas around it as the upstream's bytes."""
    normaliser = StreamNormaliser("kimi", "claude-x")
    frames = _frames(
        START,
        'content_block_start:{"type":"content_block_start","index":0,"content_block":{"type":"text","text":""}}',
        'content_block_delta:{"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"a"}}',
        'content_block_stop:{"type":"content_block_stop","index":0}',
        'content_block_start:{"type":"content_block_start","index":1,"content_block":{"type":"tool_use","id":"functions.Bash:0","name":"Bash","input":{}}}',
        'content_block_delta:{"type":"content_block_delta","index":1,"delta":{"type":"input_json_delta","partial_json":"{}"}}',
    )
    out = list(relay_frames(frames, normaliser, Relay(hides_thinking=False)))
    kinds = [e.type if not isinstance(e, RawFrames) else "raw" for e in out]
    assert kinds == ["message_start", "content_block_start", "raw", "content_block_stop", "content_block_start", "raw"]
    tool_start = out[4]
    assert tool_start.content_block.id != "functions.Bash:0"  # type: ignore[union-attr]
    assert out[2].frames == frames[2] + b"\n\n"  # type: ignore[union-attr]


def test_a_tool_input_that_is_not_json_fails_as_on_the_event_path() -> None:
    frames = _frames(
        START,
        'content_block_start:{"type":"content_block_start","index":0,"content_block":{"type":"tool_use","id":"toolu_1","name":"Bash","input":{}}}',
        'content_block_delta:{"type":"content_block_delta","index":0,"delta":{"type":"input_json_delta","partial_json":"<arg>ls"}}',
        'content_block_stop:{"type":"content_block_stop","index":0}',
        'message_delta:{"type":"message_delta","delta":{"stop_reason":"tool_use","stop_sequence":null},"usage":{"output_tokens":5}}',
    )
    with pytest.raises(UpstreamError, match="not a JSON object"):
        list(relay_frames(frames, StreamNormaliser("glm", "claude-x"), Relay(hides_thinking=False)))


THINKING = [
    START,
    'content_block_start:{"type":"content_block_start","index":0,"content_block":{"type":"text","text":""}}',
    'content_block_delta:{"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"a"}}',
    'content_block_stop:{"type":"content_block_stop","index":0}',
    'content_block_start:{"type":"content_block_start","index":1,"content_block":{"type":"thinking","thinking":""}}',
    'content_block_delta:{"type":"content_block_delta","index":1,"delta":{"type":"thinking_delta","thinking":"x"}}',
    'content_block_stop:{"type":"content_block_stop","index":1}',
    'content_block_start:{"type":"content_block_start","index":2,"content_block":{"type":"text","text":""}}',
    'content_block_delta:{"type":"content_block_delta","index":2,"delta":{"type":"text_delta","text":"b"}}',
]


@pytest.mark.parametrize("hides", [True, False])
def test_nothing_is_relayed_after_a_thinking_block_the_client_will_not_see(hides: bool) -> None:
    """The surface hides thinking from a client that did not ask for it by dropping and re-indexing
    events: from an unasked thinking block on, frames stay events so it can."""
    out = list(relay_frames(_frames(*THINKING), StreamNormaliser("anthropic", "claude-x"), Relay(hides_thinking=hides)))
    kinds = [e.type if not isinstance(e, RawFrames) else "raw" for e in out]
    if hides:
        assert kinds[3:] == ["content_block_stop", "content_block_start", "content_block_delta",
                             "content_block_stop", "content_block_start", "content_block_delta"]  # fmt: skip
    else:
        assert kinds[3:] == ["content_block_stop", "raw", "content_block_stop", "raw"]


@pytest.mark.parametrize(
    "bad",
    [
        'content_block_delta:{"type":"content_block_delta","index":0,"delta":{"type":[],"text":"x"}}',  # malformed
        # a delta for a block that is not open: the normaliser's grammar check
        'content_block_delta:{"type":"content_block_delta","index":7,"delta":{"type":"text_delta","text":"x"}}',
        'error:{"type":"error","error":{"type":"overloaded_error","message":"busy"}}',  # the upstream's error
    ],
    ids=["malformed", "grammar", "error_event"],
)
def test_what_came_before_a_failing_frame_of_the_same_read_leaves_before_the_error(bad: str) -> None:
    """One read holding good frames and then a failing one: as on the event path, the good ones are
    produced (the relayed ones as RawFrames) before the error, never dropped with it."""
    good = [
        START,
        'content_block_start:{"type":"content_block_start","index":0,"content_block":{"type":"text","text":""}}',
        'content_block_delta:{"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"one "}}',
        'content_block_delta:{"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"two "}}',
    ]
    frames = _frames(*good, bad)
    produced: list[StreamEvent] = []
    with pytest.raises(UpstreamError):
        for event in relay_frames(frames, StreamNormaliser("anthropic", "claude-x"), Relay(hides_thinking=False)):
            produced.append(event)
    assert _wire(produced).count(b"event: ") == 4
    assert b'"text":"one "' in _wire(produced) and b'"text":"two "' in _wire(produced)
