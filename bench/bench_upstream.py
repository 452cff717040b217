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

Run: ``.venv/bin/python bench/bench_upstream.py --pin`` (``--help`` lists the knobs).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import http.client
import json
import os
import resource
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import bench_gateway as bg  # the raw load generator and process helpers (same directory)

ROOT = bg.ROOT
BENCH_DIR = ROOT / "bench"
RESULTS_DIR = BENCH_DIR / "results"
HOST = bg.HOST
CLK_TCK = bg.CLK_TCK
KEY_ENV = "BENCH_UPSTREAM_KEY"
DUMMY_KEY = "sk-bench-not-a-real-key"
READY_TIMEOUT_S = 30.0
READY_POLL_S = 0.005
STOP_TIMEOUT_S = 10.0

# Targets from the issue; printed next to the figures, never asserted.
TARGET_PASSTHROUGH_RATIO = 1.5
TARGET_TRANSLATED_RATIO = 2.0
TARGET_RSS_MB = 100.0
TARGET_STARTUP_S = 1.0
LITELLM_CPU_MS = 25.0  # the measurement of LiteLLM's proxy, pinned to one core

ANTHROPIC_MODEL, OPENAI_MODEL = "claude-bench", "gpt-bench"
UPSTREAM_ANTHROPIC_MODEL, UPSTREAM_OPENAI_MODEL = "claude-sonnet-4-5", "gpt-4o-mini"
PROMPT = "Summarise the trade-offs of connection pooling in two sentences."


# --------------------------------------------------------------------------- what is measured


@dataclass(frozen=True, slots=True)
class Direction:
    """A client dialect and the upstream dialect aimux talks to for it."""

    key: str
    client: str  # "anthropic" | "openai"
    upstream: str  # "anthropic" | "openai"

    @property
    def label(self) -> str:
        names = {"anthropic": "Anthropic", "openai": "OpenAI"}
        return f"{names[self.client]} → {names[self.upstream]}"

    @property
    def translated(self) -> bool:
        return self.client != self.upstream


DIRECTIONS = (
    Direction("a2a", "anthropic", "anthropic"),
    Direction("a2o", "anthropic", "openai"),
    Direction("o2o", "openai", "openai"),
)


def _compact(body: dict[str, Any]) -> bytes:
    return json.dumps(body, separators=(",", ":"), ensure_ascii=False).encode()


def scenario(dialect: str, model: str, stream: bool, kind: str) -> bg.Scenario:
    """One pre-encoded small request (one user turn, ``max_tokens`` 256) in ``dialect``."""
    body: dict[str, Any] = {"model": model, "max_tokens": 256, "messages": [{"role": "user", "content": PROMPT}]}
    if dialect == "anthropic":
        headers: tuple[tuple[str, str], ...] = (
            ("Content-Type", "application/json"), ("anthropic-version", "2023-06-01"), ("x-api-key", DUMMY_KEY),
        )  # fmt: skip
        path, marker = "/v1/messages", b"event: message_stop"
        if stream:
            body["stream"] = True
    else:
        headers = (("Content-Type", "application/json"), ("Authorization", f"Bearer {DUMMY_KEY}"))
        path, marker = "/v1/chat/completions", b"data: [DONE]"
        if stream:
            body.update(stream=True, stream_options={"include_usage": True})
    return bg.Scenario(dialect, kind, stream, path, headers, _compact(body), marker if stream else None)


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


# --------------------------------------------------------------------------- processes


