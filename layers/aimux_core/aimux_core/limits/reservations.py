"""Budget reservations: a request is admitted only once its worst-case cost is held against its budgets.

Checking a total and adding the cost after the answer lets every request in flight pass the same check,
so a budget was overshot by whatever was in flight (11 answers of a $0.02 budget at $0.002 each one after
another, 26 when 40 arrived at once). Here the check *is* the write that counts the request, before the
upstream call, for the most it can cost (``accounting/pricing.py`` ``worst_case_micro_usd``), and the
real cost replaces it when the request ends. On the scope's month item (``limits/spend.py``):

    reserve   ADD micro_usd w, day_DD w, hold_<until>_<DD>_<id> w            one UpdateItem, before the call
              if micro_usd <= monthly - w AND day_DD <= daily - w
    settle    ADD micro_usd c - w, day_DD c - w, requests 1 REMOVE hold_...    one UpdateItem, after the answer
              if hold_... = w                                                 (c: the actual cost; 0 on failure)
      gone    ADD micro_usd c, day_DD c, requests 1                           +1 only if it was reclaimed first
    reclaim   ADD micro_usd -Σ, day_DD -Σ REMOVE the expired holds            only when some hold has expired
              if each still holds its amount

**Exact under concurrency.** The store serialises writes on one item and a reservation that would pass a
bound writes nothing, so however many processes race, the reservations admitted never sum past a budget:
with $0.002 worst cases and $0.02, exactly 10 of 10, 40 or 400 concurrent requests are served. Day and
month are attributes of one item, so one write checks both. Settling only ever lowers a hold to what
was spent (or removes it), so it can never take the spend past a budget that the reservation respected;
the exception is a request that cost more than its worst case, which only an input estimate below the
real token count allows (see ``pricing.py``): the excess is recorded and later requests see it.

**Nothing is lost when a process dies.** Each hold names the instant it stops counting: the longest a
request can run (``hold_seconds_for``: the dispatch deadline plus the longest provider call, plus time
to write the settlement). A settlement removes its hold only while it is there (``expect``), and a
reclaim removes expired holds only while they are there, giving their amounts back; so whichever comes
first wins, and the other sees the hold gone: a late settlement then adds the actual cost alone. Expired
holds are reclaimed when a reservation is refused (then the reservation is tried once more) and after a
settlement that sees them, so a crashed request's hold blocks the budget at most until its ``until``.

**Round trips.** Reserving is one write, sent beside the rate-window write (one round trip of latency);
a refusal adds a read on stores that do not return the refused item (dynalite), and a reclaim plus a
second attempt only while an expired hold is in the way. Settling is one write, in the background.

**More than one scope** (project budgets on top of each key's own): ``reserve`` takes several
``(scope, limits)`` claims and sends one reservation per scope concurrently (one round trip of latency).
If any scope refuses, the holds that were taken are settled at zero (compensation) and the request is
refused or stepped down on the refusing scope's shortfall. Each scope is exact on its own: a hold is only
ever taken within its scope's bound, and compensation only gives back. Until the compensation lands, the
scope that accepted shows the request's worst case, so a concurrent request may be refused that would
have fitted: conservative and brief, never an overspend; if the process dies first, the hold expires.
There are no transactions here on purpose: DynamoDB emulators used for concurrency tests (dynalite) have
none, and one conditional write per scope is cheaper than a transaction across them.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import secrets
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from ..state.clock import Clock
from ..state.store import ConditionFailed, Item, Store
from .budget import Budget, HasBudget, Shortfall
from .spend import (
    MONTH_TOTAL,
    REQUESTS,
    Period,
    check_amount,
    day_attribute,
    hold_name,
    holds_in,
    period_at,
    spend_pk,
)

__all__ = ["DEFAULT_HOLD_SECONDS", "SETTLE_GRACE", "BudgetHolds", "Hold", "hold_seconds_for"]

SETTLE_GRACE = 10.0
"""Seconds after a request's last possible moment for its settlement to land (a Lambda invocation waits
at most this long for its background writes: ``surfaces/invocation.py`` ``DRAIN_SECONDS``)."""


def hold_seconds_for(deadline: float, longest_call: float) -> float:
    """How long a reservation counts without being settled: the longest a request can live.

    ``deadline`` bounds the time to an answer or a stream's first content (``RetryPolicy.deadline``);
    ``longest_call`` is the longest ``total`` timeout of any provider, which bounds a stream from its start.
    """
    return deadline + longest_call + SETTLE_GRACE


DEFAULT_HOLD_SECONDS = hold_seconds_for(600.0, 900.0)  # the configuration's defaults


@dataclass(frozen=True, slots=True)
class Hold:
    """One reservation of ``micro_usd`` on ``scope``'s month item, counted until ``until``."""

    scope: str
    month_sk: str
    day_attribute: str
    name: str
    micro_usd: int
    until: float
    expires_at: float


Claim = tuple[str, HasBudget]
"""A scope (a key id) and its budgets."""


