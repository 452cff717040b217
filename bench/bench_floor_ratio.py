#!/usr/bin/env python3
"""aimux's CPU per request relative to the issue's floor, paired A/B, as the table of issue 17.

Why: the shared 2-core machine moves absolute figures by ±20 % between minutes, so a "before" and an
"after" are only comparable when taken in the same minutes. This script runs rounds; each round
starts the bare floor (``bare_floor.py``: bare ASGI + aiohttp, body parsed, model swapped, usage
read) and every aimux side in turn (``--side NAME=LAYER_DIR``: ``aimux serve`` with that
``aimux_core`` first on ``PYTHONPATH``; ``NAME=.`` is this tree), the order rotated every round, all
in front of the same fast fake upstream (``fast_upstream.py``). Each cell is measured the same way
as ``bench_upstream.py`` (gateway alone on CPU 0, fake + load generator on CPU 1 with ``--pin``).

Reported per side: server CPU per request ÷ the floor's of the same round (same client dialect, same
answer kind, same concurrency), the median over the rounds; the raw figures in ``--json``. With
``--guarded``, every round also runs the guarded floor (``guarded_floor.py``: the bare floor plus the
cheapest form of the issue's guarantees) as the side ``guarded``, on the same-dialect rows only (it does
not translate).

Run: ``.venv/bin/python bench/bench_floor_ratio.py --pin --rounds 3 --side main=/tmp/main/layers/aimux_core
--side branch=.``
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import sys
from collections.abc import Sequence
from dataclasses import asdict
from pathlib import Path
from typing import Any

from load_bench_cli import add_json_option, check_pin, load_parser, measure_and_print
from load_generator import event_loop_factory
from run_report import header_lines, new_report
from server_process import ServerProcess, stop_servers_on_signals
from upstream_load import Cell, run_cells
from upstream_processes import aimux_process, fake_process, floor_process, write_config
from upstream_scenarios import DIRECTIONS, aimux_routes, floor_routes

FLOOR = "bare-aiohttp"
GUARDED = "guarded-aiohttp"
GUARDED_SIDE = "guarded"
ROWS = (
    ("same dialect, JSON", ("a2a", "o2o"), False),
    ("same dialect, stream", ("a2a", "o2o"), True),
    ("translated, JSON", ("a2o",), False),
    ("translated, stream", ("a2o",), True),
)


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = load_parser(__doc__, "cell")
    parser.add_argument("--rounds", type=int, default=3, help="rounds; each starts every server once (default 3)")
    parser.add_argument("--pin", action="store_true", help="gateway on CPU 0, fake upstream + load generator on CPU 1")
    parser.add_argument(
        "--side", action="append", default=[], metavar="NAME=LAYER_DIR",
        help="an aimux to measure: its aimux_core directory ('.' = this tree); repeatable, default 'aimux=.'",
    )  # fmt: skip
    parser.add_argument("--gap-ms", type=float, default=0.0, help="fake upstream pause between stream events")
    parser.add_argument("--stream", choices=["both", "no", "yes"], default="both", help="which answers (default both)")
    parser.add_argument("--guarded", action="store_true", help="also run the guarded floor (guarded_floor.py)")
    add_json_option(parser, "also write the raw results (default path: bench/results/floor-ratio-<timestamp>.json)")
    args = parser.parse_args(argv)
    args.sides = [tuple(s.split("=", 1)) for s in (args.side or ["aimux=."])]
    args.repeat, args.directions = 1, [d.key for d in DIRECTIONS]
    check_pin(parser, args)
    return args


def side_process(name: str, layer: str, config: Path, pin: int | None) -> ServerProcess:
    """``aimux serve`` with ``layer`` (an ``aimux_core`` directory) first on the path, or this tree for '.'."""
    server = aimux_process("shipped", config, pin)
    server.name = f"aimux {name}"
    if layer != ".":
        server.env["PYTHONPATH"] = os.pathsep.join([str(Path(layer).resolve()), server.env["PYTHONPATH"]])
    return server


def run(args: argparse.Namespace) -> dict[str, Any]:
    pin_gateway, pin_side = (0, 1) if args.pin else (None, None)
    if args.pin:
        os.sched_setaffinity(0, {1})
    rounds: list[list[dict[str, Any]]] = []
    with fake_process(pin_side, args.gap_ms) as fake, asyncio.Runner(loop_factory=event_loop_factory()) as runner:
        config = write_config(fake.port)
        try:
            targets = [("floor", None), *([(GUARDED_SIDE, GUARDED)] if args.guarded else []), *args.sides]
            for number in range(args.rounds):
                cells: list[Cell] = []
                shift = number % len(targets)
                for name, layer in targets[shift:] + targets[:shift]:
                    if layer is None or layer == GUARDED:
                        with floor_process(layer or FLOOR, fake.port, pin_gateway) as server:
                            cells += run_cells(runner, name, server.port, floor_routes(args), args, server, fake)
                    else:
                        with side_process(name, layer, config, pin_gateway) as server:
                            cells += run_cells(runner, name, server.port, aimux_routes(args), args, server, fake)
                rounds.append([asdict(c) for c in cells])
                print(f"round {number + 1} of {args.rounds} done", file=sys.stderr)
        finally:
            config.unlink(missing_ok=True)
    sides = [name for name, _ in args.sides]
    return {"rounds": rounds, "sides": [GUARDED_SIDE, *sides] if args.guarded else sides}


def _cpu(cells: list[dict[str, Any]], target: str, route: str, stream: bool, conc: int) -> float:
    for c in cells:
        if (c["target"], c["route"], c["stream"], c["concurrency"]) == (target, route, stream, conc):
            return float(c["server_cpu_ms"])
    raise KeyError((target, route, stream, conc))


def ratios(report: dict[str, Any], side: str, direction: str, stream: bool, conc: int) -> list[float]:
    """Per round: the side's CPU per request ÷ the floor's for the client's dialect (the guarded floor
    is measured per client dialect, like the bare one)."""
    client = next(d.client for d in DIRECTIONS if d.key == direction)
    route = client if side == GUARDED_SIDE else direction
    return [
        _cpu(cells, side, route, stream, conc) / _cpu(cells, "floor", client, stream, conc)
        for cells in report["rounds"]
    ]


def render(report: dict[str, Any]) -> str:
    concs = report["concurrency"]
    out = header_lines("aimux ÷ the bare floor, server CPU per request, paired rounds", report)
    rounds = len(report["rounds"])
    out += ["", f"Median of {rounds} rounds of (aimux CPU ms/req / floor CPU ms/req in the same round).", ""]
    out += ["| path | side | " + " | ".join(f"c={c}" for c in concs) + " |", "|---|---|" + "--:|" * len(concs)]
    kinds = {c["stream"] for cells in report["rounds"] for c in cells}
    for label, directions, stream in ROWS:
        if stream not in kinds:
            continue
        for side in report["sides"]:
            if side == GUARDED_SIDE and any(d.translated for d in DIRECTIONS if d.key in directions):
                continue  # the guarded floor does not translate
            cols = []
            for conc in concs:
                meds = [statistics.median(ratios(report, side, d, stream, conc)) for d in directions]
                cols.append(" / ".join(f"{m:.2f}x" for m in meds))
            out.append(f"| {label} ({', '.join(directions)}) | {side} | " + " | ".join(cols) + " |")
    out += ["", "Server CPU ms/req per round (floor by client dialect; each side by direction):", ""]
    out += ["| target | route | answer | conc | rounds |", "|---|---|---|--:|---|"]
    for target in ["floor", *report["sides"]]:
        routes = ("anthropic", "openai") if target in ("floor", GUARDED_SIDE) else tuple(d.key for d in DIRECTIONS)
        for route in routes:
            for stream in sorted(kinds):
                for conc in concs:
                    runs = ", ".join(f"{_cpu(cells, target, route, stream, conc):.3f}" for cells in report["rounds"])
                    out.append(f"| {target} | {route} | {'stream' if stream else 'JSON'} | {conc} | {runs} |")
    return "\n".join(out)


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    stop_servers_on_signals()
    report = new_report("bench/bench_floor_ratio.py", argv, pinned=args.pin, extra_packages=("aiohttp",))
    report.update(requests=args.requests, warmup=args.warmup, concurrency=args.concurrency, stream=args.stream)
    return measure_and_print(
        report, lambda: report.update(run(args)), render,
        json_option=args.json, json_prefix="floor-ratio-", stopped="every server was stopped",
    )  # fmt: skip


if __name__ == "__main__":
    sys.exit(main())
