"""Budgets through the gateway: exact one request after another, and every hold settled exactly once.

Through the configured ``Gateway`` (``assembly.build_gateway``) on a ``MemoryStore``, with the built-in
mock provider priced like the end-to-end suite. Requests one after another are served exactly to the
budget even when the store is slow to write (the spend of one answer used to land after the next
request was admitted). A request's hold is settled at its cost when answered; a request that fails
upstream, is refused by the rate window, is refused by every target's guard before any call, or whose
caller goes away mid-call leaves no hold and no spend behind; a stepped-down request holds and settles
the cheaper route's worst case.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest

from aimux_core.assembly import build_gateway
from aimux_core.config.schema import AimuxConfig
from aimux_core.errors import AimuxError, Overloaded
from aimux_core.gateway import Gateway
from aimux_core.keys.record import ApiKeyRecord
from aimux_core.limits.budget import BudgetExceeded
from aimux_core.limits.spend import SpendLedger, SpendTotals
from aimux_core.limits.windows import RateLimitExceeded
from aimux_core.providers.base import RequestContext, UpstreamCall
from aimux_core.routing.dispatch import Refusal
from aimux_core.routing.select import RequestMeta
from aimux_core.routing.table import Target
from aimux_core.state.memory import MemoryStore
from aimux_core.wire.anthropic import Message, MessagesRequest
from support.rate_windows import avoid_minute_boundary

pytestmark = pytest.mark.anyio

CONFIG: dict[str, Any] = {
    "providers": {"mock": {"preset": "mock"}},
    "models": {
        "big": {"provider": "mock", "max_output": 4096, "price": {"input": 3000, "output": 15000}},
        "small": {"provider": "mock", "max_output": 4096, "price": {"input": 1, "output": 5}},
    },
    "routes": {"default": ["big"], "budget": ["small"]},
    "retry": {"backoff_base": 0, "backoff_max": 0},
}
COST = 117_000  # "hi" on big with max_tokens 6: 9 input tokens at $3,000 and 6 output at $15,000 per million


def request(text: str = "hi", max_tokens: int = 6) -> MessagesRequest:
    return MessagesRequest.model_validate(
        {"model": "big", "max_tokens": max_tokens, "messages": [{"role": "user", "content": text}]}
    )


def key(**limits: Any) -> ApiKeyRecord:
    return ApiKeyRecord(id="key_0123456789ab", name="t", key_hash="h", created_at=0.0, **limits)


def context(record: ApiKeyRecord) -> RequestContext:
    return RequestContext(request_id="req_test", key=record)


class SlowWrites(MemoryStore):
    """Every write lands 50 ms after it is sent: a loaded table, a distant region."""

    async def add(self, *args: Any, **kwargs: Any) -> Any:
        await asyncio.sleep(0.05)
        return await super().add(*args, **kwargs)


@pytest.fixture
def store() -> MemoryStore:
    return MemoryStore()


async def test_one_after_another_exactly_the_budget_is_served_however_slowly_spend_lands() -> None:
    store = SlowWrites()
    gateway = build_gateway(AimuxConfig.model_validate(CONFIG), env={}, store=store)
    record = key(budget_daily_usd=10 * COST / 1_000_000)
    served = 0
    for _ in range(20):
        try:
            message, answer = await gateway.create(request(), context(record), RequestMeta())
        except BudgetExceeded:
            continue
        gateway.settle(answer, message.usage)  # the spend write starts now and lands 50 ms later
        served += 1
    assert served == 10
    after = await totals(gateway, store, record)
    assert (after.day_micro, after.held_day_micro) == (10 * COST, 0)


@pytest.fixture
def gateway(store: MemoryStore) -> Gateway:
    return build_gateway(AimuxConfig.model_validate(CONFIG), env={}, store=store)


async def totals(gateway: Gateway, store: MemoryStore, record: ApiKeyRecord) -> SpendTotals:
    await gateway.drain()
    return await SpendLedger(store, gateway.admission.clock).totals(record.id)  # type: ignore[union-attr]


async def test_an_answer_settles_its_hold_at_its_cost(gateway: Gateway, store: MemoryStore) -> None:
    record = key(budget_daily_usd=1.0)
    message, served = await gateway.create(request(), context(record), RequestMeta())
    assert len(served.admitted.holds) == 1
    during = await SpendLedger(store, gateway.admission.clock).totals(record.id)  # type: ignore[union-attr]
    assert (during.day_micro, during.held_day_micro) == (0, COST)
    assert gateway.settle(served, message.usage) == pytest.approx(COST / 1_000_000)
    gateway.settle(served, message.usage)  # a second settlement of the same request changes nothing
    after = await totals(gateway, store, record)
    assert (after.day_micro, after.held_day_micro) == (COST, 0)


@pytest.mark.parametrize("marker", ["[[mock:error:500]]", "[[mock:error:400]]"])
async def test_an_upstream_failure_gives_the_hold_back(gateway: Gateway, store: MemoryStore, marker: str) -> None:
    record = key(budget_daily_usd=1.0)
    with pytest.raises(AimuxError):
        await gateway.create(request(f"hi {marker}", max_tokens=50), context(record), RequestMeta())
    after = await totals(gateway, store, record)
    assert (after.day_micro, after.held_day_micro) == (0, 0)


async def test_a_refusal_by_the_rate_window_gives_the_budget_hold_back(gateway: Gateway, store: MemoryStore) -> None:
    avoid_minute_boundary()  # both requests in one real-clock rate window
    record = key(budget_daily_usd=1.0, rpm=1)
    message, served = await gateway.create(request(), context(record), RequestMeta())
    gateway.settle(served, message.usage)
    with pytest.raises(RateLimitExceeded):
        await gateway.create(request(), context(record), RequestMeta())
    after = await totals(gateway, store, record)
    assert (after.day_micro, after.held_day_micro) == (COST, 0)


class RefuseEveryTarget:
    """A guard whose every target is refused (every provider at its cap: nothing may be called anyway)."""

    async def acquire(self, target: Target, *, force: bool = False) -> Any:
        return Refusal("provider at its limits", forcible=False)

    async def succeeded(self, *args: Any) -> None:
        return None

    async def failed(self, *args: Any) -> None:
        return None


async def test_an_error_before_any_upstream_call_gives_the_hold_back(gateway: Gateway, store: MemoryStore) -> None:
    gateway.dispatcher.guard = RefuseEveryTarget()
    record = key(budget_daily_usd=1.0)
    with pytest.raises(Overloaded):
        await gateway.create(request(), context(record), RequestMeta())
    with pytest.raises(Overloaded):
        await gateway.open_stream(request(), context(record), RequestMeta())
    after = await totals(gateway, store, record)
    assert (after.day_micro, after.held_day_micro) == (0, 0)


class NeverAnswers:
    """An upstream that accepts the call and never answers (the caller gives up first)."""

    def __init__(self) -> None:
        self.called = asyncio.Event()

    async def create(self, call: UpstreamCall) -> Message:
        self.called.set()
        await asyncio.Event().wait()
        raise AssertionError("unreachable")


async def test_a_caller_that_goes_away_mid_call_gets_its_hold_back(gateway: Gateway, store: MemoryStore) -> None:
    upstream = NeverAnswers()
    gateway.providers["mock"] = upstream  # type: ignore[assignment]  # the dispatcher shares this dict
    record = key(budget_daily_usd=1.0)
    task = asyncio.ensure_future(gateway.create(request(), context(record), RequestMeta()))
    await asyncio.wait_for(upstream.called.wait(), 5)
    assert (await SpendLedger(store, gateway.admission.clock).totals(record.id)).held_day_micro == COST  # type: ignore[union-attr]
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    after = await totals(gateway, store, record)
    assert (after.day_micro, after.held_day_micro) == (0, 0)


async def test_a_stepped_down_request_holds_and_settles_the_cheaper_routes_worst_case(
    gateway: Gateway, store: MemoryStore
) -> None:
    record = key(budget_daily_usd=0.1, budget_route="budget")  # under big's $0.117, ample for small
    message, served = await gateway.create(request(), context(record), RequestMeta())
    assert served.target.model == "small" and served.decision.route == "budget"
    (hold,) = served.admitted.holds
    assert hold.micro_usd == 9 * 1 + 6 * 5
    gateway.settle(served, message.usage)
    after = await totals(gateway, store, record)
    assert (after.day_micro, after.held_day_micro) == (39, 0)


async def test_neither_route_fitting_is_refused_on_the_budget(gateway: Gateway, store: MemoryStore) -> None:
    record = key(budget_daily_usd=0.00003, budget_route="budget")  # $30 micro: not even small's 39 fits
    with pytest.raises(BudgetExceeded) as refused:
        await gateway.create(request(), context(record), RequestMeta())
    assert "cannot cover this request: it may cost up to $0.000039" in refused.value.message
    after = await totals(gateway, store, record)
    assert (after.day_micro, after.held_day_micro) == (0, 0)


async def test_the_daily_spend_metric_counts_settled_spend(
    store: MemoryStore, capsys: pytest.CaptureFixture[str]
) -> None:
    gateway = build_gateway(AimuxConfig.model_validate(CONFIG), env={"AIMUX_EMF": "1"}, store=store)
    record = key(budget_daily_usd=1.0)
    message, served = await gateway.create(request(), context(record), RequestMeta())
    gateway.settle(served, message.usage)
    await gateway.drain()
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines() if "KeyDailySpendUSD" in line]
    assert [line["KeyDailySpendUSD"] for line in lines] == [[COST / 1_000_000]]  # EMF keeps a list per metric
    assert lines[0]["key_id"] == record.id


# --------------------------------------------------------------------------- automatic prompt caching


def _anthropic_config(base_url: str, caching: str) -> dict[str, Any]:
    price = {"input": 3000, "output": 15000, "cache_read": 300, "cache_write": 3750}
    return {
        "providers": {"up": {"preset": "anthropic", "base_url": base_url, "api_key_env": "UP_KEY",
                             "prompt_caching": caching}},
        "models": {"big": {"provider": "up", "max_output": 4096, "price": price}},
        "retry": {"backoff_base": 0, "backoff_max": 0},
    }  # fmt: skip


@pytest.mark.parametrize("caching", ["auto", "off"])
async def test_a_target_that_may_add_breakpoints_holds_input_at_the_cache_write_rate(
    anthropic_upstream: Any, caching: str
) -> None:
    """Automatic prompt caching can bill a request that carries no ``cache_control`` as cache writes
    (1.25x input): the hold must cover that, or the budget could be overspent. "hi" with max_tokens 6:
    123,750 micro-dollars at the write rate, 117,000 at the input rate; the budget is 120,000."""
    config = AimuxConfig.model_validate(_anthropic_config(anthropic_upstream.base_url, caching))
    gateway = build_gateway(config, env={"UP_KEY": "sk-up"}, store=MemoryStore())
    record = key(budget_daily_usd=0.12)
    if caching == "auto":
        with pytest.raises(BudgetExceeded):
            await gateway.create(request(), context(record), RequestMeta())
        assert anthropic_upstream.requests == []
    else:
        await gateway.create(request(), context(record), RequestMeta())
        assert len(anthropic_upstream.requests) == 1
    await gateway.drain()
