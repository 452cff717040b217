"""The admin input rules for a key's attributes: one place, so the admin routes and the CLI refuse the same things.

Every refusal is an ``InvalidRequest`` whose ``param`` names the field.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from typing import Any

from ..errors import InvalidRequest

MAX_TEXT = 200
MAX_PATTERNS = 100


def text(field: str, value: Any, *, required: bool = False) -> str | None:
    """A printable, trimmed string of at most ``MAX_TEXT`` characters (None allowed unless ``required``)."""
    if value is None:
        if required:
            raise InvalidRequest(f"{field}: required", param=field)
        return None
    if not isinstance(value, str):
        raise InvalidRequest(f"{field}: must be a string", param=field)
    stripped = value.strip()
    if not stripped:
        if required:
            raise InvalidRequest(f"{field}: must not be empty", param=field)
        return None
    if len(stripped) > MAX_TEXT or not stripped.isprintable():
        raise InvalidRequest(f"{field}: at most {MAX_TEXT} printable characters", param=field)
    return stripped


def patterns(field: str, values: Iterable[Any] | None) -> tuple[str, ...]:
    """A de-duplicated tuple of glob patterns (empty: no restriction)."""
    if values is None:
        return ()
    if isinstance(values, str):
        raise InvalidRequest(f"{field}: must be a list of patterns", param=field)
    out: list[str] = []
    for value in values:
        pattern = text(field, value, required=True)
        if pattern is not None and pattern not in out:
            out.append(pattern)
    if len(out) > MAX_PATTERNS:
        raise InvalidRequest(f"{field}: at most {MAX_PATTERNS} patterns", param=field)
    return tuple(out)


def positive_int(field: str, value: Any) -> int | None:
    """A whole number >= 1, or None (unlimited)."""
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise InvalidRequest(f"{field}: must be a whole number >= 1", param=field)
    return value


def usd(field: str, value: Any) -> float | None:
    """A finite amount of dollars >= 0, or None (no budget)."""
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value) or value < 0:
        raise InvalidRequest(f"{field}: must be a number of US dollars >= 0", param=field)
    return float(value)
