"""Frames ready together leave in one send; nothing waits on a later frame (``surfaces/coalesce.py``).

The unit tests drive ``coalesced`` with bodies that really suspend (queues fed by another task); the
end-to-end tests run the messages app's ASGI callable (real adapter, fake Anthropic upstream over real
HTTP) and count the ``http.response.body`` messages the server would write, comparing the bytes of a
stream whose events arrive in one read (coalesced) with the same stream paced one event per read
(one send per event, as before): equal except the message id.
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
import re
from collections.abc import AsyncIterator
from typing import Any

import pytest

from aimux_core.surfaces.coalesce import coalesced
from fakes import Reply
from support.gateway_builder import UPSTREAM_KEYS, build_gateway

pytest_plugins = ["fakes.fixtures"]
BOUND_S = 5.0


async def _bursts(queue: asyncio.Queue[list[bytes] | None]) -> AsyncIterator[bytes]:
    """A body that yields each burst's frames without waiting and waits on the queue between bursts."""
    while (burst := await queue.get()) is not None:
        for frame in burst:
            yield frame


async def _collect(body: AsyncIterator[bytes]) -> list[bytes]:
    return [chunk async for chunk in body]


def test_one_chunk_per_burst_and_the_same_bytes() -> None:
    bursts = [[b"a1", b"a2", b"a3"], [b"b1"], [b"c1", b"c2"]]

    async def main() -> list[bytes]:
        queue: asyncio.Queue[list[bytes] | None] = asyncio.Queue()
        for burst in bursts:
            queue.put_nowait(burst)
        queue.put_nowait(None)
        # Each get() on a non-empty queue returns at once: the whole stream is one run of ready frames.
        return await asyncio.wait_for(_collect(coalesced(_bursts(queue))), BOUND_S)

    assert asyncio.run(main()) == [b"a1a2a3b1c1c2"]


def test_a_wait_between_bursts_sends_what_was_ready() -> None:
    async def main() -> list[bytes]:
        queue: asyncio.Queue[list[bytes] | None] = asyncio.Queue()
        chunks: list[bytes] = []

        async def feed() -> None:
            for burst in ([b"a1", b"a2"], [b"b1", b"b2", b"b3"], None):
                queue.put_nowait(burst)
                await asyncio.sleep(0.01)  # the body waits on the queue again before the next burst

        feeder = asyncio.create_task(feed())
        async for chunk in coalesced(_bursts(queue)):
            chunks.append(chunk)
        await feeder
        return chunks

    assert asyncio.run(asyncio.wait_for(main(), BOUND_S)) == [b"a1a2", b"b1b2b3"]


def test_no_frame_is_held_while_the_body_waits() -> None:
    """The consumer releases the body's next frame only after receiving the first: holding the first
    across the wait would deadlock (bounded here)."""

    async def main() -> list[bytes]:
        received_first = asyncio.Event()

        async def body() -> AsyncIterator[bytes]:
            yield b"first"
            await received_first.wait()
            yield b"second"

        out: list[bytes] = []
        async for chunk in coalesced(body()):
            out.append(chunk)
            received_first.set()
        return out

    assert asyncio.run(asyncio.wait_for(main(), BOUND_S)) == [b"first", b"second"]


def test_cancellation_reaches_the_waiting_body_and_it_is_closed() -> None:
    seen: list[str] = []

    async def main() -> None:
        never = asyncio.Event()

        async def body() -> AsyncIterator[bytes]:
            try:
                yield b"one"
                await never.wait()
                yield b"two"
            except asyncio.CancelledError:
                seen.append("cancelled")
                raise
            finally:
                seen.append("closed")

        async def consume() -> None:
            async for _ in coalesced(body()):
                pass

        task = asyncio.create_task(consume())
        await asyncio.sleep(0.05)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task

    asyncio.run(asyncio.wait_for(main(), BOUND_S))
    assert seen == ["cancelled", "closed"]


def test_frames_before_a_failure_leave_before_it() -> None:
    async def main() -> list[bytes]:
        async def body() -> AsyncIterator[bytes]:
            yield b"a"
            yield b"b"
            raise RuntimeError("boom")

        out: list[bytes] = []
        with pytest.raises(RuntimeError, match="boom"):
            async for chunk in coalesced(body()):
                out.append(chunk)
        return out

    assert asyncio.run(asyncio.wait_for(main(), BOUND_S)) == [b"ab"]


# ------------------------------------------------------------------------------ through the app


