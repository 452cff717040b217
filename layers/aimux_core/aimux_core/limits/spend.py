"""Spend per key per UTC day and month, in integer micro-dollars: the item that holds it, and reading it.

One item per key and month holds the month, every day of it, and the reservations in flight, so that a
single conditional write can check a daily and a monthly budget together (``limits/reservations.py``):

    pk ``spend#<key id>``   sk ``month#YYYY-MM``   expires_at: a week after the month (cleanup only)

    micro_usd                  the month's *committed* spend: settled costs + reservations still held
    day_DD                     the same for day DD of that month (``day_07``)
    requests                   answers with a cost, settled this month
    hold_<until>_<DD>_<id>     one reservation in flight: its amount, made on day DD, held until <until>
                               (epoch seconds); it is counted in ``micro_usd`` and ``day_DD`` until it is
                               settled (removed, the actual cost taking its place) or reclaimed after <until>

Settled spend is therefore ``micro_usd - Σ holds`` (and per day, minus that day's holds): what
``SpendTotals`` reports, what ``aimux keys show`` and the ``KeyDailySpendUSD`` metric show. Periods are
UTC; a request belongs to the day and month in which it was admitted (a reservation is settled where it
was made), an unreserved cost (no budget, or admitted while the store was unreachable) to the period in
which it was recorded.

Earlier releases kept one item per day (``day#YYYY-MM-DD``) beside the month item. The month item is
read the same way (its ``micro_usd`` had no holds, so it is all settled spend); the old day items are no
longer read, so on the day of an upgrade the daily budget starts from zero while the monthly one keeps
counting. They expire by themselves.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, NamedTuple

from ..state.clock import Clock
from ..state.store import Item, Store

__all__ = [
    "HOLD_PREFIX",
    "MONTH_KEEP",
    "MONTH_TOTAL",
    "REQUESTS",
    "HoldName",
    "Period",
    "SpendLedger",
    "SpendTotals",
    "check_amount",
    "day_attribute",
    "hold_name",
    "holds_in",
    "period_at",
    "spend_pk",
]

MONTH_KEEP = timedelta(days=7)  # how long a month's item outlives its month (cleanup only)
MONTH_TOTAL = "micro_usd"
REQUESTS = "requests"
HOLD_PREFIX = "hold_"


def spend_pk(scope: str) -> str:
    """The partition of a scope's spend: a key id (``key_...``); later scopes add their own prefix."""
    return f"spend#{scope}"


def _utc(epoch: float) -> datetime:
    return datetime.fromtimestamp(epoch, UTC)


@dataclass(frozen=True, slots=True)
class Period:
    """The month item and day attribute a moment belongs to, and when each period ends."""

    month_sk: str
    day: str
    """Two digits, ``07``."""
    day_ends: datetime
    month_ends: datetime

    @property
    def day_attribute(self) -> str:
        return day_attribute(self.day)

    @property
    def expires_at(self) -> float:
        return (self.month_ends + MONTH_KEEP).timestamp()


_last_period: tuple[float, float, Period] | None = None  # (day start, day end, period): a day's answer, kept


def period_at(epoch: float) -> Period:
    """The period of ``epoch``; computed once per UTC day (formatting dates costs microseconds per call)."""
    global _last_period
    last = _last_period
    if last is not None and last[0] <= epoch < last[1]:
        return last[2]
    at = _utc(epoch)
    day_start = at.replace(hour=0, minute=0, second=0, microsecond=0)
    year, month = (at.year + 1, 1) if at.month == 12 else (at.year, at.month + 1)
    day_ends = day_start + timedelta(days=1)
    period = Period(f"month#{at:%Y-%m}", f"{at:%d}", day_ends, datetime(year, month, 1, tzinfo=UTC))
    _last_period = (day_start.timestamp(), day_ends.timestamp(), period)
    return period


def day_attribute(day: str) -> str:
    """The attribute of one day of the month item: ``day_07``."""
    return f"day_{day}"


