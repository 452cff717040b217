"""Spend per key per UTC day and month, and the budget verdicts drawn from it."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from types import SimpleNamespace

import pytest
from limits_support import CountingStore

from aimux_core.errors import RateLimited
from aimux_core.state.clock import FakeClock
from aimux_core.state.spend import (
    BudgetExceeded,
    BudgetLimits,
    SpendLedger,
    SpendTotals,
    check_budget,
    format_usd,
    spend_pk,
)
from aimux_core.state.store import Store

pytestmark = pytest.mark.anyio


def at(text: str) -> float:
    return datetime.fromisoformat(text).replace(tzinfo=UTC).timestamp()


async def test_record_adds_to_the_day_and_the_month(counting: CountingStore, clock: FakeClock, ns: str) -> None:
    ledger = SpendLedger(counting, clock)
    totals = await ledger.record(ns, 1_250_000)
    assert totals is not None and (totals.day_micro, totals.month_micro) == (1_250_000, 1_250_000)
    assert counting.calls == {"add": 2}
    await ledger.record(ns, 750_000)
    counting.reset()
    totals = await ledger.totals(ns)
    assert counting.calls == {"query": 1}, "totals are one round trip"
    assert (totals.day_micro, totals.month_micro) == (2_000_000, 2_000_000)
    assert totals.day_resets_at == datetime(2026, 11, 23, tzinfo=UTC)
    assert totals.month_resets_at == datetime(2026, 12, 1, tzinfo=UTC)
    item = await counting.inner.get(spend_pk(ns), "day#2026-11-22")
    assert item is not None and item["requests"] == 2


async def test_zero_cost_writes_nothing_and_bad_amounts_are_refused(
    counting: CountingStore, clock: FakeClock, ns: str
) -> None:
    ledger = SpendLedger(counting, clock)
    assert await ledger.record(ns, 0) is None and counting.total == 0
    with pytest.raises(ValueError):
        await ledger.record(ns, -1)
    with pytest.raises(TypeError):
        await ledger.record(ns, 1.5)  # type: ignore[arg-type]


async def test_concurrent_records_lose_nothing(store: Store, clock: FakeClock, ns: str) -> None:
    ledgers = [SpendLedger(store, clock) for _ in range(4)]
    await asyncio.gather(*(ledgers[i % 4].record(ns, 1000 + i) for i in range(200)))
    totals = await ledgers[0].totals(ns)
    expected = sum(1000 + i for i in range(200))
    assert totals.day_micro == totals.month_micro == expected


async def test_the_day_rolls_over_at_utc_midnight(store: Store, clock: FakeClock, ns: str) -> None:
    ledger = SpendLedger(store, clock)
    clock.set(at("2026-11-22T23:59:59"))
    await ledger.record(ns, 300)
    clock.set(at("2026-11-23T00:00:00"))
    totals = await ledger.totals(ns)
    assert (totals.day_micro, totals.month_micro) == (0, 300)
    await ledger.record(ns, 200)
    totals = await ledger.totals(ns)
    assert (totals.day_micro, totals.month_micro) == (200, 500)
    assert totals.day_resets_at == datetime(2026, 11, 24, tzinfo=UTC)


async def test_the_month_rolls_over_at_month_end_and_year_end(store: Store, clock: FakeClock, ns: str) -> None:
    ledger = SpendLedger(store, clock)
    clock.set(at("2026-11-30T23:59:59"))
    await ledger.record(ns, 1000)
    clock.set(at("2026-12-01T00:00:01"))
    totals = await ledger.totals(ns)
    assert (totals.day_micro, totals.month_micro) == (0, 0), "last month's item is not this month's"
    assert totals.month_resets_at == datetime(2027, 1, 1, tzinfo=UTC)
    clock.set(at("2026-12-31T12:00:00"))
    await ledger.record(ns, 5)
    clock.set(at("2027-01-01T00:00:00"))
    assert (await ledger.totals(ns)).month_micro == 0


async def test_spend_items_expire_a_bit_after_their_period(store: Store, clock: FakeClock, ns: str) -> None:
    ledger = SpendLedger(store, clock)
    await ledger.record(ns, 10)
    day = await store.get(spend_pk(ns), "day#2026-11-22")
    month = await store.get(spend_pk(ns), "month#2026-11")
    assert day is not None and at("2026-11-23T00:00:00") < day["expires_at"] <= at("2026-11-26T00:00:00")
    assert month is not None and at("2026-12-01T00:00:00") < month["expires_at"] <= at("2026-12-15T00:00:00")


# --------------------------------------------------------------------------- budgets


def totals(day: int, month: int, now: str = "2026-11-22T18:00:00") -> SpendTotals:
    return SpendTotals(day, month, datetime(2026, 11, 23, tzinfo=UTC), datetime(2026, 12, 1, tzinfo=UTC), at(now))


def test_under_budget_is_ok() -> None:
    verdict = check_budget(BudgetLimits.from_usd(daily=5, monthly=100), totals(4_999_999, 50_000_000))
    assert verdict.ok and verdict.action == "ok" and verdict.error is None and verdict.note is None
    assert check_budget(BudgetLimits(), totals(10**12, 10**12)).ok, "no budget, never over"


def test_over_budget_steps_down_when_a_cheaper_route_is_configured() -> None:
    limits = BudgetLimits.from_usd(daily=5, step_down_route="cheap")
    verdict = check_budget(limits, totals(5_000_000, 5_000_000))
    assert verdict.action == "step_down" and verdict.route == "cheap" and verdict.budget == "daily"
    assert verdict.note == "budget step-down: daily budget of $5.00 reached"


def test_over_budget_without_a_route_is_refused_naming_the_budget_and_its_reset() -> None:
    verdict = check_budget(BudgetLimits.from_usd(daily=5), totals(5_000_001, 5_000_001))
    assert verdict.action == "refuse" and verdict.error is not None
    error = verdict.error
    assert isinstance(error, BudgetExceeded) and isinstance(error, RateLimited) and error.status == 429
    assert error.message == "daily budget of $5.00 reached; resets at 2026-11-23T00:00:00Z"
    assert error.retry_after == 6 * 3600, "until midnight UTC"
    assert error.headers == {"x-should-retry": "false"}


def test_the_monthly_budget_is_named_when_both_are_reached() -> None:
    verdict = check_budget(BudgetLimits.from_usd(daily=1, monthly=20), totals(2_000_000, 20_000_000))
    assert verdict.budget == "monthly" and verdict.error is not None
    assert verdict.error.message == "monthly budget of $20.00 reached; resets at 2026-12-01T00:00:00Z"
    only_month = check_budget(BudgetLimits.from_usd(daily=10, monthly=20), totals(0, 25_000_000))
    assert only_month.budget == "monthly"


async def test_check_reads_totals_only_when_the_key_has_a_budget(
    counting: CountingStore, clock: FakeClock, ns: str
) -> None:
    ledger = SpendLedger(counting, clock)
    assert (await ledger.check(ns, BudgetLimits())).ok and counting.total == 0
    await ledger.record(ns, 3_000_000)
    counting.reset()
    verdict = await ledger.check(ns, BudgetLimits.from_usd(daily=3))
    assert verdict.action == "refuse" and counting.calls == {"query": 1}


def test_budgets_and_amounts_are_integer_micro_dollars() -> None:
    assert BudgetLimits.from_usd(daily=0.1, monthly=12.345678).daily_micro_usd == 100_000
    assert BudgetLimits.from_usd(monthly=12.3456785).monthly_micro_usd == 12_345_679
    assert format_usd(5_000_000) == "$5.00"
    assert format_usd(1_234_560_000) == "$1,234.56"
    assert format_usd(2_500) == "$0.0025"


def test_limits_from_a_key_record_fall_back_to_the_configured_route() -> None:
    record = SimpleNamespace(budget_daily_usd=2.5, budget_monthly_usd=None, budget_route=None)
    limits = BudgetLimits.from_record(record, default_route="budget")
    assert limits == BudgetLimits(daily_micro_usd=2_500_000, monthly_micro_usd=None, step_down_route="budget")
    own = SimpleNamespace(budget_daily_usd=None, budget_monthly_usd=40.0, budget_route="mine")
    assert BudgetLimits.from_record(own, default_route="budget").step_down_route == "mine"
