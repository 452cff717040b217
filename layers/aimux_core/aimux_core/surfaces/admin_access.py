"""Who may call ``/admin``: one ASGI middleware in front of every route of the admin app.

Every request to the admin app, whatever its route (``/admin/keys``, ``/admin/status``, ``/admin/docs``,
``/admin/openapi.json``, one added later, or none at all), passes ``AdminAccess.refusal`` first, so a new
admin route is guarded without doing anything.

Locally (``aimux serve``), in this order:

1. The caller's address is the TCP peer. ``X-Forwarded-For`` and ``Forwarded`` count only when the peer
   is one of ``AIMUX_TRUSTED_PROXIES``; then the nearest hop that is not a trusted proxy is the caller,
   and every forwarding header present must agree it is loopback. A trusted proxy that sends neither
   header is refused: it does not say whom it speaks for. (``aimux serve`` turns uvicorn's own
   forwarding-header handling off, so the peer here is the real one.)
2. A caller that is not loopback gets 403, unless ``AIMUX_ADMIN_ALLOW_REMOTE=1`` (which needs a token).
3. With ``AIMUX_ADMIN_TOKEN`` set, every caller, loopback included, presents it as
   ``Authorization: Bearer <token>`` or ``x-aimux-admin-token: <token>`` (compared in constant time),
   else 401.

Deployed (``AWS_LAMBDA_FUNCTION_NAME`` set) the admin function sits behind API Gateway's IAM auth and
a caller's address says nothing, so steps 1-2 are skipped; a configured token is still required
(send it as ``x-aimux-admin-token``: SigV4 uses ``Authorization``).

Refusals use the admin routes' error shape, ``{"error": {"type", "message", "param"}}``.
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
import logging

from starlette.datastructures import Headers
from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Receive, Scope, Send

from ..errors import AimuxError, AuthenticationFailed, PermissionDenied
from ..settings import Settings

log = logging.getLogger("aimux.admin")

TOKEN_HEADER = "x-aimux-admin-token"
LOOPBACK_ONLY = (
    "the admin routes answer loopback callers only; to admit others set AIMUX_ADMIN_TOKEN and "
    "AIMUX_ADMIN_ALLOW_REMOTE=1"
)
UNNAMED_CALLER = "request from a trusted proxy without X-Forwarded-For or Forwarded: the caller is unknown"
BAD_TOKEN = f"missing or wrong admin token: send AIMUX_ADMIN_TOKEN as Authorization: Bearer or {TOKEN_HEADER}"


class AdminAccess:
    """The admin access rules of one process (see the module docstring)."""

    def __init__(self, settings: Settings, *, iam_guarded: bool | None = None) -> None:
        """The rules of ``AIMUX_ADMIN_*`` and ``AIMUX_TRUSTED_PROXIES``; ``iam_guarded`` defaults to on Lambda."""
        self.allow_remote = settings.admin_allow_remote
        self.trusted_proxies = settings.trusted_proxies
        self.iam_guarded = settings.on_lambda if iam_guarded is None else iam_guarded
        self._token_digest = _digest(settings.admin_token) if settings.admin_token else None

    def describe(self) -> str:
        """One line for ``aimux serve``'s start-up banner: who may call ``/admin``."""
        who = "any caller" if self.allow_remote else "loopback callers only"
        token = "with AIMUX_ADMIN_TOKEN" if self._token_digest is not None else "no token"
        return f"/admin answers {who} ({token})"

    def refusal(self, scope: Scope) -> AimuxError | None:
        """Why this request may not reach an admin route, or None when it may."""
        headers = Headers(scope=scope)
        if not (self.iam_guarded or self.allow_remote):
            peer = scope.get("client")
            reason = self._not_loopback(peer[0] if peer else "", headers)
            if reason is not None:
                return PermissionDenied(reason)
        if self._token_digest is not None and not self._presents_token(headers):
            return AuthenticationFailed(BAD_TOKEN, headers={"www-authenticate": "Bearer"})
        return None

    def _not_loopback(self, peer: str, headers: Headers) -> str | None:
        """None when the caller is loopback, else the reason it is refused."""
        if not self._trusted(peer):
            return None if _is_loopback(peer) else LOOPBACK_ONLY
        hops = [hop_list for hop_list in (_x_forwarded_for(headers), _forwarded_for(headers)) if hop_list is not None]
        if not hops:
            return UNNAMED_CALLER
        callers = [self._nearest_untrusted(hop_list) for hop_list in hops]
        return None if all(_is_loopback(caller) for caller in callers) else LOOPBACK_ONLY

    def _nearest_untrusted(self, hops: list[str]) -> str:
        """The caller in a forwarding chain (client first): the last hop that is not a trusted proxy."""
        for hop in reversed(hops):
            if not self._trusted(hop):
                return hop
        return hops[0]

    def _trusted(self, address: str) -> bool:
        ip = _ip(address)
        return ip is not None and any(ip in network for network in self.trusted_proxies)

    def _presents_token(self, headers: Headers) -> bool:
        presented = headers.get(TOKEN_HEADER)
        if presented is None:
            scheme, _, credentials = headers.get("authorization", "").partition(" ")
            presented = credentials.strip() if scheme.lower() == "bearer" else ""
        assert self._token_digest is not None
        return hmac.compare_digest(_digest(presented), self._token_digest)


class AdminAccessMiddleware:
    """ASGI middleware answering every refused admin request before any route runs."""

    def __init__(self, app: ASGIApp, access: AdminAccess) -> None:
        self.app = app
        self.access = access

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            refusal = self.access.refusal(scope)
            if refusal is not None:
                client = scope.get("client")
                log.warning("admin %s %s refused (%s): %s", scope.get("method"), scope.get("path"),
                            client[0] if client else "unknown peer", refusal.message)  # fmt: skip
                body = {"error": {"type": refusal.kind, "message": refusal.message, "param": None}}
                await JSONResponse(body, status_code=refusal.status, headers=refusal.headers)(scope, receive, send)
                return
        await self.app(scope, receive, send)


def _digest(value: str) -> bytes:
    """Fixed-length digests, so the constant-time comparison does not even reveal the token's length."""
    return hashlib.sha256(value.encode("utf-8", "surrogateescape")).digest()


def _ip(address: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return None
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        return ip.ipv4_mapped
    return ip


def _is_loopback(address: str) -> bool:
    ip = _ip(address)
    return ip is not None and ip.is_loopback


def _x_forwarded_for(headers: Headers) -> list[str] | None:
    values = headers.getlist("x-forwarded-for")
    if not values:
        return None
    return [hop.strip() for value in values for hop in value.split(",")]


def _forwarded_for(headers: Headers) -> list[str] | None:
    """The ``for=`` of each element of RFC 7239 ``Forwarded`` headers (ports, brackets and quotes removed)."""
    values = headers.getlist("forwarded")
    if not values:
        return None
    hops = []
    for element in (e for value in values for e in value.split(",")):
        node = ""
        for pair in element.split(";"):
            name, _, raw = pair.partition("=")
            if name.strip().lower() == "for":
                node = raw.strip().strip('"')
        hops.append(_strip_port(node))
    return hops


def _strip_port(node: str) -> str:
    """``[2001:db8::1]:4711`` → ``2001:db8::1``; ``192.0.2.1:80`` → ``192.0.2.1``; anything else as is."""
    if node.startswith("["):
        return node[1:].partition("]")[0]
    host, colon, port = node.rpartition(":")
    return host if colon and host.count(":") == 0 and port.isdigit() else node
