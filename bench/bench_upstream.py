#!/usr/bin/env python3
"""What aimux adds in front of a real HTTP upstream, against the upstream alone and a bare pass-through.

Why this exists: ``bench_gateway.py`` measures aimux against its in-process mock, which makes no
upstream call, so it cannot say what a request costs once an HTTP client towards the provider is
in the path, and the issue's reference figures (LiteLLM, a bare FastAPI pass-through) all include
one. This script measures, in one run and on the same machine:

- **direct**: the load generator against the fast fake upstream (``fast_upstream.py``) alone;
- **floor**: a bare FastAPI pass-through (``passthrough_floor.py``) in front of the same fake,
  with plain httpx, httpx over the ``httpx-aiohttp`` transport, and aiohttp without httpx;
- **aimux**: ``aimux serve --config <generated yaml>`` with an ``anthropic`` and an ``openai``
  provider pointed at the fake (auth off), doing all its work (validation, routing, translation,
  breaker/health bookkeeping, encoding);

for three directions: Anthropic client → Anthropic upstream, Anthropic client → OpenAI upstream
(translated both ways), OpenAI client → OpenAI upstream; non-streaming and streaming (time to first
byte and total); at concurrency 1 and 16. Reported: p50/p99 and the latency the hop adds (via the
gateway - direct), CPU ms per request of the gateway process (``/proc/<pid>/stat``), throughput
at concurrency 16 (one process, its core saturated), RSS after the load, and start-up time (spawn
to the first 200 on ``/healthz``).

Placement (2 cores): the gateway under test alone on CPU 0; the fake upstream and the load
generator share CPU 1 (both are cheap: canned bytes, pre-encoded requests). It is a script, never
a test: figures depend on the machine and its load, so nothing asserts on them.

The parts: ``upstream_scenarios`` (directions and requests), ``upstream_processes`` (the fake, the
floors, aimux), ``upstream_load`` (the cells), ``upstream_client_cost`` (the client alone),
``upstream_report`` (the Markdown); shared with ``bench_gateway.py``: ``server_process``,
``proc_accounting``, ``load_generator``, ``run_report``.

Run: ``.venv/bin/python bench/bench_upstream.py --pin`` (``--help`` lists the knobs).
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable, Sequence
from pathlib import Path

import passthrough_floor
from load_bench_cli import add_json_option, check_pin, load_parser, measure_and_print
from run_report import new_report
from server_process import stop_servers_on_signals
from upstream_load import run
from upstream_report import render
from upstream_scenarios import DIRECTIONS

CLIENT_PACKAGES = ("httpx", "httpcore", "aiohttp", "httpx-aiohttp")


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    def csv(choices: Sequence[str]) -> Callable[[str], list[str]]:
        def parse(text: str) -> list[str]:
            items = [x for x in text.split(",") if x]
            bad = [x for x in items if x not in choices]
            if bad:
                raise argparse.ArgumentTypeError(f"unknown {bad}; choose from {', '.join(choices)}")
            return items

        return parse

    parser = load_parser(__doc__, "cell")
    parser.add_argument("--repeat", type=int, default=1, help="runs per cell; the least gateway CPU is kept")
    parser.add_argument("--pin", action="store_true", help="gateway on CPU 0, fake upstream + load generator on CPU 1")
    parser.add_argument("--stream", choices=["both", "no", "yes"], default="both", help="which answers (default both)")
    parser.add_argument(
        "--directions", type=csv([d.key for d in DIRECTIONS]), default=[d.key for d in DIRECTIONS],
        help="aimux directions: a2a (Anthropic→Anthropic), a2o (Anthropic→OpenAI), o2o (OpenAI→OpenAI)",
    )  # fmt: skip
    parser.add_argument(
        "--floors", type=csv(list(passthrough_floor.FACTORIES)), default=list(passthrough_floor.FACTORIES),
        help="pass-through floors to run (default: every one of passthrough_floor.FACTORIES; empty string for none)",
    )  # fmt: skip
    parser.add_argument(
        "--aimux", type=csv(["shipped", "httpx", "httpx-aiohttp"]), default=["shipped"],
        help="aimux variants: 'shipped' = aimux serve as is; 'httpx' / 'httpx-aiohttp' = aimux serve with the "
        "shared upstream client replaced by that one (default shipped)",
    )  # fmt: skip
    parser.add_argument("--no-direct", action="store_true", help="skip the direct-to-upstream cells")
    parser.add_argument(
        "--client-calls", type=int, default=2000,
        help="upstream calls per round of the in-process client comparison (0: skip it; default 2000)",
    )  # fmt: skip
    parser.add_argument("--client-repeat", type=int, default=3, help="interleaved runs of that comparison")
    parser.add_argument("--no-load", action="store_true", help="only start-up and RSS at idle")
    parser.add_argument("--startup-repeats", type=int, default=5, help="fresh processes per start-up figure (0: skip)")
    parser.add_argument("--gap-ms", type=float, default=0.0, help="fake upstream pause between stream events")
    add_json_option(parser, "also write the raw results (default path: bench/results/upstream-<timestamp>.json)")
    parser.add_argument("--render", metavar="JSON", help="print the report of a saved --json file; run nothing")
    args = parser.parse_args(argv)
    if (
        min(args.requests, args.repeat, args.client_repeat, *args.concurrency) < 1
        or min(args.warmup, args.startup_repeats, args.client_calls) < 0
    ):
        parser.error("--requests, --repeat and --concurrency must be positive; --warmup, --startup-repeats >= 0")
    check_pin(parser, args)
    return args


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    if args.render:
        print(render(json.loads(Path(args.render).read_text())))
        return 0
    stop_servers_on_signals()
    report = new_report("bench/bench_upstream.py", argv, pinned=args.pin, extra_packages=CLIENT_PACKAGES)
    report.update(
        requests=args.requests, warmup=args.warmup, repeat=args.repeat, concurrency=args.concurrency, gap_ms=args.gap_ms
    )
    return measure_and_print(
        report, lambda: report.update(run(args)), render,
        json_option=args.json, json_prefix="upstream-", stopped="every server was stopped",
    )  # fmt: skip


if __name__ == "__main__":
    sys.exit(main())
