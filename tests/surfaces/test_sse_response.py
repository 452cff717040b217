"""The streamed answer's response (``surfaces/sse_response.py``): chunks in order, the body cancelled and
closed when the client leaves, a finished answer never cancelled by the disconnect that follows it.

The unit tests drive the ASGI callable with ``receive``/``send`` of their own; the last test serves the
messages app with uvicorn on loopback in front of a slow fake Anthropic upstream and hangs up mid-stream.
"""

from __future__ import annotations

import asyncio
import json
import socket
import time
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest

from aimux_core.surfaces.sse_response import SseResponse
from fakes import Reply
from support.gateway_builder import build_gateway
from support.server import serve

pytest_plugins = ["fakes.fixtures"]
BOUND_S = 5.0
SCOPE: dict[str, Any] = {"type": "http", "asgi": {"version": "3.0", "spec_version": "2.3"}}


class Body:
    """A body that yields ``chunks``, then waits on ``more`` for each further chunk; records how it ended."""

    def __init__(self, chunks: list[bytes]) -> None:
        self.chunks = chunks
        self.more: asyncio.Queue[bytes | None] = asyncio.Queue()
        self.cancelled = False
        self.closed = False

    async def __call__(self) -> AsyncIterator[bytes]:
        try:
            for chunk in self.chunks:
                yield chunk
            while (chunk := await self.more.get()) is not None:
                yield chunk
        except asyncio.CancelledError:
            self.cancelled = True
            raise
        finally:
            self.closed = True


def _client(disconnect: asyncio.Event) -> Callable[[], Any]:
    """``receive``: the request body once, then ``http.disconnect`` when ``disconnect`` is set."""
    delivered = False

    async def receive() -> dict[str, Any]:
        nonlocal delivered
        if not delivered:
            delivered = True
            return {"type": "http.request", "body": b"", "more_body": False}
        await disconnect.wait()
        return {"type": "http.disconnect"}

    return receive


def test_chunks_leave_in_order_then_the_end_of_the_body() -> None:
    async def main() -> tuple[list[dict[str, Any]], Body]:
        body = Body([b"a", b"b"])
        body.more.put_nowait(b"c")
        body.more.put_nowait(None)
        sent: list[dict[str, Any]] = []

        async def send(message: dict[str, Any]) -> None:
            sent.append(message)

        response = SseResponse(body(), media_type="text/event-stream", headers={"x-one": "1"})
        await asyncio.wait_for(response(SCOPE, _client(asyncio.Event()), send), BOUND_S)
        return sent, body

    sent, body = asyncio.run(main())
    start = sent[0]
    assert start["type"] == "http.response.start" and start["status"] == 200
    assert (b"x-one", b"1") in start["headers"]
    assert (b"content-type", b"text/event-stream; charset=utf-8") in start["headers"]
    assert [(m["body"], m["more_body"]) for m in sent[1:]] == [(b"a", True), (b"b", True), (b"c", True), (b"", False)]
    assert body.closed and not body.cancelled


def test_a_client_that_leaves_cancels_the_waiting_body_and_the_response_ends_quietly() -> None:
    async def main() -> tuple[list[bytes], Body, bool]:
        body = Body([b"first"])
        gone = asyncio.Event()
        sent: list[bytes] = []

        async def send(message: dict[str, Any]) -> None:
            if message["type"] == "http.response.body":
                sent.append(message["body"])
                if message["body"] == b"first":
                    gone.set()  # the client hangs up after the first chunk; the body then waits forever

        response = SseResponse(body(), media_type="text/event-stream", headers={})
        await asyncio.wait_for(response(SCOPE, _client(gone), send), BOUND_S)
        await asyncio.sleep(0)  # the task was not left cancelled: it still awaits normally
        task = asyncio.current_task()
        return sent, body, task is not None and task.cancelling() == 0

    sent, body, clean = asyncio.run(main())
    assert sent == [b"first"], "nothing after the hang-up, not even the end of the body"
    assert body.cancelled and body.closed
    assert clean


def test_a_disconnect_after_the_answer_is_complete_cancels_nothing() -> None:
    async def main() -> tuple[Body, bool]:
        body = Body([b"a"])
        body.more.put_nowait(None)
        gone = asyncio.Event()

        async def send(message: dict[str, Any]) -> None:
            if message["type"] == "http.response.body" and not message["more_body"]:
                gone.set()  # the server reports the disconnect that follows a complete answer
                await asyncio.sleep(0.01)  # and the send itself waits, so the listener runs

        response = SseResponse(body(), media_type="text/event-stream", headers={})
        await asyncio.wait_for(response(SCOPE, _client(gone), send), BOUND_S)
        await asyncio.sleep(0.01)
        task = asyncio.current_task()
        return body, task is not None and task.cancelling() == 0

    body, clean = asyncio.run(main())
    assert body.closed and not body.cancelled
    assert clean


