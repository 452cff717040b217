#!/usr/bin/env python3
"""What automatic prompt caching saves on a multi-turn coding conversation, and what planning it costs.

The conversation is the recorded Claude Code shape (its system prompt, its 12 tool schemas, a tool loop of
``Read`` calls over ~3.7k-token source files: ``tests/support/coding_session.py``) sent by an OpenAI-SDK
client, which places no cache breakpoints, through the gateway to a fake Anthropic upstream that bills
cache writes and reads as Anthropic does (``tests/fakes/prompt_cache.py``: exact prefixes, 20-block
lookback, 5-minute TTL, 1,024-token minimum; tokens are the fake's stand-in count). It is replayed twice,
the provider configured ``prompt_caching: auto`` (the default) and ``off``, and priced at Claude Sonnet
4.5's list prices (USD per million: input 3, output 15, cache write 3.75, cache read 0.30). The gateway's
own ``CacheSavingsUSD`` metric (summed from its in-memory metrics) is printed next to the difference.

Then the CPU the adapter spends planning and placing the breakpoints (``plan_breakpoints`` +
``mark_body``) for the conversation at its last turn, best of ``--repeat`` runs, in µs.

Everything runs in this process over loopback HTTP (uvicorn in a thread, the fake in its own thread).
Run: ``.venv/bin/python bench/bench_prompt_cache.py [--turns N] [--repeat R]``
"""

from __future__ import annotations

import argparse
import logging
import sys
import time
from decimal import Decimal
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))  # the fakes and the conversation live with the tests

import openai  # noqa: E402

from aimux_core.accounting.metrics import local_metrics  # noqa: E402
from aimux_core.accounting.request_log import request_logger  # noqa: E402
from aimux_core.providers.prompt_cache import mark_body, plan_breakpoints  # noqa: E402
from aimux_core.wire.anthropic import MessagesRequest  # noqa: E402
from fakes import AnthropicUpstream  # noqa: E402
from fakes.prompt_cache import CacheUsage, PromptCacheModel  # noqa: E402
from support.coding_session import anthropic_body, replay_openai, script_tool_loop  # noqa: E402
from support.config_gateway import serve_config  # noqa: E402

PRICE = {"input": Decimal(3), "output": Decimal(15), "cache_write": Decimal("3.75"), "cache_read": Decimal("0.3")}
OUTPUT_TOKENS = {"tool": 60, "final": 200}  # what the scripted answers report


def document(base_url: str, caching: str) -> dict[str, Any]:
    price = {name: float(value) for name, value in PRICE.items()}
    return {
        "providers": {"anthropic": {"preset": "anthropic", "base_url": base_url, "api_key_env": "BENCH_KEY",
                                    "prompt_caching": caching}},
        "models": {"claude-sonnet-4-5": {"provider": "anthropic", "upstream_model": "claude-sonnet-4-5-20250929",
                                         "context_window": 200_000, "max_output": 64_000, "price": price}},
    }  # fmt: skip


def replay(turns: int, caching: str) -> tuple[list[CacheUsage], float]:
    """The billed usage of each request, and the gateway's summed ``CacheSavingsUSD``."""
    local_metrics().reset()
    with AnthropicUpstream(prompt_cache=PromptCacheModel(min_tokens=1024)) as fake:
        script_tool_loop(fake, turns)
        with serve_config(document(fake.base_url, caching), {"BENCH_KEY": "sk-bench"}) as served:
            client = openai.OpenAI(base_url=f"{served.url}/v1", api_key="sk-bench", max_retries=0, timeout=60)
            replay_openai(client, turns)
        fake.raise_for_errors()
        history = list(fake.prompt_cache.history)  # type: ignore[union-attr]
    savings = float(local_metrics().snapshot()["aggregate"].get("CacheSavingsUSD", 0))
    return history, savings


def cost(usage: CacheUsage, output: int) -> Decimal:
    micro = (usage.input_tokens * PRICE["input"] + usage.cache_creation_input_tokens * PRICE["cache_write"]
             + usage.cache_read_input_tokens * PRICE["cache_read"] + output * PRICE["output"])  # fmt: skip
    return micro / 1_000_000


def planning_us(turns: int, repeat: int, number: int = 200) -> float:
    request = MessagesRequest.model_validate(anthropic_body(turns))
    dumped = request.dump()
    best = float("inf")
    for _ in range(repeat):
        started = time.process_time()
        for _ in range(number):
            plan = plan_breakpoints(request, mode="auto", min_tokens=1024)
            assert plan is not None
            mark_body(dict(dumped, messages=[dict(m) for m in dumped["messages"]]), plan)
        best = min(best, (time.process_time() - started) / number * 1e6)
    return best


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--turns", type=int, default=10, help="tool round trips before the closing answer")
    parser.add_argument("--repeat", type=int, default=5, help="runs of the planning measure (best kept)")
    args = parser.parse_args()
    request_logger().setLevel(logging.CRITICAL)  # one JSON line per request would bury the table
    outputs = [OUTPUT_TOKENS["tool"]] * args.turns + [OUTPUT_TOKENS["final"]]
    cached, savings = replay(args.turns, "auto")
    plain, plain_savings = replay(args.turns, "off")

    print(f"### Replay: {args.turns} tool turns + the closing answer, OpenAI SDK → aimux → fake Anthropic\n")
    print("| request | input (off) | cache write | cache read | input (auto) | cost off | cost auto |")
    print("|--:|--:|--:|--:|--:|--:|--:|")
    for n, (on, off, out) in enumerate(zip(cached, plain, outputs, strict=True)):
        total = off.input_tokens
        print(
            f"| {n + 1} | {total:,} | {on.cache_creation_input_tokens:,} | {on.cache_read_input_tokens:,} | "
            f"{on.input_tokens:,} | ${cost(off, out):.4f} | ${cost(on, out):.4f} |"
        )
    with_cache = sum((cost(u, o) for u, o in zip(cached, outputs, strict=True)), Decimal(0))
    without = sum((cost(u, o) for u, o in zip(plain, outputs, strict=True)), Decimal(0))
    print(
        f"\nTotal: **${without:.4f} without injection, ${with_cache:.4f} with** "
        f"({(1 - with_cache / without) * 100:.1f} % less); difference ${without - with_cache:.6f}; "
        f"gateway CacheSavingsUSD sum ${savings:.6f} (caching off: ${plain_savings:.6f}).\n"
    )
    print(
        f"Planning + placing breakpoints at the last turn ({args.turns} round trips, "
        f"{len(anthropic_body(args.turns)['messages'])} messages): {planning_us(args.turns, args.repeat):.1f} µs "
        f"per request (best of {args.repeat})."
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
