"""Spend per key per UTC day and month, in integer micro-dollars, and the budget verdict drawn from it.

Items: pk ``spend#<key id>``, sk ``day#YYYY-MM-DD`` and ``month#YYYY-MM``, attributes ``micro_usd`` and
``requests``. Periods are UTC; the period a cost belongs to is the one in which the answer was recorded.
The keys are time-bucketed, so a new day simply starts a new item: ``expires_at`` (two days past the day,
a week past the month) is cleanup only.

Atomicity: ``record`` is two atomic ``add``s (day and month), never read-modify-write, so concurrent
Lambdas never lose an increment. They are independent writes, sent concurrently (one round trip of
latency); if the store fails between them, the day and the month may disagree by that one request (the
caller's failure policy logs and counts it).

Budgets are decided before the upstream call from totals recorded after earlier answers, so a budget is
exact for sequential use and may be overshot by the cost of the requests already in flight when it was
reached (their cost is unknown until they finish). Over budget, a request steps down to the key's
cheaper route when one is configured, else it is refused with 429 naming the budget and its reset time.
"""

from __future__ import annotations

import asyncio
import math
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal
from typing import Literal, Protocol

from ..errors import RateLimited
from .clock import Clock
from .store import Store

__all__ = [
    "BudgetExceeded",
    "BudgetLimits",
    "BudgetVerdict",
    "SpendLedger",
    "SpendTotals",
    "check_budget",
    "format_usd",
    "spend_pk",
]

DAY_KEEP = timedelta(days=2)  # how long a day's item outlives its day (cleanup only)
MONTH_KEEP = timedelta(days=7)

Budget = Literal["daily", "monthly"]


def spend_pk(key_id: str) -> str:
    return f"spend#{key_id}"


def _utc(epoch: float) -> datetime:
    return datetime.fromtimestamp(epoch, UTC)


def _day(at: datetime) -> tuple[str, datetime]:
    """The day's sort key and the midnight that ends it."""
    start = at.replace(hour=0, minute=0, second=0, microsecond=0)
    return f"day#{at:%Y-%m-%d}", start + timedelta(days=1)


def _month(at: datetime) -> tuple[str, datetime]:
    """The month's sort key and the first instant of the next month."""
    year, month = (at.year + 1, 1) if at.month == 12 else (at.year, at.month + 1)
    return f"month#{at:%Y-%m}", datetime(year, month, 1, tzinfo=UTC)


def _iso(at: datetime) -> str:
    return at.strftime("%Y-%m-%dT%H:%M:%SZ")


def format_usd(micro_usd: int) -> str:
    """``5_000_000`` → ``$5.00``; sub-cent amounts keep their digits (``$0.0025``)."""
    amount = Decimal(micro_usd) / Decimal(1_000_000)
    if micro_usd % 10_000 == 0:
        return f"${amount:,.2f}"
    return "$" + f"{amount:,.6f}".rstrip("0")


@dataclass(frozen=True, slots=True)
class SpendTotals:
    """A key's spend in the current UTC day and month, and when each resets (``as_of``: read time)."""

    day_micro: int
    month_micro: int
    day_resets_at: datetime
    month_resets_at: datetime
    as_of: float

    @classmethod
    def zero(cls, now: float) -> SpendTotals:
        """Nothing spent (a fresh key; or the fallback when the store is unavailable and policy is open)."""
        at = _utc(now)
        return cls(0, 0, _day(at)[1], _month(at)[1], now)


class HasBudget(Protocol):
    """A key record's budget fields; None means no budget."""

    @property
    def daily_micro_usd(self) -> int | None: ...

    @property
    def monthly_micro_usd(self) -> int | None: ...

    @property
    def step_down_route(self) -> str | None: ...


@dataclass(frozen=True, slots=True)
class BudgetLimits:
    daily_micro_usd: int | None = None
    monthly_micro_usd: int | None = None
    step_down_route: str | None = None
    """The key's cheaper route; None: refuse when over budget."""

    @classmethod
    def from_usd(
        cls, daily: float | None = None, monthly: float | None = None, step_down_route: str | None = None
    ) -> BudgetLimits:
        def micro(usd: float | None) -> int | None:
            if usd is None:
                return None
            return int((Decimal(str(usd)) * 1_000_000).to_integral_value(rounding=ROUND_HALF_UP))

        return cls(micro(daily), micro(monthly), step_down_route)

    @classmethod
    def from_record(cls, record: object, *, default_route: str | None = None) -> BudgetLimits:
        """From a key record's ``budget_daily_usd`` / ``budget_monthly_usd`` / ``budget_route``.

        ``default_route`` is the config's step-down route for the request's route
        (``config.budget_route_for(route)``), used when the key names none.
        """
        return cls.from_usd(
            getattr(record, "budget_daily_usd", None),
            getattr(record, "budget_monthly_usd", None),
            getattr(record, "budget_route", None) or default_route,
        )


