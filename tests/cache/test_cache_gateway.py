"""The response cache inside the gateway: what each path does to the state store, and when it steps aside.

Through the configured ``Gateway`` (``assembly.build_gateway``) on a ``MemoryStore`` that records every
call, with the built-in mock provider priced and a key with rate limits and a budget, so every admission
write happens. Each store call is one DynamoDB round trip when deployed (``bench/README.md`` measures them
against moto).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping
from typing import Any

import pytest

from aimux_core.assembly import build_gateway
from aimux_core.config.schema import AimuxConfig
from aimux_core.gateway import Gateway
from aimux_core.keys.record import ApiKeyRecord
from aimux_core.limits.windows import RateLimitExceeded
from aimux_core.providers.base import RequestContext, UpstreamCall
from aimux_core.routing.select import RequestMeta
from aimux_core.state.memory import MemoryStore
from aimux_core.state.store import Item, StoreUnavailable
from aimux_core.wire.anthropic import Message, MessagesRequest, StreamEvent
from support.rate_windows import avoid_minute_boundary

pytestmark = pytest.mark.anyio

CONFIG: dict[str, Any] = {
    "providers": {"mock": {"preset": "mock"}},
    "models": {
        "big": {"provider": "mock", "max_output": 4096, "price": {"input": 3, "output": 15}},
        "small": {"provider": "mock", "max_output": 4096, "price": {"input": 1, "output": 5}},
    },
    "routes": {"default": ["big"], "budget": ["small"]},
    "response_cache": {"mode": "use", "sampling": True},
}


class Recording(MemoryStore):
    """Every call as ``operation(family)``, the family being the partition key's prefix."""

    def __init__(self) -> None:
        super().__init__()
        self.calls: list[str] = []
        self.failing: str | None = None  # a family whose calls raise StoreUnavailable

    def _note(self, operation: str, pk: str) -> None:
        family = pk.split("#", 1)[0]
        self.calls.append(f"{operation}({family})")
        if family == self.failing:
            raise StoreUnavailable(f"{family} is down")

    async def get(self, pk: str, sk: str) -> Item | None:
        self._note("get", pk)
        return await super().get(pk, sk)

    async def put(self, pk: str, sk: str, item: Mapping[str, Any], *, expect_version: Any) -> int:
        self._note("put", pk)
        return await super().put(pk, sk, item, expect_version=expect_version)

    async def add(self, pk: str, sk: str, deltas: Mapping[str, int | float], **kwargs: Any) -> Item:
        self._note("add", pk)
        return await super().add(pk, sk, deltas, **kwargs)

    async def query(self, pk: str, sk_from: str, sk_to: str) -> list[Item]:
        self._note("query", pk)
        return await super().query(pk, sk_from, sk_to)


class Marking:
    """The mock provider, noting the store calls made before the gateway called it."""

    def __init__(self, inner: Any, store: Recording) -> None:
        self._inner, self._store = inner, store
        self.before: list[list[str]] = []

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)

    async def create(self, call: UpstreamCall) -> Message:
        self.before.append(list(self._store.calls))
        return await self._inner.create(call)

    async def stream(self, call: UpstreamCall) -> AsyncIterator[StreamEvent]:
        self.before.append(list(self._store.calls))
        async for event in self._inner.stream(call):
            yield event


def build(store: Recording, **section: Any) -> tuple[Gateway, Marking]:
    config = {**CONFIG, "response_cache": {**CONFIG["response_cache"], **section}}
    gateway = build_gateway(AimuxConfig.model_validate(config), env={}, store=store)
    marking = Marking(gateway.providers["mock"], store)
    gateway.providers["mock"] = marking  # the dispatcher shares this dict
    return gateway, marking


def request(text: str = "hi", max_tokens: int = 6, **fields: Any) -> MessagesRequest:
    return MessagesRequest.model_validate(
        {"model": "big", "max_tokens": max_tokens, "messages": [{"role": "user", "content": text}], **fields}
    )


def context(**limits: Any) -> RequestContext:
    record = ApiKeyRecord(id="key_0123456789ab", name="t", key_hash="h", created_at=0.0, **limits)
    return RequestContext(request_id="req_test", key=record)


