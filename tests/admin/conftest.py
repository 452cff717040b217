"""A gateway with two real-HTTP fake upstreams, keys on, and its admin routes, served on loopback.

``deployment`` is what an operator runs locally: ``local_app`` (client API and ``/admin`` in one
process) over a gateway built from a configuration document (real adapters, breakers, health, admission,
usage counters) on a ``MemoryStore``, with a ``KeyRing`` on the same store. Responses end only after the
state writes they cause (``AIMUX_FINISH_WRITES_IN_REQUEST=1``, as on Lambda), so a test reads the admin
views right after its traffic, without waiting or polling.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest

from aimux_core.assembly import build_gateway, local_app
from aimux_core.config.validate import validate_config
from aimux_core.keys import KeyRing
from aimux_core.settings import Settings
from aimux_core.state import MemoryStore
from aimux_core.surfaces.admin_access import AdminAccess
from fakes.anthropic_upstream import AnthropicUpstream
from fakes.openai_upstream import OpenAIUpstream
from support.server import serve

sys.modules["admin_conftest"] = sys.modules[__name__]

ANTHROPIC_KEY = "sk-" + "ant-admin-suite-upstream-0001"
OPENAI_KEY = "sk-admin-suite-openai-upstream-0002"
ENV = {"TEST_ANTHROPIC_KEY": ANTHROPIC_KEY, "TEST_OPENAI_KEY": OPENAI_KEY}
PRICES = {"claude-sonnet-4-5": (3.0, 15.0), "gpt-4.1": (2.0, 8.0), "cheap": (0.5, 1.0)}
FAST = {"connect": 1.0, "first_byte": 2.0, "idle": 2.0, "total": 5.0}


def document(anthropic: AnthropicUpstream, openai: OpenAIUpstream, **extra: Any) -> dict[str, Any]:
    """Two providers, a default route that fails over from Anthropic to OpenAI, a cheap route, aliases."""
    return {
        "providers": {
            "anthropic": {"preset": "anthropic", "base_url": anthropic.base_url, "api_key_env": "TEST_ANTHROPIC_KEY",
                          "timeouts": FAST},
            "openai": {"preset": "openai", "base_url": openai.base_url, "api_key_env": "TEST_OPENAI_KEY",
                       "timeouts": FAST},
        },
        "models": {
            "claude-sonnet-4-5": {"provider": "anthropic", "max_output": 4096, "display_name": "Claude Sonnet 4.5",
                                  "aliases": ["claude-sonnet-4-5-20250929"],
                                  "price": {"input": 3.0, "output": 15.0}},
            "gpt-4.1": {"provider": "openai", "max_output": 4096, "price": {"input": 2.0, "output": 8.0}},
            "cheap": {"provider": "openai", "upstream_model": "gpt-4.1-mini", "max_output": 4096,
                      "price": {"input": 0.5, "output": 1.0}},
        },
        "routes": {"default": ["claude-sonnet-4-5", "gpt-4.1"], "budget": ["cheap"]},
        "aliases": {"claude-sonnet-*": "default", "fast-*": "cheap"},
        "breaker": {"failure_threshold": 2, "failure_ratio": None, "cooldown": 60},
        "retry": {"max_attempts": 2, "backoff_base": 0.01, "backoff_max": 0.02, "deadline": 20},
        **extra,
    }  # fmt: skip


def cost_micro(model: str, input_tokens: int, output_tokens: int) -> int:
    """What a request costs on ``model`` in micro-dollars (prices per million tokens)."""
    price_in, price_out = PRICES[model]
    return round(input_tokens * price_in + output_tokens * price_out)


@dataclass
class Deployment:
    url: str
    gateway: Any
    keys: KeyRing
    store: MemoryStore
    anthropic: AnthropicUpstream
    openai: OpenAIUpstream

    def admin(self) -> httpx.Client:
        """An operator's client: ``x-aimux-admin`` marks its changes as deliberate (a cross-site form
        cannot send it)."""
        return httpx.Client(base_url=self.url, timeout=30, headers={"x-aimux-admin": "test"})

    def project(self, name: str, **fields: Any) -> dict[str, Any]:
        with self.admin() as http:
            created = http.post("/admin/projects", json={"name": name, **fields})
        assert created.status_code == 201, created.text
        return dict(created.json())

    def key(self, name: str, **fields: Any) -> tuple[str, str]:
        """A new key (plaintext, id) made through the admin API."""
        with self.admin() as http:
            created = http.post("/admin/keys", json={"name": name, **fields})
        assert created.status_code == 201, created.text
        body = created.json()
        assert body["key"] == body["api_key"]
        return body["key"], body["id"]


@pytest.fixture
def deployment(monkeypatch: pytest.MonkeyPatch) -> Iterator[Deployment]:
    monkeypatch.setenv("AIMUX_FINISH_WRITES_IN_REQUEST", "1")
    for name in ("AIMUX_TABLE", "AIMUX_ADMIN_TOKEN", "AIMUX_USAGE_MAX_RANGE_DAYS"):
        monkeypatch.delenv(name, raising=False)
    with AnthropicUpstream() as anthropic, OpenAIUpstream() as openai:
        store = MemoryStore()
        config = validate_config(document(anthropic, openai), "admin-test.yaml")
        gateway = build_gateway(config, env=ENV, store=store)
        keys = KeyRing(store, cache_seconds=30)
        app = local_app(gateway, keys, admin_keys=keys, admin_access=AdminAccess(Settings()))
        with serve(app) as url:
            yield Deployment(url, gateway, keys, store, anthropic, openai)
