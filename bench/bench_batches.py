#!/usr/bin/env python3
"""Measure a batch through the local queue: wall time, gateway CPU per request, memory; and what the
batch rate saves per request.

``aimux serve`` runs as a subprocess with the built-in mock (no key, no config) and its in-process queue
and data folder (``AIMUX_DATA_DIR``, a temporary directory). The script creates one Anthropic Message
Batch of ``--requests`` requests over HTTP, polls it until it ended, reads the results back and checks
every request succeeded once. The gateway process's CPU (user + system, ``/proc``) over that span,
divided by the requests, is the cost of a batch request: parsing its line, claiming it, the gateway call
(routing, mock, accounting with its log line), the commit, and the share of writing the results. With
``--live`` the same requests are then sent as ordinary ``POST /v1/messages`` (concurrency 4), in the same
minutes, for a paired comparison. Memory: the process's RSS before and after, and its peak (VmHWM).

The cost table prices a typical request (``--input``/``--output`` tokens) with ``accounting.pricing`` at
the list prices in ``aimux.example.yaml`` and at the batch rate (``pricing.batch_price``: half).

A script, never a test: the figures depend on the machine and its load.

    .venv/bin/python bench/bench_batches.py [--requests 1000] [--repeat 3] [--live]
"""

from __future__ import annotations

import argparse
import concurrent.futures
import json
import sys
import tempfile
import time
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent))
from proc_accounting import descendants, tree_cpu_seconds, tree_rss_kb
from server_process import ROOT, ServerProcess, free_port, scrubbed_env

MODELS = {"claude-sonnet-4-5": (3.00, 15.00), "claude-haiku-4-5": (1.00, 5.00), "claude-opus-4-5": (5.00, 25.00)}


def body(n: int) -> dict[str, object]:
    return {"model": "aimux-mock", "max_tokens": 64, "messages": [{"role": "user", "content": f"summarise item {n}"}]}


def cpu(server: ServerProcess) -> float:
    user, system = tree_cpu_seconds(descendants(server.pids[0]))
    return user + system


def run_batch(http: httpx.Client, server: ServerProcess, count: int) -> dict[str, float]:
    requests = [{"custom_id": f"r{n}", "params": body(n)} for n in range(count)]
    rss_before, _ = tree_rss_kb(server.pids)
    cpu_before, start = cpu(server), time.perf_counter()
    created = http.post("/v1/messages/batches", json={"requests": requests}).json()
    while True:
        batch = http.get(f"/v1/messages/batches/{created['id']}").json()
        if batch["processing_status"] == "ended":
            break
        time.sleep(0.2)
    wall = time.perf_counter() - start
    spent = cpu(server) - cpu_before
    rss_after, peak = tree_rss_kb(server.pids)
    lines = http.get(f"/v1/messages/batches/{created['id']}/results").text.splitlines()
    outcomes = [json.loads(line)["result"]["type"] for line in lines]
    assert outcomes.count("succeeded") == count and len({json.loads(x)["custom_id"] for x in lines}) == count
    return {
        "wall_s": wall,
        "cpu_ms_per_request": spent * 1000 / count,
        "requests_per_s": count / wall,
        "rss_before_mb": rss_before / 1024,
        "rss_after_mb": rss_after / 1024,
        "peak_mb": peak / 1024,
    }


def run_live(http: httpx.Client, server: ServerProcess, count: int) -> dict[str, float]:
    cpu_before, start = cpu(server), time.perf_counter()
    with concurrent.futures.ThreadPoolExecutor(4) as pool:
        statuses = list(pool.map(lambda n: http.post("/v1/messages", json=body(n)).status_code, range(count)))
    assert statuses.count(200) == count
    wall = time.perf_counter() - start
    return {
        "wall_s": wall,
        "cpu_ms_per_request": (cpu(server) - cpu_before) * 1000 / count,
        "requests_per_s": count / wall,
    }


def cost_table(input_tokens: int, output_tokens: int) -> list[str]:
    sys.path.insert(0, str(ROOT / "layers" / "aimux_core"))
    from aimux_core.accounting.pricing import Price, batch_price, cost_micro_usd
    from aimux_core.wire.anthropic import Usage

    usage = Usage(input_tokens=input_tokens, output_tokens=output_tokens)
    rows = [
        "| model (list $/M in, out) | live, per request | batch, per request | 1,000 requests live / batch |",
        "|---|---:|---:|---:|",
    ]
    for model, (rate_in, rate_out) in MODELS.items():
        price = Price(rate_in, rate_out, rate_in / 10, rate_in * 1.25)
        live, batch = cost_micro_usd(usage, price), cost_micro_usd(usage, batch_price(price))
        rows.append(
            f"| {model} ({rate_in:g}, {rate_out:g}) | ${live / 1e6:.6f} | ${batch / 1e6:.6f} | "
            f"${live / 1e3:.2f} / ${batch / 1e3:.2f} |"
        )
    return rows


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=1000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--live", action="store_true", help="also send the same requests live, for comparison")
    parser.add_argument("--input", type=int, default=2000, help="input tokens of the priced request")
    parser.add_argument("--output", type=int, default=500, help="output tokens of the priced request")
    args = parser.parse_args()
    port = free_port()
    with tempfile.TemporaryDirectory(prefix="aimux-bench-batches-") as data:
        env = scrubbed_env() | {"AIMUX_PORT": str(port), "AIMUX_DATA_DIR": data, "AIMUX_MAX_REQUEST_MB": "50"}
        command = [str(ROOT / ".venv" / "bin" / "aimux"), "serve"]
        with (
            ServerProcess("aimux serve", command, env, port, None) as server,
            httpx.Client(
                base_url=f"http://127.0.0.1:{port}", timeout=120, headers={"anthropic-version": "2023-06-01"}
            ) as http,
        ):
            run_batch(http, server, 20)  # warm-up: imports, first blob writes
            for attempt in range(args.repeat):
                row = run_batch(http, server, args.requests)
                print(json.dumps({"run": attempt + 1, "batch": {k: round(v, 3) for k, v in row.items()}}))
                if args.live:
                    live = run_live(http, server, args.requests)
                    print(json.dumps({"run": attempt + 1, "live": {k: round(v, 3) for k, v in live.items()}}))
    print("\n".join(cost_table(args.input, args.output)))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
