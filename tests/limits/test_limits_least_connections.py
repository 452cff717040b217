"""``least_connections``: requests in flight per provider across the fleet, from the counts the
provider concurrency leases already keep, at no extra round trip on the request path.

Two limiters on one store stand for two instances. What is checked: one instance sees the slots the
other holds; its own lease writes refresh its count without a read; other providers' counts are read
at most once per ``view_seconds``; and a gateway built with ``strategy: least_connections`` sends a
request to the provider with the fewest requests in flight.
"""

from __future__ import annotations

import pytest
from limits_support import CountingStore

from aimux_core.assembly import build_gateway
from aimux_core.config.schema import AimuxConfig
from aimux_core.limits.provider_caps import ProviderLimiter, ProviderLimits
from aimux_core.routing.select import RequestMeta
from aimux_core.state.clock import FakeClock
from aimux_core.state.store import Store
from aimux_core.wire.anthropic import MessagesRequest

pytestmark = pytest.mark.anyio


def limiter(store: Store, clock: FakeClock, *names: str) -> ProviderLimiter:
    return ProviderLimiter(store, clock, {name: ProviderLimits(max_concurrency=100) for name in names})


async def test_an_instance_sees_the_slots_another_holds(store: Store, clock: FakeClock, ns: str) -> None:
    busy, idle = f"{ns}-busy", f"{ns}-idle"
    one, two = limiter(store, clock, busy, idle), limiter(store, clock, busy, idle)
    leases = [await one.try_acquire(busy) for _ in range(3)]
    assert all(lease is not None for lease in leases)
    assert await two.inflight([busy, idle]) == {busy: 3, idle: 0}
    await one.release(leases[0])  # type: ignore[arg-type]
    assert (await two.inflight([busy]))[busy] == 3, "read at most every view_seconds"
    clock.advance(2.1)
    assert (await two.inflight([busy]))[busy] == 2


async def test_own_lease_writes_refresh_the_count_without_a_read(
    counting: CountingStore, clock: FakeClock, ns: str
) -> None:
    pl = limiter(counting, clock, ns)
    lease = await pl.try_acquire(ns)  # the add, and the previous epoch's count (once per epoch)
    counting.reset()
    assert await pl.inflight([ns]) == {ns: 1}
    assert counting.total == 0, "the add of the acquire returned the item: no read on the request path"
    await pl.release(lease)  # type: ignore[arg-type]
    counting.reset()
    assert await pl.inflight([ns]) == {ns: 0} and counting.total == 0


async def test_providers_without_a_concurrency_cap_keep_no_count(store: Store, clock: FakeClock, ns: str) -> None:
    pl = ProviderLimiter(store, clock, {ns: ProviderLimits(rpm=100)})
    await pl.try_acquire(ns)
    assert not pl.counts_inflight(ns) and await pl.inflight([ns]) == {}


async def test_the_gateway_routes_to_the_fewest_requests_in_flight(memory_store: Store, clock: FakeClock) -> None:
    config = AimuxConfig.model_validate({
        "strategy": "least_connections",
        "providers": {
            "busy": {"dialect": "mock", "limits": {"max_concurrency": 50}},
            "idle": {"dialect": "mock", "limits": {"max_concurrency": 50}},
        },
        "models": {"m-busy": {"provider": "busy"}, "m-idle": {"provider": "idle"}},
        "routes": {"default": [["m-busy", "m-idle"]]},
    })  # fmt: skip
    gateway = build_gateway(config, env={}, store=memory_store)
    other_instance = limiter(memory_store, gateway.guard.clock, "busy", "idle")  # type: ignore[attr-defined]
    for _ in range(4):
        await other_instance.try_acquire("busy")
    request = MessagesRequest.model_validate(
        {"model": "m-busy", "max_tokens": 16, "messages": [{"role": "user", "content": "hi"}]}
    )
    for _ in range(20):
        decision = await gateway.decide(request.model_copy(update={"model": "anything"}), RequestMeta())
        assert [t.provider for t in decision.targets] == ["idle", "busy"]
