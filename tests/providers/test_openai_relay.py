"""The OpenAI→OpenAI relay (``providers/openai_relay.py``) against the event path, on the same streams.

Each case streams one scripted reply from the fake OpenAI-compatible upstream (real HTTP) through the
real adapter twice: with ``RequestContext.chat_form`` (relay) and without (the event path, as for an
Anthropic client), and writes both event lists as the chat surface writes them (``_ChatFrames``, its
closing frames or its error frame). The client's bytes must be equal, byte for byte: the relay rebuilds
each chunk it takes in the surface's own form. Only the upstream's ``chatcmpl-`` id is masked, because
the fake mints a new one per request; within a stream the relay and the event path use the same one.
Then the relay itself: every split of one stream into reads gives the same bytes, and the bodies the
fake's script cannot write (invalid UTF-8, lone surrogates, Groq usage, ``data:`` without its space,
frames after ``[DONE]``) come out as on the event path.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from aimux_core.errors import AimuxError
from aimux_core.presets import preset
from aimux_core.providers.base import RequestContext, UpstreamCall
from aimux_core.providers.openai import OpenAIProvider, _Reader
from aimux_core.providers.openai_relay import ChatPieces, ChunkRelay, piece_of, relayed_events
from aimux_core.surfaces.chat import _ChatFrames
from aimux_core.translate.openai_stream_decode import ChatChunkDecoder
from aimux_core.translate.openai_stream_encode import ChatChunkEncoder, ChunkForm
from aimux_core.wire.anthropic import MessagesRequest, StreamEvent
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

FORMS = {
    "plain": ChunkForm(model="gpt-client", created=1767225600),
    "usage": ChunkForm(model="gpt-client", created=1767225600, include_usage=True),
    "reasoning": ChunkForm(model="gpt-client", created=1767225600, include_usage=True, include_reasoning=True),
}


@pytest.fixture
async def http() -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient() as client:
        yield client


async def _run(
    provider: OpenAIProvider, form: ChunkForm | None, request: MessagesRequest | None = None
) -> tuple[list[StreamEvent], AimuxError | None]:
    """The events of one stream, and the error it ended with (None: it ended well)."""
    context = RequestContext("req_relay", chat_form=form)
    events: list[StreamEvent] = []
    try:
        async for event in provider.stream(UpstreamCall(request or relay_request(), "up-model", context)):
            events.append(event)
    except AimuxError as error:
        return events, error
    return events, None


def _client_bytes(events: list[StreamEvent], error: AimuxError | None, form: ChunkForm) -> bytes:
    """What the chat surface writes for these events (``Exchange._encode`` with ``_ChatFrames``)."""
    encoder = ChatChunkEncoder(
        model=form.model,
        created=form.created,
        include_usage=form.include_usage,
        include_reasoning=form.include_reasoning,
        tool_names=TOOLS,
    )
    return surface_bytes(_ChatFrames(encoder), events, error)


def _masked(wire: bytes) -> bytes:
    return re.sub(rb'"id":"chatcmpl-[A-Za-z0-9_-]+"', b'"id":"chatcmpl-"', wire)


async def _both(
    fake: OpenAIUpstream, http: httpx.AsyncClient, reply: Reply | Fault, form: ChunkForm, name: str = "openai"
) -> tuple[Outcome, Outcome]:
    provider = relay_provider(fake, http, name)
    return await both_paths(fake, reply, lambda relay: _run(provider, form if relay else None))


def _same(relayed: tuple[list[StreamEvent], Any], slow: tuple[list[StreamEvent], Any], form: ChunkForm) -> bytes:
    wire = _client_bytes(*relayed, form)
    assert _masked(wire) == _masked(_client_bytes(*slow, form))
    assert not any(isinstance(e, RawFrames) for e in slow[0])
    return wire


@pytest.mark.parametrize("form", sorted(FORMS))
@pytest.mark.parametrize("case", sorted(REPLIES))
async def test_the_client_gets_the_same_bytes_on_both_paths(
    openai_upstream: OpenAIUpstream,  # noqa: F811
    http: httpx.AsyncClient,
    case: str,
    form: str,
) -> None:
    relayed, slow = await _both(openai_upstream, http, REPLIES[case], FORMS[form])
    assert relayed[1] is None and slow[1] is None
    wire = _same(relayed, slow, FORMS[form])
    assert wire.endswith(b"data: [DONE]\n\n")
    raw = [e for e in relayed[0] if isinstance(e, RawFrames)]
    # The first piece opens the block (an event), the following ones are relayed, unless a comment line
    # shares every frame (not the plain form): then each frame is read by the event path's parser.
    if len(REPLIES[case].text_pieces()) >= 3 and case != "sse_comments":
        assert raw, "nothing was relayed"
    # Usage and the stream's ends stay events: what the tally and the dispatcher read.
    kinds = [e.type for e in relayed[0] if not isinstance(e, RawFrames)]
    assert kinds[0] == "message_start" and kinds[1] == "content_block_start"
    assert kinds[-2:] == ["message_delta", "message_stop"]
    assert [e.usage for e in relayed[0] if e.type == "message_delta"] == [
        e.usage for e in slow[0] if e.type == "message_delta"
    ]


async def test_a_paced_stream_relays_every_read(
    openai_upstream: OpenAIUpstream,  # noqa: F811
    http: httpx.AsyncClient,
) -> None:
    relayed, slow = await _both(openai_upstream, http, REPLIES["text_paced"], FORMS["usage"])
    _same(relayed, slow, FORMS["usage"])
    assert sum(isinstance(e, RawFrames) for e in relayed[0]) >= 6


async def test_unasked_reasoning_is_counted_but_not_shown(
    openai_upstream: OpenAIUpstream,  # noqa: F811
    http: httpx.AsyncClient,
) -> None:
    """Reasoning the client did not ask for: no frame, but its characters still estimate the output
    tokens when the upstream sends no usage (the same estimate on both paths)."""
    reply = Reply(reasoning=[f"r{i} " for i in range(10)], text=WORDS[:3], include_usage=False)
    relayed, slow = await _both(openai_upstream, http, reply, FORMS["plain"])
    wire = _same(relayed, slow, FORMS["plain"])
    assert b"reasoning" not in wire
    (delta,) = [e for e in relayed[0] if e.type == "message_delta"]
    assert delta.usage is not None and delta.usage.output_tokens == (10 * 3 + 3 * 6 + 3) // 4  # type: ignore[union-attr]


async def test_reasoning_an_echo_provider_keeps_stays_events(
    openai_upstream: OpenAIUpstream,  # noqa: F811
    http: httpx.AsyncClient,
) -> None:
    """DeepSeek with tools: the gateway keeps the answer's reasoning from its thinking events
    (``reasoning.ReasoningEcho.tap``), so those are not relayed; the text after them is."""
    reply = Reply(reasoning=[f"r{i} " for i in range(6)], text=WORDS)
    relayed, slow = await _both(openai_upstream, http, reply, FORMS["reasoning"], name="deepseek")
    _same(relayed, slow, FORMS["reasoning"])
    thinking = [e for e in relayed[0] if e.type == "content_block_delta" and e.delta.type == "thinking_delta"]  # type: ignore[union-attr]
    assert len(thinking) == 6
    assert any(isinstance(e, RawFrames) for e in relayed[0])


def _refusal(payload: Any) -> Any:
    choices = payload.get("choices") if isinstance(payload, dict) else None
    if choices and choices[0].get("delta", {}).get("content") == "word5 ":
        return {**payload, "choices": [{**choices[0], "delta": {"refusal": "I can't"}}]}
    return payload


@pytest.mark.parametrize("fault", MIDSTREAM_FAULTS.values(), ids=MIDSTREAM_FAULTS.keys())
async def test_failures_are_the_same_after_the_same_bytes(
    openai_upstream: OpenAIUpstream,  # noqa: F811
    http: httpx.AsyncClient,
    fault: Fault,
) -> None:
    fault = dataclasses.replace(fault, reply=Reply(text=WORDS))
    relayed, slow = await _both(openai_upstream, http, fault, FORMS["usage"])
    relay_error, slow_error = relayed[1], slow[1]
    assert relay_error is not None and slow_error is not None
    assert (type(relay_error), relay_error.kind, relay_error.status, relay_error.message) == (
        type(slow_error), slow_error.kind, slow_error.status, slow_error.message,
    )  # fmt: skip
    wire = _same(relayed, slow, FORMS["usage"])
    assert b"word4 " in wire and not wire.endswith(b"data: [DONE]\n\n")
    assert any(isinstance(e, RawFrames) for e in relayed[0])


async def test_a_refusal_mid_stream_goes_the_event_path(
    openai_upstream: OpenAIUpstream,  # noqa: F811
    http: httpx.AsyncClient,
) -> None:
    relayed, slow = await _both(openai_upstream, http, Fault.reshape(_refusal, reply=Reply(text=WORDS)), FORMS["usage"])
    assert b'"finish_reason":"content_filter"' in _same(relayed, slow, FORMS["usage"])


STUB = OpenAIProvider("openai", preset("openai"), "sk-test", base_url="http://127.0.0.1:9")  # its chunk parser


async def _decoded(reads: list[bytes], form: ChunkForm | None) -> tuple[list[StreamEvent], AimuxError | None]:
    """The adapter's reading of a body that arrives in ``reads``: the relay, or the event path's loop."""

    decoder = ChatChunkDecoder(model="gpt-client", input_tokens=5, provider="openai", tool_names=TOOLS)
    reader = _Reader(decoder, STUB._chunk, "openai")
    events: list[StreamEvent] = []
    try:
        if form is not None:
            async for event in relayed_events(reads_of(reads), ChunkRelay(reader, ChatPieces(form, thinking=True))):
                events.append(event)
        else:
            async for sse in aiter_sse(reads_of(reads)):
                events += reader.feed(sse.data)
                if reader.ended:
                    break
        events += decoder.finish()
    except AimuxError as error:
        return events, error
    return events, None


@pytest.mark.parametrize("case", sorted(BODIES))
async def test_every_split_of_a_body_gives_the_event_paths_bytes(case: str) -> None:
    """The body cut into two reads at every byte (and read at once, and byte by byte): the relay's
    client bytes equal the event path's for the body read at once."""
    body = BODIES[case]
    form = FORMS["usage"]
    reference = _client_bytes(*await _decoded([body], None), form)
    for reads in read_splits(body):
        assert _client_bytes(*await _decoded(reads, form), form) == reference, (case, [len(r) for r in reads])


