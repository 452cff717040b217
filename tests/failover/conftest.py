"""The failover suite's gateway: built from a configuration the way ``aimux serve`` builds it
(``assembly.build_gateway``: breakers, health, cooldowns, caps on one store), its providers pointed
at the fake upstreams, served on loopback and driven by the official SDKs.

Test modules import the helpers as ``from failover_conftest import ...`` (registered under that unique
name, as ``tests/routing/conftest.py`` does).
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from dataclasses import dataclass
from typing import Any

import anthropic
import httpx
import openai
import pytest

from aimux_core.assembly import build_gateway
from aimux_core.config.schema import AimuxConfig
from aimux_core.gateway import Gateway
from aimux_core.state import MemoryStore, Store, SystemClock
from fakes.anthropic_upstream import AnthropicUpstream
from fakes.openai_upstream import OpenAIUpstream
from support.server import serve

sys.modules["failover_conftest"] = sys.modules[__name__]

UPSTREAM_KEY = "sk-" "ant-failover-suite-upstream-key-0001"
KEY_ENV = "FAILOVER_UPSTREAM_KEY"
PROMPT = [{"role": "user", "content": "say something"}]
FAST = {"connect": 2.0, "first_byte": 2.0, "idle": 2.0, "total": 5.0}


def provider_entry(fake: AnthropicUpstream | OpenAIUpstream, **extra: Any) -> dict[str, Any]:
    dialect = "anthropic" if isinstance(fake, AnthropicUpstream) else "openai"
    return {"dialect": dialect, "base_url": fake.base_url, "api_key_env": KEY_ENV, "timeouts": FAST, **extra}


@dataclass
class Served:
    """A gateway built from ``config`` on loopback, its store, and SDK clients for it."""

    url: str
    gateway: Gateway
    store: Store
    config: AimuxConfig

    def anthropic(self, **options: Any) -> anthropic.Anthropic:
        options = {"max_retries": 0, "timeout": 20, **options}
        return anthropic.Anthropic(base_url=self.url, api_key="sk-client-key", **options)

    def openai(self, **options: Any) -> openai.OpenAI:
        options = {"max_retries": 0, "timeout": 20, **options}
        return openai.OpenAI(base_url=f"{self.url}/v1", api_key="sk-client-key", **options)

    def ask(self, model: str, **options: Any) -> tuple[dict[str, str], Any]:
        """One buffered Messages call: the answer's headers and the parsed message."""
        raw = self.anthropic(**options).messages.with_raw_response.create(model=model, max_tokens=64, messages=PROMPT)
        return dict(raw.headers), raw.parse()


def build(config: dict[str, Any], store: Store | None = None) -> tuple[Gateway, Store, AimuxConfig]:
    """The gateway ``aimux serve`` would build for ``config`` (keys from ``KEY_ENV``)."""
    parsed = AimuxConfig.model_validate(config)
    store = store if store is not None else MemoryStore(SystemClock())
    client = httpx.AsyncClient(timeout=None)
    gateway = build_gateway(parsed, env={KEY_ENV: UPSTREAM_KEY}, client=client, store=store)
    return gateway, store, parsed


@pytest.fixture
def aimux(monkeypatch: pytest.MonkeyPatch) -> Iterator[Callable[..., Served]]:
    """``aimux(config, store=None)``: serve a gateway built from ``config``; stopped after the test.

    Each answer ends only once its state writes (breaker, health, cooldowns) are done, as on Lambda,
    so a test reads the store right after an answer and finds what that request wrote.
    """
    from aimux_core.surfaces.app import create_messages_app

    monkeypatch.setenv("AIMUX_FINISH_WRITES_IN_REQUEST", "1")
    with ExitStack() as stack:

        def start(config: dict[str, Any], store: Store | None = None) -> Served:
            gateway, used, parsed = build(config, store)
            url = stack.enter_context(serve(create_messages_app(gateway)))
            return Served(url, gateway, used, parsed)

        yield start
