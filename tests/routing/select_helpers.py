"""Shared pieces of the selection tests (``test_routing_select_*.py``): a hand-built catalog, routes and
aliases, and a ``select`` shortcut driving ``Selector`` directly with a seeded RNG.

A plain module, not a conftest, so test files can import it (``from select_helpers import ...``),
like ``tests/limits/limits_support.py``.
"""

from __future__ import annotations

import random
from typing import Any

from routing_conftest import make_entry, make_table

from aimux_core.routing.catalog import ModelEntry
from aimux_core.routing.select import Decision, HealthView, RequestMeta, Selector
from aimux_core.routing.table import RoutingTable
from support.samples import PNG_1X1

IMAGE = {"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": PNG_1X1}}
NO_META = RequestMeta()
GPT_KEY = "openai/gpt-4.1"
SONNET_KEY = "anthropic/claude-sonnet-4-5"
HEALTHY = HealthView()

SONNET = make_entry("sonnet", "anthropic", "claude-sonnet-4-5")
OPUS = make_entry("opus-4-1", "anthropic", "claude-opus-4-1", aliases=("opus-latest",))
HAIKU = make_entry("haiku", "anthropic", "claude-haiku-4-5")
GPT = make_entry("gpt", "openai", "gpt-4.1")
DEEPSEEK = make_entry("deepseek", "deepseek", "deepseek-chat", capabilities=frozenset({"tools", "thinking"}))
TINY = make_entry("tiny", "local", "tiny-1", capabilities=frozenset(), context_window=8_000)
BIG = make_entry("big", "gemini", "gemini-2.5-pro", context_window=1_000_000)
ENTRIES = [SONNET, OPUS, HAIKU, GPT, DEEPSEEK, TINY, BIG]
ALIASES = [
    ("claude-sonnet-*", "default"),
    ("claude-opus-*", "opus"),
    ("claude-haiku-*", "background"),
    ("gpt-*", "gpt"),  # a glob naming a catalog model, not a route
    ("claude-*", "default"),
]
ROUTES: dict[str, list[list[ModelEntry]]] = {
    "default": [[SONNET], [GPT, DEEPSEEK]],
    "opus": [[OPUS], [SONNET]],
    "background": [[HAIKU], [TINY]],
    "thinking": [[OPUS], [DEEPSEEK]],
    "long_context": [[BIG], [TINY]],
}


def table(routes: dict[str, list[list[ModelEntry]]] | None = None, **changes: Any) -> RoutingTable:
    return make_table(ENTRIES, routes if routes is not None else ROUTES, aliases=changes.pop("aliases", ALIASES),
                      **changes)


def select(
    request: Any,
    routing: RoutingTable | None = None,
    *,
    meta: RequestMeta = NO_META,
    health: HealthView = HEALTHY,
    tokens: int = 100,
    seed: int = 1,
) -> Decision:
    selector = Selector(routing or table(), rng=random.Random(seed))
    return selector.select(request, meta, health, estimated_tokens=tokens)


def labels(decision: Decision) -> list[str]:
    return [t.label for t in decision.targets]
