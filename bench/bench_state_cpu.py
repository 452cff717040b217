#!/usr/bin/env python3
"""CPU per request with the state in DynamoDB, as on Lambda: botocore against aimux's own DynamoDB client.

Why: ``bench_floor_ratio.py`` and ``bench_lambda_sizing.py`` run ``aimux serve`` on the in-process store.
Deployed, every request with a key also makes DynamoDB calls: 2 before the upstream call and 6 after the
answer for a key with rate limits and a budget (``bench_state_round_trips.py``), all of them CPU in the
function. This measures that CPU: the same gateway and app (``local_app``, a key with rpm, tpm and a
daily budget, a priced mock model), one request at a time through the ASGI app in process, the
background writes drained after each answer (as ``surfaces/invocation.py`` does on Lambda), and the
process's CPU time per request (``time.process_time``: user + system, every thread: botocore's calls
run on worker threads). Two stores on the same table, alternated in rounds: ``boto3`` (a boto3 client,
the store's calls on worker threads, as before) and ``http`` (``state/dynamodb_http.py``, the default).

The endpoint is dynalite (``tests/support/dynamo.py``: keeps connections alive, as DynamoDB does; moto's
server closes each one, which would charge every call a new connection); its own CPU is another process.
Figures are CPU of this process only; the server's latency is not a cost here.

``--per-call N``: instead, the client's CPU per store call (``get`` = ``GetItem``, ``add`` = ``UpdateItem``),
N calls of each per store kind and round.

Run: ``.venv/bin/python bench/bench_state_cpu.py [--requests N] [--rounds R] [--per-call N]``
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx
from bench_state_round_trips import CONFIG
from deployed_state import FAKE_AWS, REGION, new_table, seed_key

from aimux_core.assembly import build_gateway, local_app
from aimux_core.config.schema import AimuxConfig
from aimux_core.keys import KeyRing
from aimux_core.state.dynamodb import DynamoStore, make_client
from support.dynamo import running_dynalite

BODY = {"model": "big", "max_tokens": 32, "messages": [{"role": "user", "content": "hi"}]}


async def setup(endpoint: str, kind: str) -> tuple[Any, Any, str]:
    """An app on a fresh table, its gateway, and a key with rpm, tpm and a daily budget."""
    table = new_table(endpoint)
    if kind == "boto3":
        store = DynamoStore(table, client=make_client(endpoint, REGION), region=REGION)
    else:
        store = DynamoStore(table, endpoint_url=endpoint, region=REGION)
    plaintext = await seed_key(store)
    keys = KeyRing(store, cache_seconds=30.0)
    gateway = build_gateway(AimuxConfig.model_validate(CONFIG), env={}, store=store)
    return local_app(gateway, keys), gateway, plaintext


async def run(endpoint: str, kind: str, requests: int, warmup: int) -> float:
    """CPU ms per warm request (drained), for one store kind."""
    app, gateway, key = await setup(endpoint, kind)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://bench", timeout=30.0) as http:

        async def one() -> None:
            answer = await http.post("/v1/messages", json=BODY, headers={"x-api-key": key})
            answer.raise_for_status()
            await gateway.drain()

        for _ in range(warmup):
            await one()
        started = time.process_time()
        for _ in range(requests):
            await one()
        return (time.process_time() - started) / requests * 1000


async def per_call(endpoint: str, kind: str, calls: int) -> dict[str, float]:
    """Client CPU µs per store ``get`` (``GetItem``) and ``add`` (``UpdateItem``), for one store kind."""
    table = new_table(endpoint)
    if kind == "boto3":
        store = DynamoStore(table, client=make_client(endpoint, REGION), region=REGION)
    else:
        store = DynamoStore(table, endpoint_url=endpoint, region=REGION)
    operations = {"get": lambda: store.get("bench", "item"), "add": lambda: store.add("bench", "item", {"n": 1})}
    figures: dict[str, float] = {}
    for name, operation in operations.items():
        for _ in range(30):
            await operation()
        started = time.process_time()
        for _ in range(calls):
            await operation()
        figures[name] = (time.process_time() - started) / calls * 1e6
    return figures


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=300, help="warm requests per run (default 300)")
    parser.add_argument("--warmup", type=int, default=30, help="requests before each run (default 30)")
    parser.add_argument("--rounds", type=int, default=3, help="rounds, each running both stores (default 3)")
    parser.add_argument("--per-call", type=int, metavar="N", help="instead: client CPU per store call, N calls each")
    args = parser.parse_args(argv)
    os.environ.update(FAKE_AWS)
    if args.per_call:
        with running_dynalite(Path(tempfile.mkdtemp(prefix="aimux-bench-dynalite-"))) as endpoint:
            print("| store client | round | get (GetItem) µs per call | add (UpdateItem) µs per call |")
            print("|---|--:|--:|--:|")
            for number in range(args.rounds):
                for kind in ("boto3", "http"):
                    figures = asyncio.run(per_call(endpoint, kind, args.per_call))
                    print(f"| {kind} | {number + 1} | {figures['get']:.0f} | {figures['add']:.0f} |")
        return 0
    results: dict[str, list[float]] = {"boto3": [], "http": []}
    with running_dynalite(Path(tempfile.mkdtemp(prefix="aimux-bench-dynalite-"))) as endpoint:
        for number in range(args.rounds):
            for kind in ["boto3", "http"] if number % 2 == 0 else ["http", "boto3"]:
                with open(os.devnull, "w") as null, contextlib.redirect_stdout(null):  # the log lines
                    results[kind].append(asyncio.run(run(endpoint, kind, args.requests, args.warmup)))
            print(f"round {number + 1}: boto3 {results['boto3'][-1]:.2f} ms, http {results['http'][-1]:.2f} ms",
                  file=sys.stderr)  # fmt: skip
    print("| store client | CPU ms per warm request (median of rounds) | rounds |")
    print("|---|--:|---|")
    for kind, runs in results.items():
        print(f"| {kind} | {statistics.median(runs):.2f} | {', '.join(f'{r:.2f}' for r in runs)} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
