"""The ``anthropic`` adapter's errors and faults over HTTP: upstream error statuses, faults mid stream
and before the answer, refused connections, and closing an abandoned stream's connection."""

from __future__ import annotations

import dataclasses
import time
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from anthropic_adapter_helpers import (
    FAST,
    KEY,
    REPLIES,
    Make,
    call,
    collect,
    make,  # noqa: F401
)

from aimux_core.errors import UpstreamError
from aimux_core.presets import preset
from aimux_core.providers.anthropic import AnthropicProvider
from aimux_core.providers.transport import Timeouts
from aimux_core.wire.anthropic import StreamEvent
from fakes.anthropic_upstream import AnthropicUpstream
from fakes.fixtures import anthropic_upstream, closed_port  # noqa: F401
from fakes.script import Fault, Reply

pytestmark = pytest.mark.anyio


# --------------------------------------------------------------------------- over HTTP: faults


@pytest.mark.parametrize(
    ("fault", "status", "kind"),
    [
        (Fault.http(429, retry_after=7), 429, "rate_limit_error"),
        (Fault.http(500), 500, "api_error"),
        (Fault.http(502, body="<html>bad gateway</html>"), 500, "api_error"),
        (Fault.http(503), 529, "overloaded_error"),
        (Fault.http(529), 529, "overloaded_error"),
        (Fault.http(400, message="messages.1.content.0: Invalid `signature` in `thinking` block"), 400,
         "invalid_request_error"),
        (Fault.http(401), 502, "api_error"),  # the gateway's key is wrong: never the client's 401
        (Fault.http(200, body={"type": "error", "error": {"type": "overloaded_error", "message": "Overloaded"}}),
         529, "overloaded_error"),
    ],
)
@pytest.mark.parametrize("streaming", [False, True])
async def test_http_errors(
    make: Make, anthropic_upstream: AnthropicUpstream, fault: Fault, status: int, kind: str, streaming: bool  # noqa: F811
) -> None:
    if streaming and fault.status == 200:
        fault = Fault.stream_error(after_events=0, error_type="overloaded_error")
    anthropic_upstream.enqueue(fault)
    upstream = make(anthropic_upstream)
    with pytest.raises(UpstreamError) as caught:
        await (collect(upstream.stream(call())) if streaming else upstream.create(call()))
    error = caught.value
    assert (error.status, error.kind, error.provider) == (status, kind, "anthropic")
    assert error.retry_after == (7.0 if fault.status == 429 else None)
    assert KEY not in error.message


STREAM_FAULTS = {
    "reset": (Fault.reset(after_events=3), 500, "connection"),
    "stall_mid_stream": (Fault.stall(2.0, after_events=3), 504, "no data"),
    "malformed": (Fault.malformed_json(after_events=3), 502, "not JSON"),  # an upstream fault: Bad Gateway
    "truncated": (Fault.truncate(after_events=4), 500, "stream ended before message_stop"),
    "event_error": (Fault.stream_error(after_events=4, error_type="overloaded_error"), 529, "Overloaded"),
    "event_rate_limit": (Fault.stream_error(after_events=3, error_type="rate_limit_error"), 429, "rate_limit"),
}


@pytest.mark.parametrize("scenario", STREAM_FAULTS)
async def test_midstream_faults(make: Make, anthropic_upstream: AnthropicUpstream, scenario: str) -> None:  # noqa: F811
    fault, status, message = STREAM_FAULTS[scenario]
    anthropic_upstream.enqueue(dataclasses.replace(fault, reply=REPLIES["text"].with_(chunk_size=4)))
    timeouts = dataclasses.replace(FAST, idle=0.3)
    received: list[StreamEvent] = []
    with pytest.raises(UpstreamError, match=message) as caught:
        async for event in make(anthropic_upstream, timeouts=timeouts).stream(call()):
            received.append(event)
    assert caught.value.status == status and caught.value.retryable
    assert received and received[0].type == "message_start"  # failed after the answer began
    assert "message_stop" not in [e.type for e in received]


@pytest.mark.parametrize("streaming", [False, True])
async def test_faults_before_the_answer(
    make: Make, anthropic_upstream: AnthropicUpstream, closed_port: int, streaming: bool  # noqa: F811
) -> None:
    timeouts = Timeouts(connect=2.0, first_byte=0.3, idle=5.0, total=0.3 if not streaming else 10.0)
    cases = [
        (Fault.stall(2.0), 504, "timeout_error"),
        (Fault.reset(after_events=None), 500, "api_error"),
        (Fault.malformed_json(), 502, "api_error"),
    ]
    for fault, status, kind in cases:
        if not streaming and fault.kind == "reset":
            fault = Fault.reset(after_events=1)  # half the JSON body, then RST
        anthropic_upstream.enqueue(fault)
        upstream = make(anthropic_upstream, timeouts=timeouts)
        with pytest.raises(UpstreamError) as caught:
            await (collect(upstream.stream(call())) if streaming else upstream.create(call()))
        assert (caught.value.status, caught.value.kind) == (status, kind), fault
    refused = make(f"http://127.0.0.1:{closed_port}")
    with pytest.raises(UpstreamError, match="connection failed") as caught:
        await (collect(refused.stream(call())) if streaming else refused.create(call()))
    assert caught.value.retryable and KEY not in caught.value.message


class ClosingTransport(httpx.AsyncHTTPTransport):
    """Counts response bodies closed, so a test can see *when* the upstream response was closed."""

    def __init__(self) -> None:
        super().__init__()
        self.closed = 0

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        response = await super().handle_async_request(request)
        response.stream = _CountedStream(response.stream, self)  # type: ignore[arg-type]
        return response


class _CountedStream(httpx.AsyncByteStream):
    def __init__(self, inner: Any, owner: ClosingTransport) -> None:
        self.inner, self.owner = inner, owner

    async def __aiter__(self) -> AsyncIterator[bytes]:
        async for chunk in self.inner:
            yield chunk

    async def aclose(self) -> None:
        self.owner.closed += 1
        await self.inner.aclose()


async def test_early_aclose_closes_the_upstream_connection(anthropic_upstream: AnthropicUpstream) -> None:  # noqa: F811
    slow = Reply(text="x" * 200, chunk_size=1, chunk_delay=0.1)  # 20 s if read to the end
    anthropic_upstream.enqueue(Reply(), Reply(), slow, Reply())
    transport = ClosingTransport()
    async with httpx.AsyncClient(transport=transport) as client:
        upstream = AnthropicProvider("anthropic", preset("anthropic"), KEY, base_url=anthropic_upstream.base_url,
                                     timeouts=FAST, client=client)
        await upstream.create(call())
        await collect(upstream.stream(call()))
        stream = upstream.stream(call())
        started = time.monotonic()
        first = [await anext(stream) for _ in range(3)]
        closed_before = transport.closed
        await stream.aclose()  # type: ignore[attr-defined]
        assert transport.closed == closed_before + 1  # closed by aclose itself, not later by the GC
        assert time.monotonic() - started < 10 and first[0].type == "message_start"
        await upstream.create(call())
    peers = [r.peer for r in anthropic_upstream.message_requests]
    assert peers[0] == peers[1] == peers[2]  # finished answers (streamed too) leave the connection reusable...
    assert peers[3] != peers[2]  # ...an abandoned stream closed it instead of draining it
