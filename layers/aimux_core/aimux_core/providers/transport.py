"""The one pooled HTTP client every HTTP adapter shares, with the timeouts an LLM upstream needs.

One ``httpx.AsyncClient`` per process (created on first use, reused across requests and across
warm Lambda invocations): HTTP/1.1 keep-alive, so consecutive calls to a provider skip the TCP
and TLS handshakes.

Timeouts (``Timeouts``):
- ``connect``: establishing the connection;
- ``first_byte``: from sending a streaming request to the first body bytes (a stalled upstream
  fails over instead of hanging the client);
- ``idle``: longest silence between two chunks of a stream;
- ``total``: the whole call, non-streaming answers included (they send nothing until done).

Every failure becomes an ``UpstreamError`` (see ``upstream_errors``). Closing the stream iterator
closes the upstream response, so a client that disconnects cancels the upstream request.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass

import httpx

from ..errors import UpstreamError
from .upstream_errors import connection_error, timeout_error, upstream_error


@dataclass(frozen=True, slots=True)
class Timeouts:
    connect: float = 10.0
    first_byte: float = 120.0
    idle: float = 120.0
    total: float = 900.0


@dataclass(frozen=True, slots=True)
class Reply:
    """A complete non-streaming answer (2xx only; errors raise)."""

    status: int
    headers: httpx.Headers
    body: bytes


_client: httpx.AsyncClient | None = None


def shared_client() -> httpx.AsyncClient:
    """The process-wide pooled client (lazily created: nothing happens at import)."""
    global _client
    if _client is None or _client.is_closed:
        _client = httpx.AsyncClient(
            http1=True,
            http2=False,
            limits=httpx.Limits(max_connections=256, max_keepalive_connections=64, keepalive_expiry=60),
            timeout=None,
            follow_redirects=False,
        )
    return _client


async def close_shared_client() -> None:
    global _client
    if _client is not None:
        await _client.aclose()
        _client = None


class HttpTransport:
    """JSON POSTs and streamed POSTs against one provider, with typed failures."""

    def __init__(self, provider: str, timeouts: Timeouts, client: httpx.AsyncClient | None = None) -> None:
        self.provider = provider
        self.timeouts = timeouts
        self._client = client

    @property
    def client(self) -> httpx.AsyncClient:
        return self._client or shared_client()

    def _timeout(self, read: float) -> httpx.Timeout:
        t = self.timeouts
        return httpx.Timeout(connect=t.connect, read=read, write=t.connect, pool=t.connect)

    async def post(self, url: str, headers: Mapping[str, str], body: bytes) -> Reply:
        """POST and read the whole answer within ``total``."""
        timeout = self._timeout(self.timeouts.total).as_dict()
        request = self.client.build_request("POST", url, headers=headers, content=body, extensions={"timeout": timeout})
        try:
            async with asyncio.timeout(self.timeouts.total):
                response = await self.client.send(request)
        except TimeoutError:
            raise timeout_error(self.provider, f"no answer within {self.timeouts.total:g}s") from None
        except httpx.HTTPError as exc:
            raise self._transport_error(exc) from None
        if response.status_code >= 400:
            raise upstream_error(self.provider, response.status_code, response.headers, response.content)
        return Reply(response.status_code, response.headers, response.content)

    async def stream(self, url: str, headers: Mapping[str, str], body: bytes) -> AsyncIterator[bytes]:
        """POST and yield body chunks; the first must come within ``first_byte``, the rest within ``idle``."""
        t = self.timeouts
        deadline = time.monotonic() + t.total
        # Raw body bytes are yielded as they arrive, so ask for them uncompressed.
        headers = {"accept-encoding": "identity", **headers}
        request = self.client.build_request(
            "POST", url, headers=headers, content=body, extensions={"timeout": self._timeout(t.idle).as_dict()}
        )
        response: httpx.Response | None = None
        try:
            try:
                async with asyncio.timeout(min(t.first_byte, t.total)):
                    response = await self.client.send(request, stream=True)
                    if response.status_code >= 400:
                        await response.aread()
                        raise upstream_error(self.provider, response.status_code, response.headers, response.content)
                    chunks = response.aiter_raw()
                    first = await anext(chunks, b"")
            except TimeoutError:
                raise timeout_error(self.provider, f"no first byte within {t.first_byte:g}s") from None
            if first:
                yield first
            async for chunk in chunks:
                if time.monotonic() > deadline:
                    raise timeout_error(self.provider, f"stream exceeded the {t.total:g}s total deadline")
                yield chunk
        except httpx.HTTPError as exc:
            raise self._transport_error(exc) from None
        finally:
            if response is not None:
                await response.aclose()

    def _transport_error(self, exc: httpx.HTTPError) -> UpstreamError:
        if isinstance(exc, httpx.ConnectTimeout):
            return timeout_error(self.provider, f"connect timed out after {self.timeouts.connect:g}s")
        if isinstance(exc, httpx.ConnectError):
            return connection_error(self.provider, "connection failed")
        if isinstance(exc, httpx.ReadTimeout):
            return timeout_error(self.provider, f"no data for {self.timeouts.idle:g}s")
        if isinstance(exc, httpx.TimeoutException):
            return timeout_error(self.provider, "timed out")
        return connection_error(self.provider, f"connection broken ({type(exc).__name__})")
