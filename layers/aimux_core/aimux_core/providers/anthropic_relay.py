"""Same-dialect Anthropic streams: after the first content, unchanged frames go out as the upstream's bytes.

When: an Anthropic client that gets every event (the surface set ``RequestContext.raw_frames``)
served by first-party Anthropic without aimux-signed reasoning, the upstream whose events the
normaliser leaves unchanged. Everything else takes the event path of ``AnthropicProvider.stream``.

How (``relayed_stream``): the body is cut into frames at blank lines (``\\n\\n``); the frames of one
read that are all in the plain form ``event: NAME\\ndata: JSON`` are each parsed as one JSON value, and
validated in one pydantic call (a JSON array of their payloads), except plain text deltas: a payload that
is exactly ``{"type":"content_block_delta","index":N,"delta":{"type":"text_delta","text":S}}`` for the
open text block is relayed without a model when ``StreamNormaliser.passes_text_delta`` says feeding it
would change nothing (the text stream's common case: most of its events). Every other event is still fed
to ``StreamNormaliser``, so every check and error of the slow path happens at the same event: grammar,
tool input, ``event: error``, truncation, malformed payloads (a batch that fails validation is parsed
frame by frame exactly as the slow path parses it). What changes is the output: after the first content
event (which, like everything before it, is a canonical event: the dispatcher's failover until the first
content is untouched), a content or ``ping`` event that the normaliser passed on unchanged (same object,
same index, same tool id, ``event:`` name equal to its type) is not re-encoded: consecutive ones leave as
one ``RawFrames`` of the upstream's bytes. ``message_start``/``message_delta``/``message_stop`` stay
canonical events (accounting reads their usage; the normaliser completes them). For a client that did
not ask for thinking, nothing is relayed after a thinking block (``Relay``): the surface hides those by
dropping and re-indexing events. A ``\\r`` anywhere (CRLF framing) sends the rest of the stream through
the slow path's incremental ``SSEParser``.

On the wire: the relayed bytes are the upstream's, byte for byte; for an upstream that writes its
frames in canonical form (Anthropic's own: compact JSON, fields in the documented order) they are what
the slow path writes (``tests/providers/test_anthropic_relay.py`` runs both on the same streams).
Saved per event: the text SSE parse, the JSON dump and framing, and the per-event hops through the
dispatcher, the surface's filters, the tally and the encoder.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from functools import cache
from typing import Any

from pydantic import TypeAdapter
from pydantic_core import from_json

from ..translate.upstream_errors import PARSE_FAULTS
from ..wire.anthropic import (
    ContentBlockStartEvent,
    EventStream,
    RedactedThinkingBlock,
    StreamEvent,
    ThinkingBlock,
    ToolUseBlock,
    stream_event_adapter,
)
from ..wire.raw_frames import raw_frames
from ..wire.sse import SSEParser
from .anthropic_stream import StreamNormaliser

_FRAME_END = b"\n\n"
_EVENT = b"event: "
_DATA = b"data: "
_DELTA = "content_block_delta"
_MAX_INDEX = 2**31
_RELAYED = frozenset({"content_block_start", "content_block_delta", "content_block_stop", "ping"})


@cache
def _batch() -> TypeAdapter[list[StreamEvent]]:
    """The payloads of one read's frames, validated in one call (built on the first relayed stream)."""
    return TypeAdapter(list[StreamEvent])


def _plain(frame: bytes) -> tuple[str, bytes] | None:
    """(NAME, JSON) of a frame ``event: NAME\\ndata: JSON``; None for any other form."""
    if not frame.startswith(_EVENT) or frame.count(b"\n") != 1:
        return None
    newline = frame.index(b"\n")
    if not frame.startswith(_DATA, newline + 1):
        return None
    return frame[len(_EVENT) : newline].decode("ascii", "replace"), frame[newline + 1 + len(_DATA) :]


def _fingerprint(event: StreamEvent) -> tuple[Any, Any]:
    """What the normaliser may rewrite in place in an event it passes on: the block index, a tool id."""
    block_id = None
    if isinstance(event, ContentBlockStartEvent) and isinstance(event.content_block, ToolUseBlock):
        block_id = event.content_block.id
    return getattr(event, "index", None), block_id


def _is_thinking_start(event: StreamEvent) -> bool:
    return isinstance(event, ContentBlockStartEvent) and isinstance(
        event.content_block, ThinkingBlock | RedactedThinkingBlock
    )


@dataclass(slots=True)
class Relay:
    """Whether frames may still be relayed. ``hides_thinking``: the client did not ask for thinking, so
    the surface filters thinking blocks out and re-indexes the rest (``hide_thinking``), which it can
    only do on events: from the first thinking block on (an upstream sending one unasked), nothing
    more is relayed."""

    hides_thinking: bool
    on: bool = True


def _slow(frames: list[bytes], normaliser: StreamNormaliser) -> Iterator[StreamEvent]:
    """Frames parsed one by one and normalised: the event path, for frames the batch cannot take."""
    parser = SSEParser()
    for frame in frames:
        for sse in parser.feed(frame + _FRAME_END):
            yield from normaliser.feed_sse(sse)


