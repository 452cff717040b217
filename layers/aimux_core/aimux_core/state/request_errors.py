"""Recent error answers, counted per minute, kind, status and provider, for ``GET /admin/errors``.

A request aimux answered with an error (a 4xx of the caller's making, a 429 of its limits, or a 5xx when
nothing could serve it) adds to one item, in one ``UpdateItem`` after the answer::

    pk ``errors#YYYY-MM-DDTHH`` (UTC hour)   sk ``<minute since epoch, 10 digits>#<status>#<kind>#<provider or ->``
    count                 ADD 1
    last_at, last_message, last_request_id, last_key      SET: the latest one (an excerpt, redacted)
    expires_at            the hour's end + ``KEEP_SECONDS``

One partition per hour, so "since 15 minutes ago" is one or two ``Query``s and "since a day ago" 25;
sort keys start with the minute, so a ``Query`` range starts exactly at ``since``. Failed upstream
*attempts* (those that were failed over, too) are counted with their target's health
(``state/health.py``), not here: this is what clients were answered.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from urllib.parse import quote, unquote

from ..redaction import redact
from .clock import Clock
from .store import Item, Store

__all__ = ["KEEP_SECONDS", "MESSAGE_CHARS", "ErrorGroup", "RequestErrors", "excerpt"]

KEEP_SECONDS = 25 * 3600.0  # a day and an hour: /admin/errors looks back 24 h at most
MESSAGE_CHARS = 200


def excerpt(message: str | None, limit: int = MESSAGE_CHARS) -> str | None:
    """The first ``limit`` characters of ``message``, redacted (keys by value and by shape) first."""
    if not message:
        return None
    text = redact(message)
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _hour_pk(minute: int) -> str:
    return "errors#" + datetime.fromtimestamp(minute * 60, UTC).strftime("%Y-%m-%dT%H")


def _minute_sk(minute: int) -> str:
    return f"{max(minute, 0):010d}"


@dataclass(frozen=True, slots=True)
class ErrorGroup:
    """Error answers of one (status, kind, provider) since some time: how many, and the latest one."""

    status: int
    kind: str
    provider: str | None
    count: int
    last_at: float
    last_message: str | None
    last_request_id: str | None = None
    last_key: str | None = None


class RequestErrors:
    """Counts error answers (one ``add`` each) and reads them back grouped."""

    def __init__(self, store: Store, clock: Clock) -> None:
        self.store = store
        self.clock = clock

    async def record(
        self,
        *,
        status: int,
        kind: str,
        provider: str | None,
        message: str | None,
        request_id: str | None = None,
        key_id: str | None = None,
    ) -> None:
        now = self.clock.now()
        minute = math.floor(now / 60)
        sk = "#".join((_minute_sk(minute), f"{status:03d}", quote(kind, safe=""), quote(provider or "-", safe="")))
        latest = {"last_at": now, "last_message": excerpt(message), "last_request_id": request_id, "last_key": key_id}
        hour_end = (math.floor(minute / 60) + 1) * 3600
        await self.store.add(_hour_pk(minute), sk, {"count": 1}, set=latest, expires_at=hour_end + KEEP_SECONDS)

    async def since(self, since: float) -> list[ErrorGroup]:
        """Every (status, kind, provider) answered since ``since`` (epoch seconds), most frequent first."""
        first, last = math.floor(since / 60), math.floor(self.clock.now() / 60)
        hours = range(math.floor(first / 60), math.floor(last / 60) + 1)
        items: list[Item] = []
        for hour in hours:  # at most 25 (KEEP_SECONDS), each small: one after another keeps the table calm
            low = max(first, hour * 60)
            items += await self.store.query(_hour_pk(low), _minute_sk(low), _minute_sk(hour * 60 + 59) + "$")
        groups: dict[tuple[int, str, str | None], ErrorGroup] = {}
        for item in items:
            parts = str(item["sk"]).split("#")
            if len(parts) != 4 or not parts[1].isdigit():
                continue
            provider = unquote(parts[3])
            key = (int(parts[1]), unquote(parts[2]), None if provider == "-" else provider)
            latest = ErrorGroup(
                *key, int(item.get("count", 0)), float(item.get("last_at") or 0.0), item.get("last_message"),
                item.get("last_request_id"), item.get("last_key"),
            )  # fmt: skip
            seen = groups.get(key)
            if seen is not None:
                newer = latest if latest.last_at >= seen.last_at else seen
                latest = replace(newer, count=seen.count + latest.count)
            groups[key] = latest
        return sorted(groups.values(), key=lambda group: (-group.count, -group.last_at))
