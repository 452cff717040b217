"""The request part of ``bench_gateway.py``: every scenario at every concurrency against one gateway.

Why the best of several repeats: interference from other processes only ever adds time, so on a
shared machine the least-disturbed repeat is the best estimate of the gateway's own cost (as
``timeit`` reports the minimum); every repeat's figure is still kept for the JSON.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import statistics
import sys
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from gateway_server import budget_key_env, create_budget_key, gateway_process
from load_generator import REQUEST_TIMEOUT_S, HttpxSender, RawSender, Sender, event_loop_factory, timed_phase
from request_shapes import Scenario, label, with_api_key, with_header
from server_process import HOST, ServerProcess


@dataclass(slots=True)
class LoadResult:
    """One row of the report: a scenario at one concurrency."""

    dialect: str
    body: str
    stream: bool
    concurrency: int
    requests: int
    wall_s: float
    rps: float
    p50_ms: float
    p99_ms: float
    mean_ms: float
    ttfb_p50_ms: float | None
    ttfb_p99_ms: float | None
    server_cpu_ms_per_req: float
    server_cpu_util: float  # server CPU seconds / wall seconds (1.0 = one core saturated)
    server_sys_share: float  # kernel share of the server's CPU (sockets, epoll): the part Python cannot trim
    client_cpu_ms_per_req: float
    request_bytes: int
    response_bytes: int
    sse_events: int | None
    server_cpu_ms_runs: list[float] = field(default_factory=list)  # every repeat; the row is the lowest


async def measure(
    server: ServerProcess, scenario: Scenario, concurrency: int, requests: int, warmup: int, client: str
) -> LoadResult:
    """Warm up, then time ``requests`` requests; CPU is read from /proc around the timed phase only."""
    httpx_client: Any = None
    if client == "httpx":
        import httpx  # only when asked: importing it is not free and the raw client does not need it

        httpx_client = httpx.AsyncClient(
            base_url=f"http://{HOST}:{server.port}",
            limits=httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency),
            timeout=REQUEST_TIMEOUT_S,
        )
        senders: list[Sender] = [HttpxSender(httpx_client, scenario) for _ in range(concurrency)]
    else:
        senders = [RawSender(server.port, scenario) for _ in range(concurrency)]
    try:
        phase = await timed_phase(senders, scenario, requests, warmup, [server.cpu_split])
    finally:
        if httpx_client is not None:
            await httpx_client.aclose()
    (server_user, server_sys), n, wall = phase.meter_cpu_s[0], phase.requests, phase.wall_s
    server_cpu = server_user + server_sys
    return LoadResult(
        dialect=scenario.dialect,
        body=scenario.body_kind,
        stream=scenario.stream,
        concurrency=concurrency,
        requests=n,
        wall_s=wall,
        rps=n / wall,
        p50_ms=phase.latency_ms(50),
        p99_ms=phase.latency_ms(99),
        mean_ms=statistics.fmean(phase.totals_ms),
        ttfb_p50_ms=phase.ttfb_ms(50),
        ttfb_p99_ms=phase.ttfb_ms(99),
        server_cpu_ms_per_req=server_cpu * 1e3 / n,
        server_cpu_util=server_cpu / wall,
        server_sys_share=server_sys / server_cpu if server_cpu else 0.0,
        client_cpu_ms_per_req=phase.client_cpu_s * 1e3 / n,
        request_bytes=len(scenario.body),
        response_bytes=phase.response_bytes,
        sse_events=phase.sse_events,
    )


def run_load(args: argparse.Namespace, scenarios: Sequence[Scenario]) -> tuple[list[LoadResult], str]:
    """Start the gateway, measure every row against it; returns the rows and the gateway's command line."""
    pin_server = 0 if args.pin else None
    results: list[LoadResult] = []
    budget = getattr(args, "budget_key", False)
    with contextlib.ExitStack() as stack:
        extra_env = budget_key_env(Path(stack.enter_context(tempfile.TemporaryDirectory()))) if budget else None
        server = stack.enter_context(gateway_process(args.server, pin_server, extra_env))
        print(f"gateway pid {server.proc.pid if server.proc else '?'} on port {server.port}: "
              f"{' '.join(server.command)}", file=sys.stderr)  # fmt: skip
        if budget:
            api_key = create_budget_key(server.port)
            scenarios = [with_api_key(scenario, api_key) for scenario in scenarios]
            print("  requests carry a key with a daily budget (AIMUX_AUTH=on, priced mock model)", file=sys.stderr)
        cache = getattr(args, "response_cache", None)
        if cache:
            scenarios = [with_header(scenario, "x-aimux-cache", cache) for scenario in scenarios]
            print(f"  requests carry x-aimux-cache: {cache} (the gateway's response cache, in its memory)",
                  file=sys.stderr)  # fmt: skip
        with asyncio.Runner(loop_factory=event_loop_factory()) as runner:
            for scenario in scenarios:
                for concurrency in args.concurrency:
                    runs = [
                        runner.run(measure(server, scenario, concurrency, args.requests, args.warmup, args.client))
                        for _ in range(args.repeat)
                    ]
                    result = min(runs, key=lambda r: r.server_cpu_ms_per_req)
                    result.server_cpu_ms_runs = [round(r.server_cpu_ms_per_req, 4) for r in runs]
                    print(
                        f"  {label(scenario):36} c={concurrency:<3} p50 {result.p50_ms:6.2f} ms  "
                        f"cpu {result.server_cpu_ms_per_req:5.2f} ms/req ({result.server_sys_share:.0%} sys)",
                        file=sys.stderr,
                    )
                    results.append(result)
        command = " ".join(server.command)
    return results, command
