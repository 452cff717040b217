"""A cold process's first request reads its key, its project directory and the routing health view in one
round trip of the state store (``Exchange.authenticate`` starts the view's reads beside the key lookup,
``Gateway.warm_view``), then reserves its rate window and budget: two round trips before the upstream call.

The store is the in-memory one with every call made ``DELAY`` slower and the calls in flight together
recorded; the request goes through the client app with a real key.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from typing import Any

import httpx
import pytest

from aimux_core.assembly import build_gateway, local_app
from aimux_core.config.schema import AimuxConfig
from aimux_core.keys import KeyRing, create_key
from aimux_core.state import MemoryStore, SystemClock

DELAY = 0.05
CONFIG = {
    "providers": {"mock": {"preset": "mock"}},
    "models": {"big": {"provider": "mock", "max_output": 4096, "price": {"input": 3, "output": 15}}},
    "routes": {"default": ["big"]},
}


class Watched(MemoryStore):
    """Records, for every call, which calls were in flight with it (by operation and item family)."""

    def __init__(self) -> None:
        super().__init__(SystemClock())
        self.watching = False
        self.calls: Counter[str] = Counter()
        self.in_flight: set[str] = set()
        self.together: list[frozenset[str]] = []

    async def _watch(self, what: str) -> None:
        if not self.watching:
            return
        self.calls[what] += 1
        self.in_flight.add(what)
        self.together.append(frozenset(self.in_flight))
        await asyncio.sleep(DELAY)
        self.in_flight.discard(what)

    async def get(self, pk: str, sk: str) -> Any:
        await self._watch(f"get {pk.split('#')[0]}")
        return await super().get(pk, sk)

    async def query(self, pk: str, sk_from: str, sk_to: str) -> Any:
        await self._watch(f"query {pk.split('#')[0]}")
        return await super().query(pk, sk_from, sk_to)

    async def add(self, pk: str, sk: str, deltas: Any, **options: Any) -> Any:
        await self._watch(f"add {pk.split('#')[0]}")
        return await super().add(pk, sk, deltas, **options)


@pytest.mark.anyio
async def test_the_first_request_reads_its_key_and_the_health_view_together() -> None:
    store = Watched()
    setup = KeyRing(store, cache_seconds=30)
    plaintext, _ = await create_key(setup, name="cold", rpm=1000)
    keys = KeyRing(store, cache_seconds=30)  # a new process: nothing cached
    gateway = build_gateway(AimuxConfig.model_validate(CONFIG), env={}, store=store)
    app = local_app(gateway, keys)
    store.watching = True
    body = {"model": "big", "max_tokens": 16, "messages": [{"role": "user", "content": "hi"}]}
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://aimux") as client:
        answer = await client.post("/v1/messages", json=body, headers={"x-api-key": plaintext})
    await gateway.drain()
    assert answer.status_code == 200, answer.text
    assert store.calls["get key"] == 1 and store.calls["query health"] >= 1
    together = [group for group in store.together if "get key" in group]
    assert any("query health" in group for group in together), store.together


@pytest.mark.anyio
async def test_after_the_answer_the_breaker_and_health_records_are_written_together() -> None:
    """On Lambda the response's end waits for these writes (``surfaces/invocation.py``): one round trip of
    the store, not the breaker's and then the health bucket's."""
    store = Watched()
    gateway = build_gateway(AimuxConfig.model_validate(CONFIG), env={}, store=store)
    body = {"model": "big", "max_tokens": 16, "messages": [{"role": "user", "content": "hi"}]}
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=local_app(gateway)), base_url="http://aimux"
    ) as client:
        assert (await client.post("/v1/messages", json=body)).status_code == 200  # warms the health view
        await gateway.drain()
        store.watching = True
        answer = await client.post("/v1/messages", json=body)
        await gateway.drain()
    assert answer.status_code == 200, answer.text
    assert store.calls["add health"] == 1 and store.calls["add breaker"] == 1, store.calls
    assert any({"add health", "add breaker"} <= group for group in store.together), store.together