class HoldName(NamedTuple):
    """A reservation attribute's name, parsed: held until ``until`` (epoch seconds), made on day ``day``."""

    until: int
    day: str


def hold_name(until: float, day: str, token: str) -> str:
    return f"{HOLD_PREFIX}{math.ceil(until)}_{day}_{token}"


def _parse_hold(name: str) -> HoldName | None:
    parts = name[len(HOLD_PREFIX) :].split("_")
    if len(parts) != 3 or not parts[0].isdigit() or len(parts[1]) != 2:
        return None
    return HoldName(int(parts[0]), parts[1])


def holds_in(item: Mapping[str, Any] | None) -> dict[str, tuple[HoldName, int]]:
    """Every reservation in a spend item: attribute name → (parsed name, micro-dollars held)."""
    found: dict[str, tuple[HoldName, int]] = {}
    for name, value in (item or {}).items():
        if name.startswith(HOLD_PREFIX) and isinstance(value, int) and not isinstance(value, bool):
            parsed = _parse_hold(name)
            if parsed is not None:
                found[name] = (parsed, value)
    return found


@dataclass(frozen=True, slots=True)
class SpendTotals:
    """A key's settled spend in the current UTC day and month, what is held for requests in flight,
    and when each period resets (``as_of``: read time)."""

    day_micro: int
    month_micro: int
    day_resets_at: datetime
    month_resets_at: datetime
    as_of: float
    held_day_micro: int = 0
    held_month_micro: int = 0

    @classmethod
    def zero(cls, now: float) -> SpendTotals:
        """Nothing spent (a fresh key; or the fallback when the store is unavailable and policy is open)."""
        period = period_at(now)
        return cls(0, 0, period.day_ends, period.month_ends, now)

    @classmethod
    def from_item(cls, item: Mapping[str, Any] | None, now: float) -> SpendTotals:
        """The totals at ``now`` from a month item (another month's item, or None, reads as zero)."""
        period = period_at(now)
        if item is None or item.get("sk") != period.month_sk:
            return cls.zero(now)
        holds = holds_in(item).values()
        held_month = sum(micro for _, micro in holds)
        held_day = sum(micro for name, micro in holds if name.day == period.day)
        return cls(
            day_micro=int(item.get(period.day_attribute, 0)) - held_day,
            month_micro=int(item.get(MONTH_TOTAL, 0)) - held_month,
            day_resets_at=period.day_ends,
            month_resets_at=period.month_ends,
            as_of=now,
            held_day_micro=held_day,
            held_month_micro=held_month,
        )


class SpendLedger:
    """Reads a scope's spend and records costs that were not reserved; reservations: ``BudgetHolds``.

    Store round trips: ``totals`` 1 read; ``record`` 1 write (0 for a zero cost).
    """

    def __init__(self, store: Store, clock: Clock) -> None:
        self.store = store
        self.clock = clock

    async def record(self, scope: str, micro_usd: int) -> SpendTotals | None:
        """Add one answer's cost to the current day and month; returns the new totals (None: nothing to add)."""
        check_amount(micro_usd)
        if micro_usd == 0:
            return None
        now = self.clock.now()
        period = period_at(now)
        deltas = {MONTH_TOTAL: micro_usd, period.day_attribute: micro_usd, REQUESTS: 1}
        item = await self.store.add(spend_pk(scope), period.month_sk, deltas, expires_at=period.expires_at)
        return SpendTotals.from_item(item, now)

    async def totals(self, scope: str) -> SpendTotals:
        """Today's and this month's spend, and what is held for requests in flight (one read)."""
        now = self.clock.now()
        item: Item | None = await self.store.get(spend_pk(scope), period_at(now).month_sk)
        return SpendTotals.from_item(item, now)


def check_amount(micro_usd: int) -> None:
    if isinstance(micro_usd, bool) or not isinstance(micro_usd, int):
        raise TypeError("spend is recorded in integer micro-dollars")
    if micro_usd < 0:
        raise ValueError("spend cannot be negative")