LIMITED = {"rpm": 100, "tpm": 100_000, "budget_daily_usd": 10.0}
SNAPSHOTS = ("(breaker)", "(health)")  # per-process snapshots, refreshed every few seconds on any path


def paths(calls: list[str]) -> list[str]:
    """The calls a request makes for itself (without the breaker and health snapshot refreshes)."""
    return [call for call in calls if not call.endswith(SNAPSHOTS)]


async def test_a_leader_makes_one_cache_write_before_admission_and_stores_after_the_answer() -> None:
    store = Recording()
    gateway, upstream = build(store)
    message, served = await gateway.create(request(), context(**LIMITED), RequestMeta())
    assert gateway.settle(served, message.usage) > 0
    await gateway.drain()
    (before,) = upstream.before
    assert paths(before) == ["add(rcache)", "add(rate)", "add(spend)"]  # claim, then rate window and hold together
    after = paths(store.calls[len(before) :])
    assert sorted(after) == ["add(rate)", "add(spend)", "put(rcache)"]  # token settlement, hold settled, answer
    assert served.cache is not None and (served.cache.state, served.cache.dedup) == ("stored", "leader")


async def test_a_hit_makes_one_store_call_and_nothing_else() -> None:
    store = Recording()
    gateway, upstream = build(store)
    first, _ = await gateway.create(request(), context(**LIMITED), RequestMeta())
    await gateway.drain()
    store.calls.clear()
    for stream in (False, True):
        if stream:
            opened = await gateway.open_stream(request(stream=True), context(**LIMITED), RequestMeta())
            events = [event async for event in opened.events]
            served = opened.served
            assert [e.type for e in events][-1] == "message_stop"
        else:
            again, served = await gateway.create(request(), context(**LIMITED), RequestMeta())
            assert again.dump() == first.dump()
        assert served.from_cache and served.outcome.attempts == []
        assert gateway.settle(served, first.usage) == 0.0
    await gateway.drain()
    assert store.calls == ["add(rcache)", "add(rcache)"]  # no rate window, no hold, no spend, no upstream
    assert len(upstream.before) == 1


async def test_without_dedup_the_lookup_is_one_read() -> None:
    store = Recording()
    gateway, upstream = build(store, dedup=False)
    await gateway.create(request(), context(), RequestMeta())
    await gateway.drain()
    assert [paths(calls) for calls in upstream.before] == [["get(rcache)"]]
    store.calls.clear()
    _, served = await gateway.create(request(), context(), RequestMeta())
    assert served.from_cache and store.calls == ["get(rcache)"]


async def test_a_budget_step_down_answers_without_storing_and_frees_the_lease() -> None:
    """The cheaper route's answer is not the answer to the request as routed: it is not stored."""
    store = Recording()
    gateway, _ = build(store)
    stepped = context(budget_daily_usd=0.06, budget_route="budget")  # below big's worst case for 4000 tokens
    _, served = await gateway.create(request(max_tokens=4000), stepped, RequestMeta())
    await gateway.drain()
    assert served.decision.route == "budget"
    assert served.cache is not None and (served.cache.state, served.cache.reason) == ("bypass", "step_down")
    store.calls.clear()
    _, again = await gateway.create(request(max_tokens=4000), context(**LIMITED), RequestMeta())
    assert again.cache is not None and again.cache.dedup == "leader"  # the lease was given up, not left to expire


async def test_a_state_store_outage_bypasses_the_cache_and_serves_the_request() -> None:
    store = Recording()
    store.failing = "rcache"
    gateway, upstream = build(store)
    message, served = await gateway.create(request(), context(), RequestMeta())
    assert message.content and len(upstream.before) == 1
    assert served.cache is not None and (served.cache.state, served.cache.reason) == ("bypass", "store_unavailable")
    await gateway.drain()
    assert "put(rcache)" not in store.calls


async def test_a_request_that_fails_admission_gives_its_lease_up() -> None:
    avoid_minute_boundary()  # both requests in one real-clock rate window
    store = Recording()
    gateway, _ = build(store)
    limited = context(rpm=1)
    await gateway.create(request("one"), limited, RequestMeta())
    with pytest.raises(RateLimitExceeded):
        await gateway.create(request("two"), limited, RequestMeta())
    await gateway.drain()
    _, served = await gateway.create(request("two"), context(), RequestMeta())
    assert served.cache is not None and served.cache.dedup == "leader"