def _rss_kb(pids: Sequence[int]) -> tuple[int, int]:
    """(VmRSS, VmHWM) in kB summed over ``pids`` (from /proc/<pid>/status)."""
    rss = hwm = 0
    for pid in pids:
        with contextlib.suppress(OSError):
            for line in Path(f"/proc/{pid}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    rss += int(line.split()[1])
                elif line.startswith("VmHWM:"):
                    hwm += int(line.split()[1])
    return rss, hwm


class Process:
    """A server subprocess (fake, floor, aimux): started and health-checked, stopped on every exit path."""

    def __init__(
        self, name: str, command: list[str], env: dict[str, str], port: int, pin_cpu: int | None,
        display: str | None = None,
    ) -> None:  # fmt: skip
        self.name, self.command, self.env, self.port, self.pin_cpu = name, command, env, port, pin_cpu
        self.display = display or " ".join(command)  # how the report names the command
        self.proc: subprocess.Popen[bytes] | None = None
        self.pids: list[int] = []
        self.startup_s: float | None = None
        fd, log_name = tempfile.mkstemp(prefix=f"aimux-bench-{name.replace(' ', '-')}-", suffix=".log")
        os.close(fd)
        self.log_path = Path(log_name)

    def __enter__(self) -> Process:
        self.start()
        return self

    def __exit__(self, exc_type: type[BaseException] | None, *_: object) -> None:
        self.stop()
        if exc_type is not None and issubclass(exc_type, Exception):  # a failure, not Ctrl-C or SIGTERM
            print(f"{self.name} log kept at {self.log_path}", file=sys.stderr)
        else:
            self.log_path.unlink(missing_ok=True)

    def start(self) -> float:
        """Spawn and wait for the first 200 on ``/healthz``; returns the seconds that took."""
        with self.log_path.open("wb") as log:
            start = time.perf_counter()
            self.proc = subprocess.Popen(
                self.command, cwd=ROOT, env=self.env, stdin=subprocess.DEVNULL, stdout=log,
                stderr=subprocess.STDOUT, preexec_fn=bg._child_setup(self.pin_cpu),
            )  # fmt: skip
        try:
            self._wait_ready()
        except BaseException:
            self.stop()
            raise
        self.startup_s = time.perf_counter() - start
        self.pids = bg.descendants(self.proc.pid)
        return self.startup_s

    def _wait_ready(self) -> None:
        assert self.proc is not None
        deadline = time.monotonic() + READY_TIMEOUT_S
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise bg.BenchError(f"{self.name} exited with {self.proc.returncode}:\n{self.log_tail()}")
            with contextlib.suppress(OSError, http.client.HTTPException):
                conn = http.client.HTTPConnection(HOST, self.port, timeout=1)
                try:
                    conn.request("GET", "/healthz")
                    if conn.getresponse().status == 200:
                        return
                finally:
                    conn.close()
            time.sleep(READY_POLL_S)
        raise bg.BenchError(f"{self.name} not ready after {READY_TIMEOUT_S:.0f} s:\n{self.log_tail()}")

    def log_tail(self, lines: int = 30) -> str:
        return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])

    def cpu_seconds(self) -> float:
        """User + system CPU seconds of the process tree so far (one clock tick resolution)."""
        return sum(self.cpu_split())

    def cpu_split(self) -> tuple[float, float]:
        """(user, system) CPU seconds of the process tree so far."""
        user = system = 0
        for pid in self.pids:
            with contextlib.suppress(OSError):
                _, u, k = bg._read_stat(pid)
                user, system = user + u, system + k
        return user / CLK_TCK, system / CLK_TCK

    def rss_mb(self) -> tuple[float, float]:
        rss, hwm = _rss_kb(self.pids)
        return rss / 1024, hwm / 1024

    def stop(self) -> None:
        proc = self.proc
        if proc is None or proc.poll() is not None:
            return
        proc.terminate()
        try:
            proc.wait(timeout=STOP_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=STOP_TIMEOUT_S)


def base_env() -> dict[str, str]:
    """The scrubbed environment (no real provider can be reached) plus the dummy upstream key."""
    env = bg.scrubbed_env()
    env[KEY_ENV] = DUMMY_KEY
    env["PYTHONPATH"] = str(BENCH_DIR)
    return env


def fake_process(pin_cpu: int | None, gap_ms: float) -> Process:
    port = bg.free_port()
    command = [sys.executable, str(BENCH_DIR / "fast_upstream.py"), "--port", str(port), "--gap-ms", str(gap_ms)]
    return Process("fake upstream", command, base_env(), port, pin_cpu)


