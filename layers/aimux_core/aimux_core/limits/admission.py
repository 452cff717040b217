"""What a caller's key allows: model and route allow-lists, rate windows and budgets.

Before the upstream call, for a request that carries a virtual key (none when ``AIMUX_AUTH=off``):

    allow-lists            no I/O (the key record came from the per-process key cache)
    rate windows ─┐        one conditional write (rpm and tpm of the key, together)
    budget hold  ─┘        one conditional write reserving the request's worst case against the
                           key's daily and monthly budgets (``limits/reservations.py``); both sent
                           concurrently: one store round trip of latency

A key in a project (``projects/``) is also held to the project's limits, enforced across all of its
keys together: the project's rate window (one more conditional write) and a second budget claim (one
more reservation, ``BudgetHolds.reserve`` with two scopes), all sent with the key's: still one round
trip. Refused by any scope, the others give back what they counted (the rate windows by a compensating
``add``, the holds by settling at zero) and the request is refused naming the scope that refused it; a
project budget that cannot cover the request steps down like the key's own (to the key's or the
route's cheaper route).

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
from .budget import OK, BudgetLimits, BudgetVerdict, Shortfall, verdict_for
from .project import SCOPE_PREFIX
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
    project: HasProjectLimits | None = None
    project_rate: RateDecision | None = None

    @property
    def key_id(self) -> str | None:
        return self.key.id if self.key is not None else None


OPEN = Admitted()


class HasProjectLimits(Protocol):
    """A project's limits as admission reads them (``limits.project.Project``)."""

    @property
    def name(self) -> str: ...

    @property
    def scope(self) -> str: ...

    @property
    def rpm(self) -> int | None: ...

    @property
    def tpm(self) -> int | None: ...

    @property
    def budget_daily_usd(self) -> float | None: ...

    @property
    def budget_monthly_usd(self) -> float | None: ...


