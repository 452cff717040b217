"""The aiohttp transport behind the shared httpx client (``transport.shared_client``), with httpx's errors.

Why aiohttp at all is told in ``transport``. This module adapts the ``httpx-aiohttp`` package:
its exception mapping turns a refused or reset connection into ``ConnectTimeout``, so aiohttp errors
are mapped again from their cause to the httpx error httpx itself would raise; and aiohttp's own
cookie jar is off (cookies are httpx's business). aiohttp is imported on first use, never at import.
"""

from __future__ import annotations

import ssl
import sys
from collections.abc import AsyncIterator
from typing import Any

import httpx

# aiohttp's default is 8190 bytes per header line; httpx (h11) accepts header blocks up to 100 KB.
_MAX_HEADER_LINE = 65_536


class AiohttpBackend(httpx.AsyncBaseTransport):
    """httpx's transport interface over aiohttp (``httpx_aiohttp.AiohttpTransport``), with httpx's error types.

    The package maps every ``aiohttp.ClientConnectionError`` (refused, reset, server gone) to
    ``httpx.ConnectTimeout``; this wrapper re-raises each failure, of the request and of the body
    stream, as the httpx error httpx's own transport raises for the same fault, so
    ``HttpTransport._transport_error`` classifies it as before. Its session has no cookie jar
    (cookies are the httpx client's business) and accepts header lines as long as httpx does.
    """

    def __init__(self, limits: httpx.Limits) -> None:
        from httpx_aiohttp import AiohttpTransport  # ImportError: the caller falls back to httpx

        # What httpx verifies with (certifi, or SSL_CERT_FILE/SSL_CERT_DIR), loaded once and used by the session.
        ssl_context = httpx.create_ssl_context()
        self._inner = AiohttpTransport(
            verify=ssl_context, limits=limits, client=lambda: _aiohttp_session(limits, ssl_context)
        )

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        try:
            response = await self._inner.handle_async_request(request)
        except Exception as exc:
            mapped = _httpx_error(exc, request)
            if mapped is None:
                raise
            raise mapped from exc
        stream = response.stream
        if not isinstance(stream, httpx.AsyncByteStream):  # httpx-aiohttp answers async bodies only
            raise TypeError(f"expected an async response body, got {type(stream).__name__}")
        response.stream = _TypedStream(stream, request)
        return response

    async def aclose(self) -> None:
        await self._inner.aclose()


class _TypedStream(httpx.AsyncByteStream):
    """A response body whose aiohttp failures surface as httpx errors (see ``AiohttpBackend``)."""

    def __init__(self, inner: httpx.AsyncByteStream, request: httpx.Request) -> None:
        self._inner, self._request = inner, request

    async def __aiter__(self) -> AsyncIterator[bytes]:
        try:
            async for chunk in self._inner:
                yield chunk
        except Exception as exc:
            mapped = _httpx_error(exc, self._request)
            if mapped is None:
                raise
            raise mapped from exc

    async def aclose(self) -> None:
        try:
            await self._inner.aclose()
        except Exception as exc:
            mapped = _httpx_error(exc, self._request)
            if mapped is None:
                raise
            raise mapped from exc


def _aiohttp_session(limits: httpx.Limits, ssl_context: ssl.SSLContext) -> Any:
    """The aiohttp session behind the shared client (created on its first request, inside the loop)."""
    import aiohttp  # with the first upstream call, not at the handler's import (cold start)

    connector = aiohttp.TCPConnector(
        limit=limits.max_connections or 0,
        keepalive_timeout=limits.keepalive_expiry if limits.keepalive_expiry is not None else 60.0,
        ssl=ssl_context,
    )
    return aiohttp.ClientSession(
        connector=connector,
        cookie_jar=aiohttp.DummyCookieJar(),
        auto_decompress=False,  # httpx decodes non-streamed bodies itself; streams ask for identity
        max_line_size=_MAX_HEADER_LINE,
        max_field_size=_MAX_HEADER_LINE,
    )


def _httpx_error(exc: Exception, request: httpx.Request) -> httpx.HTTPError | None:
    """The httpx error for an aiohttp failure (raw, or wrapped by ``httpx_aiohttp``); None for anything else."""
    aiohttp = sys.modules.get("aiohttp")
    if aiohttp is None:
        return None
    cause = exc.__cause__ if isinstance(exc, httpx.HTTPError) else exc
    if not isinstance(cause, aiohttp.ClientError):
        return None
    message = str(cause) or type(cause).__name__
    kind: type[httpx.TransportError]
    if isinstance(cause, aiohttp.ConnectionTimeoutError):
        kind = httpx.ConnectTimeout  # sock_connect, or no pooled connection within ``connect``
    elif isinstance(cause, aiohttp.ServerTimeoutError):
        kind = httpx.ReadTimeout  # sock_read: no bytes for ``idle`` (``total`` for a JSON answer)
    elif isinstance(cause, aiohttp.ClientConnectorError):
        kind = httpx.ConnectError  # refused, DNS, TLS handshake or certificate
    elif isinstance(cause, aiohttp.ServerDisconnectedError | aiohttp.ClientPayloadError | aiohttp.ClientResponseError):
        kind = httpx.RemoteProtocolError  # closed early, body cut short, malformed status line or headers
    elif isinstance(cause, aiohttp.ClientConnectionError):
        kind = httpx.ReadError  # reset, broken pipe
    elif isinstance(cause, aiohttp.InvalidURL | aiohttp.NonHttpUrlClientError):
        kind = httpx.UnsupportedProtocol
    else:
        kind = httpx.TransportError
    return kind(message, request=request)
