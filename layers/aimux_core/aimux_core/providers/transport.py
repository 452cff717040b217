"""The one pooled HTTP client every HTTP adapter shares, with the timeouts an LLM upstream needs.

One ``httpx.AsyncClient`` per process and event loop (created on first use, reused across
requests and across warm Lambda invocations): HTTP/1.1 keep-alive, so consecutive calls to a
provider skip the TCP and TLS handshakes.

The client keeps the httpx API (adapters and tests only see ``httpx``) but moves its bytes with
aiohttp, through the ``httpx-aiohttp`` transport: on this stack httpx's own transport (httpcore +
anyio) costs more CPU per upstream call than everything else aimux does for a request, and the
aiohttp one about half of it (``bench/README.md``, "Against an HTTP upstream"). Two things the
package does not do are done by ``aiohttp_backend.AiohttpBackend``: its exception mapping turns a refused or
reset connection into ``ConnectTimeout``, so aiohttp errors are mapped again from their cause to
the httpx error httpx itself would raise; and aiohttp's own cookie jar is off (cookies are
httpx's business, and the shared client keeps none, see below). The plain httpx transport is
used instead when a proxy is configured in the environment (httpx honours ``HTTPS_PROXY`` and
``NO_PROXY`` only with its own transport, and aiohttp would look them up in a thread on every
request), when ``AIMUX_UPSTREAM_TRANSPORT=httpx`` says so (an escape hatch should an upstream trip
over aiohttp), or when ``httpx-aiohttp`` is not installed. aiohttp is imported on first use, never
at import (Lambda cold start).

The client keeps no cookies (``_Client``): it serves every caller of the gateway, so an upstream's
``Set-Cookie`` must not ride along on other callers' requests (httpx would also parse every answer's
headers for cookies). httpx's own INFO line per call ("HTTP Request: POST ...") is turned down to
WARNING unless the ``httpx`` logger was configured: aimux logs one line per request itself.

Timeouts (``Timeouts``):
- ``connect``: establishing the connection;
- ``first_byte``: from sending a streaming request to the first body bytes (a stalled upstream
  fails over instead of hanging the client); for a buffered call, to the answer's headers. A
  provider sends a buffered answer's headers only once it has generated all of it, so a buffered
  call that may generate ``output_tokens`` waits ``first_byte + output_tokens / min_output_rate``
  for them (``min_output_rate`` None: ``first_byte`` alone). Without that allowance a long answer
  would be cut as if the provider had stalled;
- ``idle``: longest silence between two chunks of a stream, or of a buffered answer's body;
- ``total``: the whole call.

(``connect`` also bounds the wait for a pooled connection; with aiohttp it does not bound writes,
which for request bodies of this size never block.)

Every failure becomes an ``UpstreamError`` (see ``upstream_errors``). Closing the stream iterator
closes the upstream response, so a client that disconnects cancels the upstream request.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncGenerator, Mapping
from dataclasses import dataclass
from typing import Any

import httpx

from ..errors import UpstreamError
from ..settings import UpstreamTransport
from ..translate.upstream_errors import connection_error, timeout_error, upstream_error
from .aiohttp_backend import AiohttpBackend


@dataclass(frozen=True, slots=True)
class Timeouts:
    connect: float = 10.0
    first_byte: float = 120.0
    idle: float = 120.0
    total: float = 900.0
    min_output_rate: float | None = 10.0  # output tokens/s a buffered answer may be generated at, at worst

    def headers_within(self, output_tokens: int | None) -> float:
        """Seconds a buffered call waits for the answer's headers (see the module docstring)."""
        wait = self.first_byte
        if output_tokens and self.min_output_rate:
            wait += output_tokens / self.min_output_rate
        return min(wait, self.total)


@dataclass(frozen=True, slots=True)
class Reply:
    """A complete non-streaming answer (2xx only; errors raise)."""

    status: int
    headers: httpx.Headers
    body: bytes


_LIMITS = httpx.Limits(max_connections=256, max_keepalive_connections=64, keepalive_expiry=60)
log = logging.getLogger("aimux.transport")

_client: httpx.AsyncClient | None = None
_backend: UpstreamTransport = "aiohttp"
_client_loop: asyncio.AbstractEventLoop | None = None


def shared_client() -> httpx.AsyncClient:
    """The process-wide pooled client (lazily created: nothing happens at import).

    A client belongs to the event loop it was first used on (its pooled connections do); a call
    from another loop (tests, a host that runs each invocation in a fresh loop) gets a new client
    rather than sockets registered with a loop that is no longer running.
    """
    global _client, _client_loop
    try:
        loop: asyncio.AbstractEventLoop | None = asyncio.get_running_loop()
    except RuntimeError:
        loop = None
    stale = _client is not None and loop is not None and _client_loop is not None and loop is not _client_loop
    if _client is None or _client.is_closed or stale:
        _client = new_client()
        _client_loop = loop
    elif _client_loop is None:
        _client_loop = loop
    return _client


async def close_shared_client() -> None:
    global _client, _client_loop
    if _client is not None:
        await _client.aclose()
        _client, _client_loop = None, None


def use_backend(backend: UpstreamTransport) -> None:
    """What moves the shared client's bytes from now on (``AIMUX_UPSTREAM_TRANSPORT``, set at assembly)."""
    global _backend
    _backend = backend


