"""Fleet-wide usage counters: what every request used and cost, per UTC day, project, key, provider and model.

One item per day and combination, grown by **one** ``UpdateItem`` (several ``ADD``s) after each answer::

    pk ``usage#YYYY-MM-DD``    sk ``u#<project>#<key id>#<provider>#<model>``   (each part percent-encoded;
                                                                                 ``-`` when there is none)
    requests                   1 per request answered (served, refused or failed)
    input_tokens ... cache_write_tokens, cost_micro_usd      what it used and cost
    errors, client_errors, fallbacks, rate_limited           0 or 1 each (the request's record says which)
    expires_at                 the day's end + ``retention_days`` (DynamoDB's TTL tidies up; reads ignore it)

Why this shape: any grouping by a subset of (key, project, model, provider, day) is a sum over the rows of
the days asked for (one ``Query`` per day, ``reports/usage.py``), so every answer is exact, and a request is
one write whatever the grouping. The project is part of the sort key, not derived from the key when read:
a key that moves to another project keeps its past usage where it was spent.

**Exact.** The cost added is the integer number of micro-dollars the client was told
(``x-aimux-cost-usd``, ``accounting.record.micro_usd``), so the sum over any grouping equals the sum of the
costs the clients saw. ``ADD`` is atomic per item, so however many instances count at once, nothing is lost.

**Throughput.** A day's rows share a partition; DynamoDB splits a busy partition along sort keys ("split
for heat"), so distinct rows spread, and one row takes the writes of one (project, key, provider, model):
about a thousand a second per row, the same bound the key's own rate window and spend items have.

Every string part is percent-encoded (``quote`` with no safe characters but ``-._~``), so a ``#`` in a
model id cannot shift the fields, and the range ``u#`` .. ``u$`` holds every row of a day.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import quote, unquote

from .clock import Clock
from .store import Item, Store

__all__ = [
    "COUNTERS",
    "DEFAULT_RETENTION_DAYS",
    "NONE",
    "UsageCounters",
    "UsageRow",
    "day_of",
    "usage_pk",
    "usage_sk",
]

NONE = "-"
"""The part of a row with no key, project, provider or model (auth off; a request no target served)."""
DEFAULT_RETENTION_DAYS = 400
COUNTERS: tuple[str, ...] = (
    "requests",
    "input_tokens",
    "output_tokens",
    "cache_read_tokens",
    "cache_write_tokens",
    "cost_micro_usd",
    "errors",
    "client_errors",
    "fallbacks",
    "rate_limited",
)
_COUNTER_NAMES = frozenset(COUNTERS)
_ROW_PREFIX = "u#"
_ROW_RANGE = ("u#", "u$")  # "$" follows "#": every "u#..." sorts in between


def day_of(epoch: float) -> str:
    """The UTC day of ``epoch``: ``2026-12-05``."""
    return datetime.fromtimestamp(epoch, UTC).strftime("%Y-%m-%d")


def usage_pk(day: str) -> str:
    return f"usage#{day}"


def _part(value: str | None) -> str:
    return quote(value, safe="") if value else NONE


_SK_CACHE_SIZE = 4096
_sks: dict[tuple[str | None, ...], str] = {}


def usage_sk(project: str | None, key_id: str | None, provider: str | None, model: str | None) -> str:
    """The row of one combination (``-`` for a missing part); the last few thousand are kept, since the
    same combinations come back request after request."""
    parts = (project, key_id, provider, model)
    sk = _sks.get(parts)
    if sk is None:
        if len(_sks) >= _SK_CACHE_SIZE:
            _sks.clear()
        sk = _sks[parts] = _ROW_PREFIX + "#".join(_part(value) for value in parts)
    return sk


@dataclass(frozen=True, slots=True)
class UsageRow:
    """One day's counters for one (project, key, provider, model); ``-`` where a part is absent."""

    day: str
    project: str
    key: str
    provider: str
    model: str
    counts: Mapping[str, int] = field(default_factory=dict)

    @classmethod
    def from_item(cls, day: str, item: Item) -> UsageRow | None:
        """The row an item holds, or None for an item this module did not write."""
        sk = str(item.get("sk", ""))
        parts = sk[len(_ROW_PREFIX) :].split("#") if sk.startswith(_ROW_PREFIX) else []
        if len(parts) != 4:
            return None
        project, key, provider, model = (NONE if part == NONE else unquote(part) for part in parts)
        counts = {name: int(item.get(name, 0) or 0) for name in COUNTERS}
        return cls(day, project, key, provider, model, counts)


class UsageCounters:
    """Writes one request's counters (one ``add``) and reads a day's rows (one ``query``)."""

    def __init__(self, store: Store, clock: Clock, *, retention_days: int = DEFAULT_RETENTION_DAYS) -> None:
        if retention_days < 1:
            raise ValueError("retention_days must be >= 1")
        self.store = store
        self.clock = clock
        self.retention_days = retention_days
        self._day: tuple[float, float, str, float] = (0.0, 0.0, "", 0.0)  # start, end, day, expires_at

    def _today(self, now: float) -> tuple[str, float]:
        """The UTC day of ``now`` and when its rows expire; worked out once per day (formatting costs)."""
        start, end, day, expires_at = self._day
        if not start <= now < end:
            midnight = datetime.fromtimestamp(now, UTC).replace(hour=0, minute=0, second=0, microsecond=0)
            after = midnight + timedelta(days=1)
            day, expires_at = f"{midnight:%Y-%m-%d}", (after + timedelta(days=self.retention_days)).timestamp()
            self._day = (midnight.timestamp(), after.timestamp(), day, expires_at)
        return day, expires_at

    async def add(
        self,
        *,
        project: str | None,
        key_id: str | None,
        provider: str | None,
        model: str | None,
        counts: Mapping[str, int],
    ) -> None:
        """Add ``counts`` (names from ``COUNTERS``, non-negative) to today's row of the combination."""
        unknown = counts.keys() - _COUNTER_NAMES
        if unknown:
            raise ValueError(f"unknown usage counters: {sorted(unknown)}")
        deltas = {name: value for name, value in counts.items() if value}
        deltas["requests"] = counts.get("requests", 1)
        day, expires_at = self._today(self.clock.now())
        await self.store.add(usage_pk(day), usage_sk(project, key_id, provider, model), deltas, expires_at=expires_at)

    async def day(self, day: str) -> list[UsageRow]:
        """Every row of ``day`` (``YYYY-MM-DD``), in sort-key order."""
        items: list[dict[str, Any]] = await self.store.query(usage_pk(day), *_ROW_RANGE)
        rows = (UsageRow.from_item(day, item) for item in items)
        return [row for row in rows if row is not None]