Claim = tuple[str, BudgetLimits]


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

    async def admit(
        self,
        key: LimitedKey | None,
        route: str,
        estimate: int,
        worst_case: Callable[[], int],
        project: HasProjectLimits | None = None,
    ) -> Admitted:
        """Rate windows and budget holds for ``key`` and its ``project`` (raises ``RateLimited``
        subclasses when refused).

        ``worst_case()`` is the most the request can cost on ``route`` in micro-dollars; it is only
        computed when some scope has a budget. A ``step_down`` verdict holds nothing yet: the caller
        selects ``budget.route`` and calls ``step_down``.
        """
        if key is None:
            return OPEN
        limits = BudgetLimits.from_record(key, default_route=self.budget_route_for(route))
        if limits.step_down_route == route:
            limits = limits.without_step_down()  # already on the cheaper route: nowhere further to go
        rates = [self._rate("key", key.id, key, estimate)]
        if project is not None and (project.rpm is not None or project.tpm is not None):
            rates.append(self._rate("project", project.name, project, estimate))
        results = await asyncio.gather(
            *rates, self._reserve(budget_claims(key, limits, project), worst_case), return_exceptions=True
        )
        *decided, reserved = results
        refusal = next((result for result in results if isinstance(result, BaseException)), None)
        if refusal is not None:
            for decision in decided:
                if isinstance(decision, RateDecision):
                    self._later(self.limiter.release(decision), "rate window release")
            if isinstance(reserved, _Reserved):
                self._release(reserved.holds)
            raise refusal
        assert isinstance(reserved, _Reserved)
        if reserved.verdict.error is not None:
            raise reserved.verdict.error
        rate = decided[0] if isinstance(decided[0], RateDecision) else None
        project_rate = decided[1] if len(decided) > 1 and isinstance(decided[1], RateDecision) else None
        return Admitted(key, rate, reserved.verdict, reserved.holds, project, project_rate)

    async def step_down(self, admitted: Admitted, worst_case: Callable[[], int]) -> Admitted:
        """Reserve the worst case of the cheaper route the ``step_down`` verdict named, or refuse."""
        assert admitted.key is not None
        limits = BudgetLimits.from_record(admitted.key).without_step_down()
        reserved = await self._reserve(budget_claims(admitted.key, limits, admitted.project), worst_case)
        if reserved.verdict.error is not None:
            raise reserved.verdict.error
        return replace(admitted, holds=reserved.holds)

    def settle(self, admitted: Admitted, usage: Usage, price: Price | None) -> int:
        """Cost of the answer in micro-dollars; tokens and spend are recorded in the background."""
        micro = cost_micro_usd(usage, price)
        if admitted.key is None:
            return micro
        for rate in (admitted.rate, admitted.project_rate):
            if rate is not None:
                self._later(self.limiter.settle(rate, usage_tokens(usage)), "token settlement")
        if admitted.holds:
            for hold in self._claim(admitted.holds):
                self._later(self._settle_hold(hold, micro), "budget settlement")
            if micro > 0 and all(hold.scope != admitted.key.id for hold in admitted.holds):
                # only the project's budget was held: the key's own spend is still recorded, as without holds
                self._later(self._record_spend(admitted.key.id, micro), "spend record")
        elif micro > 0:  # nothing was held (store unreachable, policy open; a native batch): record the cost
            self._later(self._record_spend(admitted.key.id, micro), "spend record")
            project = admitted.project
            if project is not None and (project.budget_daily_usd is not None or project.budget_monthly_usd is not None):
                self._later(self.ledger.record(project.scope, micro), "project spend record")
        return micro

    def release(self, admitted: Admitted) -> None:
        """The request ended without an answer to charge: give its holds back (in the background)."""
        self._release(admitted.holds)

    async def drain(self) -> None:
        """Wait for the background writes (tests, and Lambda before the process may freeze)."""
        await self._writes.drain()

    def _rate(self, scope: str, ident: str, limits: HasRateLimits, estimate: int) -> Awaitable[RateDecision]:
        """One scope's rate-window admission under the state failure policy."""
        return self.policy.guarded(
            self.limiter.take(scope, ident, limits, estimate),
            what="rate limit check",
            fallback=RateDecision.unchecked(scope, ident, self.clock.now(), estimate),
        )

    async def _reserve(self, claims: list[Claim], worst_case: Callable[[], int]) -> _Reserved:
        """The holds for ``worst_case()`` on every claimed scope (nothing to hold without a budget or cost)."""
        claims = [(scope, limits) for scope, limits in claims if limits.any]
        if not claims:
            return _UNCHECKED
        micro = worst_case()
        if micro <= 0:
            return _UNCHECKED
        result = await self.policy.guarded(self.holds.reserve(claims, micro), what="budget check", fallback=None)
        if result is None:
            return _UNCHECKED
        if isinstance(result, tuple):
            self._unsettled.update(hold.name for hold in result)
            return _Reserved(OK, result)
        limits = dict(claims).get(result.scope or "", claims[0][1])
        return _Reserved(verdict_for(_owned(result), limits, now=self.clock.now()))

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
        if micro > 0 and not hold.scope.startswith(SCOPE_PREFIX):  # the per-key gauge is for keys
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


def budget_claims(key: LimitedKey, limits: BudgetLimits, project: HasProjectLimits | None) -> list[Claim]:
    """The budget scopes of a request: the key's, and its project's (stepping down to the key's route)."""
    claims: list[Claim] = [(key.id, limits)]
    if project is not None:
        daily, monthly = project.budget_daily_usd, project.budget_monthly_usd
        claims.append((project.scope, BudgetLimits.from_usd(daily, monthly, limits.step_down_route)))
    return claims


def _owned(shortfall: Shortfall) -> Shortfall:
    """A project's shortfall names the project in the refusal (a key's own needs no name)."""
    scope = shortfall.scope or ""
    if scope.startswith(SCOPE_PREFIX):
        return replace(shortfall, owner=f"project {scope[len(SCOPE_PREFIX) :]}")
    return shortfall