def floor_process(client: str, upstream_port: int, pin_cpu: int | None) -> Process:
    """The bare FastAPI pass-through with ``client`` (a key of ``passthrough_floor.FACTORIES``)."""
    import passthrough_floor

    port = bg.free_port()
    env = base_env()
    env[passthrough_floor.UPSTREAM_ENV] = f"http://{HOST}:{upstream_port}"
    command = [
        sys.executable, "-m", "uvicorn", f"passthrough_floor:{passthrough_floor.FACTORIES[client]}", "--factory",
        "--app-dir", str(BENCH_DIR), "--host", HOST, "--port", str(port), "--no-access-log",
    ]  # fmt: skip
    return Process(f"floor {client}", command, env, port, pin_cpu)


def write_config(upstream_port: int) -> Path:
    """The aimux configuration: one provider per dialect, both pointed at the fake, keys from a dummy variable."""
    origin = f"http://{HOST}:{upstream_port}"
    text = f"""# Generated by bench/bench_upstream.py: both providers point at the fast fake upstream.
version: 1
providers:
  fake-anthropic:
    preset: anthropic
    base_url: {origin}
    api_key_env: {KEY_ENV}
  fake-openai:
    preset: openai
    base_url: {origin}/v1
    api_key_env: {KEY_ENV}
models:
  {ANTHROPIC_MODEL}: {{provider: fake-anthropic, upstream_model: {UPSTREAM_ANTHROPIC_MODEL}}}
  {OPENAI_MODEL}: {{provider: fake-openai, upstream_model: {UPSTREAM_OPENAI_MODEL}}}
routes:
  default: [{ANTHROPIC_MODEL}]
"""
    fd, name = tempfile.mkstemp(prefix="aimux-bench-", suffix=".yaml")
    with os.fdopen(fd, "w") as handle:
        handle.write(text)
    return Path(name)


# ``aimux serve`` with the shared upstream client replaced, to compare transports inside aimux without
# a production switch: the adapters look ``shared_client`` up in the transport module on every call.
TRANSPORT_OVERRIDE = """
import sys
import httpx
import aimux_core.providers.transport as transport
kind, argv = sys.argv[1], sys.argv[2:]
client = None
def shared_client():
    global client
    if client is None or client.is_closed:
        limits = httpx.Limits(max_connections=256, max_keepalive_connections=64, keepalive_expiry=60)
        backend = None
        if kind == "httpx-aiohttp":
            from httpx_aiohttp import AiohttpTransport
            backend = AiohttpTransport(limits=limits)
        client = httpx.AsyncClient(http1=True, http2=False, limits=limits, timeout=None, follow_redirects=False,
                                   transport=backend)
    return client
transport.shared_client = shared_client
from aimux_core.cli import main
sys.exit(main(argv))
"""


def aimux_process(variant: str, config: Path, pin_cpu: int | None) -> Process:
    """``aimux serve`` as shipped (``variant == "shipped"``) or with the upstream client overridden."""
    port = bg.free_port()
    env = base_env()
    env["AIMUX_AUTH"] = "off"
    serve = ["serve", "--config", str(config), "--host", HOST, "--port", str(port)]
    if variant == "shipped":
        return Process("aimux", [str(Path(sys.executable).parent / "aimux"), *serve], env, port, pin_cpu)
    command = [sys.executable, "-c", TRANSPORT_OVERRIDE, variant, *serve]
    display = f"aimux serve with the shared client replaced by {variant} (bench_upstream.TRANSPORT_OVERRIDE)"
    return Process(f"aimux ({variant})", command, env, port, pin_cpu, display)


# --------------------------------------------------------------------------- measuring


def _self_cpu_s() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


