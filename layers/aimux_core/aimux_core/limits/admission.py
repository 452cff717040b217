"""What a caller's key allows: model and route allow-lists, rate windows and budgets.

Before the upstream call, for a request that carries a virtual key (none when ``AIMUX_AUTH=off``):

    allow-lists            no I/O (the key record came from the per-process key cache)
    rate windows ─┐        one conditional write (rpm and tpm of the key, together)
    budget hold  ─┘        one conditional write reserving the request's worst case against the
                           key's daily and monthly budgets (``limits/reservations.py``); both sent
                           concurrently: one store round trip of latency

A budget that cannot cover the worst case steps the request down to the key's (or the route's) cheaper
route when one exists, where that route's worst case is reserved in turn (a second round trip, only
then), else refuses it with a 429 naming the budget and its reset. When the request ends, ``settle``
replaces the hold with the actual cost and ``release`` gives it back (the request failed before any
cost): both, and the token settlement, run in the background, so the client never waits for them. A
hold nobody settles (the process died) stops counting when it expires. When the store is unreachable,
``StateFailurePolicy`` decides (``AIMUX_STATE_FAILURE=open``: serve without a hold and record the cost
afterwards; ``closed``: 529/503).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any, Protocol

from ..accounting.pricing import cost_micro_usd
from ..state.background import BackgroundWrites
from ..state.failure_policy import StateFailurePolicy
from .budget import OK, BudgetLimits, BudgetVerdict, verdict_for
from .reservations import BudgetHolds, Hold
from .spend import SpendLedger, SpendTotals
from .windows import HasRateLimits, RateDecision, RateLimiter, usage_tokens

if TYPE_CHECKING:
    from ..accounting.pricing import Price
    from ..state.clock import Clock
    from ..state.store import Item
    from ..wire.anthropic import Usage


class LimitedKey(HasRateLimits, Protocol):
    """What admission reads of a caller's key (``keys.record.ApiKeyRecord`` has it): its id, rate limits
    and budgets. A shape, so that limits need nothing of the keys package."""

    @property
    def id(self) -> str: ...
    @property
    def budget_daily_usd(self) -> float | None: ...
    @property
    def budget_monthly_usd(self) -> float | None: ...
    @property
    def budget_route(self) -> str | None: ...


log = logging.getLogger("aimux.admission")


@dataclass(frozen=True, slots=True)
class Admitted:
    """The outcome of admission for one request (``key`` None: auth is off, nothing is limited).

    ``holds``: the budget reservations this request must settle or release (none without a budget,
    for a zero worst case, or when the store was unreachable and the policy is open).
    """

    key: LimitedKey | None = None
    rate: RateDecision | None = None
    budget: BudgetVerdict = OK
    holds: tuple[Hold, ...] = ()

    @property
    def key_id(self) -> str | None:
        return self.key.id if self.key is not None else None


OPEN = Admitted()


@dataclass(frozen=True, slots=True)
class _Reserved:
    verdict: BudgetVerdict
    holds: tuple[Hold, ...] = ()


_UNCHECKED = _Reserved(OK)


class Admission:
    def __init__(
        self,
        limiter: RateLimiter,
        ledger: SpendLedger,
        clock: Clock,
        *,
        holds: BudgetHolds | None = None,
        policy: StateFailurePolicy | None = None,
        budget_route_for: Callable[[str], str | None] = lambda route: None,
        on_spend: Callable[[str, float], object] | None = None,
    ) -> None:
        """``on_spend(key_id, usd_today)`` after each spend write: the composition root passes the metric."""
        self.limiter = limiter
        self.ledger = ledger
        self.holds = holds or BudgetHolds(ledger.store, clock)
        self.clock = clock
        self.policy = policy or StateFailurePolicy()
        self.budget_route_for = budget_route_for
        self.on_spend = on_spend
        self._writes = BackgroundWrites(log)
        self._unsettled: set[str] = set()  # holds taken here and not yet settled or released

    async def admit(self, key: LimitedKey | None, route: str, estimate: int, worst_case: Callable[[], int]) -> Admitted:
        """Rate windows and the budget hold for ``key`` (raises ``RateLimited`` subclasses when refused).

        ``worst_case()`` is the most the request can cost on ``route`` in micro-dollars; it is only
        computed for a key with a budget. A ``step_down`` verdict holds nothing yet: the caller selects
        ``budget.route`` and calls ``step_down``.
        """
        if key is None:
            return OPEN
        now = self.clock.now()
        limits = BudgetLimits.from_record(key, default_route=self.budget_route_for(route))
        if limits.step_down_route == route:
            limits = limits.without_step_down()  # already on the cheaper route: nowhere further to go
        rate, reserved = await asyncio.gather(
            self.policy.guarded(
                self.limiter.take("key", key.id, key, estimate),
                what="rate limit check",
                fallback=RateDecision.unchecked("key", key.id, now, estimate),
            ),
            self._reserve(key.id, limits, worst_case),
            return_exceptions=True,
        )
        if isinstance(rate, BaseException):
            if isinstance(reserved, _Reserved):
                self._release(reserved.holds)
            raise rate
        if isinstance(reserved, BaseException):
            raise reserved
        if reserved.verdict.error is not None:
            raise reserved.verdict.error
        return Admitted(key, rate, reserved.verdict, reserved.holds)

    async def step_down(self, admitted: Admitted, worst_case: Callable[[], int]) -> Admitted:
        """Reserve the worst case of the cheaper route the ``step_down`` verdict named, or refuse."""
        assert admitted.key is not None
        limits = BudgetLimits.from_record(admitted.key).without_step_down()
        reserved = await self._reserve(admitted.key.id, limits, worst_case)
        if reserved.verdict.error is not None:
            raise reserved.verdict.error
        return replace(admitted, holds=reserved.holds)

    def settle(self, admitted: Admitted, usage: Usage, price: Price | None) -> int:
        """Cost of the answer in micro-dollars; tokens and spend are recorded in the background."""
        micro = cost_micro_usd(usage, price)
        if admitted.key is None:
            return micro
        if admitted.rate is not None:
            self._later(self.limiter.settle(admitted.rate, usage_tokens(usage)), "token settlement")
        if admitted.holds:
            for hold in self._claim(admitted.holds):
                self._later(self._settle_hold(hold, micro), "budget settlement")
        elif micro > 0:
            self._later(self._record_spend(admitted.key.id, micro), "spend record")
        return micro

    def release(self, admitted: Admitted) -> None:
        """The request ended without an answer to charge: give its holds back (in the background)."""
        self._release(admitted.holds)

    async def drain(self) -> None:
        """Wait for the background writes (tests, and Lambda before the process may freeze)."""
        await self._writes.drain()

    async def _reserve(self, scope: str, limits: BudgetLimits, worst_case: Callable[[], int]) -> _Reserved:
        """The hold for ``worst_case()`` under ``limits`` (nothing to hold without a budget or cost)."""
        if not limits.any:
            return _UNCHECKED
        micro = worst_case()
        if micro <= 0:
            return _UNCHECKED
        result = await self.policy.guarded(
            self.holds.reserve([(scope, limits)], micro), what="budget check", fallback=None
        )
        if result is None:
            return _UNCHECKED
        if isinstance(result, tuple):
            self._unsettled.update(hold.name for hold in result)
            return _Reserved(OK, result)
        return _Reserved(verdict_for(result, limits, now=self.clock.now()))

    def _release(self, holds: tuple[Hold, ...]) -> None:
        for hold in self._claim(holds):
            self._later(self._settle_hold(hold, 0), "budget refund")

    def _claim(self, holds: tuple[Hold, ...]) -> list[Hold]:
        """The holds not settled yet, now marked settled: a hold is settled or released once."""
        claimed = [hold for hold in holds if hold.name in self._unsettled]
        self._unsettled.difference_update(hold.name for hold in claimed)
        return claimed

    async def _settle_hold(self, hold: Hold, micro: int) -> None:
        item = await self.holds.settle(hold, micro)
        if micro > 0:
            self._emit_spend(hold.scope, item)

    async def _record_spend(self, key_id: str, micro: int) -> None:
        totals = await self.ledger.record(key_id, micro)
        if totals is not None:
            self._emit_totals(key_id, totals)

    def _emit_spend(self, key_id: str, item: Item | None) -> None:
        if item is not None:
            self._emit_totals(key_id, SpendTotals.from_item(item, self.clock.now()))

    def _emit_totals(self, key_id: str, totals: SpendTotals) -> None:
        if self.on_spend is not None:
            self.on_spend(key_id, totals.day_micro / 1_000_000)

    def _later(self, work: Awaitable[Any], what: str) -> None:
        self._writes.later(self.policy.guarded(work, what=what, fallback=None, answered=True), what)
