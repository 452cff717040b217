"""The upstream HTTP client alone: CPU per call of aimux's ``HttpTransport`` with each client, in this process.

Part of ``bench_upstream.py`` (``--client-calls``); its table says which client aimux should ship.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
from typing import Any

from proc_accounting import self_cpu_seconds
from server_process import HOST, ServerProcess
from upstream_scenarios import DUMMY_KEY, UPSTREAM_ANTHROPIC_MODEL, scenario, stream_modes

CLIENT_VARIANTS = ("httpx", "httpx-aiohttp", "aimux")


def _variant_client(kind: str) -> Any:
    """The ``httpx.AsyncClient`` given to aimux's transport: plain, or over ``httpx-aiohttp``; None for
    ``aimux``: what aimux ships, its default path (``providers/aiohttp_session.py``, no httpx)."""
    import httpx

    if kind == "aimux":
        return None
    limits = httpx.Limits(max_connections=256, max_keepalive_connections=64, keepalive_expiry=60)
    backend = None
    if kind == "httpx-aiohttp":
        from httpx_aiohttp import AiohttpTransport

        backend = AiohttpTransport(limits=limits)
    return httpx.AsyncClient(limits=limits, timeout=None, follow_redirects=False, transport=backend)


async def _client_cpu_us(kind: str, port: int, stream: bool, calls: int, rounds: int) -> float:
    """Least CPU microseconds per upstream call over ``rounds`` rounds of ``calls`` calls (after a warm-up)."""
    from aimux_core.providers.transport import HttpTransport, Timeouts, close_shared_client

    client = _variant_client(kind)
    upstream = HttpTransport("bench", Timeouts(), client)
    url = f"http://{HOST}:{port}/v1/messages"
    body = scenario("anthropic", UPSTREAM_ANTHROPIC_MODEL, stream, "client").body
    headers = {"content-type": "application/json", "x-api-key": DUMMY_KEY, "anthropic-version": "2023-06-01"}

    async def call() -> None:
        if stream:
            async for _chunk in upstream.stream(url, headers, body):
                pass
        else:
            await upstream.post(url, headers, body)

    try:
        for _ in range(max(calls // 10, 50)):
            await call()
        best = float("inf")
        for _ in range(rounds):
            start = self_cpu_seconds()
            for _ in range(calls):
                await call()
            best = min(best, (self_cpu_seconds() - start) / calls * 1e6)
        return best
    finally:
        await (client.aclose() if client is not None else close_shared_client())


def measure_clients(args: argparse.Namespace, fake: ServerProcess, runner: asyncio.Runner) -> list[dict[str, Any]]:
    """CPU per upstream call of ``HttpTransport`` (``providers/transport.py``) with each client, in this process.

    Why in-process: the whole-server figures move by a tenth of a millisecond with the machine's other
    load, more than some of the differences being decided here; one process calling the fake in a loop,
    variants interleaved and each the best of several rounds, isolates the client. The root logger is
    at INFO, as under ``aimux serve``, so httpx's own per-call log line costs what it costs there.
    """
    import logging

    logging.basicConfig(level=logging.INFO, stream=open(os.devnull, "w"))  # noqa: SIM115 - process-lifetime sink
    if args.pin:
        os.sched_setaffinity(0, {0})  # the client under test alone on the gateway's core
    rows: list[dict[str, Any]] = []
    try:
        for stream in stream_modes(args):
            figures: dict[str, list[float]] = {kind: [] for kind in CLIENT_VARIANTS}
            for _ in range(args.client_repeat):  # interleaved, so drifting load hits every variant alike
                for kind in CLIENT_VARIANTS:
                    figures[kind].append(
                        runner.run(_client_cpu_us(kind, fake.port, stream, args.client_calls, rounds=3))
                    )
            row = {"stream": stream, **{kind: min(values) for kind, values in figures.items()}}
            print(f"  client  {'stream' if stream else 'json':6} " + "  ".join(
                f"{kind} {row[kind]:.0f} us" for kind in CLIENT_VARIANTS), file=sys.stderr)  # fmt: skip
            rows.append(row)
    finally:
        if args.pin:
            os.sched_setaffinity(0, {1})
    return rows
