"""The mock provider's stream: fault markers before and mid stream, pacing and early close, and
acceptance by the official Anthropic client."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator

import anthropic
import httpx2
import pytest
from anthropic.lib.streaming._messages import accumulate_event
from mock_helpers import BASH, answer, collect, deltas, make_call, tool_result_call

from aimux_core.errors import UpstreamError
from aimux_core.providers.base import UpstreamCall
from aimux_core.providers.mock import MockProvider
from aimux_core.wire.anthropic import (
    ContentBlockDeltaEvent,
    MessageDeltaEvent,
    MessageStartEvent,
    MessageStopEvent,
    StreamEvent,
)
from aimux_core.wire.sse import anthropic_frame

pytestmark = pytest.mark.anyio


# --------------------------------------------------------------------------- faults


@pytest.mark.parametrize(
    ("status", "kind", "retryable"),
    [
        (429, "rate_limit_error", True),
        (500, "api_error", True),
        (529, "overloaded_error", True),
        (400, "invalid_request_error", False),
        (504, "timeout_error", True),
    ],
)
async def test_error_marker_fails_before_the_first_event(status: int, kind: str, retryable: bool) -> None:
    call = make_call(f"please fail [[mock:error:{status}]]")
    received: list[StreamEvent] = []
    with pytest.raises(UpstreamError) as caught:
        async for event in MockProvider().stream(call):
            received.append(event)
    assert received == []
    error = caught.value
    assert (error.provider, error.upstream_status, error.status, error.kind, error.retryable) == (
        "mock",
        status,
        status,
        kind,
        retryable,
    )
    assert "please fail" not in error.message
    assert (error.retry_after is not None) == (status == 429)
    with pytest.raises(UpstreamError):
        await MockProvider().create(call)


@pytest.mark.parametrize(
    ("marker", "status"), [("[[mock:midstream-error]]", 529), ("[[mock:midstream-error:500]]", 500)]
)
async def test_midstream_marker_fails_after_some_text(marker: str, status: int) -> None:
    call = make_call(f"start streaming then break {marker}")
    received: list[StreamEvent] = []
    with pytest.raises(UpstreamError) as caught:
        async for event in MockProvider().stream(call):
            received.append(event)
    assert caught.value.upstream_status == status
    assert isinstance(received[0], MessageStartEvent) and deltas(received, "text_delta")
    assert not any(isinstance(e, MessageDeltaEvent | MessageStopEvent) for e in received)
    with pytest.raises(UpstreamError):
        await MockProvider().create(call)


# --------------------------------------------------------------------------- streaming mechanics


async def test_chunk_delay_paces_the_stream() -> None:
    call = make_call("one two three four five six")
    started = time.perf_counter()
    events = await collect(call, MockProvider(chunk_delay=0.02))
    count = sum(isinstance(e, ContentBlockDeltaEvent) for e in events)
    assert time.perf_counter() - started >= count * 0.02 * 0.9


async def test_zero_delay_still_yields_to_the_event_loop() -> None:
    ticks = 0

    async def ticker() -> None:
        nonlocal ticks
        while True:
            ticks += 1
            await asyncio.sleep(0)

    task = asyncio.create_task(ticker())
    await asyncio.sleep(0)
    before = ticks
    await collect(make_call("one two three four five six"))
    task.cancel()
    assert ticks - before >= 3


async def test_closing_the_stream_early_is_clean() -> None:
    stream = MockProvider().stream(make_call("one two three four five six"))
    first = [await anext(stream) for _ in range(3)]
    await stream.aclose()
    assert isinstance(first[0], MessageStartEvent)


# --------------------------------------------------------------------------- official client


def sdk_cases() -> Iterator[UpstreamCall]:
    yield make_call("Hello there, how are you today?")
    yield make_call(
        "use the Bash tool to run `echo hi`", tools=[BASH], thinking={"type": "enabled", "budget_tokens": 2000}
    )
    yield make_call("hi", thinking={"type": "adaptive", "display": "omitted"})
    yield tool_result_call("hi")
    yield make_call("tell me more", stop_sequences=["more"])


@pytest.mark.parametrize("call", list(sdk_cases()))
async def test_sdk_accumulator_accepts_the_stream(call: UpstreamCall) -> None:
    message, events = await answer(call)
    snapshot = None
    buffers: dict[int, bytes] = {}
    for event in events:
        snapshot = accumulate_event(event=event.dump(), current_snapshot=snapshot, json_bufs=buffers)  # type: ignore[arg-type]
    assert snapshot is not None
    sdk = snapshot.to_dict()
    ours = message.dump()
    assert sdk["content"] == ours["content"]
    assert (sdk["stop_reason"], sdk["stop_sequence"], sdk["usage"]) == (
        ours["stop_reason"],
        ours["stop_sequence"],
        ours["usage"],
    )


async def test_sdk_client_reads_the_mock_over_sse() -> None:
    call = make_call("use the Bash tool to run `echo hi`", tools=[BASH], thinking={"type": "adaptive"})
    message, events = await answer(call)
    body = b"".join(anthropic_frame(e.type, e.dump_json()) for e in events)

    def respond(request: httpx2.Request) -> httpx2.Response:
        return httpx2.Response(200, headers={"content-type": "text/event-stream"}, content=body)

    client = anthropic.AsyncAnthropic(
        api_key="test",
        base_url="http://mock.invalid",
        http_client=httpx2.AsyncClient(transport=httpx2.MockTransport(respond)),
    )
    async with client.messages.stream(
        model="claude-test-1", max_tokens=1024, messages=[{"role": "user", "content": "x"}]
    ) as stream:
        final = await stream.get_final_message()
    assert [b.type for b in final.content] == ["thinking", "text", "tool_use"]
    assert final.content[2].input == {"command": "echo hi"}  # type: ignore[union-attr]
    assert final.stop_reason == "tool_use" and final.usage.output_tokens == message.usage.output_tokens