async def measure(
    target: str, route: str, port: int, sc: bg.Scenario, concurrency: int, args: argparse.Namespace,
    server: Process | None, fake: Process,
) -> Cell:  # fmt: skip
    """Warm up, then time ``args.requests`` requests; CPU is read around the timed phase only."""
    senders = [bg.RawSender(port, sc) for _ in range(concurrency)]
    try:
        bg.check_samples(sc, await bg.run_phase(senders, max(args.warmup, concurrency)), deep=True)
        server_before = server.cpu_split() if server else (0.0, 0.0)
        fake_before, client_before, start = fake.cpu_seconds(), _self_cpu_s(), time.perf_counter()
        samples = await bg.run_phase(senders, args.requests)
        wall = time.perf_counter() - start
        server_after = server.cpu_split() if server else (0.0, 0.0)
        server_sys = server_after[1] - server_before[1]
        server_cpu = (sum(server_after) - sum(server_before)) if server else None
        fake_cpu, client_cpu = fake.cpu_seconds() - fake_before, _self_cpu_s() - client_before
    finally:
        for sender in senders:
            await sender.close()
    bg.check_samples(sc, samples, deep=False)
    totals = [s.total_s * 1e3 for s in samples]
    ttfbs = [s.ttfb_s * 1e3 for s in samples if s.ttfb_s is not None] if sc.stream else []
    n = len(samples)
    body = samples[-1].body
    return Cell(
        target=target, route=route, stream=sc.stream, concurrency=concurrency, requests=n, wall_s=wall,
        rps=n / wall, p50_ms=bg.percentile(totals, 50), p99_ms=bg.percentile(totals, 99),
        ttfb_p50_ms=bg.percentile(ttfbs, 50) if ttfbs else None,
        ttfb_p99_ms=bg.percentile(ttfbs, 99) if ttfbs else None,
        server_cpu_ms=None if server_cpu is None else server_cpu * 1e3 / n,
        server_util=None if server_cpu is None else server_cpu / wall,
        server_sys_share=server_sys / server_cpu if server_cpu else None,
        upstream_cpu_ms=fake_cpu * 1e3 / n, client_cpu_ms=client_cpu * 1e3 / n,
        cpu1_util=(fake_cpu + client_cpu) / wall, response_bytes=len(body),
        sse_events=body.count(b"\n\n") if sc.stream else None,
    )  # fmt: skip


