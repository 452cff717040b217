"""The upstream HTTP client every HTTP adapter shares, with the timeouts an LLM upstream needs.

``HttpTransport.post`` / ``.stream`` have two paths:
- aiohttp without httpx (``aiohttp_session.NativeCalls``), the default: one ``aiohttp.ClientSession``
  per process and event loop, created on first use (aiohttp imported then, never at import: Lambda
  cold start), reused across requests and warm invocations. httpx's own transport (httpcore + anyio)
  cost more CPU per upstream call than everything else aimux does for a request, and httpx's API over
  aiohttp (``httpx-aiohttp``) still about twice aiohttp's own work (``bench/README.md``, "httpx or
  httpx-aiohttp: aiohttp, switched" and "The upstream client without httpx").
- httpx (``shared_client``, or the ``client`` given to ``HttpTransport``: tests with
  ``httpx.MockTransport``) when a proxy is configured in the environment (httpx honours ``HTTPS_PROXY``
  and ``NO_PROXY``; aiohttp would look them up in a thread on every request), when
  ``AIMUX_UPSTREAM_TRANSPORT=httpx`` says so (an escape hatch should an upstream trip over aiohttp), or
  when aiohttp is not installed. The batch APIs (``jobs/native``) use ``shared_client`` too.

Both keep HTTP/1.1 keep-alive (consecutive calls to a provider skip the TCP and TLS handshakes) and no
cookies (one client serves every caller, so an upstream's ``Set-Cookie`` must not ride along on other
callers' requests; httpx would also parse every answer's headers for cookies). httpx's own INFO line per
call ("HTTP Request: POST ...") is turned down to WARNING unless the ``httpx`` logger was configured:
aimux logs one line per request itself.

Timeouts (``Timeouts``, in ``transport_contract`` with everything else both paths share):
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

Every failure becomes an ``UpstreamError`` (see ``upstream_errors``), the same on both paths for the
same fault (``transport_contract``); an HTTP error answer (>= 400) becomes ``upstream_error(provider,
status, headers, body)`` with the body read (and decoded). A buffered answer's body is decoded (gzip...);
a stream asks for ``accept-encoding: identity`` and yields the body's bytes as they arrive. Closing the
stream iterator closes the upstream response, so a client that disconnects cancels the upstream request.
"""

from __future__ import annotations

import asyncio
import importlib.util
import logging
import time
from collections.abc import AsyncGenerator, Mapping
from typing import Any

import httpx

from ..errors import UpstreamError
from ..settings import UpstreamTransport
from ..translate.upstream_errors import upstream_error
from .aiohttp_session import NativeCalls, close_shared_session
from .transport_contract import (
    USER_AGENT,
    Reply,
    Timeouts,
    connect_timed_out,
    connection_broken,
    connection_failed,
    no_complete_answer,
    no_first_byte,
    no_headers,
    past_total,
    read_all,
    silent,
    timed_out,
)

__all__ = ["HttpTransport", "Reply", "Timeouts", "close_shared_client", "new_client", "shared_client", "use_backend"]

_LIMITS = httpx.Limits(max_connections=256, max_keepalive_connections=64, keepalive_expiry=60)
log = logging.getLogger("aimux.transport")

_client: httpx.AsyncClient | None = None
_backend: UpstreamTransport = "aiohttp"
_native: bool | None = None  # whether calls without an explicit client take the aiohttp path (decided once)
_client_loop: asyncio.AbstractEventLoop | None = None