class BudgetExceeded(RateLimited):
    """429 ``rate_limit_error``: a budget is spent. Not worth retrying before ``resets_at``."""

    def __init__(self, message: str, *, budget: Budget, resets_at: datetime, retry_after: float) -> None:
        super().__init__(message, retry_after=retry_after, headers={"x-should-retry": "false"})
        self.budget = budget
        self.resets_at = resets_at


@dataclass(frozen=True, slots=True)
class BudgetVerdict:
    """``ok``; ``step_down`` to ``route``; or ``refuse`` with ``error`` (raise it)."""

    action: Literal["ok", "step_down", "refuse"]
    budget: Budget | None = None
    limit_micro_usd: int | None = None
    resets_at: datetime | None = None
    route: str | None = None
    error: BudgetExceeded | None = None

    @property
    def ok(self) -> bool:
        return self.action == "ok"

    @property
    def reached(self) -> str | None:
        """``daily budget of $5.00 reached`` (for logs and the ``x-aimux-route`` reason), or None."""
        if self.budget is None or self.limit_micro_usd is None:
            return None
        return f"{self.budget} budget of {format_usd(self.limit_micro_usd)} reached"

    @property
    def note(self) -> str | None:
        """The routing reason for a step-down: ``budget step-down: daily budget of $5.00 reached``."""
        return f"budget step-down: {self.reached}" if self.action == "step_down" else None


_OK = BudgetVerdict("ok")


def check_budget(limits: HasBudget, totals: SpendTotals, *, now: float | None = None) -> BudgetVerdict:
    """The verdict for one request from the key's budget and its current totals (pure).

    A budget is reached when the period's spend is at or above it. When both are, the monthly one is
    named (it resets last, so it is what the caller is waiting for).
    """
    checks: list[tuple[Budget, int | None, int, datetime]] = [
        ("monthly", limits.monthly_micro_usd, totals.month_micro, totals.month_resets_at),
        ("daily", limits.daily_micro_usd, totals.day_micro, totals.day_resets_at),
    ]
    for budget, limit, spent, resets_at in checks:
        if limit is None or spent < limit:
            continue
        if limits.step_down_route:
            return BudgetVerdict("step_down", budget, limit, resets_at, route=limits.step_down_route)
        at = totals.as_of if now is None else now
        retry_after = float(max(1, math.ceil(resets_at.timestamp() - at)))
        message = f"{budget} budget of {format_usd(limit)} reached; resets at {_iso(resets_at)}"
        error = BudgetExceeded(message, budget=budget, resets_at=resets_at, retry_after=retry_after)
        return BudgetVerdict("refuse", budget, limit, resets_at, error=error)
    return _OK


def _has_budget(limits: HasBudget) -> bool:
    return limits.daily_micro_usd is not None or limits.monthly_micro_usd is not None


class SpendLedger:
    """Spend items of every key; see the module docstring for periods and atomicity.

    Store round trips: ``record`` 2 writes sent concurrently (1 round trip of latency; 0 for a zero
    cost); ``totals`` 1 query; ``check`` 0 (no budget) or 1.
    """

    def __init__(self, store: Store, clock: Clock) -> None:
        self._store = store
        self._clock = clock

    async def record(self, key_id: str, micro_usd: int) -> SpendTotals | None:
        """Add one answer's cost to the key's day and month; returns the new totals (None: nothing to add)."""
        if isinstance(micro_usd, bool) or not isinstance(micro_usd, int):
            raise TypeError("spend is recorded in integer micro-dollars")
        if micro_usd < 0:
            raise ValueError("spend cannot be negative")
        if micro_usd == 0:
            return None
        now = self._clock.now()
        at = _utc(now)
        (day_sk, day_end), (month_sk, month_end) = _day(at), _month(at)
        deltas = {"micro_usd": micro_usd, "requests": 1}
        pk = spend_pk(key_id)
        day, month = await asyncio.gather(
            self._store.add(pk, day_sk, deltas, expires_at=(day_end + DAY_KEEP).timestamp()),
            self._store.add(pk, month_sk, deltas, expires_at=(month_end + MONTH_KEEP).timestamp()),
        )
        return SpendTotals(int(day["micro_usd"]), int(month["micro_usd"]), day_end, month_end, now)

    async def totals(self, key_id: str) -> SpendTotals:
        """Today's and this month's spend in one query (``day#<today>`` … ``month#<this month>``)."""
        now = self._clock.now()
        at = _utc(now)
        (day_sk, day_end), (month_sk, month_end) = _day(at), _month(at)
        # String order puts every later day and every month up to this one in the range; pick ours.
        items = {item["sk"]: item for item in await self._store.query(spend_pk(key_id), day_sk, month_sk)}
        day = int(items.get(day_sk, {}).get("micro_usd", 0))
        month = int(items.get(month_sk, {}).get("micro_usd", 0))
        return SpendTotals(day, month, day_end, month_end, now)

    async def check(self, key_id: str, limits: HasBudget) -> BudgetVerdict:
        """``check_budget`` on fresh totals; no store call when the key has no budget."""
        if not _has_budget(limits):
            return _OK
        return check_budget(limits, await self.totals(key_id))
