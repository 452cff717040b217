"""CORS for browser clients of the client API (``Settings.cors_origins``): preflights and response headers.

Off unless origins are configured: ``create_messages_app`` installs ``CorsMiddleware`` only then, so a
gateway without browser clients pays nothing per request. With origins configured a request without
an ``Origin`` header costs one scan of its header list (``bench/bench_cors.py``).

Rules (the Fetch standard's CORS protocol, for credential-less API calls):

- ``AIMUX_CORS_ORIGINS`` is a comma-separated list of origins (``https://app.example.com``,
  ``http://localhost:5173``), or ``*`` for any origin, which must be written explicitly; ``settings.py``
  checks and normalises it at start.
- A preflight (``OPTIONS`` with ``Origin`` and ``Access-Control-Request-Method``) from an allowed origin
  for ``GET`` or ``POST`` is answered here with 204, whatever the path: the allowed origin, the methods,
  the request headers it asked for (API keys travel in ``x-api-key`` or ``Authorization``, the SDKs add
  their own ``x-stainless-*`` headers) and a 10-minute ``Access-Control-Max-Age``. From any other origin
  or for another method it is refused with 403 and no CORS headers, so the browser blocks the call.
- Other requests from an allowed origin get ``Access-Control-Allow-Origin`` and
  ``Access-Control-Expose-Headers: *`` (the ``x-aimux-*``, ``request-id`` and rate-limit headers are
  readable by the page). Cookies are never involved: ``Access-Control-Allow-Credentials`` is not sent.

Deployed, the function URL and the HTTP API answer preflights themselves from the template's
``CorsAllowedOrigins`` parameter (``infra/template.yaml``); the functions do not set
``AIMUX_CORS_ORIGINS``, since Lambda would add its headers to the app's and browsers refuse two
``Access-Control-Allow-Origin`` values.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from starlette.types import ASGIApp, Message, Receive, Scope, Send

ALLOWED_METHODS = ("GET", "POST")
MAX_AGE_SECONDS = 600
_TOKEN_LIST = re.compile(r"^[!#$%&'*+.^_`|~0-9A-Za-z-]+(\s*,\s*[!#$%&'*+.^_`|~0-9A-Za-z-]+)*$")


@dataclass(frozen=True, slots=True)
class CorsPolicy:
    """The origins whose pages may call the client API (``any_origin``: ``*`` was configured)."""

    origins: frozenset[str]
    any_origin: bool = False

    def allows(self, origin: str) -> bool:
        return self.any_origin or origin in self.origins

    def describe(self) -> str:
        """For ``aimux serve``'s banner."""
        return (
            "any origin may call the client API"
            if self.any_origin
            else "allowed origins " + ", ".join(sorted(self.origins))
        )

    def allow_origin_value(self, origin: str) -> bytes:
        return b"*" if self.any_origin else origin.encode("latin-1")


def cors_policy(origins: Sequence[str]) -> CorsPolicy | None:
    """The policy of ``Settings.cors_origins`` (already checked and normalised there); None: no CORS."""
    if not origins:
        return None
    if "*" in origins:
        return CorsPolicy(frozenset(), any_origin=True)
    return CorsPolicy(frozenset(origins))


class CorsMiddleware:
    """Pure ASGI: answers preflights and marks allowed cross-origin responses (see the module docstring)."""

    def __init__(self, app: ASGIApp, policy: CorsPolicy) -> None:
        self.app = app
        self.policy = policy

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        origin = request_method = request_headers = None
        for name, value in scope["headers"]:
            if name == b"origin":
                origin = value
            elif name == b"access-control-request-method":
                request_method = value
            elif name == b"access-control-request-headers":
                request_headers = value
        if origin is None:
            await self.app(scope, receive, send)
            return
        text = origin.decode("latin-1")
        allowed = self.policy.allows(text)
        if scope["method"] == "OPTIONS" and request_method is not None:
            await self._preflight(send, text, allowed, request_method, request_headers)
            return
        if not allowed:
            await self.app(scope, receive, send)
            return
        extra = [*self._origin_headers(text), (b"access-control-expose-headers", b"*")]

        async def send_with_cors(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = [(k, v) for k, v in message.get("headers", []) if not k.startswith(b"access-control-")]
                message = {**message, "headers": headers + extra}
            await send(message)

        await self.app(scope, receive, send_with_cors)

    def _origin_headers(self, origin: str) -> list[tuple[bytes, bytes]]:
        headers = [(b"access-control-allow-origin", self.policy.allow_origin_value(origin))]
        if not self.policy.any_origin:
            headers.append((b"vary", b"Origin"))
        return headers

    async def _preflight(self, send: Send, origin: str, allowed: bool, method: bytes, requested: bytes | None) -> None:
        asked = requested.decode("latin-1").strip() if requested else ""
        if not allowed or method.decode("latin-1") not in ALLOWED_METHODS or (asked and not _TOKEN_LIST.match(asked)):
            await _respond(send, 403, [(b"content-type", b"text/plain; charset=utf-8")], b"CORS preflight refused")
            return
        headers = [
            *self._origin_headers(origin),
            (b"access-control-allow-methods", ", ".join(ALLOWED_METHODS).encode()),
            (b"access-control-max-age", str(MAX_AGE_SECONDS).encode()),
        ]
        if asked:
            headers.append((b"access-control-allow-headers", asked.encode("latin-1")))
        await _respond(send, 204, headers, b"")


async def _respond(send: Send, status: int, headers: Sequence[tuple[bytes, bytes]], body: bytes) -> None:
    await send({"type": "http.response.start", "status": status,
                "headers": [*headers, (b"content-length", str(len(body)).encode())]})  # fmt: skip
    await send({"type": "http.response.body", "body": body})