async def _call_app(app: Any, body: bytes) -> tuple[int, list[bytes]]:
    """POST /v1/messages through the ASGI callable; the status and every non-empty body message."""
    sent: list[dict[str, Any]] = []
    delivered = False

    async def receive() -> dict[str, Any]:
        nonlocal delivered
        if not delivered:
            delivered = True
            return {"type": "http.request", "body": body, "more_body": False}
        await asyncio.Event().wait()  # the client stays connected
        return {"type": "http.disconnect"}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    scope = {
        "type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": "POST", "scheme": "http",
        "path": "/v1/messages", "raw_path": b"/v1/messages", "query_string": b"", "root_path": "",
        "headers": [(b"content-type", b"application/json"), (b"anthropic-version", b"2023-06-01"),
                    (b"x-api-key", b"sk-client")],
        "client": ("127.0.0.1", 1), "server": ("127.0.0.1", 2), "state": {},
    }  # fmt: skip
    await asyncio.wait_for(app(scope, receive, send), BOUND_S)
    status = next(m["status"] for m in sent if m["type"] == "http.response.start")
    return status, [m["body"] for m in sent if m["type"] == "http.response.body" and m.get("body")]


def _stream(anthropic_upstream: Any, reply: Reply, *, relay: bool = True) -> tuple[int, list[bytes]]:
    """One streamed request through the messages app. ``relay=False``: the same adapter built on a copy
    of the ``anthropic`` preset under another name, which the relay does not take (it is only for
    first-party Anthropic), so the answer goes the event path; nothing else differs for these replies."""
    from aimux_core.providers.anthropic import AnthropicProvider
    from aimux_core.surfaces.app import create_messages_app

    anthropic_upstream.enqueue(reply)
    built = build_gateway({"anthropic": anthropic_upstream}, fast_twins=False)
    if not relay:
        shipped = built.providers["anthropic"]
        built.providers["anthropic"] = AnthropicProvider(
            "anthropic", dataclasses.replace(shipped.preset, name="anthropic-twin"), UPSTREAM_KEYS["anthropic"],
            base_url=anthropic_upstream.base_url, client=built.http_client,
        )  # fmt: skip
    app = create_messages_app(built.fresh())
    request = {"model": "claude-sonnet-4-5", "max_tokens": 256, "stream": True,
               "messages": [{"role": "user", "content": "hi"}]}  # fmt: skip

    async def main() -> tuple[int, list[bytes]]:
        try:
            return await _call_app(app, json.dumps(request).encode())
        finally:
            if built.http_client is not None:
                await built.http_client.aclose()

    return asyncio.run(main())


def _without_ids(stream: bytes) -> bytes:
    return re.sub(rb'"id":"msg_[A-Za-z0-9_]+"', b'"id":"msg_"', stream)


def test_frames_ready_together_leave_in_one_send_with_the_bytes_of_a_paced_stream(
    anthropic_upstream: Any,
) -> None:
    """The dispatcher holds ``message_start`` and the first content event until it commits, then hands
    both over without waiting: they always leave together, so a stream never takes one send per event
    (one send per event was the old behaviour). How many more join depends on how the upstream's writes
    fall into reads, which the test does not assume."""
    text = [f"word{i} " for i in range(30)]
    status, fast = _stream(anthropic_upstream, Reply(text=text))
    status_paced, paced = _stream(anthropic_upstream, Reply(text=text, chunk_delay=0.005))

    assert status == status_paced == 200
    events = b"".join(fast).count(b"event: ")
    assert events >= 34  # message_start, block start, 30 deltas, block stop, message_delta, message_stop
    assert len(fast) < events and len(paced) < events
    assert fast[0].startswith(b"event: message_start\n") and b"event: content_block_start\n" in fast[0]
    assert _without_ids(b"".join(fast)) == _without_ids(b"".join(paced))
    assert b"".join(fast).endswith(b'event: message_stop\ndata: {"type":"message_stop"}\n\n')


def test_relayed_frames_reach_the_client_as_the_event_path_writes_them_with_the_same_usage(
    anthropic_upstream: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    """The relayed stream and the event path, same scripted answer: same bytes, same usage in the record."""
    reply = Reply(text=[f"part{i} " for i in range(20)], chunk_delay=0.002)
    capsys.readouterr()
    status, relayed = _stream(anthropic_upstream, reply)
    status_slow, slow = _stream(anthropic_upstream, reply, relay=False)
    assert status == status_slow == 200
    assert _without_ids(b"".join(relayed)) == _without_ids(b"".join(slow))
    records = [json.loads(line) for line in capsys.readouterr().out.splitlines() if '"message":"request"' in line]
    assert len(records) == 2
    counts = [(r["input_tokens"], r["output_tokens"], r["status"], r["error_kind"]) for r in records]
    assert counts[0] == counts[1] and counts[0][1] > 0


def test_unasked_thinking_is_hidden_on_the_relayed_path_as_on_the_event_path(
    anthropic_upstream: Any,
) -> None:
    """An upstream that sends thinking although the client asked for none: the client still gets none,
    the blocks after it re-indexed, the same bytes as on the event path."""
    reply = Reply(reasoning="unasked reasoning", signature="sig", text=[f"t{i} " for i in range(10)], chunk_delay=0.002)
    status, relayed = _stream(anthropic_upstream, reply)
    status_slow, slow = _stream(anthropic_upstream, reply, relay=False)
    assert status == status_slow == 200
    assert b"thinking" not in b"".join(relayed)
    assert _without_ids(b"".join(relayed)) == _without_ids(b"".join(slow))
