"""The load part of ``bench_upstream.py``: every target (direct, floors, aimux) at every route and concurrency.

Why the best of several repeats: other load on a shared machine only ever adds time, so the
least-disturbed repeat (least gateway CPU) is the estimate; every repeat's figure stays in the JSON.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from load_generator import RawSender, event_loop_factory, timed_phase
from request_shapes import Scenario
from server_process import ServerProcess
from upstream_client_cost import measure_clients
from upstream_processes import aimux_process, fake_process, floor_process, write_config
from upstream_scenarios import Route, aimux_routes, direct_routes, floor_routes


@dataclass(slots=True)
class Cell:
    """One measured row: a target, a direction (or a dialect for direct/floor), stream, concurrency."""

    target: str  # "direct", "floor httpx", "floor httpx-aiohttp", "floor aiohttp", "aimux", "aimux (httpx)" ...
    route: str  # direction key for aimux; "anthropic" / "openai" for direct and floor
    stream: bool
    concurrency: int
    requests: int
    wall_s: float
    rps: float
    p50_ms: float
    p99_ms: float
    ttfb_p50_ms: float | None
    ttfb_p99_ms: float | None
    server_cpu_ms: float | None  # None for direct (no gateway)
    server_util: float | None
    server_sys_share: float | None  # kernel share of the gateway's CPU (sockets, epoll, wake-ups)
    upstream_cpu_ms: float
    client_cpu_ms: float
    cpu1_util: float  # (fake + load generator CPU) / wall: near 100 % would mean CPU 1 is the bottleneck
    response_bytes: int
    sse_events: int | None
    server_cpu_runs: list[float] = field(default_factory=list)


async def measure(
    target: str, route: str, port: int, sc: Scenario, concurrency: int, args: argparse.Namespace,
    server: ServerProcess | None, fake: ServerProcess,
) -> Cell:  # fmt: skip
    """Warm up, then time ``args.requests`` requests; CPU is read around the timed phase only."""
    senders = [RawSender(port, sc) for _ in range(concurrency)]
    meters = [*([server.cpu_split] if server else []), fake.cpu_split]
    phase = await timed_phase(senders, sc, args.requests, args.warmup, meters)
    n, wall = phase.requests, phase.wall_s
    fake_cpu, client_cpu = sum(phase.meter_cpu_s[-1]), phase.client_cpu_s
    server_user, server_sys = phase.meter_cpu_s[0] if server else (0.0, 0.0)
    server_cpu = server_user + server_sys if server else None
    return Cell(
        target=target, route=route, stream=sc.stream, concurrency=concurrency, requests=n, wall_s=wall,
        rps=n / wall, p50_ms=phase.latency_ms(50), p99_ms=phase.latency_ms(99),
        ttfb_p50_ms=phase.ttfb_ms(50), ttfb_p99_ms=phase.ttfb_ms(99),
        server_cpu_ms=None if server_cpu is None else server_cpu * 1e3 / n,
        server_util=None if server_cpu is None else server_cpu / wall,
        server_sys_share=server_sys / server_cpu if server_cpu else None,
        upstream_cpu_ms=fake_cpu * 1e3 / n, client_cpu_ms=client_cpu * 1e3 / n,
        cpu1_util=(fake_cpu + client_cpu) / wall, response_bytes=phase.response_bytes,
        sse_events=phase.sse_events,
    )  # fmt: skip


def run_cells(
    runner: asyncio.Runner, target: str, port: int, routes: Sequence[Route],
    args: argparse.Namespace, server: ServerProcess | None, fake: ServerProcess,
) -> list[Cell]:  # fmt: skip
    """Every (route, concurrency) of one target; each cell the repeat with the least gateway CPU."""
    cells = []
    for route, sc in routes:
        for concurrency in args.concurrency:
            runs = [
                runner.run(measure(target, route, port, sc, concurrency, args, server, fake))
                for _ in range(args.repeat)
            ]
            # Other load on the machine only ever adds time: the least-disturbed repeat is the estimate.
            best = min(runs, key=lambda c: c.server_cpu_ms if c.server_cpu_ms is not None else c.p50_ms)
            best.server_cpu_runs = [round(c.server_cpu_ms, 4) for c in runs if c.server_cpu_ms is not None]
            cpu = "-" if best.server_cpu_ms is None else f"{best.server_cpu_ms:.2f}"
            print(
                f"  {target:22} {route:9} {'stream' if sc.stream else 'json':6} c={concurrency:<3} "
                f"p50 {best.p50_ms:6.2f} ms  p99 {best.p99_ms:6.2f} ms  {best.rps:6.0f} req/s  cpu {cpu} ms/req",
                file=sys.stderr,
            )
            cells.append(best)
    return cells


@dataclass(slots=True)
class ServerFacts:
    """Per gateway process: start-up times, and RSS once its load is done."""

    name: str
    command: str
    startup_s: list[float] = field(default_factory=list)
    rss_mb: float | None = None
    hwm_mb: float | None = None


def measure_startup(make: Callable[[], ServerProcess], repeats: int) -> list[float]:
    """Spawn → first 200 on ``/healthz``, ``repeats`` fresh processes (each stopped at once)."""
    times: list[float] = []
    for _ in range(repeats):
        with make() as process:
            times.append(process.startup_s)
    return times


def run(args: argparse.Namespace) -> dict[str, Any]:
    """The fake upstream, then each target in turn on it; returns the report's ``cells``, ``servers``, ``clients``."""
    pin_gateway, pin_side = (0, 1) if args.pin else (None, None)
    if args.pin:
        os.sched_setaffinity(0, {1})
    cells: list[Cell] = []
    facts: list[ServerFacts] = []
    config_path: Path | None = None
    with fake_process(pin_side, args.gap_ms) as fake, asyncio.Runner(loop_factory=event_loop_factory()) as runner:
        print(f"fake upstream pid {fake.proc.pid if fake.proc else '?'} on port {fake.port}", file=sys.stderr)
        config_path = write_config(fake.port)
        clients: list[dict[str, Any]] = []
        try:
            if args.client_calls:
                clients = measure_clients(args, fake, runner)
            if not args.no_direct:
                cells += run_cells(runner, "direct", fake.port, direct_routes(args), args, None, fake)
            makers: list[tuple[str, Callable[[], ServerProcess], list[Route]]] = [
                (f"floor {c}", lambda c=c: floor_process(c, fake.port, pin_gateway), floor_routes(args))
                for c in args.floors
            ]
            makers += [
                ("aimux" if v == "shipped" else f"aimux ({v})",
                 lambda v=v: aimux_process(v, config_path, pin_gateway), aimux_routes(args))
                for v in args.aimux
            ]  # fmt: skip
            for name, make, routes in makers:
                fact = ServerFacts(name, "")
                if args.startup_repeats:
                    print(f"start-up {name} ...", file=sys.stderr)
                    fact.startup_s = measure_startup(make, args.startup_repeats)
                with make() as server:
                    fact.command = server.display
                    pid = server.proc.pid if server.proc else "?"
                    print(f"{name} pid {pid} on port {server.port}", file=sys.stderr)
                    if routes and not args.no_load:
                        cells += run_cells(runner, name, server.port, routes, args, server, fake)
                    fact.rss_mb, fact.hwm_mb = server.rss_mb()
                facts.append(fact)
        finally:
            config_path.unlink(missing_ok=True)
    return {"cells": [asdict(c) for c in cells], "servers": [asdict(f) for f in facts], "clients": clients}
