"""Project limits: rpm, tpm and budgets shared by all of a project's keys, on top of each key's own.

Through the configured ``Gateway`` on a ``MemoryStore`` (the mock provider, priced like the budget tests),
with two keys of one project; then over HTTP with the SDK, where the project comes from the key's record
(``Exchange.authenticate`` → ``keys.ring.project_of``). Budgets are exact under concurrency like a key's
(``BudgetHolds.reserve`` with two scopes), and whichever scope refuses, the other gives back what it
counted: no rate window or budget keeps a refused request.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

import anthropic
import pytest

from aimux_core.assembly import build_gateway, local_app
from aimux_core.config.schema import AimuxConfig
from aimux_core.gateway import Gateway
from aimux_core.keys import KeyRing
from aimux_core.keys.record import ApiKeyRecord
from aimux_core.limits.budget import BudgetExceeded
from aimux_core.limits.project import Project, budget_scope
from aimux_core.limits.spend import SpendLedger, SpendTotals
from aimux_core.limits.windows import RateLimitExceeded, rate_pk, window_start
from aimux_core.projects.admin import create_project
from aimux_core.providers.base import RequestContext
from aimux_core.routing.select import RequestMeta
from aimux_core.state.memory import MemoryStore
from aimux_core.wire.anthropic import MessagesRequest
from support.rate_windows import avoid_minute_boundary
from support.server import serve

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
COST = 117_000  # "hi" on big with max_tokens 6 (as in test_limits_budget_gateway.py)


def request(max_tokens: int = 6) -> MessagesRequest:
    return MessagesRequest.model_validate(
        {"model": "big", "max_tokens": max_tokens, "messages": [{"role": "user", "content": "hi"}]}
    )


def key(suffix: str, **limits: Any) -> ApiKeyRecord:
    return ApiKeyRecord(id=f"key_00000000000{suffix}", name=suffix, key_hash=suffix, created_at=0.0,
                        project="web", **limits)  # fmt: skip


def project(**limits: Any) -> Project:
    return Project(name="web", created_at=0.0, **limits)


def context(record: ApiKeyRecord, team: Project | None) -> RequestContext:
    return RequestContext(request_id="req_test", key=record, project=team)


@pytest.fixture
def store() -> MemoryStore:
    return MemoryStore()


@pytest.fixture
def gateway(store: MemoryStore) -> Gateway:
    return build_gateway(AimuxConfig.model_validate(CONFIG), env={}, store=store)


async def serve_one(gateway: Gateway, record: ApiKeyRecord, team: Project | None) -> None:
    message, served = await gateway.create(request(), context(record, team), RequestMeta())
    gateway.settle(served, message.usage)


async def totals(gateway: Gateway, store: MemoryStore, scope: str) -> SpendTotals:
    await gateway.drain()
    return await SpendLedger(store, gateway.admission.clock).totals(scope)  # type: ignore[union-attr]


async def window(store: MemoryStore, scope: str, ident: str) -> dict[str, Any]:
    return await store.get(rate_pk(scope, ident), str(window_start(time.time()))) or {}


async def test_project_rpm_is_shared_by_its_keys_and_a_refusal_gives_the_keys_window_back(
    gateway: Gateway, store: MemoryStore
) -> None:
    avoid_minute_boundary()  # one real-clock window from the first request to the counts read
    team = project(rpm=3)
    first, second = key("a", rpm=100), key("b", rpm=100)
    for record in (first, second, first):
        await serve_one(gateway, record, team)
    with pytest.raises(RateLimitExceeded) as refused:
        await gateway.create(request(), context(second, team), RequestMeta())
    assert "this API key's project" in refused.value.message and refused.value.decision.scope == "project"
    await gateway.drain()
    assert (await window(store, "project", "web"))["requests"] == 3
    assert (await window(store, "key", first.id))["requests"] == 2
    assert (await window(store, "key", second.id))["requests"] == 1  # its refused request was given back


async def test_a_keys_own_limit_refusing_gives_the_projects_window_back(gateway: Gateway, store: MemoryStore) -> None:
    avoid_minute_boundary()  # one real-clock window from the first request to the counts read
    team = project(rpm=100)
    record = key("a", rpm=1)
    await serve_one(gateway, record, team)
    with pytest.raises(RateLimitExceeded) as refused:
        await gateway.create(request(), context(record, team), RequestMeta())
    assert refused.value.decision.scope == "key"
    await gateway.drain()
    assert (await window(store, "project", "web"))["requests"] == 1


async def test_project_tpm_counts_every_keys_tokens(gateway: Gateway, store: MemoryStore) -> None:
    avoid_minute_boundary()  # one real-clock window from the first request to the counts read
    team = project(tpm=50)
    long = MessagesRequest.model_validate(
        {"model": "big", "max_tokens": 6, "messages": [{"role": "user", "content": "word " * 200}]}
    )
    with pytest.raises(RateLimitExceeded) as too_big:
        await gateway.create(long, context(key("a"), team), RequestMeta())
    assert "project" in too_big.value.message and too_big.value.decision.refused == "tokens"
    await serve_one(gateway, key("a"), team)
    await gateway.drain()
    assert (await window(store, "project", "web"))["tokens"] == 9 + 6  # the estimate settled to the actual


async def test_a_project_budget_is_exact_across_its_keys_under_concurrency(
    gateway: Gateway, store: MemoryStore
) -> None:
    team = project(budget_daily_usd=10 * COST / 1_000_000)
    keys = [key("a", budget_daily_usd=100.0), key("b")]

    async def one(index: int) -> str:
        try:
            await serve_one(gateway, keys[index % 2], team)
        except BudgetExceeded as refused:
            return refused.message
        return f"served {keys[index % 2].id}"

    outcomes = await asyncio.gather(*(one(i) for i in range(40)))
    served = [o for o in outcomes if o.startswith("served")]
    assert len(served) == 10
    assert all(o.startswith("project web's daily budget of $1.17 ") for o in outcomes if not o.startswith("served"))
    spent = await totals(gateway, store, budget_scope("web"))
    assert (spent.day_micro, spent.held_day_micro) == (10 * COST, 0)
    own = await totals(gateway, store, keys[0].id)  # the key's own budget counted its share, no more
    assert (own.day_micro, own.held_day_micro) == (served.count(f"served {keys[0].id}") * COST, 0)


async def test_a_key_without_a_budget_in_a_budgeted_project_still_has_its_spend_recorded(
    gateway: Gateway, store: MemoryStore
) -> None:
    """Only the project's budget is held: the key's own spend (``aimux keys show``, the per-key spend metric)
    is still written, as it is for a key in a project without a budget."""
    team = project(budget_daily_usd=100.0)
    record = key("a")
    for _ in range(2):
        await serve_one(gateway, record, team)
    own = await totals(gateway, store, record.id)
    assert (own.day_micro, own.held_day_micro) == (2 * COST, 0)
    spent = await totals(gateway, store, budget_scope("web"))
    assert (spent.day_micro, spent.held_day_micro) == (2 * COST, 0)


async def test_a_key_budget_refusing_leaves_nothing_held_on_the_project(gateway: Gateway, store: MemoryStore) -> None:
    team = project(budget_daily_usd=100.0)
    record = key("a", budget_daily_usd=COST / 1_000_000)
    await serve_one(gateway, record, team)
    with pytest.raises(BudgetExceeded) as refused:
        await gateway.create(request(), context(record, team), RequestMeta())
    assert refused.value.message.startswith("daily budget")  # the key's own: no project named
    spent = await totals(gateway, store, budget_scope("web"))
    assert (spent.day_micro, spent.held_day_micro) == (COST, 0)


async def test_a_project_budget_steps_down_to_the_keys_cheaper_route(gateway: Gateway, store: MemoryStore) -> None:
    team = project(budget_daily_usd=0.01)  # less than big's worst case, plenty for small's
    record = key("a", budget_route="budget")
    message, served = await gateway.create(request(), context(record, team), RequestMeta())
    assert served.target.model == "small" and served.decision.route == "budget"
    assert "project web's daily budget of $0.01" in served.decision.header
    gateway.settle(served, message.usage)
    assert (await totals(gateway, store, budget_scope("web"))).held_day_micro == 0


async def test_a_project_without_limits_costs_no_store_call(gateway: Gateway) -> None:
    from limits_support import CountingStore

    counting = CountingStore(MemoryStore())
    counted = build_gateway(AimuxConfig.model_validate(CONFIG), env={}, store=counting)  # type: ignore[arg-type]
    record = key("a", rpm=10)
    for _ in range(2):  # the first request of a process reads breaker and health state: warm them
        counting.reset()
        await serve_one(counted, record, None)
        await counted.drain()
    alone = counting.total
    counting.reset()
    await serve_one(counted, record, project(description="a label with a name"))
    await counted.drain()
    assert counting.total == alone


def test_project_limits_hold_over_http_for_keys_read_from_the_store(monkeypatch: pytest.MonkeyPatch) -> None:
    """The project comes from the key's record and the directory (one ``Query``), not from the request."""
    from aimux_core.keys import create_key

    monkeypatch.setenv("AIMUX_FINISH_WRITES_IN_REQUEST", "1")
    store = MemoryStore()
    gateway = build_gateway(AimuxConfig.model_validate(CONFIG), env={}, store=store)
    ring = KeyRing(store, cache_seconds=30)
    app = local_app(gateway, ring, admin_keys=ring)
    with serve(app) as url:

        async def setup() -> list[str]:
            await create_project(ring, "web", rpm=2)
            return [(await create_key(ring, name=n, project="web"))[0] for n in ("a", "b")]

        plaintexts = asyncio.run(setup())
        clients = [anthropic.Anthropic(base_url=url, api_key=k, max_retries=0) for k in plaintexts]
        for client in clients:
            client.messages.create(model="big", max_tokens=6, messages=[{"role": "user", "content": "hi"}])
        with pytest.raises(anthropic.RateLimitError) as refused:
            clients[0].messages.create(model="big", max_tokens=6, messages=[{"role": "user", "content": "hi"}])
    assert "rate limit of 2 requests per minute reached for this API key's project" in str(refused.value)