@pytest.mark.parametrize("crlf", [False, True])
async def test_the_plain_body_is_relayed_and_ignores_what_follows_done(crlf: bool) -> None:
    body = BODIES["after_done"].replace(b"\n", b"\r\n") if crlf else BODIES["after_done"]
    events, error = await _decoded([body], FORMS["plain"])
    assert error is None
    raw = [e for e in events if isinstance(e, RawFrames)]
    assert len(raw) == 1 and raw[0].frames.count(b"data: ") == 3  # "two", "three", "four"
    assert raw[0].frames.endswith(b"}\n\n"), "the client's framing, whatever the upstream's"
    assert b"ignored" not in _client_bytes(events, error, FORMS["plain"])


@pytest.mark.parametrize(
    ("chunk", "piece"),
    [
        ({"choices": [{"delta": {"content": "a"}}]}, ("text", "a")),
        ({"choices": [{"delta": {"content": "a", "role": "assistant"}, "index": 0}], "usage": None}, ("text", "a")),
        ({"choices": [{"delta": {"reasoning_content": "r", "content": None}}]}, ("thinking", "r")),
        ({"choices": [{"delta": {"reasoning": "r", "content": ""}}]}, ("thinking", "r")),
        ({"choices": [{"delta": {"reasoning_details": [{"text": "r"}]}}]}, ("thinking", "r")),
        ({"choices": [{"delta": {"content": ""}}]}, None),
        ({"choices": [{"delta": {"content": "a", "reasoning_content": "r"}}]}, None),
        ({"choices": [{"delta": {"reasoning_content": "r", "content": 0}}]}, None),
        ({"choices": [{"delta": {"content": 5}}]}, None),
        ({"choices": [{"delta": {"content": "a"}, "finish_reason": "stop"}]}, None),
        ({"choices": [{"delta": {"content": "a"}}], "usage": {"completion_tokens": 1}}, None),
        ({"choices": [{"delta": {"content": "a"}}], "x_groq": {"id": "x"}}, None),
        ({"choices": [{"delta": {"content": "a"}}], "error": {"message": "m"}}, None),
        ({"object": "error", "choices": [{"delta": {"content": "a"}}]}, None),
        ({"choices": [{"delta": {"content": "a", "refusal": "no"}}]}, None),
        ({"choices": [{"delta": {"content": "a", "tool_calls": [{"index": 0}]}}]}, None),
        ({"choices": [{"delta": {"content": "a", "function_call": {"name": "f"}}}]}, None),
        ({"choices": {"0": {"delta": {"content": "a"}}}}, None),
        ({"choices": []}, None),
        ([{"choices": [{"delta": {"content": "a"}}]}], None),
    ],
)
def test_which_chunks_are_plain_pieces(chunk: Any, piece: tuple[str, str] | None) -> None:
    assert piece_of(chunk) == piece