def relay_frames(frames: list[bytes], normaliser: StreamNormaliser, relay: Relay) -> Iterator[StreamEvent]:
    """The events of complete frames (without their blank lines); unchanged content after the first
    content event as ``RawFrames`` of the frames themselves. A generator, as the event path is: what
    came before a frame that raises is produced before the error."""
    names: list[str] = []
    payloads: list[bytes] = []
    for frame in frames:
        plain = _plain(frame)
        if plain is None:
            yield from _slow(frames, normaliser)
            return
        names.append(plain[0])
        payloads.append(plain[1])
    try:
        texts = [_text_delta_index(from_json(p)) if n == _DELTA else None for n, p in zip(names, payloads, strict=True)]
        rest = [i for i, index in enumerate(texts) if index is None]
        validated = _batch().validate_json(b"[" + b",".join(payloads[i] for i in rest) + b"]") if rest else []
        events: dict[int, StreamEvent] = dict(zip(rest, validated, strict=True))
    except PARSE_FAULTS:  # one of them needs the slow path's repairs, or raises its error there
        yield from _slow(frames, normaliser)
        return
    run: int | None = None  # first frame of the current run of unchanged events
    stop = len(frames)  # frames after message_stop are ignored, as the normaliser ignores them
    i = 0
    try:
        for i, text_index in enumerate(texts):
            if normaliser.done:
                stop = i
                break
            if (
                text_index is not None
                and relay.on
                and normaliser.content_started
                and normaliser.passes_text_delta(text_index)  # feeding it would change nothing: not built
            ):
                if run is None:
                    run = i
                continue
            event = events[i] if text_index is None else stream_event_adapter.validate_json(payloads[i])
            if relay.hides_thinking and _is_thinking_start(event):
                relay.on = False
            relayable = relay.on and normaliser.content_started and names[i] in _RELAYED and event.type == names[i]
            before = _fingerprint(event) if relayable else None
            fed = normaliser.feed(event)
            if relayable and len(fed) == 1 and fed[0] is event and _fingerprint(event) == before:
                if run is None:
                    run = i
                continue
            if run is not None:
                yield raw_frames(_FRAME_END.join(frames[run:i]) + _FRAME_END)
                run = None
            yield from fed
    except Exception:  # the normaliser raised at event i: the unchanged frames before it leave first
        if run is not None:
            yield raw_frames(_FRAME_END.join(frames[run:i]) + _FRAME_END)
        raise
    if run is not None:
        yield raw_frames(_FRAME_END.join(frames[run:stop]) + _FRAME_END)


def _text_delta_index(payload: Any) -> int | None:
    """The block index of a payload that is exactly a plain text delta, else None.

    Exactly: ``{"type": "content_block_delta", "index": N, "delta": {"type": "text_delta", "text": S}}``
    with no other key, ``N`` a JSON integer in ``[0, 2**31)`` and ``S`` a string: a payload the slow path
    validates into a ``ContentBlockDeltaEvent`` holding a ``TextDelta`` without fail and without
    coercion (anything else, extra keys included, is validated as before).
    """
    if type(payload) is not dict or len(payload) != 3 or payload.get("type") != "content_block_delta":
        return None
    index, delta = payload.get("index"), payload.get("delta")
    if type(index) is not int or not 0 <= index < _MAX_INDEX:
        return None
    if type(delta) is not dict or len(delta) != 2 or delta.get("type") != "text_delta":
        return None
    return index if type(delta.get("text")) is str else None


async def relayed_stream(
    chunks: AsyncIterator[bytes], normaliser: StreamNormaliser, *, hides_thinking: bool
) -> EventStream:
    """The events of an Anthropic SSE body (see the module docstring); ends after ``message_stop``
    (the caller drains and closes ``chunks``) or raises where the event path raises. ``hides_thinking``:
    the request did not ask for thinking (``Relay``)."""
    relay = Relay(hides_thinking)
    parser: SSEParser | None = None  # set on the first \r: the slow path's parser from then on
    tail = b""
    async for chunk in chunks:
        if parser is None and b"\r" in chunk:
            parser, chunk, tail = SSEParser(), tail + chunk, b""
        if parser is not None:
            for sse in parser.feed(chunk):
                for event in normaliser.feed_sse(sse):
                    yield event
        else:
            data = tail + chunk if tail else chunk
            cut = data.rfind(_FRAME_END)
            if cut < 0:
                tail = data
                continue
            frames, tail = data[:cut].split(_FRAME_END), data[cut + 2 :]
            for event in relay_frames([f for f in frames if f], normaliser, relay):
                yield event
        if normaliser.done:
            return
    parser = parser or SSEParser()
    for sse in (*parser.feed(tail), *parser.finish()):  # a last frame without its blank line still counts
        for event in normaliser.feed_sse(sse):
            yield event
    normaliser.finish()
