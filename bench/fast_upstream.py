#!/usr/bin/env python3
"""A fast fake LLM upstream for benchmarks: canned Anthropic and OpenAI answers over raw HTTP/1.1.

Why not ``tests/fakes``: those fakes are scriptable (faults, quirks, request recording) and parse
every request, so they cost more CPU per request than the gateway being measured and would share
its core budget. This server does the least an HTTP/1.1 upstream can: it frames requests by
``Content-Length``, decides JSON or SSE by looking for ``"stream":true`` in the body bytes (the
gateway, the floor and the direct client all send compact JSON), and writes bytes encoded once at
start. Answers are realistic in shape and size, not in content:

- ``POST /v1/messages``: an Anthropic ``message`` (JSON), or 20 SSE events (``message_start``,
  ``content_block_start``, ``ping``, 14 ``text_delta``, ``content_block_stop``, ``message_delta``,
  ``message_stop``);
- ``POST /v1/chat/completions``: a ``chat.completion`` (JSON), or 18 ``data:`` lines (role chunk,
  14 content chunks, the ``finish_reason`` chunk, the usage chunk, ``[DONE]``);
- ``GET /healthz``: 200.

Streams are chunked, one HTTP chunk per SSE event, each written with its own ``transport.write``
(one ``send`` syscall, one TCP segment on loopback), as a real upstream produces them. With
``--gap-ms G`` the server waits G ms between events, so the reader gets each event in its own
read, as it does from a model generating tokens; the default 0 writes them back to back.

Run: ``python bench/fast_upstream.py --port 9000`` (``bench_upstream.py`` starts it pinned to a core).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import signal
import sys
from dataclasses import dataclass
from typing import Any

HOST = "127.0.0.1"
MAX_HEAD_BYTES = 64 * 1024
MAX_BODY_BYTES = 64 * 1024 * 1024

# The text of every answer, split into the 14 pieces the streams deliver.
ANSWER_TEXT = (
    "Connection pooling keeps TCP and TLS sessions open between requests, so each call skips the "
    "handshakes and starts sending at once; the price is idle sockets, stale connections after a "
    "server restart, and a limit to tune so bursts queue instead of failing."
)


def _pieces(text: str, count: int) -> list[str]:
    """``text`` split at word boundaries into ``count`` pieces of about the same size."""
    words = text.split(" ")
    bounds = [round(i * len(words) / count) for i in range(count + 1)]
    pieces = [" ".join(words[bounds[i] : bounds[i + 1]]) for i in range(count)]
    return [p + (" " if i < count - 1 else "") for i, p in enumerate(pieces)]


PIECES = _pieces(ANSWER_TEXT, 14)
INPUT_TOKENS, OUTPUT_TOKENS = 24, 52


def _json(data: Any) -> bytes:
    return json.dumps(data, separators=(",", ":")).encode()


def _anthropic_message() -> dict[str, Any]:
    return {
        "id": "msg_01FastUpstreamBench00000001", "type": "message", "role": "assistant",
        "model": "claude-sonnet-4-5-20250929", "content": [{"type": "text", "text": ANSWER_TEXT}],
        "stop_reason": "end_turn", "stop_sequence": None,
        "usage": {"input_tokens": INPUT_TOKENS, "cache_creation_input_tokens": 0, "cache_read_input_tokens": 0,
                  "output_tokens": OUTPUT_TOKENS, "service_tier": "standard"},
    }  # fmt: skip


def _anthropic_events() -> list[bytes]:
    def event(name: str, data: dict[str, Any]) -> bytes:
        return b"event: " + name.encode() + b"\ndata: " + _json({"type": name, **data}) + b"\n\n"

    start = {**_anthropic_message(), "content": [], "stop_reason": None}
    start["usage"] = {**start["usage"], "output_tokens": 1}
    events = [
        event("message_start", {"message": start}),
        event("content_block_start", {"index": 0, "content_block": {"type": "text", "text": ""}}),
        event("ping", {}),
    ]
    events += [
        event("content_block_delta", {"index": 0, "delta": {"type": "text_delta", "text": piece}}) for piece in PIECES
    ]
    events += [
        event("content_block_stop", {"index": 0}),
        event("message_delta", {"delta": {"stop_reason": "end_turn", "stop_sequence": None},
                                "usage": {"output_tokens": OUTPUT_TOKENS}}),
        event("message_stop", {}),
    ]  # fmt: skip
    return events


def _openai_usage() -> dict[str, Any]:
    return {
        "prompt_tokens": INPUT_TOKENS, "completion_tokens": OUTPUT_TOKENS, "total_tokens": INPUT_TOKENS + OUTPUT_TOKENS,
        "prompt_tokens_details": {"cached_tokens": 0}, "completion_tokens_details": {"reasoning_tokens": 0},
    }  # fmt: skip


def _openai_completion() -> dict[str, Any]:
    return {
        "id": "chatcmpl-FastUpstreamBench0001", "object": "chat.completion", "created": 1767225600,
        "model": "gpt-4o-mini-2024-07-18", "system_fingerprint": "fp_bench",
        "choices": [{"index": 0, "message": {"role": "assistant", "content": ANSWER_TEXT, "refusal": None},
                     "logprobs": None, "finish_reason": "stop"}],
        "usage": _openai_usage(),
    }  # fmt: skip


def _openai_events() -> list[bytes]:
    base = {"id": "chatcmpl-FastUpstreamBench0001", "object": "chat.completion.chunk", "created": 1767225600,
            "model": "gpt-4o-mini-2024-07-18", "system_fingerprint": "fp_bench"}  # fmt: skip

    def chunk(delta: dict[str, Any] | None, finish: str | None = None, usage: dict[str, Any] | None = None) -> bytes:
        choices = [] if delta is None else [{"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish}]
        return b"data: " + _json({**base, "choices": choices, "usage": usage}) + b"\n\n"

    events = [chunk({"role": "assistant", "content": "", "refusal": None})]
    events += [chunk({"content": piece}) for piece in PIECES]
    events += [chunk({}, finish="stop"), chunk(None, usage=_openai_usage()), b"data: [DONE]\n\n"]
    return events


@dataclass(frozen=True, slots=True)
class Canned:
    """One answer, encoded once: the full JSON response, or the SSE head and its chunk-framed events."""

    json_response: bytes
    sse_head: bytes
    sse_chunks: tuple[bytes, ...]
    sse_tail: bytes = b"0\r\n\r\n"


def _json_response(body: bytes, extra: str) -> bytes:
    head = f"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\n{extra}content-length: {len(body)}\r\n\r\n"
    return head.encode() + body


def _canned(json_body: dict[str, Any], events: list[bytes], extra: str) -> Canned:
    head = (
        "HTTP/1.1 200 OK\r\ncontent-type: text/event-stream; charset=utf-8\r\ncache-control: no-cache\r\n"
        f"{extra}transfer-encoding: chunked\r\n\r\n"
    ).encode()
    chunks = tuple(f"{len(e):x}\r\n".encode() + e + b"\r\n" for e in events)
    return Canned(_json_response(_json(json_body), extra), head, chunks)


ROUTES: dict[bytes, Canned] = {
    b"/v1/messages": _canned(_anthropic_message(), _anthropic_events(), "request-id: req_fastupstreambench\r\n"),
    b"/v1/chat/completions": _canned(_openai_completion(), _openai_events(), "x-request-id: req_fastupstream\r\n"),
}
HEALTHZ = _json_response(b'{"status":"ok"}', "")
NOT_FOUND = (
    b'HTTP/1.1 404 Not Found\r\ncontent-type: application/json\r\ncontent-length: 21\r\n\r\n{"error":"not found"}'
)
BAD_REQUEST = b"HTTP/1.1 400 Bad Request\r\nconnection: close\r\ncontent-length: 0\r\n\r\n"
STREAM_FLAG = b'"stream":true'


class UpstreamProtocol(asyncio.Protocol):
    """One client connection: keep-alive HTTP/1.1, one request at a time (no client here pipelines)."""

    def __init__(self, gap_s: float) -> None:
        self.gap_s = gap_s
        self.transport: asyncio.Transport | None = None
        self.buffer = bytearray()
        self.busy = False  # a paced stream is being written; later bytes wait in the buffer

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def connection_lost(self, exc: Exception | None) -> None:
        self.transport = None

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        if not self.busy:
            self._process()

    def _process(self) -> None:
        """Answer every complete request in the buffer (bounded: each pass consumes bytes or returns)."""
        while self.transport is not None and not self.busy:
            end = self.buffer.find(b"\r\n\r\n")
            if end < 0:
                if len(self.buffer) > MAX_HEAD_BYTES:
                    self._fail()
                return
            head = bytes(self.buffer[:end])
            length = _content_length(head)
            if length is None or length > MAX_BODY_BYTES:
                self._fail()
                return
            total = end + 4 + length
            if len(self.buffer) < total:
                return
            body = bytes(self.buffer[end + 4 : total])
            del self.buffer[:total]
            self._answer(head, body)

    def _answer(self, head: bytes, body: bytes) -> None:
        transport = self.transport
        assert transport is not None
        request_line = head.split(b"\r\n", 1)[0]
        parts = request_line.split(b" ")
        if len(parts) != 3:
            self._fail()
            return
        method, target = parts[0], parts[1].split(b"?", 1)[0]
        canned = ROUTES.get(target) if method == b"POST" else None
        if canned is None:
            transport.write(HEALTHZ if method == b"GET" and target == b"/healthz" else NOT_FOUND)
        elif STREAM_FLAG not in body:
            transport.write(canned.json_response)
        elif self.gap_s <= 0:
            transport.write(canned.sse_head)
            for chunk in canned.sse_chunks:
                transport.write(chunk)
            transport.write(canned.sse_tail)
        else:
            self.busy = True
            asyncio.get_running_loop().create_task(self._paced(canned))
            return
        if b"\r\nconnection: close" in head.lower():
            transport.close()

    async def _paced(self, canned: Canned) -> None:
        """A stream with ``gap_s`` between events, as a model that generates tokens over time sends it."""
        try:
            for data in (canned.sse_head, *canned.sse_chunks):
                if self.transport is None or self.transport.is_closing():
                    return
                self.transport.write(data)
                await asyncio.sleep(self.gap_s)
            if self.transport is not None:
                self.transport.write(canned.sse_tail)
        finally:
            self.busy = False
            if self.buffer and self.transport is not None:
                self._process()

    def _fail(self) -> None:
        if self.transport is not None:
            self.transport.write(BAD_REQUEST)
            self.transport.close()
        self.buffer.clear()


def _content_length(head: bytes) -> int | None:
    """The Content-Length of a request head (0 when absent); None when it is malformed or chunked."""
    lowered = head.lower()
    if b"\r\ntransfer-encoding:" in lowered:
        return None  # no client of this benchmark sends a chunked request body
    start = lowered.find(b"\r\ncontent-length:")
    if start < 0:
        return 0
    start += len(b"\r\ncontent-length:")
    stop = lowered.find(b"\r\n", start)
    value = lowered[start : stop if stop >= 0 else len(lowered)].strip()
    return int(value) if value.isdigit() else None


async def serve(port: int, gap_ms: float, ready: asyncio.Event | None = None) -> None:
    """Serve on ``HOST:port`` until cancelled or SIGTERM/SIGINT."""
    loop = asyncio.get_running_loop()
    server = await loop.create_server(lambda: UpstreamProtocol(gap_ms / 1e3), HOST, port, backlog=1024)
    stop = asyncio.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    if ready is not None:
        ready.set()
    async with server:
        await stop.wait()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--gap-ms", type=float, default=0.0, help="pause between streamed events (default 0)")
    args = parser.parse_args(argv)
    try:
        import uvloop
    except ImportError:
        asyncio.run(serve(args.port, args.gap_ms))
    else:
        uvloop.run(serve(args.port, args.gap_ms))
    return 0


if __name__ == "__main__":
    sys.exit(main())
