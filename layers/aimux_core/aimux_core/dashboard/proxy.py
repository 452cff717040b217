"""``aimux dashboard``: the page on 127.0.0.1, its ``/admin`` calls forwarded to a deployed admin API, signed.

The browser never holds AWS credentials and the admin API stays IAM-only: this process signs each
forwarded call (``signing.py``). Because it signs whatever reaches it, it guards itself like the
local admin routes do, and more (a web page the operator visits must not drive it):

- the ``Host`` header must name this listener (``127.0.0.1:<port>`` or ``localhost:<port>``), which
  defeats DNS rebinding (another site's name resolving to 127.0.0.1 makes its page same-origin);
- an ``Origin`` header, when present, must be this listener's;
- a change (any method but GET and HEAD) must carry ``x-aimux-admin``, which a form cannot send and a
  cross-origin script cannot send without a preflight that is never answered.

Only the headers the admin API reads are forwarded (content type, accept, the admin token header);
answers are relayed with their status, type and body.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import httpx
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route
from starlette.types import ASGIApp, Receive, Scope, Send

from ..wire.headers import ADMIN_INTENT_HEADER as INTENT_HEADER
from ..wire.headers import ADMIN_TOKEN_HEADER as TOKEN_HEADER
from ..wire.headers import SAFE_METHODS
from .page import page_routes
from .signing import Signer, SigningError

log = logging.getLogger("aimux.dashboard")

FORWARDED_HEADERS = ("content-type", "accept", TOKEN_HEADER)
RELAYED_HEADERS = ("content-type", "cache-control", "retry-after", "www-authenticate")
TIMEOUT_SECONDS = 30.0
MAX_BODY_BYTES = 1024 * 1024


def create_proxy_app(target: str, signer: Signer, *, port: int) -> Starlette:
    """The dashboard app for ``target`` (the HTTP API base URL), answering on 127.0.0.1:``port``."""
    target = target.rstrip("/")

    clients: list[httpx.AsyncClient] = []  # one, made on first use (connections are reused)

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        yield
        for client in clients:
            await client.aclose()

    def client() -> httpx.AsyncClient:
        if not clients:
            clients.append(httpx.AsyncClient(timeout=TIMEOUT_SECONDS, follow_redirects=False))
        return clients[0]

    async def forward(request: Request) -> Response:
        body = await request.body()
        if len(body) > MAX_BODY_BYTES:
            return _error(413, "invalid_request_error", "request body too large for an admin call")
        url = target + request.url.path + (f"?{request.url.query}" if request.url.query else "")
        headers = {name: request.headers[name] for name in FORWARDED_HEADERS if name in request.headers}
        try:
            signed = signer.sign(request.method, url, headers, body)
        except SigningError as exc:
            return _error(502, "api_error", str(exc))
        try:
            answer = await client().request(request.method, url, headers=signed, content=body)
        except httpx.HTTPError as exc:
            log.warning("dashboard: %s %s failed: %s", request.method, request.url.path, type(exc).__name__)
            return _error(502, "api_error", f"the admin API at {target} did not answer ({type(exc).__name__})")
        relayed = {name: answer.headers[name] for name in RELAYED_HEADERS if name in answer.headers}
        return Response(answer.content, status_code=answer.status_code, headers=relayed)

    methods = ["GET", "POST", "PATCH", "PUT", "DELETE"]
    routes = [*page_routes(), Route("/admin/{path:path}", forward, methods=methods)]
    app = Starlette(routes=routes, lifespan=lifespan)
    app.add_middleware(LocalOnly, port=port)
    return app


class LocalOnly:
    """Answers 403 to anything that is not this listener's own page (see the module docstring)."""

    def __init__(self, app: ASGIApp, port: int) -> None:
        self.app = app
        self.hosts = {f"127.0.0.1:{port}".encode(), f"localhost:{port}".encode()}
        self.origins = {b"http://" + host for host in self.hosts}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            reason = self.refusal(scope)
            if reason is not None:
                await _error(403, "permission_error", reason)(scope, receive, send)
                return
        await self.app(scope, receive, send)

    def refusal(self, scope: Scope) -> str | None:
        headers = dict(scope["headers"])
        if headers.get(b"host", b"").lower() not in self.hosts:
            return "aimux dashboard answers only its own address (127.0.0.1 or localhost with its port)"
        origin = headers.get(b"origin")
        if origin is not None and origin.lower() not in self.origins:
            return "aimux dashboard answers only its own page"
        if scope["method"] not in SAFE_METHODS and INTENT_HEADER.encode() not in headers:
            return f"changes need the {INTENT_HEADER} header (the dashboard page sends it)"
        return None


def _error(status: int, kind: str, message: str) -> JSONResponse:
    body: dict[str, Any] = {"error": {"type": kind, "message": message, "param": None}}
    return JSONResponse(body, status_code=status)
