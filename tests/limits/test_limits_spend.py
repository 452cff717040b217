"""Spend per key per UTC day and month: one month item holding the month, its days and the holds in flight."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

import pytest
from limits_support import CountingStore

from aimux_core.limits.spend import SpendLedger, SpendTotals, spend_pk
from aimux_core.state.clock import FakeClock
from aimux_core.state.store import Store

pytestmark = pytest.mark.anyio


def at(text: str) -> float:
    return datetime.fromisoformat(text).replace(tzinfo=UTC).timestamp()


async def test_record_adds_to_the_day_and_the_month_in_one_write(
    counting: CountingStore, clock: FakeClock, ns: str
) -> None:
    ledger = SpendLedger(counting, clock)
    totals = await ledger.record(ns, 1_250_000)
    assert totals is not None and (totals.day_micro, totals.month_micro) == (1_250_000, 1_250_000)
    assert counting.calls == {"add": 1}
    await ledger.record(ns, 750_000)
    counting.reset()
    totals = await ledger.totals(ns)
    assert counting.calls == {"get": 1}, "totals are one read"
    assert (totals.day_micro, totals.month_micro) == (2_000_000, 2_000_000)
    assert (totals.held_day_micro, totals.held_month_micro) == (0, 0)
    assert totals.day_resets_at == datetime(2026, 11, 23, tzinfo=UTC)
    assert totals.month_resets_at == datetime(2026, 12, 1, tzinfo=UTC)
    item = await counting.inner.get(spend_pk(ns), "month#2026-11")
    assert item is not None
    assert (item["micro_usd"], item["day_22"], item["requests"]) == (2_000_000, 2_000_000, 2)


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


async def test_the_month_item_expires_a_week_after_its_month(store: Store, clock: FakeClock, ns: str) -> None:
    await SpendLedger(store, clock).record(ns, 10)
    month = await store.get(spend_pk(ns), "month#2026-11")
    assert month is not None and month["expires_at"] == at("2026-12-08T00:00:00")


def test_totals_leave_the_holds_of_requests_in_flight_out_of_the_spend() -> None:
    now = at("2026-11-22T18:00:00")
    item = {
        "sk": "month#2026-11",
        "micro_usd": 9_000,  # 5,000 settled + 4,000 held
        "day_21": 3_000,  # 2,000 settled yesterday + a 1,000 hold made yesterday
        "day_22": 6_000,  # 3,000 settled today + a 3,000 hold
        "hold_1795400000_22_0123456789abcdef": 3_000,
        "hold_1795300000_21_fedcba9876543210": 1_000,
        "hold_not_a_hold": 7,
    }
    totals = SpendTotals.from_item(item, now)
    assert (totals.day_micro, totals.month_micro) == (3_000, 5_000)
    assert (totals.held_day_micro, totals.held_month_micro) == (3_000, 4_000)


def test_a_month_item_written_before_reservations_reads_as_settled_spend() -> None:
    now = at("2026-11-22T18:00:00")
    old = {"sk": "month#2026-11", "micro_usd": 1_234, "requests": 3}
    totals = SpendTotals.from_item(old, now)
    assert (totals.day_micro, totals.month_micro, totals.held_month_micro) == (0, 1_234, 0)
    assert SpendTotals.from_item({"sk": "month#2026-10", "micro_usd": 5}, now).month_micro == 0