class BudgetHolds:
    """Reserves, settles and reclaims holds on spend items; see the module docstring for the protocol."""

    def __init__(self, store: Store, clock: Clock, *, hold_seconds: float = DEFAULT_HOLD_SECONDS) -> None:
        if hold_seconds <= 0:
            raise ValueError("hold_seconds must be positive")
        self.store = store
        self.clock = clock
        self.hold_seconds = hold_seconds

    async def reserve(self, claims: Sequence[Claim], micro_usd: int) -> tuple[Hold, ...] | Shortfall:
        """Hold ``micro_usd`` on every claimed scope within its budgets, or on none (the first shortfall)."""
        check_amount(micro_usd)
        if len(claims) == 1:
            scope, limits = claims[0]
            one = await self._reserve_one(scope, limits, micro_usd)
            return one if isinstance(one, Shortfall) else (one,)
        results = await asyncio.gather(
            *(self._reserve_one(scope, limits, micro_usd) for scope, limits in claims), return_exceptions=True
        )
        holds = tuple(r for r in results if isinstance(r, Hold))
        if len(holds) == len(results):
            return holds
        await asyncio.gather(*(self.settle(hold, 0) for hold in holds))  # compensation
        failed = next((r for r in results if isinstance(r, BaseException)), None)
        if failed is not None:
            raise failed  # a store failure: the policy decides, with nothing left held
        return next(r for r in results if isinstance(r, Shortfall))

    async def settle(self, hold: Hold, micro_usd: int) -> Item | None:
        """Replace the hold with the actual cost (0: a refund); returns the item (None: nothing written)."""
        check_amount(micro_usd)
        pk = spend_pk(hold.scope)
        change = micro_usd - hold.micro_usd
        deltas = {MONTH_TOTAL: change, hold.day_attribute: change}
        if micro_usd:
            deltas[REQUESTS] = 1
        try:
            item = await self.store.add(
                pk, hold.month_sk, deltas, expect={hold.name: hold.micro_usd}, remove=[hold.name]
            )
        except ConditionFailed:
            # Reclaimed after ``until`` (the request outlived its hold): its amount was already given back.
            if micro_usd == 0:
                return None
            late = {MONTH_TOTAL: micro_usd, hold.day_attribute: micro_usd, REQUESTS: 1}
            item = await self.store.add(pk, hold.month_sk, late, expires_at=hold.expires_at)
        await self._reclaim(pk, item, self.clock.now())
        return item

    async def _reserve_one(self, scope: str, limits: HasBudget, micro_usd: int) -> Hold | Shortfall:
        now = self.clock.now()
        period = period_at(now)
        until = math.ceil(now + self.hold_seconds)
        name = hold_name(until, period.day, secrets.token_hex(8))
        deltas = {MONTH_TOTAL: micro_usd, period.day_attribute: micro_usd, name: micro_usd}
        bounds = _bounds(limits, period)
        pk = spend_pk(scope)
        for attempt in (1, 2):
            try:
                await self.store.add(pk, period.month_sk, deltas, limit=bounds, expires_at=period.expires_at)
            except ConditionFailed as refused:
                item = refused.item
                if attempt == 1 and await self._reclaim(pk, item, now):
                    continue  # expired holds were in the way: they are gone now, try once more
                return _shortfall(item, limits, micro_usd, period)
            return Hold(scope, period.month_sk, period.day_attribute, name, micro_usd, until, period.expires_at)
        raise AssertionError("unreachable")  # pragma: no cover

    async def _reclaim(self, pk: str, item: Mapping[str, Any] | None, now: float) -> bool:
        """Give back the holds of ``item`` that expired by ``now``; True when there were any."""
        if item is None:
            return False
        held = {name: found for name, found in holds_in(item).items() if found[0].until <= now}
        if not held:
            return False
        expired = {name: micro for name, (_, micro) in held.items()}
        deltas: dict[str, int] = {MONTH_TOTAL: -sum(expired.values())}
        for parsed, micro in held.values():
            day = day_attribute(parsed.day)
            deltas[day] = deltas.get(day, 0) - micro
        # A refusal means another writer settled or reclaimed them meanwhile: they no longer count either way.
        with contextlib.suppress(ConditionFailed):
            await self.store.add(pk, item["sk"], deltas, expect=expired, remove=list(expired))
        return True


def _bounds(limits: HasBudget, period: Period) -> dict[str, int]:
    bounds: dict[str, int] = {}
    if limits.monthly_micro_usd is not None:
        bounds[MONTH_TOTAL] = limits.monthly_micro_usd
    if limits.daily_micro_usd is not None:
        bounds[period.day_attribute] = limits.daily_micro_usd
    return bounds


def _shortfall(item: Mapping[str, Any] | None, limits: HasBudget, wanted: int, period: Period) -> Shortfall:
    """Which budget the refused reservation would have passed, from the item it was checked against.

    When both would be passed the monthly one is named (it resets last: what the caller waits for). A
    store that re-reads the item after the refusal (dynalite) may see it moved: then the budget with the
    least room is named.
    """
    seen = item or {}
    checks: list[tuple[Budget, int | None, int, Any]] = [
        ("monthly", limits.monthly_micro_usd, int(seen.get(MONTH_TOTAL, 0)), period.month_ends),
        ("daily", limits.daily_micro_usd, int(seen.get(period.day_attribute, 0)), period.day_ends),
    ]
    found = [Shortfall(b, limit, used, wanted, ends) for b, limit, used, ends in checks if limit is not None]
    over = [shortfall for shortfall in found if shortfall.committed_micro_usd + wanted > shortfall.limit_micro_usd]
    if over:
        return over[0]
    return min(found, key=lambda shortfall: shortfall.limit_micro_usd - shortfall.committed_micro_usd)
