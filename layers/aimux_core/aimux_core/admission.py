"""What a caller's key allows: model and route allow-lists, rate windows and budgets.

Before the upstream call, for a request that carries a virtual key (none when ``AIMUX_AUTH=off``):

    allow-lists            no I/O (the key record came from the per-process key cache)
    rate windows ─┐        one conditional write (rpm and tpm of the key, together)
    budget totals ┘        one read; both in parallel: one store round trip of latency

A spent budget steps the request down to the key's (or the route's) cheaper route when one exists,
else refuses it with a 429 naming the budget and its reset. After the answer, token settlement and
the spend ``ADD`` run in the background: the client never waits for them. When the store is
unreachable, ``StateFailurePolicy`` decides (``AIMUX_STATE_FAILURE=open``: serve and count the miss;
``closed``: 529/503).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from .accounting.pricing import cost_micro_usd
from .state.failure_policy import StateFailurePolicy
from .state.ratelimit import RateDecision, RateLimiter, usage_tokens
from .state.spend import BudgetLimits, BudgetVerdict, SpendLedger

if TYPE_CHECKING:
    from .keys.record import ApiKeyRecord
    from .routing.catalog import Price
    from .state.clock import Clock
    from .wire.anthropic import Usage

log = logging.getLogger("aimux.admission")
_OK = BudgetVerdict("ok")


@dataclass(frozen=True, slots=True)
class Admitted:
    """The outcome of admission for one request (``key`` None: auth is off, nothing is limited)."""

    key: ApiKeyRecord | None = None
    rate: RateDecision | None = None
    budget: BudgetVerdict = _OK

    @property
    def key_id(self) -> str | None:
        return self.key.id if self.key is not None else None


OPEN = Admitted()


class Admission:
    def __init__(
        self,
        limiter: RateLimiter,
        ledger: SpendLedger,
        clock: Clock,
        *,
        policy: StateFailurePolicy | None = None,
        budget_route_for: Callable[[str], str | None] = lambda route: None,
    ) -> None:
        self.limiter = limiter
        self.ledger = ledger
        self.clock = clock
        self.policy = policy or StateFailurePolicy()
        self.budget_route_for = budget_route_for
        self._pending: set[asyncio.Task[Any]] = set()

    async def admit(self, key: ApiKeyRecord | None, route: str, estimate: int) -> Admitted:
        """Rate windows and budget for ``key`` (raises ``RateLimited`` subclasses when refused)."""
        if key is None:
            return OPEN
        now = self.clock.now()
        limits = BudgetLimits.from_record(key, default_route=self.budget_route_for(route))
        rate, budget = await asyncio.gather(
            self.policy.guarded(
                self.limiter.admit("key", key.id, key, estimate),
                what="rate limit check",
                fallback=RateDecision.unchecked("key", key.id, now, estimate),
            ),
            self.policy.guarded(self.ledger.check(key.id, limits), what="budget check", fallback=_OK),
        )
        if budget.action == "refuse" and budget.error is not None:
            raise budget.error
        return Admitted(key, rate, budget)

    def settle(self, admitted: Admitted, usage: Usage, price: Price | None) -> int:
        """Cost of the answer in micro-dollars; tokens and spend are recorded in the background."""
        micro = cost_micro_usd(usage, price)
        if admitted.key is None:
            return micro
        if admitted.rate is not None:
            self._later(self.limiter.settle(admitted.rate, usage_tokens(usage)), "token settlement")
        if micro > 0:
            self._later(self._record_spend(admitted.key.id, micro), "spend record")
        return micro

    async def _record_spend(self, key_id: str, micro: int) -> None:
        totals = await self.ledger.record(key_id, micro)
        if totals is not None:
            from .accounting.metrics import emit_key_spend

            emit_key_spend(key_id, totals.day_micro / 1_000_000)

    async def drain(self) -> None:
        """Wait for the background writes (tests, and Lambda before the process may freeze)."""
        while self._pending:
            await asyncio.gather(*list(self._pending), return_exceptions=True)

    def _later(self, work: Awaitable[Any], what: str) -> None:
        task = asyncio.ensure_future(self.policy.guarded(work, what=what, fallback=None, answered=True))
        self._pending.add(task)
        task.add_done_callback(self._done)

    def _done(self, task: asyncio.Task[Any]) -> None:
        self._pending.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.error("background state write failed: %s", type(task.exception()).__name__)
