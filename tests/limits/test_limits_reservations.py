"""Budget reservations (``limits/reservations.py``): held before the call, settled after, never over a budget.

Run on ``MemoryStore`` and on DynamoDB served by dynalite (exact under concurrency; skipped with the reason
when it is not installed). The multi-process version, through real gateways, is in
``tests/e2e_state/test_state_e2e_budget_exact.py``.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from typing import Any

import pytest
from limits_support import CountingStore

from aimux_core.limits.budget import BudgetLimits, Shortfall
from aimux_core.limits.reservations import BudgetHolds, Hold
from aimux_core.limits.spend import SpendLedger, spend_pk
from aimux_core.state.clock import FakeClock
from aimux_core.state.memory import MemoryStore
from aimux_core.state.store import Store, StoreUnavailable
from support.dynamo import dynalite_server, dynalite_store  # noqa: F401  (fixtures)

pytestmark = pytest.mark.anyio

HOLD_SECONDS = 120.0
DAILY_2_CENTS = BudgetLimits.from_usd(daily=0.02)  # 20,000 micro-dollars: ten requests of $0.002


@pytest.fixture(params=["memory", "dynalite"])
def store(request: pytest.FixtureRequest, clock: FakeClock) -> Iterator[Store]:
    yield MemoryStore(clock) if request.param == "memory" else request.getfixturevalue("dynalite_store")


@pytest.fixture
def holds(store: Store, clock: FakeClock) -> BudgetHolds:
    return BudgetHolds(store, clock, hold_seconds=HOLD_SECONDS)


async def reserve(holds: BudgetHolds, scope: str, micro: int, limits: BudgetLimits = DAILY_2_CENTS) -> Hold:
    result = await holds.reserve([(scope, limits)], micro)
    assert isinstance(result, tuple), f"refused: {result}"
    (hold,) = result
    return hold


async def test_a_hold_counts_until_it_is_settled_at_the_actual_cost(
    holds: BudgetHolds, store: Store, clock: FakeClock, ns: str
) -> None:
    ledger = SpendLedger(store, clock)
    hold = await reserve(holds, ns, 2_000)
    assert hold.until == clock.now() + HOLD_SECONDS and hold.day_attribute == "day_22"
    totals = await ledger.totals(ns)
    assert (totals.day_micro, totals.held_day_micro, totals.held_month_micro) == (0, 2_000, 2_000)
    await holds.settle(hold, 1_500)
    totals = await ledger.totals(ns)
    assert (totals.day_micro, totals.month_micro, totals.held_day_micro) == (1_500, 1_500, 0)
    item = await store.get(spend_pk(ns), "month#2026-11")
    assert item is not None and not [name for name in item if name.startswith("hold_")]
    assert item["requests"] == 1


async def test_a_refund_gives_the_whole_hold_back(holds: BudgetHolds, store: Store, clock: FakeClock, ns: str) -> None:
    hold = await reserve(holds, ns, 20_000)
    assert isinstance(await holds.reserve([(ns, DAILY_2_CENTS)], 1), Shortfall)
    await holds.settle(hold, 0)
    totals = await SpendLedger(store, clock).totals(ns)
    assert (totals.day_micro, totals.held_day_micro) == (0, 0)
    item = await store.get(spend_pk(ns), "month#2026-11")
    assert item is not None and "requests" not in item
    await reserve(holds, ns, 20_000)  # the whole budget is available again


async def test_one_after_another_exactly_ten_requests_fit_a_budget_of_ten(holds: BudgetHolds, ns: str) -> None:
    served = 0
    for _ in range(20):
        result = await holds.reserve([(ns, DAILY_2_CENTS)], 2_000)
        if isinstance(result, Shortfall):
            assert result.reached and result.committed_micro_usd == 20_000
            continue
        await holds.settle(result[0], 2_000)
        served += 1
    assert served == 10


async def test_requests_cheaper_than_their_worst_case_leave_room_for_more(
    holds: BudgetHolds, store: Store, clock: FakeClock, ns: str
) -> None:
    served = 0
    for _ in range(40):
        result = await holds.reserve([(ns, DAILY_2_CENTS)], 2_000)
        if isinstance(result, tuple):
            await holds.settle(result[0], 700)
            served += 1
    assert served == 26  # 26 * 700 = 18,200; a 27th could cost up to 2,000 more: 20,200 > 20,000
    assert (await SpendLedger(store, clock).totals(ns)).day_micro == 26 * 700


async def test_forty_concurrent_reservations_admit_exactly_what_the_budget_covers(
    holds: BudgetHolds, store: Store, clock: FakeClock, ns: str
) -> None:
    results = await asyncio.gather(*(holds.reserve([(ns, DAILY_2_CENTS)], 2_000) for _ in range(40)))
    admitted = [r[0] for r in results if isinstance(r, tuple)]
    assert len(admitted) == 10
    await asyncio.gather(*(holds.settle(hold, 2_000) for hold in admitted))
    totals = await SpendLedger(store, clock).totals(ns)
    assert (totals.day_micro, totals.held_day_micro) == (20_000, 0)


async def test_daily_and_monthly_budgets_both_hold_in_one_write(
    store: Store, clock: FakeClock, ns: str
) -> None:
    counting = CountingStore(store)
    holds = BudgetHolds(counting, clock, hold_seconds=HOLD_SECONDS)
    limits = BudgetLimits.from_usd(daily=0.01, monthly=0.025)
    for _ in range(5):
        await holds.settle(await reserve(holds, ns, 2_000, limits), 2_000)
    daily = await holds.reserve([(ns, limits)], 2_000)
    assert isinstance(daily, Shortfall) and daily.budget == "daily" and daily.reached
    clock.advance(24 * 3600)  # the next day: the daily budget is fresh, the month has 15,000 left
    for _ in range(5):
        await holds.settle(await reserve(holds, ns, 2_000, limits), 2_000)
    clock.advance(24 * 3600)  # and the day after: 5,000 left in the month
    for _ in range(2):
        await holds.settle(await reserve(holds, ns, 2_000, limits), 2_000)
    counting.reset()
    monthly = await holds.reserve([(ns, limits)], 2_000)
    assert isinstance(monthly, Shortfall) and monthly.budget == "monthly"
    assert (monthly.committed_micro_usd, monthly.left_micro_usd) == (24_000, 1_000)
    assert counting.calls["add"] == 1, "one conditional write checked both budgets"


async def test_an_expired_hold_stops_counting_and_its_late_settlement_adds_only_the_cost(
    holds: BudgetHolds, store: Store, clock: FakeClock, ns: str
) -> None:
    """A process that died mid-request leaves its hold behind: it blocks the budget only until ``until``."""
    dead = await reserve(holds, ns, 20_000)
    assert isinstance(await holds.reserve([(ns, DAILY_2_CENTS)], 2_000), Shortfall)
    clock.advance(HOLD_SECONDS)
    alive = await reserve(holds, ns, 2_000)  # the refusal reclaimed the expired hold and tried again
    totals = await SpendLedger(store, clock).totals(ns)
    assert (totals.day_micro, totals.held_day_micro) == (0, 2_000)
    await holds.settle(dead, 1_000)  # the request was not dead after all: its cost still counts, once
    await holds.settle(alive, 2_000)
    totals = await SpendLedger(store, clock).totals(ns)
    assert (totals.day_micro, totals.held_day_micro) == (3_000, 0)


async def test_a_settlement_tidies_away_expired_holds_of_other_requests(
    holds: BudgetHolds, store: Store, clock: FakeClock, ns: str
) -> None:
    await reserve(holds, ns, 3_000)  # never settled
    clock.advance(HOLD_SECONDS / 2)
    later = await reserve(holds, ns, 2_000)
    clock.advance(HOLD_SECONDS / 2)
    await holds.settle(later, 2_000)
    item = await store.get(spend_pk(ns), "month#2026-11")
    assert item is not None and not [name for name in item if name.startswith("hold_")]
    assert (item["micro_usd"], item["day_22"]) == (2_000, 2_000)


async def test_a_request_whose_worst_case_exceeds_the_budget_is_refused_without_writing(
    holds: BudgetHolds, store: Store, ns: str
) -> None:
    result = await holds.reserve([(ns, DAILY_2_CENTS)], 20_001)
    assert isinstance(result, Shortfall) and not result.reached
    assert (result.committed_micro_usd, result.left_micro_usd, result.wanted_micro_usd) == (0, 20_000, 20_001)
    assert await store.get(spend_pk(ns), "month#2026-11") is None


async def test_two_scopes_are_reserved_together_or_not_at_all(
    holds: BudgetHolds, store: Store, clock: FakeClock, ns: str
) -> None:
    """A project budget on top of the key's own: a refusal by either leaves no hold on the other."""
    key, project = f"{ns}-key", f"{ns}-project"
    ledger = SpendLedger(store, clock)
    project_limits = BudgetLimits.from_usd(daily=0.005)
    both = await holds.reserve([(key, DAILY_2_CENTS), (project, project_limits)], 2_000)
    assert isinstance(both, tuple) and {hold.scope for hold in both} == {key, project}
    second = await holds.reserve([(key, DAILY_2_CENTS), (project, project_limits)], 2_000)
    assert isinstance(second, tuple)
    refused = await holds.reserve([(key, DAILY_2_CENTS), (project, project_limits)], 2_000)
    assert isinstance(refused, Shortfall) and refused.limit_micro_usd == 5_000
    assert (await ledger.totals(key)).held_day_micro == 4_000, "the key's hold for the refused request was given back"
    for hold in (*both, *second):
        await holds.settle(hold, 2_000)
    assert (await ledger.totals(key)).day_micro == (await ledger.totals(project)).day_micro == 4_000


class ProjectItemsDown(MemoryStore):
    """The store fails every write to one scope's items, as a throttled partition would."""

    async def add(self, pk: str, *args: Any, **kwargs: Any) -> Any:
        if pk.endswith("-project"):
            raise StoreUnavailable("throttled")
        return await super().add(pk, *args, **kwargs)


async def test_a_store_failure_on_one_scope_leaves_nothing_held_on_the_other(clock: FakeClock, ns: str) -> None:
    store = ProjectItemsDown(clock)
    holds = BudgetHolds(store, clock, hold_seconds=HOLD_SECONDS)
    with pytest.raises(StoreUnavailable):
        await holds.reserve([(f"{ns}-key", DAILY_2_CENTS), (f"{ns}-project", DAILY_2_CENTS)], 2_000)
    totals = await SpendLedger(store, clock).totals(f"{ns}-key")
    assert (totals.day_micro, totals.held_day_micro) == (0, 0)
