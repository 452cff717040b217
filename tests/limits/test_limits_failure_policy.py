"""AIMUX_STATE_FAILURE: open serves and counts the miss, closed answers 529; nothing crashes."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from types import SimpleNamespace
from typing import Any

import pytest

from aimux_core.errors import Overloaded
from aimux_core.limits.admission import Admission
from aimux_core.limits.provider_caps import Lease, ProviderLimiter, ProviderLimits
from aimux_core.limits.spend import SpendLedger, SpendTotals
from aimux_core.limits.windows import RateDecision, RateLimiter, RateLimits
from aimux_core.settings import Settings, SettingsError
from aimux_core.state.clock import FakeClock
from aimux_core.state.failure_policy import StateFailurePolicy
from aimux_core.state.store import ConditionFailed, StoreUnavailable

pytestmark = pytest.mark.anyio

SECRET = "sk-ant-secret-value"


class DownStore:
    """Every operation fails the way a throttled or unreachable DynamoDB does."""

    async def _fail(self, *args: Any, **kwargs: Any) -> Any:
        raise StoreUnavailable(f"ProvisionedThroughputExceeded on key#{SECRET}")

    get = put = add = query = delete = _fail


def test_from_env() -> None:
    assert StateFailurePolicy(Settings().state_failure).mode == "open"
    assert StateFailurePolicy(Settings.from_env({"AIMUX_STATE_FAILURE": "closed"}).state_failure).mode == "closed"
    assert StateFailurePolicy(Settings.from_env({"AIMUX_STATE_FAILURE": " Open "}).state_failure).mode == "open"
    with pytest.raises(SettingsError, match="AIMUX_STATE_FAILURE must be 'open' or 'closed', got 'maybe'"):
        Settings.from_env({"AIMUX_STATE_FAILURE": "maybe"})


async def test_open_serves_logs_and_counts(clock: FakeClock, caplog: pytest.LogCaptureFixture) -> None:
    seen: list[str] = []
    policy = StateFailurePolicy("open", on_miss=seen.append)
    store = DownStore()
    limiter = RateLimiter(store, clock)  # type: ignore[arg-type]
    with caplog.at_level(logging.WARNING):
        decision = await policy.guarded(
            limiter.take("key", "k1", RateLimits(rpm=5), 10),
            what="rate limit check",
            fallback=RateDecision.unchecked("key", "k1", clock.now(), 10),
        )
        lease = await policy.guarded(
            lambda: ProviderLimiter(store, clock, {"p": ProviderLimits(max_concurrency=1)}).try_acquire("p"),  # type: ignore[arg-type]
            what="provider slot",
            fallback=Lease.unchecked("p", clock.now()),
        )
        totals = await policy.guarded(
            SpendLedger(store, clock).totals("k1"),  # type: ignore[arg-type]
            what="budget check",
            fallback=SpendTotals.zero(clock.now()),
        )
    assert decision.admitted and not decision.checked
    assert lease is not None and not lease.holds_slot
    assert totals.day_micro == 0
    assert policy.misses == {"rate limit check": 1, "provider slot": 1, "budget check": 1}
    assert policy.total_misses == 3 and seen == ["rate limit check", "provider slot", "budget check"]
    assert "rate limit check" in caplog.text and "StoreUnavailable" in caplog.text
    assert SECRET not in caplog.text


async def test_closed_answers_overloaded_with_a_clear_message(clock: FakeClock) -> None:
    policy = StateFailurePolicy(Settings.from_env({"AIMUX_STATE_FAILURE": "closed"}).state_failure)
    limiter = RateLimiter(DownStore(), clock)  # type: ignore[arg-type]
    with pytest.raises(Overloaded) as refused:
        await policy.guarded(
            limiter.take("key", "k1", RateLimits(rpm=5)),
            what="rate limit check",
            fallback=RateDecision.unchecked("key", "k1", clock.now()),
        )
    error = refused.value
    assert error.status == 529 and error.kind == "overloaded_error" and error.retry_after == 1.0
    assert "rate limit check" in error.message and "state store is unavailable" in error.message
    assert SECRET not in error.message
    assert policy.misses == {"rate limit check": 1}


async def test_work_after_the_answer_never_raises_even_when_closed(clock: FakeClock) -> None:
    policy = StateFailurePolicy("closed")
    ledger = SpendLedger(DownStore(), clock)  # type: ignore[arg-type]
    assert await policy.guarded(ledger.record("k1", 1234), what="spend record", fallback=None, answered=True) is None
    assert policy.misses == {"spend record": 1}


async def test_timeouts_and_network_errors_are_absorbed_but_bugs_are_not(clock: FakeClock) -> None:
    policy = StateFailurePolicy("open")

    async def raising(exc: BaseException) -> int:
        raise exc

    assert await policy.guarded(raising(TimeoutError()), what="x", fallback=7) == 7
    assert await policy.guarded(raising(ConnectionResetError()), what="x", fallback=8) == 8
    with pytest.raises(ConditionFailed):
        await policy.guarded(raising(ConditionFailed("pk", "sk", "no")), what="x", fallback=0)
    with pytest.raises(KeyError):
        await policy.guarded(raising(KeyError("bug")), what="x", fallback=0)
    assert policy.misses == {"x": 2}


async def test_a_raising_metrics_hook_does_not_crash_the_request() -> None:
    def hook(what: str) -> None:
        raise RuntimeError("metrics down")

    policy = StateFailurePolicy("open", on_miss=hook)

    async def down() -> Mapping[str, int]:
        raise StoreUnavailable("throttled")

    assert await policy.guarded(down(), what="x", fallback={}) == {}


def budgeted_key() -> Any:
    return SimpleNamespace(
        id="k1", rpm=None, tpm=None, budget_daily_usd=1.0, budget_monthly_usd=None, budget_route=None
    )


async def test_an_unreachable_store_admits_a_budgeted_key_without_a_hold_when_open(clock: FakeClock) -> None:
    store = DownStore()
    policy = StateFailurePolicy("open")
    admission = Admission(RateLimiter(store, clock), SpendLedger(store, clock), clock, policy=policy)  # type: ignore[arg-type]
    admitted = await admission.admit(budgeted_key(), "default", 10, lambda: 5_000)
    assert admitted.budget.ok and admitted.holds == ()
    assert policy.misses == {"budget check": 1}


async def test_an_unreachable_store_refuses_a_budgeted_key_when_closed(clock: FakeClock) -> None:
    store = DownStore()
    policy = StateFailurePolicy("closed")
    admission = Admission(RateLimiter(store, clock), SpendLedger(store, clock), clock, policy=policy)  # type: ignore[arg-type]
    with pytest.raises(Overloaded) as refused:
        await admission.admit(budgeted_key(), "default", 10, lambda: 5_000)
    assert "budget check" in refused.value.message
