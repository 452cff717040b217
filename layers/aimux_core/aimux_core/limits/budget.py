"""Budgets: the limits a key sets on its spend, and what a request gets when its cost does not fit.

A budget is a promise that the spend of a UTC day (or month) never passes it. ``limits/reservations.py``
keeps it by reserving each request's worst-case cost before the upstream call; when that reservation
does not fit, the refused write's item tells this module by how much (``Shortfall``) and it decides:

- the key (or its route, in the configuration) names a cheaper ``budget_route``: **step down** to it; the
  gateway selects that route and reserves *its* worst case, so the budget holds there too;
- otherwise **refuse**: 429 ``rate_limit_error`` naming the budget and the UTC instant it resets, with
  ``retry-after`` until then and ``x-should-retry: false`` (an SDK must not hammer a budget for hours).

Amounts are integer micro-dollars throughout (``accounting/pricing.py``).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from datetime import datetime
from decimal import ROUND_HALF_UP, Decimal
from typing import Literal, Protocol

from ..errors import RateLimited

__all__ = [
    "Budget",
    "BudgetExceeded",
    "BudgetLimits",
    "BudgetVerdict",
    "HasBudget",
    "Shortfall",
    "format_usd",
    "iso_utc",
    "verdict_for",
]

Budget = Literal["daily", "monthly"]


def format_usd(micro_usd: int) -> str:
    """``5_000_000`` → ``$5.00``; sub-cent amounts keep their digits (``$0.0025``)."""
    amount = Decimal(micro_usd) / Decimal(1_000_000)
    if micro_usd % 10_000 == 0:
        return f"${amount:,.2f}"
    return "$" + f"{amount:,.6f}".rstrip("0")


def iso_utc(at: datetime) -> str:
    return at.strftime("%Y-%m-%dT%H:%M:%SZ")


class HasBudget(Protocol):
    """A scope's budget fields; None means no budget."""

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
    """The key's cheaper route; None: refuse when a request's worst case does not fit."""

    @property
    def any(self) -> bool:
        return self.daily_micro_usd is not None or self.monthly_micro_usd is not None

    def without_step_down(self) -> BudgetLimits:
        return replace(self, step_down_route=None)

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


@dataclass(frozen=True, slots=True)
class Shortfall:
    """Why a reservation did not fit: the budget it would pass, as the refused write saw it.

    ``committed`` is the period's settled spend plus the reservations of requests still in flight.
    """

    budget: Budget
    limit_micro_usd: int
    committed_micro_usd: int
    wanted_micro_usd: int
    resets_at: datetime

    @property
    def left_micro_usd(self) -> int:
        return max(0, self.limit_micro_usd - self.committed_micro_usd)

    @property
    def reached(self) -> bool:
        """Nothing is left at all (as opposed to less than this request may cost)."""
        return self.committed_micro_usd >= self.limit_micro_usd

    @property
    def reason(self) -> str:
        """``daily budget of $5.00 reached``, or ``... has $0.01 left, less than this request may cost ($0.02)``."""
        name = f"{self.budget} budget of {format_usd(self.limit_micro_usd)}"
        if self.reached:
            return f"{name} reached"
        left, wanted = format_usd(self.left_micro_usd), format_usd(self.wanted_micro_usd)
        return f"{name} has {left} left, less than this request may cost ({wanted})"

    def message(self) -> str:
        """The refusal's text: what ran out, what this request may cost, when the budget resets."""
        name = f"{self.budget} budget of {format_usd(self.limit_micro_usd)}"
        resets = f"resets at {iso_utc(self.resets_at)}"
        if self.reached:
            return f"{name} reached; {resets}"
        return (
            f"{name} cannot cover this request: it may cost up to {format_usd(self.wanted_micro_usd)} "
            f"(its input and max_tokens at the model's prices) and {format_usd(self.left_micro_usd)} is left; "
            f"{resets}"
        )


class BudgetExceeded(RateLimited):
    """429 ``rate_limit_error``: a budget cannot cover the request. Not worth retrying before ``resets_at``."""

    def __init__(self, message: str, *, budget: Budget, resets_at: datetime, retry_after: float) -> None:
        super().__init__(message, retry_after=retry_after, headers={"x-should-retry": "false"})
        self.budget = budget
        self.resets_at = resets_at


@dataclass(frozen=True, slots=True)
class BudgetVerdict:
    """``ok``; ``step_down`` to ``route``; or ``refuse`` with ``error`` (raise it)."""

    action: Literal["ok", "step_down", "refuse"]
    shortfall: Shortfall | None = None
    route: str | None = None
    error: BudgetExceeded | None = None

    @property
    def ok(self) -> bool:
        return self.action == "ok"

    @property
    def note(self) -> str | None:
        """The routing reason for a step-down: ``budget step-down: daily budget of $5.00 reached``."""
        if self.action != "step_down" or self.shortfall is None:
            return None
        return f"budget step-down: {self.shortfall.reason}"


OK = BudgetVerdict("ok")


def verdict_for(shortfall: Shortfall, limits: HasBudget, *, now: float) -> BudgetVerdict:
    """Step down when the scope has a cheaper route, else refuse with the budget's reset."""
    if limits.step_down_route:
        return BudgetVerdict("step_down", shortfall, route=limits.step_down_route)
    retry_after = float(max(1, math.ceil(shortfall.resets_at.timestamp() - now)))
    error = BudgetExceeded(
        shortfall.message(), budget=shortfall.budget, resets_at=shortfall.resets_at, retry_after=retry_after
    )
    return BudgetVerdict("refuse", shortfall, error=error)
