"""The admin reports' query parameters: parsed and checked, a bad one refused naming it (400).

Times are UTC. Dates are ``YYYY-MM-DD``; an instant is ISO 8601 (``2026-12-05T10:00:00Z``, an offset, or
naive meaning UTC) or a duration back from now (``90s``, ``15m``, ``2h``, ``1d``).
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from datetime import UTC, date, datetime, timedelta

from ..errors import InvalidRequest

GROUPS: tuple[str, ...] = ("key", "project", "model", "provider", "day")
_DURATION = re.compile(r"(\d{1,7})([smhd])")
_UNIT_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400}


def iso_z(epoch: float) -> str:
    """``2026-12-05T10:00:00Z`` (whole seconds; ``.123Z`` milliseconds when there are any)."""
    moment = datetime.fromtimestamp(epoch, UTC)
    text = moment.strftime("%Y-%m-%dT%H:%M:%S")
    if moment.microsecond:
        text += f".{moment.microsecond // 1000:03d}"
    return text + "Z"


def group_by(values: Iterable[str]) -> tuple[str, ...]:
    """``group_by`` given repeatedly and/or comma-separated; each one of ``GROUPS``, kept in order."""
    found: list[str] = []
    for value in values:
        for name in (part.strip() for part in value.split(",")):
            if not name:
                continue
            if name not in GROUPS:
                raise InvalidRequest(f"group_by: {name!r} is not one of {', '.join(GROUPS)}", param="group_by")
            if name not in found:
                found.append(name)
    return tuple(found)


def day(value: str | None, name: str, default: date) -> date:
    if value is None or not value.strip():
        return default
    try:
        return date.fromisoformat(value.strip())
    except ValueError:
        raise InvalidRequest(f"{name}: expected a date as YYYY-MM-DD, got {value[:40]!r}", param=name) from None


def day_range(start: str | None, end: str | None, *, today: date, max_days: int) -> list[date]:
    """Every day from ``from`` to ``to`` inclusive (default today), at most ``max_days`` of them."""
    first, last = day(start, "from", today), day(end, "to", today)
    if first > last:
        raise InvalidRequest(f"from: {first} is after to ({last})", param="from")
    count = (last - first).days + 1
    if count > max_days:
        raise InvalidRequest(
            f"to: the range {first}..{last} is {count} days; at most {max_days} (AIMUX_USAGE_MAX_RANGE_DAYS)",
            param="to",
        )
    return [first + timedelta(days=n) for n in range(count)]


def since(value: str | None, *, now: float, default_seconds: float, max_seconds: float) -> float:
    """The instant ``since`` names (epoch seconds): a time, or a duration back from ``now``."""
    if value is None or not value.strip():
        return now - default_seconds
    text = value.strip()
    duration = _DURATION.fullmatch(text)
    if duration is not None:
        start = now - int(duration.group(1)) * _UNIT_SECONDS[duration.group(2)]
    else:
        try:
            moment = datetime.fromisoformat(text.replace("Z", "+00:00").replace("z", "+00:00"))
        except ValueError:
            raise InvalidRequest(
                f"since: expected an ISO 8601 time (2026-12-05T10:00:00Z) or a duration (15m, 2h), got {text[:40]!r}",
                param="since",
            ) from None
        start = (moment if moment.tzinfo else moment.replace(tzinfo=UTC)).timestamp()
    if start > now:
        raise InvalidRequest("since: is in the future", param="since")
    if now - start > max_seconds:
        raise InvalidRequest(f"since: at most {max_seconds / 3600:g} hours back", param="since")
    return start


def whole(value: str | None, name: str, *, default: int, low: int, high: int) -> int:
    """A whole number from ``low`` to ``high`` (``default`` when absent)."""
    if value is None or not value.strip():
        return default
    text = value.strip()
    if not text.isdigit() or not low <= int(text) <= high:
        raise InvalidRequest(f"{name}: expected a whole number from {low} to {high}, got {text[:40]!r}", param=name)
    return int(text)


def flag(value: str | None, name: str) -> bool:
    """``true``/``false`` (or ``1``/``0``); absent is false."""
    if value is None or not value.strip():
        return False
    text = value.strip().lower()
    if text not in ("true", "false", "1", "0"):
        raise InvalidRequest(f"{name}: expected true or false, got {value[:40]!r}", param=name)
    return text in ("true", "1")
