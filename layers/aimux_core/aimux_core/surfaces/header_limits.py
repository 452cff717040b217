"""Request-header limits for ``aimux serve``: 431 Request Header Fields Too Large past the caps.

uvicorn's HTTP/1.1 parsers bound the body (the app reads it, and ``read_body`` caps it) but not the
head: with httptools, uvicorn's default, a client can send megabytes of header lines, all buffered
(and concatenated piece by piece) before the app runs, which sidesteps the body cap. The Lambda front
doors already refuse large header blocks; these protocol classes do the same for a process serving
HTTP itself:

- ``MAX_HEADER_BYTES`` (64 KiB) for the request line and all header lines together,
- ``MAX_HEADER_LINE_BYTES`` (16 KiB) for the request line or any one header line.

The bytes of a head are counted as they arrive, so an endless head is cut after at most the cap plus
one socket read, before the parser has buffered it. The answer is 431 with a JSON error in the dialect
the request line points to (Anthropic's unless the path is an OpenAI one), then the connection closes.

``header_limited_protocol()`` picks the class for uvicorn's ``http=`` setting, as uvicorn's ``auto``
would (httptools when installed, else h11). Only ``aimux serve`` imports this module.
"""

from __future__ import annotations

import asyncio
import json
import secrets
from functools import cache
from typing import Any

import h11
from uvicorn.protocols.http.h11_impl import H11Protocol

MAX_HEADER_BYTES = 64 * 1024
MAX_HEADER_LINE_BYTES = 16 * 1024
_LINE_OVERHEAD = 4  # ": " and CRLF around each header line


class _HeadTooLarge(Exception):
    """Raised inside a parser callback to stop parsing a head that is over a cap."""


def too_large_response(target: bytes) -> bytes:
    """The whole 431 answer (status line, headers, JSON body) for a request whose target is ``target``."""
    message = (
        f"request header fields too large: at most {MAX_HEADER_BYTES // 1024} KiB of headers, "
        f"{MAX_HEADER_LINE_BYTES // 1024} KiB per line"
    )
    path = target.split(b"?", 1)[0]
    request_id = "req_" + secrets.token_hex(12)
    body: dict[str, Any]
    if path.startswith(b"/openai/") or path.endswith(b"/chat/completions"):
        body = {"error": {"message": message, "type": "invalid_request_error", "param": None,
                          "code": "request_too_large"}}  # fmt: skip
    else:
        body = {"type": "error", "error": {"type": "request_too_large", "message": message}, "request_id": request_id}
    content = json.dumps(body, separators=(",", ":")).encode()
    head = (
        "HTTP/1.1 431 Request Header Fields Too Large\r\n"
        "content-type: application/json\r\n"
        f"content-length: {len(content)}\r\n"
        f"request-id: {request_id}\r\nx-request-id: {request_id}\r\n"
        "connection: close\r\n\r\n"
    )
    return head.encode("ascii") + content


def _refuse(transport: asyncio.Transport, target: bytes) -> None:
    if not transport.is_closing():
        transport.write(too_large_response(target))
        transport.close()


def header_limited_protocol() -> type[asyncio.Protocol]:
    """The HTTP/1.1 protocol class for ``uvicorn.run(http=...)``: httptools when installed, else h11."""
    try:
        import httptools  # noqa: F401
    except ImportError:  # pragma: no cover - httptools ships with aimux on Linux and macOS
        return HeaderLimitedH11Protocol
    return _httptools_protocol()


@cache
def _httptools_protocol() -> type[asyncio.Protocol]:
    """Built on first use: httptools is optional, and importing uvicorn's module for it needs it."""
    from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol  # needs httptools, which is optional

    class HeaderLimitedHttpToolsProtocol(HttpToolsProtocol):
        """uvicorn's httptools protocol with the header caps of this module."""

        def __init__(self, *args: Any, **kwargs: Any) -> None:
            super().__init__(*args, **kwargs)
            self._in_head = True  # between the end of one message and the end of the next one's head
            self._head_received = 0  # raw bytes received while in a head
            self._head_size = 0  # bytes of the head parsed so far
            self._oversized = False

        def data_received(self, data: bytes) -> None:
            if self._in_head:
                self._head_received += len(data)
            super().data_received(data)
            if self._in_head and self._head_received > MAX_HEADER_BYTES:
                # A head still incomplete after this many bytes (a line that never ends, say): cut it
                # before the parser buffers more. Counting starts at the head, so nothing else is counted.
                self._oversized = True
                _refuse(self.transport, getattr(self, "url", b""))

        def on_message_begin(self) -> None:
            super().on_message_begin()
            self._in_head, self._head_size = True, 0

        def on_url(self, url: bytes) -> None:
            super().on_url(url)
            self._count(len(url), len(self.url))

        def on_header(self, name: bytes, value: bytes) -> None:
            self._count(len(name) + len(value) + _LINE_OVERHEAD, len(name) + len(value))
            super().on_header(name, value)

        def on_headers_complete(self) -> None:
            self._in_head, self._head_received = False, 0
            super().on_headers_complete()

        def on_message_complete(self) -> None:
            super().on_message_complete()
            self._in_head, self._head_received = True, 0

        def send_400_response(self, msg: str) -> None:
            if self._oversized:  # our own callback stopped the parser: not a malformed request
                _refuse(self.transport, getattr(self, "url", b""))
            else:
                super().send_400_response(msg)

        def _count(self, added: int, line: int) -> None:
            self._head_size += added
            if line > MAX_HEADER_LINE_BYTES or self._head_size > MAX_HEADER_BYTES:
                self._oversized = True
                raise _HeadTooLarge

    return HeaderLimitedHttpToolsProtocol


class HeaderLimitedH11Protocol(H11Protocol):
    """uvicorn's h11 protocol with the header caps of this module (uvicorn would answer 400, or serve).

    h11 bounds only a head that is still incomplete (``max_incomplete_event_size``: pass
    ``h11_max_incomplete_event_size=MAX_HEADER_BYTES`` to uvicorn); a head that arrives whole is
    measured here when h11 hands it over, before uvicorn runs the app.
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._oversized = b""  # the target of a request refused for its head, once there is one
        parse = self.conn.next_event

        def next_event() -> Any:
            event = parse()
            if isinstance(event, h11.Request) and _h11_head_too_large(event):
                self._oversized = event.target or b"/"
                raise h11.RemoteProtocolError("request head too large", error_status_hint=431)
            return event

        self.conn.next_event = next_event  # type: ignore[method-assign]  # per-connection wrapper of h11's method

    def send_400_response(self, msg: str) -> None:
        buffered, _ = self.conn.trailing_data
        if self._oversized:
            _refuse(self.transport, self._oversized)
        elif len(buffered) > MAX_HEADER_BYTES:
            request_line = buffered.split(b"\r\n", 1)[0].split(b" ")
            _refuse(self.transport, request_line[1] if len(request_line) > 1 else b"")
        else:
            super().send_400_response(msg)


def _h11_head_too_large(request: h11.Request) -> bool:
    lines = [len(request.target)] + [len(name) + len(value) for name, value in request.headers]
    return max(lines) > MAX_HEADER_LINE_BYTES or sum(lines) + _LINE_OVERHEAD * len(lines) > MAX_HEADER_BYTES
