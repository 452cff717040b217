"""Budget limits and the verdict on a reservation that does not fit: step down, or 429 naming budget and reset."""

from __future__ import annotations

from datetime import UTC, datetime
from types import SimpleNamespace

from aimux_core.errors import RateLimited
from aimux_core.limits.budget import BudgetExceeded, BudgetLimits, Shortfall, format_usd, verdict_for

NOW = datetime(2026, 11, 22, 18, 0, tzinfo=UTC).timestamp()
MIDNIGHT = datetime(2026, 11, 23, tzinfo=UTC)


def shortfall(committed: int, wanted: int, limit: int = 5_000_000) -> Shortfall:
    return Shortfall("daily", limit, committed, wanted, MIDNIGHT)


def test_a_spent_budget_without_a_route_is_refused_naming_the_budget_and_its_reset() -> None:
    verdict = verdict_for(shortfall(5_000_000, 10), BudgetLimits.from_usd(daily=5), now=NOW)
    assert verdict.action == "refuse" and verdict.error is not None
    error = verdict.error
    assert isinstance(error, BudgetExceeded) and isinstance(error, RateLimited) and error.status == 429
    assert error.message == "daily budget of $5.00 reached; resets at 2026-11-23T00:00:00Z"
    assert error.retry_after == 6 * 3600, "until midnight UTC"
    assert error.headers == {"x-should-retry": "false"}


def test_a_request_the_rest_of_the_budget_cannot_cover_is_told_what_it_may_cost_and_what_is_left() -> None:
    verdict = verdict_for(shortfall(4_990_000, 20_000), BudgetLimits.from_usd(daily=5), now=NOW)
    assert verdict.error is not None
    assert verdict.error.message == (
        "daily budget of $5.00 cannot cover this request: it may cost up to $0.02 (its input and max_tokens "
        "at the model's prices) and $0.01 is left; resets at 2026-11-23T00:00:00Z"
    )


def test_a_budget_with_a_cheaper_route_steps_down_and_says_why() -> None:
    limits = BudgetLimits.from_usd(daily=5, step_down_route="cheap")
    spent = verdict_for(shortfall(5_000_000, 10), limits, now=NOW)
    assert spent.action == "step_down" and spent.route == "cheap" and spent.error is None
    assert spent.note == "budget step-down: daily budget of $5.00 reached"
    low = verdict_for(shortfall(4_990_000, 20_000), limits, now=NOW)
    assert low.note == "budget step-down: daily budget of $5.00 has $0.01 left, less than this request may cost ($0.02)"


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
    assert not BudgetLimits.from_record(SimpleNamespace()).any
