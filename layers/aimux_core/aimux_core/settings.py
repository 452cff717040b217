"""Process settings read from the environment (routing lives in the YAML configuration, ``config/``).

Read once per process, on first use, never at import time. ``Settings`` is what every request reads
(the body cap); ``AdminSettings`` is read only where the admin routes are served, so a bad admin
variable stops ``aimux serve`` at start instead of failing client requests.
"""

from __future__ import annotations

import ipaddress
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import lru_cache

IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network
MIN_ADMIN_TOKEN_CHARS = 16
_TRUE = frozenset({"1", "true", "yes", "on"})
_FALSE = frozenset({"", "0", "false", "no", "off"})


@dataclass(frozen=True, slots=True)
class Settings:
    host: str = "127.0.0.1"
    port: int = 8080
    max_request_bytes: int = 10 * 1024 * 1024
    log_level: str = "INFO"

    @classmethod
    def from_env(cls, env: Mapping[str, str] = os.environ) -> Settings:
        try:
            max_mb = float(env.get("AIMUX_MAX_REQUEST_MB", "10"))
            port = int(env.get("AIMUX_PORT", "8080"))
        except ValueError as exc:
            raise ValueError(f"invalid AIMUX_MAX_REQUEST_MB or AIMUX_PORT: {exc}") from None
        return cls(
            host=env.get("AIMUX_HOST", "127.0.0.1"),
            port=port,
            max_request_bytes=int(max_mb * 1024 * 1024),
            log_level=env.get("AIMUX_LOG_LEVEL", "INFO").upper(),
        )


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return Settings.from_env()


@dataclass(frozen=True, slots=True)
class AdminSettings:
    """Who may call the local ``/admin`` routes (enforced by ``surfaces/admin_access.py``).

    ``AIMUX_ADMIN_TOKEN``: when set, every admin caller must present it (loopback included).
    ``AIMUX_ADMIN_ALLOW_REMOTE``: ``1`` lets non-loopback callers in; needs the token.
    ``AIMUX_TRUSTED_PROXIES``: comma-separated IPs or CIDRs whose ``X-Forwarded-For``/``Forwarded``
    headers name the real caller; from anyone else those headers are ignored.
    """

    token: str | None = field(default=None, repr=False)
    allow_remote: bool = False
    trusted_proxies: tuple[IPNetwork, ...] = ()

    @classmethod
    def from_env(cls, env: Mapping[str, str] = os.environ) -> AdminSettings:
        """The admin settings; ValueError naming the variable when one is malformed or inconsistent."""
        token = env.get("AIMUX_ADMIN_TOKEN", "").strip() or None
        if token is not None and (len(token) < MIN_ADMIN_TOKEN_CHARS or not token.isascii() or not token.isprintable()):
            raise ValueError(
                f"AIMUX_ADMIN_TOKEN must be at least {MIN_ADMIN_TOKEN_CHARS} printable ASCII characters "
                "(for example: python3 -c 'import secrets; print(secrets.token_urlsafe(32))')"
            )
        raw_remote = env.get("AIMUX_ADMIN_ALLOW_REMOTE", "").strip().lower()
        if raw_remote not in _TRUE | _FALSE:
            raise ValueError(f"AIMUX_ADMIN_ALLOW_REMOTE must be 1 or 0, got {env['AIMUX_ADMIN_ALLOW_REMOTE']!r}")
        allow_remote = raw_remote in _TRUE
        if allow_remote and token is None:
            raise ValueError("AIMUX_ADMIN_ALLOW_REMOTE=1 needs AIMUX_ADMIN_TOKEN: remote admin callers must present it")
        proxies = _networks(env.get("AIMUX_TRUSTED_PROXIES", ""))
        return cls(token=token, allow_remote=allow_remote, trusted_proxies=proxies)


def _networks(raw: str) -> tuple[IPNetwork, ...]:
    networks = []
    for part in (p.strip() for p in raw.split(",")):
        if not part:
            continue
        try:
            networks.append(ipaddress.ip_network(part, strict=False))
        except ValueError:
            raise ValueError(f"AIMUX_TRUSTED_PROXIES: {part!r} is not an IP address or CIDR network") from None
    return tuple(networks)
