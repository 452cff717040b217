#!/usr/bin/env python3
"""Measure what one gateway request costs, against the built-in mock provider.

Why this exists: aimux runs on Lambda, where every CPU millisecond of the gateway process and every
millisecond of cold import is billed or waited for. The figures this script prints are the ones
``bench/README.md`` records and the targets are judged by:

- per-request latency p50/p99 (and time to first byte for streams) at concurrency 1 and 16;
- server CPU ms per request: user+system time of the gateway process (``/proc/<pid>/stat``) over
  the measured phase divided by the number of requests. The mock answers in-process, so this is
  the gateway's own cost: HTTP parsing, validation, routing, translation, the mock's planning,
  encoding (and accounting, once it is on the hot path);
- the cold import of ``functions/messages/app.py`` (the Lambda handler module), bytecode present.

The gateway runs as a subprocess (optionally pinned to CPU 0, the load generator to CPU 1) so that
the client's own CPU never counts against the server. It is a script, never a test: timings depend
on the machine and its load, so nothing here asserts on them.

The parts: ``request_shapes`` (what is sent), ``gateway_server`` (how the gateway is started),
``gateway_load`` (the rows), ``import_timing`` (the cold import), ``gateway_report`` (the Markdown);
shared with ``bench_upstream.py``: ``server_process``, ``proc_accounting``, ``load_generator``, ``run_report``.

Run: ``.venv/bin/python bench/bench_gateway.py`` (``make bench``); ``--help`` lists the knobs.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence
from dataclasses import asdict

from framework_floor import create_floor_app as create_floor_app  # uvicorn loads it from here (--server floor)
from gateway_load import run_load
from gateway_report import render_markdown
from gateway_server import LOCAL_APP_FACTORY
from import_timing import measure_import
from load_bench_cli import add_json_option, check_pin, load_parser, measure_and_print
from request_shapes import gateway_scenarios, label
from run_report import new_report
from server_process import stop_servers_on_signals


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = load_parser(__doc__, "row")
    parser.add_argument(
        "--only", action="append", default=[],
        help="run only rows whose label contains this (e.g. 'claude-code', 'openai', 'non-stream'); repeatable",
    )  # fmt: skip
    parser.add_argument(
        "--repeat", type=int, default=1,
        help="measure each row this many times and keep the run with the least server CPU per request "
        "(for shared machines; every run's figure is kept in the JSON)",
    )  # fmt: skip
    parser.add_argument("--pin", action="store_true", help="gateway on CPU 0, load generator on CPU 1")
    parser.add_argument(
        "--server", choices=["auto", "cli", "uvicorn", "floor"], default="auto",
        help=f"'cli' = aimux serve, 'uvicorn' = uvicorn {LOCAL_APP_FACTORY} --factory, 'floor' = bare "
        "uvicorn + Starlette with canned answers, the framework floor to compare with (default: cli if present)",
    )  # fmt: skip
    parser.add_argument("--client", choices=["raw", "httpx"], default="raw", help="load generator (default raw)")
    parser.add_argument(
        "--budget-key", action="store_true",
        help="AIMUX_AUTH=on, a priced mock model, and every request carries a key with a daily budget "
        "(the gateway's state in its own memory): what budget admission and settlement cost",
    )  # fmt: skip
    parser.add_argument(
        "--response-cache", choices=["use", "refresh"],
        help="every request carries x-aimux-cache: 'use' (after the warm-up's first request stored the answer, "
        "every measured request is a hit) or 'refresh' (every request calls the mock and stores its answer: "
        "a miss without the lookup); compare with a run without the option",
    )  # fmt: skip
    parser.add_argument("--import-repeats", type=int, default=7, help="fresh interpreters per import measure")
    parser.add_argument("--no-load", action="store_true", help="skip the request benchmark")
    parser.add_argument("--no-import", action="store_true", help="skip the cold import benchmark")
    add_json_option(parser, "also write the raw results as JSON (default path: bench/results/<timestamp>.json)")
    args = parser.parse_args(argv)
    if min(args.requests, args.repeat, args.import_repeats, *args.concurrency) < 1 or args.warmup < 0:
        parser.error("--requests, --repeat, --import-repeats and --concurrency must be positive, --warmup >= 0")
    check_pin(parser, args)
    return args


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    stop_servers_on_signals()
    scenarios = [s for s in gateway_scenarios() if all(word in label(s) for word in args.only)]
    if not args.no_load and not scenarios:
        print(f"no scenario matches {args.only}", file=sys.stderr)
        return 2
    report = new_report("bench/bench_gateway.py", argv, pinned=args.pin)
    report.update(
        client=(
            "raw asyncio sockets (HTTP/1.1 keep-alive, one connection per worker, uvloop)"
            if args.client == "raw"
            else "one pooled httpx.AsyncClient (keep-alive)"
        ),
        requests=args.requests,
        warmup=args.warmup,
        repeat=args.repeat,
    )

    def measure() -> None:
        if not args.no_import:
            print("cold import ...", file=sys.stderr)
            report["import"] = asdict(measure_import(args.import_repeats))
        if not args.no_load:
            if args.pin:
                os.sched_setaffinity(0, {1})
            load, report["server_command"] = run_load(args, scenarios)
            report["load"] = [asdict(r) for r in load]

    return measure_and_print(
        report, measure, render_markdown, json_option=args.json, json_prefix="", stopped="the gateway was stopped"
    )


if __name__ == "__main__":
    sys.exit(main())
