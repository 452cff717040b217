"""What the command lines of ``bench_gateway.py`` and ``bench_upstream.py`` share: options and the run's end.

Why shared: both take the same load options and end the same way (a failure or Ctrl-C becomes an
exit status with the servers stopped; the report goes to stdout, the raw results optionally to JSON),
and the two should not drift apart.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable
from typing import Any

from run_report import loadavg, timestamp, write_json
from server_process import BenchError


def concurrency_levels(text: str) -> list[int]:
    """``--concurrency 1,16``: one row or cell per level."""
    return [int(x) for x in text.split(",")]


def load_parser(description: str | None, unit: str) -> argparse.ArgumentParser:
    """A parser with the load options both benchmarks start with; ``unit`` is what one measurement is called."""
    parser = argparse.ArgumentParser(description=description.split("\n\n")[0] if description else None)
    parser.add_argument("--requests", type=int, default=2000, help=f"timed requests per {unit} (default 2000)")
    parser.add_argument("--warmup", type=int, default=200, help=f"untimed requests before each {unit} (default 200)")
    parser.add_argument(
        "--concurrency", type=concurrency_levels, default=[1, 16],
        help="comma-separated concurrency levels (default 1,16)",
    )  # fmt: skip
    return parser


def add_json_option(parser: argparse.ArgumentParser, help_text: str) -> None:
    parser.add_argument("--json", nargs="?", const="auto", default=None, metavar="PATH", help=help_text)


def check_pin(parser: argparse.ArgumentParser, args: argparse.Namespace) -> None:
    """``--pin`` puts the server and the client on different CPUs, so it needs two."""
    if args.pin and (os.cpu_count() or 1) < 2:
        parser.error("--pin needs at least two CPUs")


def measure_and_print(
    report: dict[str, Any], measure: Callable[[], None], render: Callable[[dict[str, Any]], str], *,
    json_option: str | None, json_prefix: str, stopped: str,
) -> int:  # fmt: skip
    """Run ``measure`` (it fills ``report``), print the report, write the JSON; returns the exit status.

    ``stopped`` says, after Ctrl-C, which servers were stopped (they are, by their ``with`` blocks).
    """
    try:
        measure()
    except BenchError as exc:
        print(f"benchmark failed: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print(f"interrupted; {stopped}", file=sys.stderr)
        return 130
    report["loadavg_after"] = loadavg()
    print(render(report))
    if json_option:
        write_json(report, json_option, f"{json_prefix}{timestamp()}.json")
    return 0
