"""Upstream calls on one process-wide ``aiohttp.ClientSession``, without httpx: ``transport``'s default path.

Why: through httpx's API (``httpx-aiohttp``) each call also paid httpx's request building, header merging,
``Response`` and byte-iterator wrappers and the adapter between the two, about as much CPU again as
aiohttp's own work (``bench/README.md``, "Where aimux's CPU goes with an upstream"). ``NativeCalls``
keeps every contract of ``transport`` (its docstring): the same ``Timeouts``, the same ``UpstreamError``
for each fault (``transport_contract``), a closed iterator closes the upstream response.

The session (``shared_session``): one per process and event loop, created on first use inside the loop
(aiohttp is imported then, never at import: Lambda cold start), kept across warm invocations; no cookie
jar (one session serves every caller: an upstream's ``Set-Cookie`` must not ride along on others'
requests); at most ``MAX_CONNECTIONS`` connections, idle ones kept ``KEEPALIVE_SECONDS``; header lines
up to 64 KB (aiohttp's default is 8190 bytes, httpx accepts header blocks up to 100 KB); the CA
certificates httpx trusts (certifi, or ``SSL_CERT_FILE`` / ``SSL_CERT_DIR``); gzip/deflate (and br/zstd
when their codecs are installed) answers decoded; no proxy from the environment (``transport`` takes
the httpx path when one is set).
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncGenerator, Mapping
from typing import TYPE_CHECKING

from ..errors import UpstreamError
from ..translate.upstream_errors import upstream_error
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
)

if TYPE_CHECKING:
    import aiohttp
    from yarl import URL

MAX_CONNECTIONS = 256
KEEPALIVE_SECONDS = 60.0
_MAX_HEADER_LINE = 65_536
# aiohttp tells a body cut by a socket error (reset, broken pipe) from one cut by a clean close only in
# its message: "Response payload is not completed: <...>. ConnectionResetError(104, '...')".
_CUT_BY_OS_ERROR = re.compile(r"\. \w*Error\(\d+, ")

_session: aiohttp.ClientSession | None = None
_session_loop: asyncio.AbstractEventLoop | None = None


def shared_session() -> aiohttp.ClientSession:
    """The process-wide session of the running loop (a call from another loop gets a new one: pooled
    connections belong to the loop that opened them)."""
    global _session, _session_loop
    loop = asyncio.get_running_loop()
    if _session is None or _session.closed or _session_loop is not loop:
        _session, _session_loop = _new_session(), loop
    return _session


async def close_shared_session() -> None:
    """Close the shared session if it is the running loop's (a session is closed on the loop that opened
    its connections; another loop's is left to that loop, or replaced by the next call from this one)."""
    global _session, _session_loop
    if _session is not None and _session_loop is asyncio.get_running_loop():
        await _session.close()
        _session, _session_loop = None, None


def _new_session() -> aiohttp.ClientSession:
    import aiohttp  # with the first upstream call, not at the handler's import (cold start)
    import httpx  # its CA trust (certifi, SSL_CERT_FILE/SSL_CERT_DIR), as on the httpx path

    connector = aiohttp.TCPConnector(
        limit=MAX_CONNECTIONS, keepalive_timeout=KEEPALIVE_SECONDS, ssl=httpx.create_ssl_context()
    )
    return aiohttp.ClientSession(
        connector=connector,
        cookie_jar=aiohttp.DummyCookieJar(),
        headers={"User-Agent": USER_AGENT},
        timeout=aiohttp.ClientTimeout(total=None),  # each call passes its own (``NativeCalls``)
        max_line_size=_MAX_HEADER_LINE,
        max_field_size=_MAX_HEADER_LINE,
    )


