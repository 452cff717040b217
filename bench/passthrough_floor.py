"""The floor: a bare FastAPI pass-through in front of the fake upstream, with three upstream clients.

Why: any Python gateway on this stack pays for the HTTP server (uvicorn + httptools + uvloop), the
framework, and an HTTP client towards the upstream before it does any work of its own. This app
does nothing else: it reads the body bytes, forwards them with the auth and version headers to the
same path on the upstream (``AIMUX_FLOOR_UPSTREAM``), and returns the answer, streaming it through
chunk by chunk when the upstream sends ``text/event-stream``. It never parses the JSON, so it is the
lowest figure a pass-through can reach, and aimux is judged against it (``bench_upstream.py``).

Factories (``uvicorn passthrough_floor:<factory> --factory``), one per upstream client:

- ``create_httpx_app``: ``httpx.AsyncClient`` with its default transport (httpcore);
- ``create_httpx_aiohttp_app``: the same ``httpx.AsyncClient`` API over ``httpx_aiohttp.AiohttpTransport``;
- ``create_aiohttp_app``: ``aiohttp.ClientSession`` directly, without httpx (the bound on what the
  aiohttp transport can reach).

The clients are configured like aimux's shared client (``providers/transport.py``): HTTP/1.1,
256 connections, 64 kept alive for 60 s, no redirects, no decompression of streamed bytes.
"""

# No ``from __future__ import annotations``: FastAPI reads the route's ``request: Request`` annotation
# at runtime, and ``Request`` is imported inside ``_app`` (the bench process never imports FastAPI).
import os
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Any

UPSTREAM_ENV = "AIMUX_FLOOR_UPSTREAM"
FORWARDED_HEADERS = ("content-type", "x-api-key", "authorization", "anthropic-version", "anthropic-beta", "accept")
TIMEOUT_S = 60.0

# forward(client, url, body, headers) -> a Starlette response
Forwarder = Callable[[Any, str, bytes, dict[str, str]], Awaitable[Any]]
Closer = Callable[[Any], Awaitable[None]]


def _upstream() -> str:
    return os.environ[UPSTREAM_ENV].rstrip("/")


def _app(name: str, open_client: Callable[[], Any], forward: Forwarder, close_client: Closer) -> Any:
    """The FastAPI app: two POST routes that call ``forward``; the client lives as long as the app."""
    from fastapi import FastAPI, Request

    state: dict[str, Any] = {}

    @asynccontextmanager
    async def lifespan(_app: Any) -> AsyncIterator[None]:
        state["client"] = open_client()  # inside the loop: aiohttp sessions bind to it
        try:
            yield
        finally:
            await close_client(state["client"])

    app = FastAPI(title=f"pass-through floor ({name})", lifespan=lifespan, openapi_url=None, docs_url=None)
    base = _upstream()

    async def passthrough(request: Request) -> Any:
        body = await request.body()
        headers = {name: value for name in FORWARDED_HEADERS if (value := request.headers.get(name)) is not None}
        return await forward(state["client"], base + request.url.path, body, headers)

    app.add_api_route("/v1/messages", passthrough, methods=["POST"])
    app.add_api_route("/v1/chat/completions", passthrough, methods=["POST"])

    @app.get("/healthz")
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    return app


# --------------------------------------------------------------------------- httpx (either transport)


def _httpx_client(transport: Any = None) -> Any:
    import httpx

    limits = httpx.Limits(max_connections=256, max_keepalive_connections=64, keepalive_expiry=60)
    return httpx.AsyncClient(
        http1=True, http2=False, limits=limits, timeout=TIMEOUT_S, follow_redirects=False, transport=transport
    )


async def _httpx_forward(client: Any, url: str, body: bytes, headers: dict[str, str]) -> Any:
    from starlette.background import BackgroundTask
    from starlette.responses import Response, StreamingResponse

    response = await client.send(client.build_request("POST", url, content=body, headers=headers), stream=True)
    content_type = response.headers.get("content-type", "application/json")
    if content_type.startswith("text/event-stream"):
        return StreamingResponse(
            response.aiter_raw(),
            response.status_code,
            media_type=content_type,
            background=BackgroundTask(response.aclose),
        )
    try:
        content = await response.aread()
    finally:
        await response.aclose()
    return Response(content, response.status_code, media_type=content_type)


async def _httpx_close(client: Any) -> None:
    await client.aclose()


def create_httpx_app() -> Any:
    """Pass-through with ``httpx.AsyncClient`` and its default (httpcore) transport."""
    return _app("httpx", _httpx_client, _httpx_forward, _httpx_close)


def create_httpx_aiohttp_app() -> Any:
    """Pass-through with ``httpx.AsyncClient`` over the ``httpx-aiohttp`` transport (same httpx API)."""
    import httpx
    from httpx_aiohttp import AiohttpTransport

    def open_client() -> Any:
        limits = httpx.Limits(max_connections=256, max_keepalive_connections=64, keepalive_expiry=60)
        return _httpx_client(AiohttpTransport(limits=limits))

    return _app("httpx-aiohttp", open_client, _httpx_forward, _httpx_close)


# --------------------------------------------------------------------------- aiohttp, no httpx


def _aiohttp_client() -> Any:
    import aiohttp

    connector = aiohttp.TCPConnector(limit=256, keepalive_timeout=60)
    return aiohttp.ClientSession(
        connector=connector, timeout=aiohttp.ClientTimeout(total=TIMEOUT_S), auto_decompress=False
    )


async def _aiohttp_forward(session: Any, url: str, body: bytes, headers: dict[str, str]) -> Any:
    from starlette.background import BackgroundTask
    from starlette.responses import Response, StreamingResponse

    response = await session.post(url, data=body, headers=headers, allow_redirects=False)
    content_type = response.headers.get("content-type", "application/json")
    if content_type.startswith("text/event-stream"):

        async def chunks() -> AsyncIterator[bytes]:
            async for chunk in response.content.iter_any():
                yield chunk

        return StreamingResponse(
            chunks(), response.status, media_type=content_type, background=BackgroundTask(response.release)
        )
    try:
        content = await response.read()
    finally:
        response.release()
    return Response(content, response.status, media_type=content_type)


async def _aiohttp_close(session: Any) -> None:
    await session.close()


def create_aiohttp_app() -> Any:
    """Pass-through with ``aiohttp.ClientSession`` used directly (no httpx layer)."""
    return _app("aiohttp", _aiohttp_client, _aiohttp_forward, _aiohttp_close)


def create_bare_aiohttp_app() -> Any:
    """The issue's floor: bare ASGI + aiohttp, body parsed and model swapped, usage read (``bare_floor.py``)."""
    from bare_floor import create_bare_aiohttp_app as create

    return create()


def create_guarded_aiohttp_app() -> Any:
    """The bare floor plus the cheapest form of issue 17's guarantees (``guarded_floor.py``)."""
    from guarded_floor import create_guarded_aiohttp_app as create

    return create()


FACTORIES: dict[str, str] = {
    "httpx": "create_httpx_app",
    "httpx-aiohttp": "create_httpx_aiohttp_app",
    "aiohttp": "create_aiohttp_app",
    "bare-aiohttp": "create_bare_aiohttp_app",
    "guarded-aiohttp": "create_guarded_aiohttp_app",
}