def shared_client() -> httpx.AsyncClient:
    """The process-wide pooled httpx client (lazily created: nothing happens at import).

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
    """Close the shared httpx client and the shared aiohttp session."""
    global _client, _client_loop
    if _client is not None:
        await _client.aclose()
        _client, _client_loop = None, None
    await close_shared_session()


def use_backend(backend: UpstreamTransport) -> None:
    """What moves upstream bytes from now on (``AIMUX_UPSTREAM_TRANSPORT``, set at assembly)."""
    global _backend, _native
    _backend, _native = backend, None


def _native_path() -> bool:
    """Whether calls without an explicit client go through ``aiohttp_session`` (module docstring)."""
    global _native
    if _native is None:
        _native = _backend == "aiohttp" and not _environment_proxies()
        if _native and importlib.util.find_spec("aiohttp") is None:
            log.warning("aiohttp is not installed: upstream calls use httpx's own transport")
            _native = False
    return _native


def new_client() -> httpx.AsyncClient:
    """A pooled httpx client like the shared one (httpx's own transport, no cookies)."""
    httpx_log = logging.getLogger("httpx")
    if httpx_log.level == logging.NOTSET:  # left alone when the operator configured it
        httpx_log.setLevel(logging.WARNING)
    headers = {"user-agent": USER_AGENT}
    return _Client(http1=True, http2=False, limits=_LIMITS, timeout=None, follow_redirects=False, headers=headers)


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
    import urllib.request  # slow to import (http.client, email): only when the first call picks its path

    return any(scheme in ("http", "https", "all") for scheme in urllib.request.getproxies())


class HttpTransport:
    """JSON POSTs and streamed POSTs against one provider, with typed failures.

    ``client``: an httpx client to use instead of the shared transport (tests); without one, calls take
    the aiohttp path unless the module docstring's conditions send them through ``shared_client``.
    """

    def __init__(self, provider: str, timeouts: Timeouts, client: httpx.AsyncClient | None = None) -> None:
        self.provider = provider
        self.timeouts = timeouts
        self._client = client
        self._native: NativeCalls | None = None
        # Built once rather than per call (the request's own timeouts, see ``_timeout``); a buffered
        # call's socket reads may wait as long as its header wait, one dict per distinct wait.
        self._stream_timeout = self._timeout(timeouts.idle).as_dict()
        self._post_timeouts: dict[float, dict[str, Any]] = {}
        self._urls: dict[str, httpx.URL] = {}

    @property
    def client(self) -> httpx.AsyncClient:
        return self._client or shared_client()

    def _native_calls(self) -> NativeCalls | None:
        """The aiohttp path's calls for this provider, or None when this transport uses httpx."""
        if self._native is None and self._client is None and _native_path():
            self._native = NativeCalls(self.provider, self.timeouts)
        return self._native

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
        native = self._native or self._native_calls()
        if native is not None:
            return await native.post(url, headers, body, output_tokens=output_tokens)
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
                raise no_headers(self.provider, headers_within) from None
            try:
                async with asyncio.timeout_at(deadline):
                    content = await read_all(self.provider, t.idle, response.aiter_bytes())
            except TimeoutError:
                raise no_complete_answer(self.provider, t) from None
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

    def stream(self, url: str, headers: Mapping[str, str], body: bytes) -> AsyncGenerator[bytes, None]:
        """POST and yield body chunks; the first must come within ``first_byte``, the rest within ``idle``."""
        native = self._native or self._native_calls()
        if native is not None:
            return native.stream(url, headers, body)
        return self._httpx_stream(url, headers, body)

    async def _httpx_stream(self, url: str, headers: Mapping[str, str], body: bytes) -> AsyncGenerator[bytes, None]:
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
                raise no_first_byte(self.provider, t) from None
            if first:
                yield first
            async for chunk in chunks:
                if time.monotonic() > deadline:
                    raise past_total(self.provider, t)
                yield chunk
        except httpx.HTTPError as exc:
            raise self._transport_error(exc) from None
        finally:
            if response is not None:
                await response.aclose()

    def _transport_error(self, exc: httpx.HTTPError) -> UpstreamError:
        if isinstance(exc, httpx.ConnectTimeout):
            return connect_timed_out(self.provider, self.timeouts)
        if isinstance(exc, httpx.ConnectError):
            return connection_failed(self.provider)
        if isinstance(exc, httpx.ReadTimeout):
            return silent(self.provider, self.timeouts.idle)
        if isinstance(exc, httpx.TimeoutException):
            return timed_out(self.provider)
        return connection_broken(self.provider, type(exc).__name__)