class NativeCalls:
    """``HttpTransport.post`` and ``.stream`` for one provider on the shared session."""

    def __init__(self, provider: str, timeouts: Timeouts) -> None:
        import aiohttp  # first call of this provider on this path: aiohttp is being used now (cold start)

        self.provider = provider
        self.timeouts = timeouts
        t = timeouts
        # aiohttp's ``connect`` covers waiting for a pooled connection too, ``sock_read`` is the longest
        # silence on the socket (headers included); the timeouts of ``transport``'s contract are enforced
        # around them. Built once per wait, as on the httpx path.
        self._stream_timeout = aiohttp.ClientTimeout(total=None, connect=t.connect, sock_connect=t.connect,
                                                     sock_read=t.idle)  # fmt: skip
        self._post_timeouts: dict[float, aiohttp.ClientTimeout] = {}
        self._urls: dict[str, URL] = {}

    def _url(self, url: str) -> URL:
        """The parsed URL (an adapter calls a few fixed ones; aiohttp would parse the string each time)."""
        parsed = self._urls.get(url)
        if parsed is None:
            from yarl import URL  # aiohttp's URL type, loaded with aiohttp (cold start)

            parsed = URL(url)
            if len(self._urls) < 64:
                self._urls[url] = parsed
        return parsed

    def _post_timeout(self, headers_within: float) -> aiohttp.ClientTimeout:
        found = self._post_timeouts.get(headers_within)
        if found is None:
            import aiohttp  # loaded by the constructor already (cold start)

            t = self.timeouts
            read = max(headers_within, t.idle)
            found = aiohttp.ClientTimeout(total=None, connect=t.connect, sock_connect=t.connect, sock_read=read)
            if len(self._post_timeouts) < 64:
                self._post_timeouts[headers_within] = found
        return found

    async def post(
        self, url: str, headers: Mapping[str, str], body: bytes, *, output_tokens: int | None = None
    ) -> Reply:
        """``transport.HttpTransport.post``: the whole (decoded) answer, or an ``UpstreamError``."""
        import aiohttp  # already loaded (shared_session): a dictionary look-up

        t = self.timeouts
        deadline = asyncio.get_running_loop().time() + t.total
        headers_within = t.headers_within(output_tokens)
        timeout = self._post_timeout(headers_within)
        response: aiohttp.ClientResponse | None = None
        done = False
        try:
            try:
                async with asyncio.timeout(headers_within):
                    response = await self._send(url, headers, body, timeout)
            except TimeoutError:  # only the deadline's: aiohttp's own timeouts are UpstreamErrors by now
                raise no_headers(self.provider, headers_within) from None
            answer = response.content
            if answer.is_eof():  # the whole body came with the headers (most JSON answers): no wait, no timer
                content = answer.read_nowait()
            else:
                try:
                    async with asyncio.timeout_at(deadline):
                        content = await read_all(self.provider, t.idle, answer.iter_any())
                except TimeoutError:
                    raise no_complete_answer(self.provider, t) from None
            done = True
        except aiohttp.ClientError as exc:
            raise self._error(exc) from None
        finally:
            if response is not None:
                _finish(response, done)
        if response.status >= 400:
            raise upstream_error(self.provider, response.status, response.headers, content)
        return Reply(response.status, response.headers, content)

    async def stream(self, url: str, headers: Mapping[str, str], body: bytes) -> AsyncGenerator[bytes, None]:
        """``transport.HttpTransport.stream``: the body's chunks as they arrive."""
        import aiohttp  # already loaded (shared_session): a dictionary look-up

        t = self.timeouts
        loop = asyncio.get_running_loop()
        deadline = loop.time() + t.total
        # Chunks are yielded as they arrive, so ask for them uncompressed.
        headers = {"accept-encoding": "identity", **headers}
        response: aiohttp.ClientResponse | None = None
        done = False
        try:
            try:
                async with asyncio.timeout(min(t.first_byte, t.total)):
                    response = await self._send(url, headers, body, self._stream_timeout)
                    try:
                        if response.status >= 400:
                            content = await response.read()
                            done = True
                            raise upstream_error(self.provider, response.status, response.headers, content)
                        first = await response.content.readany()
                    except aiohttp.ClientError as exc:  # its socket timeout is a TimeoutError too: not ours
                        raise self._error(exc) from None
            except TimeoutError:
                raise no_first_byte(self.provider, t) from None
            if first:
                yield first
                read = response.content.readany
                while chunk := await read():
                    if loop.time() > deadline:
                        raise past_total(self.provider, t)
                    yield chunk
            done = True
        except aiohttp.ClientError as exc:
            raise self._error(exc) from None
        finally:
            if response is not None:
                _finish(response, done)

    async def _send(
        self, url: str, headers: Mapping[str, str], body: bytes, timeout: aiohttp.ClientTimeout
    ) -> aiohttp.ClientResponse:
        """The answer's status and headers; aiohttp's failures (its timeouts are ``TimeoutError``s too)
        become ``UpstreamError``s here, so the caller's deadline handler sees only its own."""
        import aiohttp  # already loaded (shared_session): a dictionary look-up

        try:
            return await shared_session().post(
                self._url(url), data=body, headers=headers, timeout=timeout, allow_redirects=False
            )
        except aiohttp.ClientError as exc:
            raise self._error(exc) from None

    def _error(self, exc: BaseException) -> UpstreamError:
        """The ``UpstreamError`` for an aiohttp failure: the one the httpx path gives for the same fault."""
        import aiohttp  # already loaded: the failure came from it

        t = self.timeouts
        if isinstance(exc, aiohttp.ConnectionTimeoutError):  # sock_connect, or no pooled connection in time
            return connect_timed_out(self.provider, t)
        if isinstance(exc, aiohttp.ServerTimeoutError):  # sock_read: no bytes for that long
            return silent(self.provider, t.idle)
        if isinstance(exc, aiohttp.ClientConnectorError):  # refused, DNS, TLS handshake or certificate
            return connection_failed(self.provider)
        if isinstance(exc, aiohttp.ClientPayloadError) and _CUT_BY_OS_ERROR.search(str(exc)):
            return connection_broken(self.provider, "ReadError")  # body cut by a reset, as httpx says
        if isinstance(exc, aiohttp.ServerDisconnectedError | aiohttp.ClientPayloadError | aiohttp.ClientResponseError):
            return connection_broken(self.provider, "RemoteProtocolError")  # closed early, cut short, bad head
        if isinstance(exc, aiohttp.ClientConnectionError):
            return connection_broken(self.provider, "ReadError")  # reset, broken pipe
        if isinstance(exc, aiohttp.InvalidURL | aiohttp.NonHttpUrlClientError):
            return connection_broken(self.provider, "UnsupportedProtocol")
        return connection_broken(self.provider, "TransportError")


def _finish(response: aiohttp.ClientResponse, read_through: bool) -> None:
    """Back to the pool when the body was read to its end; else the connection is closed, which is
    how the upstream learns that nobody listens any more (a client gone, a failover, a timeout)."""
    if read_through:
        response.release()
    else:
        response.close()