def test_a_cancellation_from_elsewhere_propagates_and_still_closes_the_body() -> None:
    async def main() -> tuple[Body, bool]:
        body = Body([b"a"])

        async def send(message: dict[str, Any]) -> None:
            return None

        response = SseResponse(body(), media_type="text/event-stream", headers={})
        task = asyncio.ensure_future(response(SCOPE, _client(asyncio.Event()), send))
        await asyncio.sleep(0.05)
        task.cancel()
        try:
            await asyncio.wait_for(task, BOUND_S)
        except asyncio.CancelledError:
            return body, True
        return body, False

    body, propagated = asyncio.run(main())
    assert propagated, "a cancellation that is not the client's disconnect is not swallowed"
    assert body.cancelled and body.closed


SCOPE_2_4: dict[str, Any] = {"type": "http", "asgi": {"version": "3.0", "spec_version": "2.4"}}


def test_under_spec_2_4_nothing_listens_and_a_send_that_fails_ends_the_answer_quietly() -> None:
    """A 2.4 server reports a client gone by raising from ``send`` and may answer ``receive`` with anything
    meanwhile: no listener is started (one would spin on such a ``receive``), the body is closed."""

    async def main() -> tuple[Body, int, list[bytes]]:
        body = Body([b"a", b"b", b"c"])
        received = 0
        sent: list[bytes] = []

        async def receive() -> dict[str, Any]:  # a server that never reports a disconnect this way
            nonlocal received
            received += 1
            return {"type": "http.request", "body": b"", "more_body": False}

        async def send(message: dict[str, Any]) -> None:
            if message["type"] == "http.response.body":
                if message["body"] == b"b":
                    raise OSError("client went away")
                sent.append(message["body"])

        response = SseResponse(body(), media_type="text/event-stream", headers={})
        await asyncio.wait_for(response(SCOPE_2_4, receive, send), BOUND_S)
        return body, received, sent

    body, received, sent = asyncio.run(main())
    assert received == 0, "no listener under spec 2.4"
    assert sent == [b"a"] and body.closed


def test_under_an_older_spec_a_failing_send_is_not_swallowed() -> None:
    async def main() -> None:
        body = Body([b"a"])

        async def send(message: dict[str, Any]) -> None:
            if message["type"] == "http.response.body":
                raise OSError("broken")

        response = SseResponse(body(), media_type="text/event-stream", headers={})
        await asyncio.wait_for(response(SCOPE, _client(asyncio.Event()), send), BOUND_S)

    with pytest.raises(OSError, match="broken"):
        asyncio.run(main())


def test_hanging_up_mid_stream_ends_the_request_and_its_record_before_the_upstream_would_have(
    anthropic_upstream: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    """Over real HTTP: the client reads the first event and closes its socket; the upstream was going to
    write for ~20 s more. The request is cancelled through to the upstream call and its record
    (a stream, its tokens so far) is published within seconds."""
    from aimux_core.surfaces.app import create_messages_app

    anthropic_upstream.enqueue(Reply(text=[f"w{i} " for i in range(100)], chunk_delay=0.2))
    built = build_gateway({"anthropic": anthropic_upstream}, fast_twins=False)
    app = create_messages_app(built.fresh())
    body = json.dumps({"model": "claude-sonnet-4-5", "max_tokens": 256, "stream": True,
                       "messages": [{"role": "user", "content": "hi"}]}).encode()  # fmt: skip
    capsys.readouterr()
    with serve(app) as url:
        port = int(url.rsplit(":", 1)[1])
        with socket.create_connection(("127.0.0.1", port), timeout=BOUND_S) as sock:
            head = (
                "POST /v1/messages HTTP/1.1\r\nhost: 127.0.0.1\r\ncontent-type: application/json\r\n"
                f"anthropic-version: 2023-06-01\r\nx-api-key: sk-client\r\ncontent-length: {len(body)}\r\n\r\n"
            )
            sock.sendall(head.encode() + body)
            received = b""
            while b"content_block_delta" not in received:
                piece = sock.recv(65536)
                assert piece, "the stream ended before its first delta"
                received += piece
        assert received.startswith(b"HTTP/1.1 200")
        deadline = time.monotonic() + BOUND_S
        records: list[dict[str, Any]] = []
        out = ""
        while not records and time.monotonic() < deadline:
            time.sleep(0.05)
            out += capsys.readouterr().out
            records = [json.loads(line) for line in out.splitlines() if '"message":"request"' in line]
    assert len(records) == 1, "the abandoned stream's record comes while the upstream still had ~20 s to go"
    record = records[0]
    assert record["stream"] is True and record["status"] == 200
    assert record["output_tokens"] > 0