def new_client(backend: UpstreamTransport | None = None) -> httpx.AsyncClient:
    """A pooled client like the shared one; ``backend`` is "aiohttp" or "httpx" (default: ``use_backend``'s)."""
    kind = backend or _backend
    transport: httpx.AsyncBaseTransport | None = None
    if kind == "aiohttp" and not _environment_proxies():
        try:
            transport = AiohttpBackend(_LIMITS)
        except ImportError:
            log.warning("httpx-aiohttp is not installed: upstream calls use httpx's own transport")
    httpx_log = logging.getLogger("httpx")
    if httpx_log.level == logging.NOTSET:  # left alone when the operator configured it
        httpx_log.setLevel(logging.WARNING)
    return _Client(http1=True, http2=False, limits=_LIMITS, timeout=None, follow_redirects=False, transport=transport)


class _NoCookies(httpx.Cookies):
    """A cookie jar that never learns from answers (see ``_Client``)."""

    def extract_cookies(self, response: httpx.Response) -> None:
        """Ignore ``Set-Cookie``."""


_NO_COOKIES = _NoCookies()


class _Client(httpx.AsyncClient):
    """``httpx.AsyncClient`` without client-level cookies: one client serves every caller.

    Cookies passed with a single request still go out; nothing an upstream sets is kept. Parsing
    each answer for cookies was also ~4 % of a small request's CPU (``bench/README.md``).
    """

    @property
    def cookies(self) -> httpx.Cookies:
        return _NO_COOKIES

    @cookies.setter
    def cookies(self, cookies: Any) -> None:
        """Ignored (httpx's constructor sets the jar through ``_cookies``, not here)."""


def _environment_proxies() -> bool:
    """Whether the environment names a proxy (what httpx would honour with its own transport)."""
    import urllib.request  # slow to import (http.client, email): only when the shared client is built

    return any(scheme in ("http", "https", "all") for scheme in urllib.request.getproxies())


class HttpTransport:
    """JSON POSTs and streamed POSTs against one provider, with typed failures."""

    def __init__(self, provider: str, timeouts: Timeouts, client: httpx.AsyncClient | None = None) -> None:
        self.provider = provider
        self.timeouts = timeouts
        self._client = client
        # Built once rather than per call (the request's own timeouts, see ``_timeout``); a buffered
        # call's socket reads may wait as long as its header wait, one dict per distinct wait.
        self._stream_timeout = self._timeout(timeouts.idle).as_dict()
        self._post_timeouts: dict[float, dict[str, Any]] = {}
        self._urls: dict[str, httpx.URL] = {}

    @property
    def client(self) -> httpx.AsyncClient:
        return self._client or shared_client()

    def _timeout(self, read: float) -> httpx.Timeout:
        t = self.timeouts
        return httpx.Timeout(connect=t.connect, read=read, write=t.connect, pool=t.connect)

    def _url(self, url: str) -> httpx.URL:
        """The parsed URL: an adapter calls a few fixed URLs, and ``build_request`` with a parsed one
        skips re-parsing the string (~10 us a call, a third of building the request)."""
        parsed = self._urls.get(url)
        if parsed is None:
            parsed = httpx.URL(url)
            if len(self._urls) < 64:
                self._urls[url] = parsed
        return parsed

    async def post(
        self, url: str, headers: Mapping[str, str], body: bytes, *, output_tokens: int | None = None
    ) -> Reply:
        """POST and read the whole answer: headers within ``Timeouts.headers_within(output_tokens)``
        (``output_tokens``: the most the answer may generate), then no silence longer than ``idle``,
        all within ``total``."""
        t = self.timeouts
        loop = asyncio.get_running_loop()
        deadline = loop.time() + t.total
        headers_within = t.headers_within(output_tokens)
        request = self.client.build_request(
            "POST", self._url(url), headers=headers, content=body,
            extensions={"timeout": self._post_timeout(headers_within)},
        )  # fmt: skip
        response: httpx.Response | None = None
        try:
            try:
                async with asyncio.timeout(headers_within):
                    response = await self.client.send(request, stream=True)
            except TimeoutError:
                raise timeout_error(self.provider, f"no answer headers within {headers_within:g}s") from None
            try:
                async with asyncio.timeout_at(deadline):
                    content = await self._read_body(response)
            except TimeoutError:
                raise timeout_error(self.provider, f"no complete answer within {t.total:g}s") from None
        except httpx.HTTPError as exc:
            raise self._transport_error(exc) from None
        finally:
            if response is not None:
                await response.aclose()
        assert response is not None
        if response.status_code >= 400:
            raise upstream_error(self.provider, response.status_code, response.headers, content)
        return Reply(response.status_code, response.headers, content)

    def _post_timeout(self, headers_within: float) -> dict[str, Any]:
        found = self._post_timeouts.get(headers_within)
        if found is None:
            found = self._timeout(max(headers_within, self.timeouts.idle)).as_dict()
            if len(self._post_timeouts) < 64:
                self._post_timeouts[headers_within] = found
        return found

    async def _read_body(self, response: httpx.Response) -> bytes:
        """The decoded body, each piece within ``idle`` of the one before."""
        idle = self.timeouts.idle
        chunks: list[bytes] = []
        pieces = response.aiter_bytes()
        while True:
            try:
                async with asyncio.timeout(idle):
                    chunk = await anext(pieces, None)
            except TimeoutError:
                raise timeout_error(self.provider, f"no data for {idle:g}s") from None
            if chunk is None:
                return chunks[0] if len(chunks) == 1 else b"".join(chunks)
            chunks.append(chunk)

    async def stream(self, url: str, headers: Mapping[str, str], body: bytes) -> AsyncGenerator[bytes, None]:
        """POST and yield body chunks; the first must come within ``first_byte``, the rest within ``idle``."""
        t = self.timeouts
        deadline = time.monotonic() + t.total
        # Raw body bytes are yielded as they arrive, so ask for them uncompressed.
        headers = {"accept-encoding": "identity", **headers}
        request = self.client.build_request(
            "POST", self._url(url), headers=headers, content=body, extensions={"timeout": self._stream_timeout}
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
