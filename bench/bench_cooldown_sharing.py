"""What a fleet pays to learn that a target is rate limited: cooldowns per process vs shared in the store.

``--instances`` gateways (each one Lambda instance: its own process state) share one state store, as
deployed instances share the DynamoDB table. The route is ``primary`` then ``backup`` (two fake
upstreams, ``tests/fakes``); ``primary`` answers every request with a 429 and ``retry-after: 30``.
``--requests`` requests go round-robin over the instances, one at a time, each instance's background
writes finished before the next (as on Lambda). Counted: attempts that reached the rate-limited
``primary`` (each one a wasted round trip and a failover's latency for its request), and the store
calls the cooldowns cost. ``per process`` keeps every cooldown local (what aimux did before);
``shared`` is the default (cooldowns of 2 s or more are written to the store and read with the health
query each instance already runs).

    .venv/bin/python bench/bench_cooldown_sharing.py --instances 20 --requests 200
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from collections import Counter
from collections.abc import Mapping
from dataclasses import replace
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))

import httpx  # noqa: E402

from aimux_core.assembly import build_gateway  # noqa: E402
from aimux_core.config.schema import AimuxConfig  # noqa: E402
from aimux_core.gateway import Gateway  # noqa: E402
from aimux_core.providers.base import RequestContext  # noqa: E402
from aimux_core.routing.select import RequestMeta  # noqa: E402
from aimux_core.state import Item, MemoryStore, SystemClock  # noqa: E402
from aimux_core.wire.anthropic import MessagesRequest  # noqa: E402
from fakes import Fault, Reply  # noqa: E402
from fakes.anthropic_upstream import AnthropicUpstream  # noqa: E402
from fakes.openai_upstream import OpenAIUpstream  # noqa: E402

KEY_ENV = "SHARING_BENCH_KEY"


class CountingStore(MemoryStore):
    """A ``MemoryStore`` counting calls by operation and item family (the pk's prefix)."""

    def __init__(self) -> None:
        super().__init__(SystemClock())
        self.calls: Counter[str] = Counter()

    def _count(self, op: str, pk: str, sk: str = "") -> None:
        family = "cooldown" if sk == "cooldown" else pk.split("#", 1)[0]
        self.calls[f"{op}({family})"] += 1

    async def get(self, pk: str, sk: str) -> Item | None:
        self._count("get", pk, sk)
        return await super().get(pk, sk)

    async def put(self, pk: str, sk: str, item: Mapping[str, Any], *, expect_version: Any) -> int:
        self._count("put", pk, sk)
        return await super().put(pk, sk, item, expect_version=expect_version)

    async def query(self, pk: str, sk_from: str, sk_to: str) -> list[Item]:
        self._count("query", pk)
        return await super().query(pk, sk_from, sk_to)


def config(primary: AnthropicUpstream, backup: OpenAIUpstream) -> AimuxConfig:
    entry = {"api_key_env": KEY_ENV}
    return AimuxConfig.model_validate({
        "providers": {"primary": {"dialect": "anthropic", "base_url": primary.base_url, **entry},
                      "backup": {"dialect": "openai", "base_url": backup.base_url, **entry}},
        "models": {"p": {"provider": "primary"}, "b": {"provider": "backup"}},
        "routes": {"default": [["p"], ["b"]]},
    })  # fmt: skip


async def fleet_run(instances: int, requests: int, shared: bool) -> dict[str, Any]:
    with AnthropicUpstream() as primary, OpenAIUpstream() as backup:
        primary.outage(Fault.http(429, retry_after=30), 3600)
        backup.default = Reply(text="served by backup")
        store = CountingStore()
        client = httpx.AsyncClient(timeout=None)
        fleet: list[Gateway] = []
        for _ in range(instances):
            gateway = build_gateway(config(primary, backup), env={KEY_ENV: "k"}, client=client, store=store)
            if not shared:
                gateway.cooldowns.settings = replace(gateway.cooldowns.settings, share_from=float("inf"))
            fleet.append(gateway)
        request = MessagesRequest.model_validate(
            {"model": "p", "max_tokens": 16, "messages": [{"role": "user", "content": "hi"}]}
        )
        served: Counter[str] = Counter()
        for n in range(requests):
            gateway = fleet[n % instances]
            _, outcome = await gateway.create(request, RequestContext(request_id=f"req_{n}"), RequestMeta())
            served[outcome.target.provider] += 1
            await gateway.drain()
        await client.aclose()
        cooldown_calls = {op: count for op, count in store.calls.items() if "cooldown" in op}
        return {
            "primary_attempts": len(primary.message_requests),
            "served": dict(served),
            "cooldown_store_calls": cooldown_calls,
            "health_queries": store.calls["query(health)"],
        }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--instances", type=int, default=20)
    parser.add_argument("--requests", type=int, default=200)
    args = parser.parse_args(argv)
    print("| cooldowns | instances | requests | attempts that reached the rate-limited target | "
          "store calls for cooldowns | health queries (unchanged: they carry the cooldowns) |")  # fmt: skip
    print("|---|---|---|---|---|---|")
    for shared in (False, True):
        result = asyncio.run(fleet_run(args.instances, args.requests, shared))
        calls = ", ".join(f"{op} {n}" for op, n in sorted(result["cooldown_store_calls"].items())) or "none"
        print(f"| {'shared' if shared else 'per process'} | {args.instances} | {args.requests} | "
              f"**{result['primary_attempts']}** | {calls} | {result['health_queries']} |", flush=True)  # fmt: skip
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