def run_cells(
    runner: asyncio.Runner, target: str, port: int, routes: Sequence[tuple[str, bg.Scenario]],
    args: argparse.Namespace, server: Process | None, fake: Process,
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


def stream_modes(args: argparse.Namespace) -> list[bool]:
    return [s for s in (False, True) if args.stream in ("both", "yes" if s else "no")]


def direct_routes(args: argparse.Namespace) -> list[tuple[str, bg.Scenario]]:
    models = {"anthropic": UPSTREAM_ANTHROPIC_MODEL, "openai": UPSTREAM_OPENAI_MODEL}
    return [(d, scenario(d, models[d], s, d)) for s in stream_modes(args) for d in ("anthropic", "openai")]


def floor_routes(args: argparse.Namespace) -> list[tuple[str, bg.Scenario]]:
    models = {"anthropic": ANTHROPIC_MODEL, "openai": OPENAI_MODEL}
    return [(d, scenario(d, models[d], s, d)) for s in stream_modes(args) for d in ("anthropic", "openai")]


def aimux_routes(args: argparse.Namespace) -> list[tuple[str, bg.Scenario]]:
    models = {"anthropic": ANTHROPIC_MODEL, "openai": OPENAI_MODEL}
    return [
        (d.key, scenario(d.client, models[d.upstream], s, d.key))
        for s in stream_modes(args)
        for d in DIRECTIONS
        if d.key in args.directions
    ]


@dataclass(slots=True)
class ServerFacts:
    """Per gateway process: start-up times, and RSS once its load is done."""

    name: str
    command: str
    startup_s: list[float] = field(default_factory=list)
    rss_mb: float | None = None
    hwm_mb: float | None = None


def measure_startup(make: Any, repeats: int) -> list[float]:
    """Spawn → first 200 on ``/healthz``, ``repeats`` fresh processes (each stopped at once)."""
    times = []
    for _ in range(repeats):
        with make() as process:
            times.append(process.startup_s)
    return times


def run(args: argparse.Namespace) -> dict[str, Any]:
    pin_gateway, pin_side = (0, 1) if args.pin else (None, None)
    if args.pin:
        os.sched_setaffinity(0, {1})
    cells: list[Cell] = []
    facts: list[ServerFacts] = []
    config_path: Path | None = None
    with fake_process(pin_side, args.gap_ms) as fake, asyncio.Runner(loop_factory=bg._event_loop_factory()) as runner:
        print(f"fake upstream pid {fake.proc.pid if fake.proc else '?'} on port {fake.port}", file=sys.stderr)
        config_path = write_config(fake.port)
        clients: list[dict[str, Any]] = []
        try:
            if args.client_calls:
                clients = measure_clients(args, fake, runner)
            if not args.no_direct:
                cells += run_cells(runner, "direct", fake.port, direct_routes(args), args, None, fake)
            makers: list[tuple[str, Any, list[tuple[str, bg.Scenario]]]] = [
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


# --------------------------------------------------------------------------- the upstream client alone


CLIENT_VARIANTS = ("httpx", "httpx-aiohttp", "aimux")


def _variant_client(kind: str) -> Any:
    """An ``httpx.AsyncClient`` as aimux's transport would use it: plain, over ``httpx-aiohttp``, or aimux's own."""
    import httpx

    from aimux_core.providers import transport

    limits = httpx.Limits(max_connections=256, max_keepalive_connections=64, keepalive_expiry=60)
    if kind == "aimux":
        return transport.new_client()  # what aimux ships (transport, cookies, logging as configured there)
    backend = None
    if kind == "httpx-aiohttp":
        from httpx_aiohttp import AiohttpTransport

        backend = AiohttpTransport(limits=limits)
    return httpx.AsyncClient(limits=limits, timeout=None, follow_redirects=False, transport=backend)


async def _client_cpu_us(kind: str, port: int, stream: bool, calls: int, rounds: int) -> float:
    """Least CPU microseconds per upstream call over ``rounds`` rounds of ``calls`` calls (after a warm-up)."""
    from aimux_core.providers.transport import HttpTransport, Timeouts

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
            start = _self_cpu_s()
            for _ in range(calls):
                await call()
            best = min(best, (_self_cpu_s() - start) / calls * 1e6)
        return best
    finally:
        await client.aclose()


def measure_clients(args: argparse.Namespace, fake: Process, runner: asyncio.Runner) -> list[dict[str, Any]]:
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


def clients_table(report: dict[str, Any]) -> list[str]:
    rows = report.get("clients") or []
    if not rows:
        return []
    out = [
        "",
        "The upstream client alone: CPU us per call of `HttpTransport` against the fake (Anthropic answer; "
        "the stream is read to its end), in one process"
        + (" on CPU 0" if report["pinned"] else "")
        + "; `aimux` = `transport.new_client()` as shipped:",
        "",
        "| answer | httpx (httpcore) | httpx + httpx-aiohttp | aimux | httpx-aiohttp / httpx | aimux / httpx |",
        "|---|--:|--:|--:|--:|--:|",
    ]
    for row in rows:
        out.append(
            f"| {'stream (20 events)' if row['stream'] else 'JSON'} | {row['httpx']:.0f} | {row['httpx-aiohttp']:.0f} "
            f"| {row['aimux']:.0f} | {row['httpx-aiohttp'] / row['httpx']:.2f} | {row['aimux'] / row['httpx']:.2f} |"
        )
    return out


# --------------------------------------------------------------------------- report


def _f(value: float | None, digits: int = 2) -> str:
    return "-" if value is None else f"{value:.{digits}f}"


def _pct(value: float | None) -> str:
    return "-" if value is None else f"{value:.0%}"


def _signed(value: float | None, digits: int = 2) -> str:
    return "-" if value is None else f"{value:+.{digits}f}"


def _find(cells: list[dict[str, Any]], target: str, route: str, stream: bool, conc: int) -> dict[str, Any] | None:
    for c in cells:
        if c["target"] == target and c["route"] == route and c["stream"] == stream and c["concurrency"] == conc:
            return c
    return None


def render(report: dict[str, Any]) -> str:
    cells: list[dict[str, Any]] = report["cells"]
    machine = report["machine"]
    packages = ", ".join(f"{k} {v}" for k, v in machine["packages"].items())
    out = [
        f"### aimux against a fake HTTP upstream, {report['date']}",
        "",
        f"- machine: {machine['cpu']}, {machine['cores']} cores, Linux {machine['kernel']}, "
        f"Python {machine['python']}; {packages}",
        f"- code: {report['code']}",
        f"- load average before/after: {report['loadavg_before']} / {report['loadavg_after']}",
        f"- command: `{report['command']}`",
        "- placement: " + ("gateway alone on CPU 0; fake upstream and load generator on CPU 1"
                           if report["pinned"] else "not pinned"),
        f"- {report['requests']} timed requests per cell after {report['warmup']} warm-up requests"
        + (f"; each cell the best of {report['repeat']} runs (least gateway CPU)" if report["repeat"] > 1 else "")
        + f"; fake upstream event gap {report['gap_ms']:g} ms",
        "",
        "All cells (ms; `gw CPU` = gateway CPU ms per request; `CPU 1` = fake + load generator, % of one core):",
        "",
        "| target | route | stream | conc | p50 | p99 | TTFB p50 | TTFB p99 | req/s | gw CPU ms/req | gw sys "
        "| gw util | CPU 1 | SSE events |",
        "|---|---|---|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|",
    ]  # fmt: skip
    for c in cells:
        out.append(
            f"| {c['target']} | {c['route']} | {'yes' if c['stream'] else 'no'} | {c['concurrency']} "
            f"| {_f(c['p50_ms'])} | {_f(c['p99_ms'])} | {_f(c['ttfb_p50_ms'])} | {_f(c['ttfb_p99_ms'])} "
            f"| {c['rps']:.0f} | **{_f(c['server_cpu_ms'])}** | {_pct(c.get('server_sys_share'))} "
            f"| {_pct(c['server_util'])} | {c['cpu1_util']:.0%} "
            f"| {c['sse_events'] if c['sse_events'] is not None else '-'} |"
        )
    out += clients_table(report)
    out += added_latency_table(report)
    out += cpu_table(report)
    out += server_table(report)
    return "\n".join(out)


def _gateways(report: dict[str, Any]) -> tuple[list[str], list[str]]:
    targets = list(dict.fromkeys(c["target"] for c in report["cells"]))
    return [t for t in targets if t.startswith("floor")], [t for t in targets if t.startswith("aimux")]


def _floor_route(direction: Direction) -> str:
    """The floor row a direction is compared with: the pass-through of the client's dialect (same client side)."""
    return direction.client


def added_latency_table(report: dict[str, Any]) -> list[str]:
    cells = report["cells"]
    floors, aimuxes = _gateways(report)
    out = [
        "",
        "Added latency = via the gateway - direct to the fake upstream (ms; the direct row of the upstream's "
        "dialect). Streams: TTFB = first SSE event, total = last byte.",
        "",
        "| direction | stream | conc | gateway | p50 added | p99 added | TTFB p50 added | TTFB p99 added |",
        "|---|---|--:|---|--:|--:|--:|--:|",
    ]
    for d in DIRECTIONS:
        for stream in (False, True):
            for conc in report["concurrency"]:
                direct = _find(cells, "direct", d.upstream, stream, conc)
                if direct is None:
                    continue
                for target in [*aimuxes, *floors]:
                    route = d.key if target.startswith("aimux") else _floor_route(d)
                    via = _find(cells, target, route, stream, conc)
                    if via is None:
                        continue

                    def diff(key: str, via: dict[str, Any] = via, direct: dict[str, Any] = direct) -> float | None:
                        return None if via[key] is None or direct[key] is None else via[key] - direct[key]

                    out.append(
                        f"| {d.label} | {'yes' if stream else 'no'} | {conc} | {target} "
                        f"| {_signed(diff('p50_ms'))} | {_signed(diff('p99_ms'))} "
                        f"| {_signed(diff('ttfb_p50_ms'))} | {_signed(diff('ttfb_p99_ms'))} |"
                    )
    return out


def cpu_table(report: dict[str, Any]) -> list[str]:
    """aimux's CPU per request against the floors, with the issue's verdict.

    The verdict uses the faster of the two httpx floors (plain and ``httpx-aiohttp``: the issue's
    "keep the faster"), i.e. the same client API aimux uses; the ratio to aiohttp used directly,
    without httpx, is shown for information.
    """
    cells = report["cells"]
    floors, aimuxes = _gateways(report)
    httpx_floors = [f for f in floors if f in ("floor httpx", "floor httpx-aiohttp")]
    if not aimuxes or not httpx_floors:
        return []
    out = [
        "",
        "Gateway CPU ms per request. Verdict against the faster httpx floor (the pass-through of the client's "
        f"dialect); target <= {TARGET_PASSTHROUGH_RATIO:g}x for pass-through directions, <= "
        f"{TARGET_TRANSLATED_RATIO:g}x translated; LiteLLM ~ {LITELLM_CPU_MS:g} ms:",
        "",
        f"| direction | stream | conc | {' | '.join(aimuxes)} | {' | '.join(floors)} "
        f"| {aimuxes[0]} / faster httpx floor | target | {aimuxes[0]} / floor aiohttp | LiteLLM / {aimuxes[0]} |",
        "|---|---|--:|" + "--:|" * (len(aimuxes) + len(floors) + 1) + "---|--:|--:|",
    ]
    for d in DIRECTIONS:
        for stream in (False, True):
            for conc in report["concurrency"]:
                mine = [_find(cells, a, d.key, stream, conc) for a in aimuxes]
                base = {f: _find(cells, f, _floor_route(d), stream, conc) for f in floors}
                if mine[0] is None:
                    continue
                own = mine[0]["server_cpu_ms"]
                httpx_cpu = [base[f]["server_cpu_ms"] for f in httpx_floors if base[f] is not None]
                limit = TARGET_TRANSLATED_RATIO if d.translated else TARGET_PASSTHROUGH_RATIO
                ratio = own / min(httpx_cpu) if httpx_cpu else None
                verdict = "-" if ratio is None else ("met" if ratio <= limit else "**missed**")
                raw = base.get("floor aiohttp")
                raw_ratio = own / raw["server_cpu_ms"] if raw is not None else None
                out.append(
                    f"| {d.label} | {'yes' if stream else 'no'} | {conc} | "
                    + " | ".join(f"**{_f(m['server_cpu_ms'])}**" if m else "-" for m in mine)
                    + " | "
                    + " | ".join(_f(b["server_cpu_ms"]) if b else "-" for b in base.values())
                    + f" | {_f(ratio)}x | <= {limit:g}x {verdict} | {_f(raw_ratio)}x | {LITELLM_CPU_MS / own:.0f}x |"
                )
    return out


def server_table(report: dict[str, Any]) -> list[str]:
    cells = report["cells"]
    out = [
        "",
        "Per process: throughput at concurrency 16 (one process; `util` = its CPU ÷ wall), RSS after all its "
        f"load (target < {TARGET_RSS_MB:g} MB), start-up = spawn to first 200 on `/healthz` "
        f"(target < {TARGET_STARTUP_S:g} s):",
        "",
        "| process | req/s json (util) | req/s stream (util) | RSS MB after load | peak RSS MB | start-up s min "
        "| start-up s median |",
        "|---|---|---|--:|--:|--:|--:|",
    ]
    sat = max(report["concurrency"])
    for fact in report["servers"]:
        name = fact["name"]
        rows = []
        for stream in (False, True):
            mine = [c for c in cells if c["target"] == name and c["stream"] == stream and c["concurrency"] == sat]
            rows.append(", ".join(f"{c['route']} {c['rps']:.0f} ({c['server_util']:.0%})" for c in mine) or "-")
        starts = fact["startup_s"]
        out.append(
            f"| {name} | {rows[0]} | {rows[1]} | {_f(fact['rss_mb'], 1)} | {_f(fact['hwm_mb'], 1)} "
            f"| {_f(min(starts) if starts else None)} | {_f(statistics.median(starts) if starts else None)} |"
        )
    return out


# --------------------------------------------------------------------------- main


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    import passthrough_floor

    def csv(choices: Sequence[str]) -> Any:
        def parse(text: str) -> list[str]:
            items = [x for x in text.split(",") if x]
            bad = [x for x in items if x not in choices]
            if bad:
                raise argparse.ArgumentTypeError(f"unknown {bad}; choose from {', '.join(choices)}")
            return items

        return parse

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--requests", type=int, default=2000, help="timed requests per cell (default 2000)")
    parser.add_argument("--warmup", type=int, default=200, help="untimed requests before each cell (default 200)")
    parser.add_argument(
        "--concurrency", type=lambda s: [int(x) for x in s.split(",")], default=[1, 16],
        help="comma-separated concurrency levels (default 1,16)",
    )  # fmt: skip
    parser.add_argument("--repeat", type=int, default=1, help="runs per cell; the least gateway CPU is kept")
    parser.add_argument("--pin", action="store_true", help="gateway on CPU 0, fake upstream + load generator on CPU 1")
    parser.add_argument("--stream", choices=["both", "no", "yes"], default="both", help="which answers (default both)")
    parser.add_argument(
        "--directions", type=csv([d.key for d in DIRECTIONS]), default=[d.key for d in DIRECTIONS],
        help="aimux directions: a2a (Anthropic→Anthropic), a2o (Anthropic→OpenAI), o2o (OpenAI→OpenAI)",
    )  # fmt: skip
    parser.add_argument(
        "--floors", type=csv(list(passthrough_floor.FACTORIES)), default=list(passthrough_floor.FACTORIES),
        help="pass-through floors to run (default httpx,httpx-aiohttp,aiohttp; empty string for none)",
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
    parser.add_argument(
        "--json", nargs="?", const="auto", default=None, metavar="PATH",
        help="also write the raw results (default path: bench/results/upstream-<timestamp>.json)",
    )  # fmt: skip
    parser.add_argument("--render", metavar="JSON", help="print the report of a saved --json file; run nothing")
    args = parser.parse_args(argv)
    if (
        min(args.requests, args.repeat, args.client_repeat, *args.concurrency) < 1
        or min(args.warmup, args.startup_repeats, args.client_calls) < 0
    ):
        parser.error("--requests, --repeat and --concurrency must be positive; --warmup, --startup-repeats >= 0")
    if args.pin and (os.cpu_count() or 1) < 2:
        parser.error("--pin needs at least two CPUs")
    return args


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    if args.render:
        print(render(json.loads(Path(args.render).read_text())))
        return 0
    for signum in (signal.SIGTERM, signal.SIGHUP):
        signal.signal(signum, bg._raise_system_exit)
    report: dict[str, Any] = {
        "date": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "command": " ".join([Path(sys.executable).name, "bench/bench_upstream.py", *(argv or sys.argv[1:])]),
        "machine": bg.machine_info(),
        "code": bg.code_version(),
        "loadavg_before": bg._loadavg(),
        "pinned": args.pin,
        "requests": args.requests,
        "warmup": args.warmup,
        "repeat": args.repeat,
        "concurrency": args.concurrency,
        "gap_ms": args.gap_ms,
    }
    for package in ("httpx", "httpcore", "aiohttp", "httpx-aiohttp"):
        with contextlib.suppress(Exception):
            from importlib import metadata

            report["machine"]["packages"][package] = metadata.version(package)
    try:
        report.update(run(args))
    except bg.BenchError as exc:
        print(f"benchmark failed: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("interrupted; every server was stopped", file=sys.stderr)
        return 130
    report["loadavg_after"] = bg._loadavg()
    print(render(report))
    if args.json:
        stamp = time.strftime("%Y%m%d-%H%M%S")
        path = Path(args.json) if args.json != "auto" else RESULTS_DIR / f"upstream-{stamp}.json"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(report, indent=2) + "\n")
        print(f"\nresults written to {path}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
