"""The OpenAI-dialect relay for an Anthropic client (``providers/openai_relay.py`` ``AnthropicPieces``)
against the event path, on the same streams.

Each case streams one scripted reply from the fake OpenAI-compatible upstream (real HTTP) through the
real adapter twice: with ``RequestContext.raw_frames`` (what the messages surface sets: the relay) and
without (the event path), and writes both as the messages surface does: ``hide_thinking`` when the request
does not ask for thinking, then ``_AnthropicFrames`` (or its error frame, as ``Exchange._encode`` writes
it). The client's bytes must be equal, byte for byte. Only the message id is masked: the fake mints a new
upstream id per request, and the message id is made from it. Then every split of the raw bodies the
script cannot write into reads gives the event path's bytes.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import AsyncIterator

import httpx
import pytest

from aimux_core.errors import AimuxError
from aimux_core.presets import preset
from aimux_core.providers.base import RequestContext, UpstreamCall
from aimux_core.providers.openai import OpenAIProvider, _Reader
from aimux_core.providers.openai_relay import AnthropicPieces, ChunkRelay, relayed_events
from aimux_core.surfaces.messages import _AnthropicFrames
from aimux_core.translate.client_thinking import hide_thinking, thinking_enabled
from aimux_core.translate.openai_stream_decode import ChatChunkDecoder
from aimux_core.wire.anthropic import EventStream, MessagesRequest, StreamEvent
from aimux_core.wire.raw_frames import RawFrames
from aimux_core.wire.sse import aiter_sse
from fakes import Fault, OpenAIUpstream, Reply
from fakes.fixtures import openai_upstream  # noqa: F401
from support.openai_relay_cases import (
    BODIES,
    MIDSTREAM_FAULTS,
    REPLIES,
    TOOLS,
    WORDS,
    Outcome,
    both_paths,
    read_splits,
    reads_of,
    relay_provider,
    relay_request,
    surface_bytes,
)

pytestmark = pytest.mark.anyio

THINKING = {"asked": {"thinking": {"type": "enabled", "budget_tokens": 1024}}, "not_asked": {}}


@pytest.fixture
async def http() -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient() as client:
        yield client


async def _collect(events: EventStream) -> Outcome:
    out: list[StreamEvent] = []
    try:
        async for event in events:
            out.append(event)
    except AimuxError as error:
        return out, error
    return out, None


def _as_surface(events: EventStream, request: MessagesRequest) -> EventStream:
    """What the messages surface streams for ``request`` (``surfaces/messages.py``)."""
    return events if thinking_enabled(request) else hide_thinking(events)


async def _run(provider: OpenAIProvider, relay: bool, request: MessagesRequest) -> Outcome:
    context = RequestContext("req_relay", raw_frames=relay)
    return await _collect(_as_surface(provider.stream(UpstreamCall(request, "up-model", context)), request))


def _client_bytes(events: list[StreamEvent], error: AimuxError | None) -> bytes:
    """What the messages surface writes for these events (``Exchange._encode`` with ``_AnthropicFrames``)."""
    return surface_bytes(_AnthropicFrames(), events, error)


def _masked(wire: bytes) -> bytes:
    return re.sub(rb'"id":"(msg_|chatcmpl-)[A-Za-z0-9_-]+"', b'"id":"msg_"', wire)


async def _both(
    fake: OpenAIUpstream, http: httpx.AsyncClient, reply: Reply | Fault, request: MessagesRequest, name: str = "openai"
) -> tuple[Outcome, Outcome]:
    provider = relay_provider(fake, http, name)
    return await both_paths(fake, reply, lambda relay: _run(provider, relay, request))


def _same(relayed: Outcome, slow: Outcome) -> bytes:
    wire = _client_bytes(*relayed)
    assert _masked(wire) == _masked(_client_bytes(*slow))
    assert not any(isinstance(e, RawFrames) for e in slow[0])
    return wire


def _relayed(outcome: Outcome) -> list[RawFrames]:
    return [e for e in outcome[0] if isinstance(e, RawFrames)]


@pytest.mark.parametrize("thinking", sorted(THINKING))
@pytest.mark.parametrize("case", sorted(REPLIES))
async def test_the_client_gets_the_same_bytes_on_both_paths(
    openai_upstream: OpenAIUpstream,  # noqa: F811
    http: httpx.AsyncClient,
    case: str,
    thinking: str,
) -> None:
    reply = REPLIES[case]
    relayed, slow = await _both(openai_upstream, http, reply, relay_request(**THINKING[thinking]))
    assert relayed[1] is None and slow[1] is None
    wire = _same(relayed, slow)
    assert wire.endswith(b'event: message_stop\ndata: {"type":"message_stop"}\n\n')
    hidden_first = thinking == "not_asked" and bool(reply.reasoning)
    if len(reply.text_pieces()) >= 3 and case != "sse_comments" and not hidden_first:
        assert _relayed(relayed), "nothing was relayed"
    if hidden_first:  # a hidden thinking block came first: the surface re-indexes, so nothing is relayed
        assert not _relayed(relayed) and b"thinking" not in wire
    kinds = [e.type for e in relayed[0] if not isinstance(e, RawFrames)]
    assert kinds[:2] == ["message_start", "content_block_start"]
    assert kinds[-2:] == ["message_delta", "message_stop"]


async def test_thinking_the_client_asked_for_stays_events_and_the_text_after_it_is_relayed(
    openai_upstream: OpenAIUpstream,  # noqa: F811
    http: httpx.AsyncClient,
) -> None:
    reply = Reply(reasoning=[f"r{i} " for i in range(6)], text=WORDS)
    relayed, slow = await _both(openai_upstream, http, reply, relay_request(**THINKING["asked"]))
    wire = _same(relayed, slow)
    thinking = [e for e in relayed[0] if e.type == "content_block_delta" and e.delta.type == "thinking_delta"]  # type: ignore[union-attr]
    assert len(thinking) == 6
    raw = _relayed(relayed)
    assert raw and raw[0].frames.startswith(
        b'event: content_block_delta\ndata: {"type":"content_block_delta","index":1,'
    )
    assert b'"signature_delta"' in wire, "the thinking block is signed at its end, as on the event path"


async def test_a_deepseek_stream_with_tools_relays_its_text(
    openai_upstream: OpenAIUpstream,  # noqa: F811
    http: httpx.AsyncClient,
) -> None:
    """An ``echo`` preset: the gateway keeps the reasoning from its events; the text is still relayed."""
    reply = Reply(reasoning=[f"r{i} " for i in range(4)], text=WORDS)
    relayed, slow = await _both(openai_upstream, http, reply, relay_request(**THINKING["asked"]), name="deepseek")
    _same(relayed, slow)
    assert _relayed(relayed)


@pytest.mark.parametrize("fault", MIDSTREAM_FAULTS.values(), ids=MIDSTREAM_FAULTS.keys())
async def test_failures_are_the_same_after_the_same_bytes(
    openai_upstream: OpenAIUpstream,  # noqa: F811
    http: httpx.AsyncClient,
    fault: Fault,
) -> None:
    fault = dataclasses.replace(fault, reply=Reply(text=WORDS))
    relayed, slow = await _both(openai_upstream, http, fault, relay_request())
    relay_error, slow_error = relayed[1], slow[1]
    assert relay_error is not None and slow_error is not None
    assert (type(relay_error), relay_error.kind, relay_error.status, relay_error.message) == (
        type(slow_error), slow_error.kind, slow_error.status, slow_error.message,
    )  # fmt: skip
    wire = _same(relayed, slow)
    assert b"word4 " in wire and wire.endswith(b'"}}\n\n') and b"event: error" in wire
    assert _relayed(relayed)


STUB = OpenAIProvider("openai", preset("openai"), "sk-test", base_url="http://127.0.0.1:9")  # its chunk parser


async def _decoded(reads: list[bytes], relay: bool, hides_thinking: bool) -> Outcome:
    """The adapter's reading of a body that arrives in ``reads``: the relay, or the event path's loop."""

    decoder = ChatChunkDecoder(model="claude-client", input_tokens=5, provider="openai", tool_names=TOOLS)
    reader = _Reader(decoder, STUB._chunk, "openai")

    async def events() -> EventStream:
        if relay:
            pieces = AnthropicPieces(hides_thinking=hides_thinking)
            async for event in relayed_events(reads_of(reads), ChunkRelay(reader, pieces)):
                yield event
        else:
            async for sse in aiter_sse(reads_of(reads)):
                for event in reader.feed(sse.data):
                    yield event
                if reader.ended:
                    break
        for event in decoder.finish():
            yield event

    return await _collect(hide_thinking(events()) if hides_thinking else events())


@pytest.mark.parametrize("hides_thinking", [False, True])
@pytest.mark.parametrize("case", sorted(BODIES))
async def test_every_split_of_a_body_gives_the_event_paths_bytes(case: str, hides_thinking: bool) -> None:
    """The body cut into two reads at every byte (and read at once, and byte by byte): the relay's
    client bytes equal the event path's for the body read at once."""
    body = BODIES[case]
    reference = _client_bytes(*await _decoded([body], False, hides_thinking))
    for reads in read_splits(body):
        assert _client_bytes(*await _decoded(reads, True, hides_thinking)) == reference, (case, [len(r) for r in reads])


async def test_the_plain_body_is_relayed_in_the_messages_surfaces_frames() -> None:
    events, error = await _decoded([BODIES["plain"]], True, True)
    assert error is None
    (raw,) = [e for e in events if isinstance(e, RawFrames)]
    head = b'event: content_block_delta\ndata: {"type":"content_block_delta","index":0,'
    frames = [
        head + b'"delta":{"type":"text_delta","text":"%s"}}\n\n' % word for word in (b"two ", b"three ", b"four ")
    ]
    assert raw.frames == b"".join(frames)
