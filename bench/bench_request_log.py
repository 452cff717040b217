"""CPU cost of the per-request JSON log line (``accounting.request_log.log_request``), in µs per call.

Why: a profile put the log line at ~10 % of a small request's CPU; this measures just that line, so a change
to how it is built can be judged by one number. The record is representative (every id set, a routed and
priced answer, a few null fields) and the X-Ray trace id is set as on Lambda, so the line has every key.

Two destinations: an in-memory stream (``io.StringIO`` as ``sys.stdout``: the cost of building and writing
the line, nothing else) and ``/dev/null`` opened as a text file (adds the real per-line flush, one
``write(2)``, as on Lambda, where stdout is a pipe). Best of ``--repeat`` runs of ``--number`` calls.

Run: ``.venv/bin/python bench/bench_request_log.py [--number N] [--repeat R]``
"""

from __future__ import annotations

import argparse
import contextlib
import io
import os
import sys
import timeit
from pathlib import Path
from typing import TextIO

from aimux_core.accounting.request_log import log_request

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))  # the suites' record builder
from support.records import request_record

RECORD = request_record(
    request_id="req_01HZX8K4N2Q7R5T9V3W6Y8A1B",
    surface="anthropic",
    latency_ms=812.37,
    key_id="key_7f3a9c21",
    client_model="claude-sonnet-4-5",
    reason="model claude-sonnet-4-5; default route",
    provider="anthropic",
    model="claude-sonnet-4-5-20250929",
    input_tokens=1234,
    output_tokens=321,
    cost_usd=0.008517,
)
TRACE_ID = "Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8;Sampled=1"


def per_call_us(stream: TextIO, number: int, repeat: int) -> float:
    """Best-of-``repeat`` µs per ``log_request`` call with ``sys.stdout`` pointed at ``stream``."""
    with contextlib.redirect_stdout(stream):
        log_request(RECORD)  # first use builds the logger (and, before this change, imports Powertools)
        times = []
        for _ in range(repeat):
            if isinstance(stream, io.StringIO):
                stream.seek(0)
                stream.truncate()
            times.append(timeit.timeit(lambda: log_request(RECORD), number=number))
    return min(times) / number * 1e6


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--number", type=int, default=20_000, help="calls per run")
    parser.add_argument("--repeat", type=int, default=7, help="runs; the best is reported")
    args = parser.parse_args()
    os.environ["_X_AMZN_TRACE_ID"] = TRACE_ID

    memory = per_call_us(io.StringIO(), args.number, args.repeat)
    with open(os.devnull, "w", encoding="utf-8") as devnull:
        null = per_call_us(devnull, args.number, args.repeat)
    print(f"python {sys.version.split()[0]}; {args.repeat} x {args.number} calls, best run")
    print(f"log_request -> StringIO:  {memory:6.2f} µs/call")
    print(f"log_request -> /dev/null: {null:6.2f} µs/call (with the per-line flush)")


if __name__ == "__main__":
    main()
