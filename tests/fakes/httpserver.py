"""A minimal HTTP/1.1 server on ``asyncio.start_server`` for the fake upstreams.

Written by hand (not uvicorn) because fault injection needs the raw socket: send half a body,
reset with RST, stall before the status line, end a chunked body early. It runs its own event
loop in a daemon thread, binds 127.0.0.1 only, supports keep-alive with ``Content-Length``
and chunked responses, and stops within a bounded time even with stalled connections open
(their tasks are cancelled).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import socket
import struct
import threading
import traceback
from collections.abc import Awaitable, Callable, Iterator, Mapping
from dataclasses import dataclass, field
from functools import cached_property
from http import HTTPStatus
from typing import Any
from urllib.parse import parse_qs, urlsplit

MAX_HEAD_BYTES = 64 * 1024
MAX_BODY_BYTES = 64 * 1024 * 1024
RESET_GRACE_SECONDS = 0.05  # let the client read what was sent before the RST discards it
STOP_TIMEOUT_SECONDS = 5.0


@dataclass(frozen=True)
class RecordedRequest:
    """One request as the fake received it. ``headers`` has lower-cased names (repeated
    headers joined with ", "); ``raw_headers`` keeps the order, case and repeats."""

    method: str
    target: str
    raw_headers: tuple[tuple[str, str], ...]
    body: bytes
    http_version: str = "HTTP/1.1"
    peer: tuple[str, int] | None = None  # client address: equal peers = a reused keep-alive connection
    headers: dict[str, str] = field(init=False)

    def __post_init__(self) -> None:
        merged: dict[str, str] = {}
        for name, value in self.raw_headers:
            key = name.lower()
            merged[key] = f"{merged[key]}, {value}" if key in merged else value
        object.__setattr__(self, "headers", merged)

    @property
    def path(self) -> str:
        """The path as sent (still percent-encoded)."""
        return urlsplit(self.target).path

    @property
    def query(self) -> dict[str, list[str]]:
        """Query parameters, e.g. ``{"beta": ["true"]}``."""
        return parse_qs(urlsplit(self.target).query, keep_blank_values=True)

    def header_values(self, name: str) -> list[str]:
        """Every value of a (possibly repeated) header, in order."""
        return [value for key, value in self.raw_headers if key.lower() == name.lower()]

    @cached_property
    def json(self) -> Any:
        """The body parsed as JSON, or ``None`` when it is empty or not JSON."""
        if not self.body:
            return None
        try:
            return json.loads(self.body)
        except ValueError:
            return None


class Response:
    """Writes one HTTP response on a connection, including the broken ways of doing so."""

    def __init__(self, writer: asyncio.StreamWriter, *, keep_alive: bool) -> None:
        self._writer = writer
        self.keep_alive = keep_alive
        self.head_sent = False
        self.complete = False  # a well-formed response ended; the connection may be reused
        self._chunked = False

    @property
    def client_gone(self) -> bool:
        return self._writer.transport.is_closing()

    async def send(self, status: int, headers: Mapping[str, str], body: bytes) -> None:
        """A complete response with ``Content-Length``."""
        await self.send_head(status, headers, content_length=len(body))
        await self.write_raw(body)
        self.complete = True

    async def send_head(self, status: int, headers: Mapping[str, str], *, content_length: int | None) -> None:
        """The status line and headers; ``content_length=None`` selects chunked encoding."""
        reason = _reason(status)
        lines = [f"HTTP/1.1 {status} {reason}"]
        lines += [f"{name}: {value}" for name, value in headers.items()]
        if content_length is None:
            lines.append("transfer-encoding: chunked")
            self._chunked = True
        else:
            lines.append(f"content-length: {content_length}")
        lines.append(f"connection: {'keep-alive' if self.keep_alive else 'close'}")
        await self.write_raw(("\r\n".join(lines) + "\r\n\r\n").encode("latin-1"))
        self.head_sent = True

    async def write_chunk(self, data: bytes) -> None:
        """One chunk of a chunked body (empty data is skipped: it would end the body)."""
        if data:
            await self.write_raw(b"%x\r\n%s\r\n" % (len(data), data))

    async def end_chunked(self) -> None:
        """The terminating zero-length chunk: a clean end of the body."""
        await self.write_raw(b"0\r\n\r\n")
        self.complete = True

    async def write_raw(self, data: bytes) -> None:
        if self.client_gone:
            raise ConnectionResetError("client went away")
        self._writer.write(data)
        await self._writer.drain()

    async def reset(self) -> None:
        """Abort the TCP connection with RST (SO_LINGER 0), after a short grace period."""
        await asyncio.sleep(RESET_GRACE_SECONDS)
        sock = self._writer.get_extra_info("socket")
        if sock is not None:
            with contextlib.suppress(OSError):
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        self._writer.transport.abort()

    async def close(self) -> None:
        """Close the connection normally (FIN) whatever state the response is in."""
        await asyncio.sleep(RESET_GRACE_SECONDS)
        self._writer.close()


Handler = Callable[[RecordedRequest, Response], Awaitable[None]]


class LoopbackHTTPServer:
    """Serves ``handler`` on 127.0.0.1 from a background thread with its own event loop."""

    def __init__(self, handler: Handler, *, port: int = 0) -> None:
        self._handler = handler
        self.port = port
        self.errors: list[str] = []  # handler crashes (tracebacks), surfaced by the fixtures
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._server: asyncio.Server | None = None
        self._tasks: set[asyncio.Task[None]] = set()

    # -- lifecycle (called from the test thread) -------------------------------------------

    def start(self) -> None:
        loop = asyncio.new_event_loop()
        self._loop = loop
        self._thread = threading.Thread(target=loop.run_forever, name="fake-upstream", daemon=True)
        self._thread.start()
        self._call(self._listen())

    def stop(self) -> None:
        if self._loop is None or self._thread is None:
            return
        with contextlib.suppress(Exception):
            self._call(self._shutdown())
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=STOP_TIMEOUT_SECONDS)
        if not self._thread.is_alive():
            self._loop.close()
        self._loop = self._thread = None

    def go_offline(self) -> None:
        """Stop listening and drop open connections: new connections are refused."""
        self._call(self._shutdown())

    def go_online(self) -> None:
        """Listen again on the same port."""
        self._call(self._listen())

    def _call(self, coro: Awaitable[Any]) -> Any:
        assert self._loop is not None, "server not started"
        return asyncio.run_coroutine_threadsafe(coro, self._loop).result(timeout=STOP_TIMEOUT_SECONDS)  # type: ignore[arg-type]

    # -- inside the loop ---------------------------------------------------------------------

    async def _listen(self) -> None:
        if self._server is not None:
            return
        self._server = await asyncio.start_server(
            self._on_connection, host="127.0.0.1", port=self.port, limit=MAX_HEAD_BYTES, reuse_address=True
        )
        self.port = self._server.sockets[0].getsockname()[1]

    async def _shutdown(self) -> None:
        if self._server is not None:
            self._server.close()
            self._server = None
        tasks = list(self._tasks)
        for task in tasks:
            task.cancel()
        if tasks:
            await asyncio.wait(tasks, timeout=STOP_TIMEOUT_SECONDS)

    async def _on_connection(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._tasks.add(task)
        writer.transport.set_write_buffer_limits(high=0)  # type: ignore[attr-defined]
        try:
            await self._serve(reader, writer)
        except (ConnectionError, asyncio.IncompleteReadError, asyncio.CancelledError):
            pass
        except Exception:
            self.errors.append(traceback.format_exc())
        finally:
            self._tasks.discard(task)
            writer.transport.abort()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        for _ in range(10_000):  # bounded: one iteration per keep-alive request
            request = await _read_request(reader, writer)
            if request is None:
                return
            keep_alive = _wants_keep_alive(request)
            response = Response(writer, keep_alive=keep_alive)
            try:
                await self._handler(request, response)
            except (ConnectionError, asyncio.CancelledError):
                raise
            except Exception:
                self.errors.append(traceback.format_exc())
                if not response.head_sent:
                    response.keep_alive = False
                    await response.send(500, {"content-type": "text/plain"}, b"fake upstream handler crashed")
                return
            if not (response.complete and response.keep_alive) or writer.transport.is_closing():
                return


async def _read_request(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> RecordedRequest | None:
    try:
        head = await reader.readuntil(b"\r\n\r\n")
    except asyncio.IncompleteReadError:
        return None
    except asyncio.LimitOverrunError:
        writer.write(b"HTTP/1.1 431 Request Header Fields Too Large\r\ncontent-length: 0\r\nconnection: close\r\n\r\n")
        return None
    lines = head.decode("latin-1").split("\r\n")
    method, target, version = lines[0].split(" ", 2)
    raw_headers: list[tuple[str, str]] = []
    for line in lines[1:]:
        if line:
            name, _, value = line.partition(":")
            raw_headers.append((name.strip(), value.strip()))
    lowered = {name.lower(): value for name, value in raw_headers}
    if lowered.get("expect", "").lower() == "100-continue":
        writer.write(b"HTTP/1.1 100 Continue\r\n\r\n")
    if "chunked" in lowered.get("transfer-encoding", "").lower():
        body = await _read_chunked(reader)
    else:
        length = int(lowered.get("content-length", "0") or 0)
        if length > MAX_BODY_BYTES:
            raise ConnectionResetError("request body too large for the fake")
        body = await reader.readexactly(length) if length else b""
    peer = writer.get_extra_info("peername")
    return RecordedRequest(method=method, target=target, raw_headers=tuple(raw_headers), body=body,
                           http_version=version, peer=(peer[0], peer[1]) if peer else None)


async def _read_chunked(reader: asyncio.StreamReader) -> bytes:
    parts: list[bytes] = []
    total = 0
    while total <= MAX_BODY_BYTES:
        size = int((await reader.readuntil(b"\r\n")).split(b";")[0].strip(), 16)
        if size == 0:
            while (await reader.readuntil(b"\r\n")) != b"\r\n":  # trailers
                pass
            return b"".join(parts)
        parts.append(await reader.readexactly(size))
        total += size
        await reader.readexactly(2)
    raise ConnectionResetError("chunked request body too large for the fake")


def _wants_keep_alive(request: RecordedRequest) -> bool:
    connection = request.headers.get("connection", "").lower()
    if request.http_version == "HTTP/1.0":
        return "keep-alive" in connection
    return "close" not in connection


def _reason(status: int) -> str:
    if status == 529:
        return "Site Overloaded"
    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return "Unknown"


@contextlib.contextmanager
def closed_port() -> Iterator[int]:
    """A loopback port that refuses connections: bound (so nobody else takes it) but not listening."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        yield int(sock.getsockname()[1])
