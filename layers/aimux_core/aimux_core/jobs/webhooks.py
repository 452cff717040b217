"""Webhook delivery: where aimux may send a result, how it signs it, and what happens when it cannot.

Where (``check_url`` at request time, ``resolve`` again at each delivery):

- deployed: ``https://`` only, and every address the host resolves to must be public (``is_global``;
  IPv4-mapped IPv6 checked as IPv4): private, loopback, link-local (the instance metadata service),
  shared, multicast and reserved addresses are refused;
- local mode (``aimux serve``, tests): also ``http://`` to a loopback address, for a receiver on the same
  machine; other private addresses are still refused.

The connection goes to the address that was checked (the URL's host is replaced by that IP; ``Host`` and
TLS SNI/certificate checks keep the name), so a DNS answer that changes between the check and the
connect (DNS rebinding) cannot steer a delivery inside. Redirects are not followed.

Signature (like Stripe's): ``x-aimux-signature: t=<unix seconds>,v1=<hex HMAC-SHA256(secret, "<t>.<body>")>``.
The secret is per key (``secret_for``: ``whsec_`` + HMAC of the deployment's signing key and the key's id;
``GET /v1/jobs/webhook_secret`` shows it to the key's holder). A receiver recomputes the HMAC over the
timestamp, a dot and the raw body, compares in constant time, and refuses old timestamps (README).

A delivery that fails (no connection, a timeout, any status but 2xx) is tried again after each delay of
``settings.WEBHOOK_BACKOFF``; after ``AIMUX_WEBHOOK_ATTEMPTS`` attempts the result is parked as a dead
letter (``jobs#dead-letters``), listed by ``GET /admin/jobs/dead-letters`` and redelivered on request.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import ipaddress
import socket
import time
from dataclasses import dataclass
from urllib.parse import urlsplit, urlunsplit

import httpx

from ..errors import InvalidRequest

SIGNATURE_HEADER = "x-aimux-signature"
TIMEOUT = httpx.Timeout(10.0, connect=5.0)
IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address


class DeliveryFailed(Exception):
    """The receiver did not take the result (the reason names no secret and no body)."""


@dataclass(frozen=True, slots=True)
class Target:
    scheme: str
    host: str
    port: int
    path: str

    @property
    def shown(self) -> str:
        """The URL without query or fragment (which may carry a receiver's token): for status and logs."""
        default = 443 if self.scheme == "https" else 80
        netloc = self.host if self.port == default else f"{self.host}:{self.port}"
        if ":" in self.host:
            netloc = f"[{self.host}]" if self.port == default else f"[{self.host}]:{self.port}"
        return urlunsplit((self.scheme, netloc, self.path or "/", "", ""))


def check_url(url: str, *, local_mode: bool) -> Target:
    """The webhook's parts, or ``InvalidRequest`` naming what is wrong (syntax and scheme; no I/O)."""
    header = "x-aimux-async"
    try:
        parts = urlsplit(url.strip())
        port = parts.port
    except ValueError:
        raise InvalidRequest(f"{header}: not a valid URL") from None
    scheme = parts.scheme.lower()
    if scheme not in ("https", "http") or not parts.hostname:
        raise InvalidRequest(f"{header}: a webhook is an https:// URL")
    if parts.username or parts.password:
        raise InvalidRequest(f"{header}: a webhook URL must not carry credentials before the host")
    if scheme == "http" and not local_mode:
        raise InvalidRequest(f"{header}: webhooks must use https://")
    host = parts.hostname.lower()
    return Target(scheme, host, port or (443 if scheme == "https" else 80), parts.path)


def allowed(address: IPAddress, *, scheme: str, local_mode: bool) -> bool:
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    if address.is_loopback:
        return local_mode
    if scheme == "http":
        return False  # plain http only to this machine, and only locally
    return address.is_global and not address.is_multicast


async def resolve(target: Target, *, local_mode: bool) -> IPAddress:
    """The address to connect to: every address of the host must be allowed (``InvalidRequest`` if not)."""
    try:
        # socket.getaddrinfo on a thread (not the loop's resolver, which uvloop replaces): one resolver
        # everywhere, the system's, honouring /etc/hosts as the HTTP client would.
        infos = await asyncio.to_thread(socket.getaddrinfo, target.host, target.port, type=socket.SOCK_STREAM)
    except OSError:
        raise InvalidRequest(f"x-aimux-async: the webhook host {target.host!r} does not resolve") from None
    addresses = [ipaddress.ip_address(info[4][0]) for info in infos]
    if not addresses:
        raise InvalidRequest(f"x-aimux-async: the webhook host {target.host!r} does not resolve")
    for address in addresses:
        if not allowed(address, scheme=target.scheme, local_mode=local_mode):
            raise InvalidRequest(
                f"x-aimux-async: the webhook host {target.host!r} resolves to a private, loopback or "
                "link-local address; webhooks go to public https endpoints only"
            )
    return addresses[0]


def sign(secret: str, timestamp: int, body: bytes) -> str:
    mac = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()
    return f"t={timestamp},v1={mac}"


def verify(secret: str, header: str, body: bytes, *, tolerance: float = 300.0, now: float | None = None) -> bool:
    """What a receiver does (the README has the same few lines to copy): recompute and compare in constant time."""
    fields = dict(part.split("=", 1) for part in header.split(",") if "=" in part)
    try:
        timestamp = int(fields["t"])
    except (KeyError, ValueError):
        return False
    if abs((time.time() if now is None else now) - timestamp) > tolerance:
        return False
    expected = sign(secret, timestamp, body).split("v1=", 1)[1]
    return hmac.compare_digest(expected, fields.get("v1", ""))


async def secret_for(owner: str) -> str:
    """The webhook secret of the key ``owner`` (``-`` with auth off), derived from the deployment's signing key."""
    from ..translate.provenance_key import ensure_provenance_key, provenance_key  # the signing key: only for webhooks

    await ensure_provenance_key()
    mac = hmac.new(provenance_key(), f"aimux-webhook-v1:{owner}".encode(), hashlib.sha256).digest()
    return "whsec_" + base64.urlsafe_b64encode(mac).decode().rstrip("=")


async def deliver(url: str, body: bytes, headers: dict[str, str], secret: str, *, local_mode: bool) -> int:
    """POST ``body`` to ``url`` (checked again, connected by address, signed); its status, or ``DeliveryFailed``."""
    target = check_url(url, local_mode=local_mode)
    try:
        address = await resolve(target, local_mode=local_mode)
    except InvalidRequest as refused:
        raise DeliveryFailed(refused.message) from None
    parts = urlsplit(url.strip())
    netloc = f"[{address}]" if address.version == 6 else str(address)
    pinned = urlunsplit((target.scheme, f"{netloc}:{target.port}", parts.path or "/", parts.query, ""))
    default = 443 if target.scheme == "https" else 80
    host_header = target.host if target.port == default else f"{target.host}:{target.port}"
    signed = {
        **headers,
        "content-type": "application/json",
        "user-agent": "aimux-webhooks/1",
        "host": host_header,
        SIGNATURE_HEADER: sign(secret, int(time.time()), body),
    }
    extensions = {"sni_hostname": target.host} if target.scheme == "https" else {}
    try:
        async with httpx.AsyncClient(timeout=TIMEOUT, follow_redirects=False, trust_env=False) as client:
            response = await client.post(pinned, content=body, headers=signed, extensions=extensions)
    except httpx.HTTPError as exc:
        raise DeliveryFailed(f"{type(exc).__name__} posting to {target.shown}") from None
    if not 200 <= response.status_code < 300:
        raise DeliveryFailed(f"{target.shown} answered {response.status_code}")
    return response.status_code
