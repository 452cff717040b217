"""``WireTap``: the exact bytes the gateway sent, alongside the SDK's parsed view of them.

An ``httpx2`` transport (the HTTP library both official SDKs use) that keeps the raw bytes of every
response while the SDK parses them, so one call gives both the SDK's folded view and the exact
bytes the gateway sent (which the grammar checks need).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

import httpx2


@dataclass
class Exchange:
    """One HTTP exchange as the SDK saw it: status, headers and the body bytes it consumed."""

    method: str
    url: str
    status: int
    headers: Mapping[str, str]
    body: bytearray

    @property
    def raw(self) -> bytes:
        return bytes(self.body)


class _TeeStream(httpx2.SyncByteStream):
    def __init__(self, inner: Any, sink: bytearray) -> None:
        self._inner = inner
        self._sink = sink

    def __iter__(self) -> Iterator[bytes]:
        for chunk in self._inner:
            self._sink.extend(chunk)
            yield chunk

    def close(self) -> None:
        self._inner.close()


class WireTap(httpx2.BaseTransport):
    """Records every response body byte-for-byte as the SDK reads it (no buffering, so streaming
    behaviour, timeouts included, is exactly the SDK's own)."""

    def __init__(self) -> None:
        self._inner = httpx2.HTTPTransport()
        self.exchanges: list[Exchange] = []

    @property
    def last(self) -> Exchange:
        assert self.exchanges, "the client sent no request"
        return self.exchanges[-1]

    def handle_request(self, request: httpx2.Request) -> httpx2.Response:
        response = self._inner.handle_request(request)
        sink = bytearray()
        self.exchanges.append(Exchange(request.method, str(request.url), response.status_code,
                                       dict(response.headers), sink))
        return httpx2.Response(response.status_code, headers=response.headers,
                               stream=_TeeStream(response.stream, sink), extensions=response.extensions,
                               request=request)

    def close(self) -> None:
        self._inner.close()
