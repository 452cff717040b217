"""The parsers of ``Settings``' variables: raw environment text -> a typed value, or ``ValueError``
saying what was expected (``Settings.from_env`` prefixes the variable's name).

Kept apart from ``settings.py`` so that the class reads as the list of variables it is.
"""

from __future__ import annotations

import ipaddress
import math
from collections.abc import Callable
from urllib.parse import urlsplit

IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network
MIN_ADMIN_TOKEN_CHARS = 16
_TRUE = frozenset({"1", "true", "yes", "on", "y", "t"})  # Powertools' strtobool words too
_FALSE = frozenset({"0", "false", "no", "off", "n", "f"})
_LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")


def text(raw: str) -> str:
    return raw


def flag(raw: str) -> bool:
    lowered = raw.lower()
    if lowered in _TRUE:
        return True
    if lowered in _FALSE:
        return False
    raise ValueError(f"must be 1 or 0, got {raw!r}")


def choice(*allowed: str) -> Callable[[str], str]:
    def parse(raw: str) -> str:
        lowered = raw.lower()
        if lowered not in allowed:
            raise ValueError(f"must be {' or '.join(repr(a) for a in allowed)}, got {raw!r}")
        return lowered

    return parse


def number(raw: str) -> float:
    try:
        value = float(raw)
    except ValueError:
        raise ValueError(f"must be a number, got {raw!r}") from None
    if not math.isfinite(value):
        raise ValueError(f"must be a finite number, got {raw!r}")
    return value


def between(low: float, high: float) -> Callable[[str], float]:
    def parse(raw: str) -> float:
        value = number(raw)
        if not low <= value <= high:
            raise ValueError(f"must be between {low:g} and {high:g}, got {raw!r}")
        return value

    return parse


def positive_seconds(raw: str) -> float:
    try:
        value = number(raw)
    except ValueError:
        value = 0.0
    if not value > 0:
        raise ValueError(f"must be a positive number of seconds, got {raw!r}")
    return value


def whole(low: int, high: int) -> Callable[[str], int]:
    def parse(raw: str) -> int:
        if not raw.isdigit() or not low <= int(raw) <= high:
            raise ValueError(f"must be a whole number from {low} to {high}, got {raw!r}")
        return int(raw)

    return parse


def megabytes(raw: str) -> int:
    value = number(raw)
    if not 0 < value <= 1024:
        raise ValueError(f"must be a number of megabytes above 0 and at most 1024, got {raw!r}")
    return int(value * 1024 * 1024)


def log_level(raw: str) -> str:
    level = raw.upper()
    if level not in _LOG_LEVELS:
        raise ValueError(f"must be one of {', '.join(_LOG_LEVELS)}, got {raw!r}")
    return level


def admin_token(raw: str) -> str:
    if len(raw) < MIN_ADMIN_TOKEN_CHARS or not raw.isascii() or not raw.isprintable():
        raise ValueError(
            f"must be at least {MIN_ADMIN_TOKEN_CHARS} printable ASCII characters "
            "(for example: python3 -c 'import secrets; print(secrets.token_urlsafe(32))')"
        )
    return raw


def networks(raw: str) -> tuple[IPNetwork, ...]:
    networks = []
    for part in (p.strip() for p in raw.split(",")):
        if not part:
            continue
        try:
            networks.append(ipaddress.ip_network(part, strict=False))
        except ValueError:
            raise ValueError(f"{part!r} is not an IP address or CIDR network") from None
    return tuple(networks)


def origins(raw: str) -> tuple[str, ...]:
    """Comma-separated origins, each as browsers send ``Origin`` (``scheme://host[:port]``, lower-case, no
    default port; a trailing ``/`` is forgiven), or ``*`` for any origin, which must be written out."""
    entries = [part.strip() for part in raw.split(",") if part.strip()]
    return ("*",) if "*" in entries else tuple(dict.fromkeys(_origin(entry) for entry in entries))


def _origin(entry: str) -> str:
    parts = urlsplit(entry)
    bad_path = parts.path not in ("", "/") or parts.query or parts.fragment
    if parts.scheme not in ("http", "https") or not parts.hostname or bad_path:
        raise ValueError(
            f"{entry!r} is not an origin; write scheme://host[:port], e.g. https://app.example.com, or * for any origin"
        )
    try:
        port = parts.port
    except ValueError:
        raise ValueError(f"{entry!r} has an invalid port") from None
    host = parts.hostname if ":" not in parts.hostname else f"[{parts.hostname}]"
    default_port = {"http": 80, "https": 443}[parts.scheme]
    return f"{parts.scheme}://{host}" + (f":{port}" if port not in (None, default_port) else "")


def delays(raw: str) -> tuple[float, ...]:
    try:
        values = tuple(float(part) for part in raw.split(","))
    except ValueError:
        raise ValueError(f"must be comma-separated seconds, got {raw!r}") from None
    if not values or any(not 0 <= value <= 900 for value in values):
        raise ValueError("each delay must be 0 to 900 seconds (SQS's longest delay)")
    return values
