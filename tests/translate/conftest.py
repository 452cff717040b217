"""Shared helpers for the OpenAI translator tests: fixture loading, stream runners, SDK oracles.

Helpers are exposed as fixtures (not imported from this module) so test files do not depend on
how pytest names conftest modules.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from pydantic import TypeAdapter

from aimux_core.translate.openai_stream_decode import ChatChunkDecoder
from aimux_core.translate.openai_stream_encode import ChatChunkEncoder
from aimux_core.wire.accumulate import accumulate
from aimux_core.wire.anthropic import Message, StreamEvent, stream_event_adapter
from aimux_core.wire.sse import SSEParser

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures"


def _sse_data(name: str) -> list[tuple[str | None, str]]:
    parser = SSEParser()
    raw = (FIXTURES / name).read_bytes()
    return [(e.event, e.data) for e in [*parser.feed(raw), *parser.finish()]]


def openai_chunks(name: str) -> list[dict[str, Any]]:
    """The ``data:`` payloads of an OpenAI SSE fixture, up to ``[DONE]``."""
    chunks = []
    for _, data in _sse_data(name):
        if data == "[DONE]":
            break
        chunks.append(json.loads(data))
    return chunks


def anthropic_events(name: str) -> list[StreamEvent]:
    """An Anthropic SSE fixture as typed events.

    The thinking transcript is the docs' abbreviated one: its ``message_start`` and
    ``message_delta`` carry no ``usage`` (real streams always do, and the canonical models
    require it), so the missing usage is filled in before parsing.
    """
    events = []
    for event_name, data in _sse_data(name):
        payload = json.loads(data)
        assert payload["type"] == event_name
        if payload["type"] == "message_start":
            payload["message"].setdefault("usage", {"input_tokens": 0, "output_tokens": 1})
        elif payload["type"] == "message_delta":
            payload.setdefault("usage", {"output_tokens": 0})
        events.append(stream_event_adapter.validate_python(payload))
    return events


def decode(chunks: list[dict[str, Any]], **kwargs: Any) -> list[StreamEvent]:
    kwargs.setdefault("model", "claude-sonnet-4-5")
    decoder = ChatChunkDecoder(**kwargs)
    events: list[StreamEvent] = []
    for chunk in chunks:
        events += decoder.feed(chunk)
    events += decoder.finish()
    return events


def encode(events: list[StreamEvent], **kwargs: Any) -> list[dict[str, Any]]:
    kwargs.setdefault("model", "gpt-4o")
    kwargs.setdefault("created", 1700000000)
    encoder = ChatChunkEncoder(**kwargs)
    chunks: list[dict[str, Any]] = []
    for event in events:
        chunks += encoder.feed(event)
    chunks += encoder.finish()
    return chunks


def check_grammar(events: list[StreamEvent]) -> None:
    """Assert the Messages streaming grammar (§2): one start, blocks one at a time, stop last."""
    kinds = [e.type for e in events if e.type != "ping"]
    assert kinds[0] == "message_start"
    assert kinds.count("message_start") == 1
    assert kinds[-1] == "message_stop" and kinds.count("message_stop") == 1
    assert kinds[-2] == "message_delta"
    open_index: int | None = None
    next_index = 0
    for event in events:
        if event.type == "content_block_start":
            assert open_index is None, "block opened while another is open"
            assert event.index == next_index
            assert event.content_block.type != "tool_use" or event.content_block.input == {}
            open_index, next_index = event.index, next_index + 1
        elif event.type == "content_block_delta":
            assert event.index == open_index, "delta for a block that is not open"
        elif event.type == "content_block_stop":
            assert event.index == open_index
            open_index = None
        elif event.type in ("message_delta", "message_stop"):
            assert open_index is None
    for event in events:  # every event survives its own JSON round trip
        assert stream_event_adapter.validate_json(event.dump_json()).dump() == event.dump()


def anthropic_sdk_message(events: list[StreamEvent]) -> Any:
    """Fold events with the anthropic SDK's own accumulator (strictly validated events)."""
    from anthropic.lib.streaming._messages import accumulate_event
    from anthropic.types import RawMessageStreamEvent

    adapter: TypeAdapter[Any] = TypeAdapter(RawMessageStreamEvent)
    snapshot = None
    json_bufs: dict[int, bytes] = {}
    for event in events:
        sdk_event = adapter.validate_python(event.dump())
        snapshot = accumulate_event(event=sdk_event, current_snapshot=snapshot, json_bufs=json_bufs)
    return snapshot


def openai_sdk_completion(chunks: list[dict[str, Any]]) -> Any:
    """Fold chunks with the openai SDK's ``ChatCompletionStreamState`` (strictly validated)."""
    from openai.lib.streaming.chat import ChatCompletionStreamState
    from openai.types.chat import ChatCompletionChunk

    state: Any = ChatCompletionStreamState()
    for chunk in chunks:
        list(state.handle_chunk(ChatCompletionChunk.model_validate(chunk)))
    return state.get_final_completion()


class Helpers:
    """Bundle handed to tests as the ``wire`` fixture."""

    fixtures = FIXTURES
    openai_chunks = staticmethod(openai_chunks)
    anthropic_events = staticmethod(anthropic_events)
    decode = staticmethod(decode)
    encode = staticmethod(encode)
    check_grammar = staticmethod(check_grammar)
    accumulate = staticmethod(accumulate)
    anthropic_sdk_message = staticmethod(anthropic_sdk_message)
    openai_sdk_completion = staticmethod(openai_sdk_completion)

    @staticmethod
    def json_fixture(name: str) -> Any:
        return json.loads((FIXTURES / name).read_text())

    @staticmethod
    def tool_inputs(message: Message) -> list[tuple[str, dict[str, Any]]]:
        return [(b.name, b.input) for b in message.content if b.type == "tool_use"]  # type: ignore[union-attr]

    @staticmethod
    def text(message: Message) -> str:
        return "".join(b.text for b in message.content if b.type == "text")  # type: ignore[union-attr]


@pytest.fixture(scope="session")
def wire() -> type[Helpers]:
    return Helpers
