"""Fixtures for the end-to-end state tests: a configured gateway on DynamoDB, served over loopback HTTP.

Why this shape: the acceptance for keys, rate limits, budgets and the state-failure policy is about what a
*client* sees, so every test here talks to ``assembly.local_app`` over real HTTP with the official SDKs, and the
gateway is the one ``assembly.build_gateway`` builds for a deployment (``Admission`` and the breaker guard
on one ``DynamoStore``), not a hand-assembled test double.

- ``CONFIG``: the mock provider with two priced models: ``big`` (expensive: one small answer costs $0.117,
  over the $0.10 daily budgets used here) on the ``default`` route and ``small`` on a cheaper ``budget`` route.
- ``deployment`` (function-scoped): a fresh table on the session's moto server (a unique table per test, so
  spend and rate windows never leak between tests), a ``KeyRing`` on it, and the app served on 127.0.0.1.
- ``Deployment.make_key``: ``keys.admin.create_key`` from the test thread (DynamoStore is thread-safe: its
  calls run on boto3 worker threads whatever event loop awaits them).

The state-failure tests build their own deployments on a DynamoDB server they stop mid-test
(``test_state_e2e_failure.py``).
"""

from __future__ import annotations

import asyncio
import time
import uuid
from dataclasses import dataclass, field
from typing import Any

import anthropic
import httpx
import openai
from starlette.types import ASGIApp

from aimux_core.assembly import build_gateway, local_app
from aimux_core.config.schema import AimuxConfig
from aimux_core.gateway import Gateway
from aimux_core.keys import ApiKeyRecord, KeyRing, create_key
from aimux_core.limits.spend import SpendLedger
from aimux_core.state.dynamodb import create_table
from aimux_core.state.store import Store
from support.dynamo import DynamoServer

# USD per million tokens. The mock answers "hi" with 9 input and 6 output tokens: $0.027 + $0.09 on ``big``.
BIG_PRICE = {"input": 3000, "output": 15000}
SMALL_PRICE = {"input": 1, "output": 5}
COST_BIG = 0.117
DAILY_BUDGET = 0.10  # one answer from ``big`` spends it

CONFIG_DATA: dict[str, Any] = {
    "providers": {"mock": {"preset": "mock"}},
    "models": {
        "big": {"provider": "mock", "context_window": 200_000, "max_output": 4096, "price": BIG_PRICE},
        "small": {"provider": "mock", "context_window": 200_000, "max_output": 4096, "price": SMALL_PRICE},
    },
    "routes": {"default": ["big"], "budget": ["small"]},
}
HTTP_TIMEOUT = httpx.Timeout(15.0, connect=5.0)
SDK_TIMEOUT = 15.0  # the SDKs use httpx2 and take a float
PROMPT = [{"role": "user", "content": "hi"}]


def anthropic_client(url: str, api_key: str | None = None, **options: Any) -> anthropic.Anthropic:
    """The official SDK as a client configures it; no retries, so a refusal is seen as it was sent."""
    return anthropic.Anthropic(base_url=url, api_key=api_key, max_retries=0, timeout=SDK_TIMEOUT, **options)


def openai_client(url: str, api_key: str) -> openai.OpenAI:
    return openai.OpenAI(base_url=f"{url}/v1", api_key=api_key, max_retries=0, timeout=SDK_TIMEOUT)


def config() -> AimuxConfig:
    return AimuxConfig.model_validate(CONFIG_DATA)


def run(coro: Any) -> Any:
    """Run one coroutine to completion from the (synchronous) test thread."""
    return asyncio.run(coro)


def new_table(server: DynamoServer) -> str:
    """A table of its own for one test: spend, rate windows and breakers start empty."""
    name = f"aimux-e2e-{uuid.uuid4().hex[:12]}"
    create_table(server.shared_client(), name)
    return name


@dataclass
class Deployment:
    """One served gateway and what the tests reach around it (the ring, the store, the admission)."""

    url: str
    gateway: Gateway
    keys: KeyRing
    store: Store
    created: list[ApiKeyRecord] = field(default_factory=list)

    def make_key(self, **limits: Any) -> tuple[str, ApiKeyRecord]:
        """A new key (plaintext, record) with ``limits`` (rpm, budget_daily_usd, allowed_models, ...)."""
        plaintext, record = run(create_key(self.keys, name=f"e2e-{len(self.created)}", **limits))
        self.created.append(record)
        return plaintext, record

    def spent_micro(self, key_id: str) -> int:
        """Today's recorded spend of ``key_id`` (read fresh from the store)."""
        ledger = SpendLedger(self.store, self.keys.clock)
        return int(run(ledger.totals(key_id)).day_micro)

    def wait_for_spend(self, key_id: str, at_least_usd: float, timeout: float = 10.0) -> int:
        """Poll the ledger until the background spend write landed (it runs after the answer was sent)."""
        target = round(at_least_usd * 1_000_000)
        deadline = time.monotonic() + timeout
        while True:
            spent = self.spent_micro(key_id)
            if spent >= target or time.monotonic() > deadline:
                return spent
            time.sleep(0.05)


def deploy(
    store: Store, keys: KeyRing, *, env: dict[str, str] | None = None, admin_keys: KeyRing | None = None
) -> tuple[Gateway, ASGIApp]:
    """The configured gateway on ``store`` and the local app over it (admin routes manage ``admin_keys``)."""
    gateway = build_gateway(config(), env=env or {}, store=store)
    return gateway, local_app(gateway, keys, admin_keys=admin_keys or keys)
