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

Run: ``.venv/bin/python bench/bench_gateway.py`` (``make bench``); ``--help`` lists the knobs.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import copy
import ctypes
import http.client
import json
import os
import platform
import re
import resource
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path
from typing import Any, Protocol

ROOT = Path(__file__).resolve().parent.parent
FIXTURE = ROOT / "tests" / "fixtures" / "claude_code" / "request_tool_turn1.json"
MESSAGES_FUNCTION = ROOT / "functions" / "messages"
LAYER_DIR = ROOT / "layers" / "aimux_core"
RESULTS_DIR = ROOT / "bench" / "results"
LOCAL_APP_FACTORY = "aimux_core.surfaces.app:create_local_app"
FLOOR_APP_FACTORY = "bench_gateway:create_floor_app"
HOST = "127.0.0.1"
CLK_TCK = os.sysconf("SC_CLK_TCK")

# Targets from the issue; printed next to the figures, never asserted.
TARGET_CPU_MS_NONSTREAM = 2.0
TARGET_IMPORT_MS = 400.0

# Hard bounds so that no loop can run away on a misbehaving server.
MAX_CHUNKS_PER_RESPONSE = 100_000
MAX_TRAILER_LINES = 100
READY_TIMEOUT_S = 30.0
REQUEST_TIMEOUT_S = 30.0
STOP_TIMEOUT_S = 10.0

# Environment the gateway must not see: anything that could configure a real provider, so the
# benchmark always measures the in-process mock and never spends money upstream.
SCRUBBED_ENV_PREFIXES = ("AIMUX_", "ANTHROPIC_", "OPENAI_", "OPENROUTER_", "GEMINI_", "AWS_")
# Recorded Claude Code headers that are hop-by-hop or that the raw client cannot honour (it does
# not decode gzip; the gateway does not compress anyway).
DROPPED_FIXTURE_HEADERS = {"connection", "accept-encoding", "content-length", "host"}

IMPORT_MARKER = "@@aimux-bench-import-start"
IMPORTTIME_LINE = re.compile(r"^import time:\s*(\d+)\s*\|\s*(\d+)\s*\| ( *)(\S.*)$")


class BenchError(RuntimeError):
    """A benchmark precondition failed (server did not start, wrong status, malformed answer)."""


# --------------------------------------------------------------------------- scenarios


@dataclass(frozen=True, slots=True)
class Scenario:
    """One request shape, pre-encoded once so the client spends nothing on JSON per request."""

    dialect: str  # "anthropic" | "openai"
    body_kind: str  # "small" | "claude-code"
    stream: bool
    path: str
    headers: tuple[tuple[str, str], ...]
    body: bytes
    # A stream is only counted as complete when this terminator is in the body.
    end_marker: bytes | None

    def wire_request(self, port: int) -> bytes:
        """The full HTTP/1.1 request (head and body) as the raw client sends it."""
        lines = [f"POST {self.path} HTTP/1.1", f"Host: {HOST}:{port}"]
        lines += [f"{name}: {value}" for name, value in self.headers]
        lines.append(f"Content-Length: {len(self.body)}")
        return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + self.body


def _compact(body: dict[str, Any]) -> bytes:
    """JSON as JavaScript's ``JSON.stringify`` writes it (what Claude Code and most SDKs send)."""
    return json.dumps(body, separators=(",", ":"), ensure_ascii=False).encode()


def build_scenarios(fixture: Path = FIXTURE) -> list[Scenario]:
    """The request shapes the issue asks for: a small body per dialect and the Claude Code shape."""
    prompt = "Summarise the trade-offs of connection pooling in two sentences."
    anthropic_headers = (
        ("Content-Type", "application/json"),
        ("anthropic-version", "2023-06-01"),
        ("x-api-key", "bench-key"),
    )
    openai_headers = (("Content-Type", "application/json"), ("Authorization", "Bearer bench-key"))
    small_anthropic = {
        "model": "claude-sonnet-4-5",
        "max_tokens": 256,
        "messages": [{"role": "user", "content": prompt}],
    }
    small_openai = {
        "model": "gpt-4o-mini",
        "max_tokens": 256,
        "messages": [{"role": "user", "content": prompt}],
    }
    scenarios: list[Scenario] = []
    for stream in (False, True):
        anthropic_body = dict(small_anthropic, stream=True) if stream else small_anthropic
        scenarios.append(
            Scenario(
                dialect="anthropic",
                body_kind="small",
                stream=stream,
                path="/v1/messages",
                headers=anthropic_headers,
                body=_compact(anthropic_body),
                end_marker=b"event: message_stop" if stream else None,
            )
        )
    for stream in (False, True):
        openai_body = (
            dict(small_openai, stream=True, stream_options={"include_usage": True}) if stream else small_openai
        )
        scenarios.append(
            Scenario(
                dialect="openai",
                body_kind="small",
                stream=stream,
                path="/v1/chat/completions",
                headers=openai_headers,
                body=_compact(openai_body),
                end_marker=b"data: [DONE]" if stream else None,
            )
        )
    recorded = json.loads(fixture.read_text(encoding="utf-8"))
    fixture_headers = tuple(
        (name, value) for name, value in recorded["headers"].items() if name.lower() not in DROPPED_FIXTURE_HEADERS
    )
    path = recorded["path"] + (f"?{recorded['query']}" if recorded.get("query") else "")
    for stream in (False, True):
        body = copy.deepcopy(recorded["body"])
        body["stream"] = stream
        scenarios.append(
            Scenario(
                dialect="anthropic",
                body_kind="claude-code",
                stream=stream,
                path=path,
                headers=fixture_headers,
                body=_compact(body),
                end_marker=b"event: message_stop" if stream else None,
            )
        )
    return scenarios


# --------------------------------------------------------------------------- gateway subprocess


def free_port() -> int:
    """A port that was free a moment ago (the tiny race is acceptable on a dev machine)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((HOST, 0))
        return int(sock.getsockname()[1])


def scrubbed_env() -> dict[str, str]:
    """This process's environment without anything that could point the gateway at a real upstream."""
    return {k: v for k, v in os.environ.items() if not k.startswith(SCRUBBED_ENV_PREFIXES)}


def _read_stat(pid: int) -> tuple[int, int, int]:
    """(ppid, utime, stime) of one process in clock ticks; fields after the last ')' (comm may hold any)."""
    raw = Path(f"/proc/{pid}/stat").read_text()
    fields = raw[raw.rfind(")") + 2 :].split()
    return int(fields[1]), int(fields[11]), int(fields[12])


def descendants(root: int) -> list[int]:
    """``root`` and every live process below it (uvicorn with workers forks; ``aimux serve`` may exec)."""
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        with contextlib.suppress(OSError, ValueError, IndexError):
            ppid = _read_stat(int(entry.name))[0]
            children.setdefault(ppid, []).append(int(entry.name))
    found, todo = [], [root]
    while todo:  # bounded: the process table is finite and a tree
        pid = todo.pop()
        found.append(pid)
        todo.extend(children.get(pid, []))
    return found


def _child_setup(pin_cpu: int | None) -> Callable[[], None]:
    """Runs in the child before exec: pin it, and make it die with us even if we are SIGKILLed."""

    def setup() -> None:
        if pin_cpu is not None:
            os.sched_setaffinity(0, {pin_cpu})
        with contextlib.suppress(OSError, AttributeError):
            libc = ctypes.CDLL(None, use_errno=True)
            pr_set_pdeathsig = 1
            libc.prctl(pr_set_pdeathsig, signal.SIGTERM)

    return setup


def server_command(mode: str, port: int) -> list[str]:
    """How the server is launched: the project CLI, uvicorn on the app factory, or the floor app.

    The uvicorn variants turn the access log off because ``aimux serve`` does.
    """
    if mode == "auto":
        mode = "cli" if _cli_serves() else "uvicorn"
    if mode == "cli":
        return [str(Path(sys.executable).parent / "aimux"), "serve"]
    factory, app_dir = (LOCAL_APP_FACTORY, ROOT) if mode == "uvicorn" else (FLOOR_APP_FACTORY, ROOT / "bench")
    return [
        sys.executable, "-m", "uvicorn", factory, "--factory", "--app-dir", str(app_dir),
        "--host", HOST, "--port", str(port), "--no-access-log",
    ]  # fmt: skip


def _cli_serves() -> bool:
    """True when ``aimux serve`` exists (the CLI was still being written when this script was)."""
    aimux = Path(sys.executable).parent / "aimux"
    if not aimux.exists():
        return False
    try:
        done = subprocess.run(
            [str(aimux), "serve", "--help"], capture_output=True, timeout=30, env=scrubbed_env(), check=False
        )
    except (OSError, subprocess.TimeoutExpired):
        return False
    return done.returncode == 0


class GatewayServer:
    """Owns the gateway subprocess: started on enter, stopped on every exit path (idempotently)."""

    def __init__(self, mode: str, pin_cpu: int | None) -> None:
        self.mode = mode
        self.pin_cpu = pin_cpu
        self.port = free_port()
        self.command = server_command(mode, self.port)
        self.proc: subprocess.Popen[bytes] | None = None
        self.pids: list[int] = []
        fd, log_name = tempfile.mkstemp(prefix="aimux-bench-server-", suffix=".log")
        os.close(fd)
        self.log_path = Path(log_name)

    def __enter__(self) -> GatewayServer:
        env = scrubbed_env()
        env.update(AIMUX_HOST=HOST, AIMUX_PORT=str(self.port))
        with self.log_path.open("wb") as log:  # the child keeps its own copy of the descriptor
            self.proc = subprocess.Popen(
                self.command,
                cwd=ROOT,
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                preexec_fn=_child_setup(self.pin_cpu),
            )
        try:
            self._wait_ready()
        except BaseException:
            self.stop()
            raise
        self.pids = descendants(self.proc.pid)
        return self

    def __exit__(self, exc_type: type[BaseException] | None, *_: object) -> None:
        self.stop()
        if exc_type is not None and issubclass(exc_type, Exception):  # a failure, not Ctrl-C or SIGTERM
            print(f"gateway log kept at {self.log_path}", file=sys.stderr)
        else:
            self.log_path.unlink(missing_ok=True)

    def _wait_ready(self) -> None:
        assert self.proc is not None
        deadline = time.monotonic() + READY_TIMEOUT_S
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise BenchError(f"gateway exited with {self.proc.returncode}:\n{self.log_tail()}")
            with contextlib.suppress(OSError, http.client.HTTPException):
                conn = http.client.HTTPConnection(HOST, self.port, timeout=1)
                try:
                    conn.request("GET", "/healthz")
                    if conn.getresponse().status == 200:
                        return
                finally:
                    conn.close()
            time.sleep(0.05)
        raise BenchError(f"gateway not ready after {READY_TIMEOUT_S:.0f} s:\n{self.log_tail()}")

    def log_tail(self, lines: int = 30) -> str:
        text = self.log_path.read_text(errors="replace")
        return "\n".join(text.splitlines()[-lines:])

    def cpu_seconds(self) -> tuple[float, float]:
        """(user, system) CPU seconds of the gateway and its children so far (resolution: one clock tick)."""
        user = system = 0
        for pid in self.pids:
            with contextlib.suppress(OSError):
                times = _read_stat(pid)
                user, system = user + times[1], system + times[2]
        return user / CLK_TCK, system / CLK_TCK

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


# --------------------------------------------------------------------------- framework floor


def create_floor_app() -> Any:
    """The floor to compare aimux with: uvicorn + Starlette, ``json.loads`` of the body, canned answers.

    Why: the issue's reference figures (bare FastAPI + httpx pass-through ~3-5 CPU ms, LiteLLM ~25)
    include an upstream HTTP call, which the mock does not make. Running the same load against this
    app on the same machine shows how much of aimux's figure is the HTTP stack it stands on and how
    much is its own work (validation, routing, the mock's planning, encoding). Answers carry the same
    number of SSE events as the mock's small answers (12 Anthropic, 10 OpenAI) and the markers the
    load generator checks. Imported by uvicorn in the server process only (``--server floor``).
    """
    from starlette.applications import Starlette
    from starlette.requests import Request
    from starlette.responses import JSONResponse, Response, StreamingResponse
    from starlette.routing import Route

    text = "Mock reply to: a canned answer of about the same size as the mock's."
    words = [w + " " for w in text.split()]
    pieces = [" ".join(words[i : i + 2]) for i in range(0, 14, 2)]  # 7 deltas
    usage = {"input_tokens": 20, "output_tokens": 18}
    message = {
        "id": "msg_floor", "type": "message", "role": "assistant", "model": "floor",
        "content": [{"type": "text", "text": text}], "stop_reason": "end_turn", "stop_sequence": None,
        "usage": usage,
    }  # fmt: skip
    completion = {
        "id": "chatcmpl-floor", "object": "chat.completion", "created": 0, "model": "floor",
        "choices": [{"index": 0, "message": {"role": "assistant", "content": text}, "finish_reason": "stop"}],
        "usage": {"prompt_tokens": 20, "completion_tokens": 18, "total_tokens": 38},
    }  # fmt: skip

    def sse(event: str, data: dict[str, Any]) -> bytes:
        return f"event: {event}\ndata: {json.dumps(data, separators=(',', ':'))}\n\n".encode()

    def chunk(delta: dict[str, Any], finish: str | None = None, usage: dict[str, int] | None = None) -> bytes:
        choices = [{"index": 0, "delta": delta, "finish_reason": finish}] if usage is None else []
        data = {"id": "chatcmpl-floor", "object": "chat.completion.chunk", "model": "floor", "choices": choices}
        if usage is not None:
            data["usage"] = usage
        return f"data: {json.dumps(data, separators=(',', ':'))}\n\n".encode()

    async def anthropic_events() -> Any:
        yield sse("message_start", {"type": "message_start", "message": {**message, "content": []}})
        yield sse("content_block_start", {"type": "content_block_start", "index": 0,
                                          "content_block": {"type": "text", "text": ""}})  # fmt: skip
        for piece in pieces:
            yield sse("content_block_delta", {"type": "content_block_delta", "index": 0,
                                              "delta": {"type": "text_delta", "text": piece}})  # fmt: skip
        yield sse("content_block_stop", {"type": "content_block_stop", "index": 0})
        yield sse("message_delta", {"type": "message_delta", "delta": {"stop_reason": "end_turn"}, "usage": usage})
        yield sse("message_stop", {"type": "message_stop"})

    async def openai_events() -> Any:
        yield chunk({"role": "assistant", "content": ""})
        for piece in pieces[:6]:
            yield chunk({"content": piece})
        yield chunk({}, finish="stop")
        yield chunk({}, usage=completion["usage"])
        yield b"data: [DONE]\n\n"

    async def messages(request: Request) -> Response:
        body = json.loads(await request.body())
        if body.get("stream"):
            return StreamingResponse(anthropic_events(), media_type="text/event-stream")
        return JSONResponse(message)

    async def chat(request: Request) -> Response:
        body = json.loads(await request.body())
        if body.get("stream"):
            return StreamingResponse(openai_events(), media_type="text/event-stream")
        return JSONResponse(completion)

    async def healthz(request: Request) -> Response:
        return JSONResponse({"status": "ok"})

    return Starlette(
        routes=[
            Route("/healthz", healthz, methods=["GET"]),
            Route("/v1/messages", messages, methods=["POST"]),
            Route("/v1/chat/completions", chat, methods=["POST"]),
        ]
    )


# --------------------------------------------------------------------------- load generation


@dataclass(slots=True)
class Sample:
    """One request as the client saw it."""

    status: int
    total_s: float
    ttfb_s: float | None  # first body byte; None for an empty body
    body: bytes


class Sender(Protocol):
    """Sends one scenario's request, again and again, over one worker's connection."""

    async def send(self) -> Sample: ...

    async def close(self) -> None: ...


class RawSender:
    """One keep-alive HTTP/1.1 connection over plain asyncio streams.

    Why not httpx by default: httpx costs the client several times what the server spends per
    request, so at concurrency 16 the client core saturates first and the latency figures would
    describe httpx, not aimux. This sender pre-encodes the request and parses only what HTTP/1.1
    needs (Content-Length or chunked bodies).
    """

    def __init__(self, port: int, scenario: Scenario) -> None:
        self.port = port
        self.wire = scenario.wire_request(port)
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None

    async def _connect(self) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
        reader, writer = await asyncio.open_connection(HOST, self.port, limit=1 << 20)
        sock = writer.get_extra_info("socket")
        if sock is not None:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.reader, self.writer = reader, writer
        return reader, writer

    async def send(self) -> Sample:
        if self.reader is None or self.writer is None:
            reader, writer = await self._connect()
        else:
            reader, writer = self.reader, self.writer
        start = time.perf_counter()
        writer.write(self.wire)
        await writer.drain()
        head = await reader.readuntil(b"\r\n\r\n")
        status_line, *header_lines = head.decode("latin-1").split("\r\n")
        status = int(status_line.split(" ", 2)[1])
        headers = {}
        for line in header_lines:
            name, sep, value = line.partition(":")
            if sep:
                headers[name.strip().lower()] = value.strip()
        first: float | None = None
        keep_alive = headers.get("connection", "").lower() != "close"
        if "content-length" in headers:
            length = int(headers["content-length"])
            body = await reader.readexactly(length)
            if length:
                first = time.perf_counter()
        elif headers.get("transfer-encoding", "").lower() == "chunked":
            parts: list[bytes] = []
            for _ in range(MAX_CHUNKS_PER_RESPONSE):
                size = int((await reader.readuntil(b"\r\n")).split(b";", 1)[0].strip(), 16)
                if size == 0:
                    for _ in range(MAX_TRAILER_LINES):
                        if await reader.readuntil(b"\r\n") == b"\r\n":
                            break
                    break
                chunk = await reader.readexactly(size + 2)
                if first is None:
                    first = time.perf_counter()
                parts.append(chunk[:-2])
            else:
                raise BenchError(f"more than {MAX_CHUNKS_PER_RESPONSE} chunks in one response")
            body = b"".join(parts)
        else:
            body = await reader.read()
            first = time.perf_counter() if body else None
            keep_alive = False
        end = time.perf_counter()
        if not keep_alive:
            await self.close()
        return Sample(status, end - start, None if first is None else first - start, body)

    async def close(self) -> None:
        writer, self.reader, self.writer = self.writer, None, None
        if writer is not None:
            writer.close()
            with contextlib.suppress(OSError, ConnectionError):
                await writer.wait_closed()


class HttpxSender:
    """The same requests through one pooled ``httpx.AsyncClient`` (``--client httpx``), for comparison."""

    def __init__(self, client: Any, scenario: Scenario) -> None:
        self.client = client
        self.scenario = scenario

    async def send(self) -> Sample:
        start = time.perf_counter()
        first: float | None = None
        parts: list[bytes] = []
        scenario = self.scenario
        async with self.client.stream(
            "POST", scenario.path, content=scenario.body, headers=list(scenario.headers)
        ) as response:
            async for chunk in response.aiter_raw():
                if first is None and chunk:
                    first = time.perf_counter()
                parts.append(chunk)
        end = time.perf_counter()
        return Sample(response.status_code, end - start, None if first is None else first - start, b"".join(parts))

    async def close(self) -> None:
        """The shared client is closed by whoever opened it."""


async def run_phase(senders: Sequence[Sender], requests: int) -> list[Sample]:
    """``requests`` requests spread over ``len(senders)`` concurrent workers (one per sender)."""
    tickets = iter(range(requests))  # shared: each worker takes the next ticket until none are left
    samples: list[Sample] = []

    async def worker(sender: Sender) -> None:
        for _ in tickets:
            samples.append(await asyncio.wait_for(sender.send(), REQUEST_TIMEOUT_S))

    try:
        await asyncio.gather(*(worker(sender) for sender in senders))
    except (TimeoutError, OSError, asyncio.IncompleteReadError, asyncio.LimitOverrunError, ValueError) as exc:
        # The gateway hung, died or answered something that is not HTTP/1.1: report, don't trace back.
        raise BenchError(f"request failed after {len(samples)} answers: {type(exc).__name__}: {exc}") from exc
    return samples


def check_samples(scenario: Scenario, samples: Iterable[Sample], *, deep: bool) -> None:
    """Every request must have succeeded; ``deep`` also parses one answer to prove it is the real thing."""
    last: Sample | None = None
    for sample in samples:
        last = sample
        if sample.status != 200:
            raise BenchError(f"{label(scenario)}: HTTP {sample.status}: {sample.body[:500]!r}")
        if scenario.end_marker is not None and scenario.end_marker not in sample.body:
            raise BenchError(f"{label(scenario)}: stream without {scenario.end_marker!r}: {sample.body[-300:]!r}")
    if deep and last is not None and not scenario.stream:
        answer = json.loads(last.body)
        key = "content" if scenario.dialect == "anthropic" else "choices"
        if key not in answer:
            raise BenchError(f"{label(scenario)}: answer without {key!r}: {last.body[:300]!r}")


def label(scenario: Scenario) -> str:
    return f"{scenario.dialect} {scenario.body_kind} {'stream' if scenario.stream else 'non-stream'}"


def percentile(values: Sequence[float], q: float) -> float:
    """Linear-interpolated percentile (q in 0..100) of a non-empty sequence."""
    ordered = sorted(values)
    rank = (len(ordered) - 1) * q / 100
    low = int(rank)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (rank - low)


@dataclass(slots=True)
class LoadResult:
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


def _self_cpu_s() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


async def measure(
    server: GatewayServer, scenario: Scenario, concurrency: int, requests: int, warmup: int, client: str
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
        check_samples(scenario, await run_phase(senders, max(warmup, concurrency)), deep=True)
        server_before, client_before, start = server.cpu_seconds(), _self_cpu_s(), time.perf_counter()
        samples = await run_phase(senders, requests)
        wall = time.perf_counter() - start
        server_after, client_cpu = server.cpu_seconds(), _self_cpu_s() - client_before
        server_user, server_sys = (after - before for after, before in zip(server_after, server_before, strict=True))
        server_cpu = server_user + server_sys
    finally:
        for sender in senders:
            await sender.close()
        if httpx_client is not None:
            await httpx_client.aclose()
    check_samples(scenario, samples, deep=False)
    totals = [s.total_s * 1e3 for s in samples]
    ttfbs = [s.ttfb_s * 1e3 for s in samples if s.ttfb_s is not None] if scenario.stream else []
    body = samples[-1].body
    return LoadResult(
        dialect=scenario.dialect,
        body=scenario.body_kind,
        stream=scenario.stream,
        concurrency=concurrency,
        requests=len(samples),
        wall_s=wall,
        rps=len(samples) / wall,
        p50_ms=percentile(totals, 50),
        p99_ms=percentile(totals, 99),
        mean_ms=statistics.fmean(totals),
        ttfb_p50_ms=percentile(ttfbs, 50) if ttfbs else None,
        ttfb_p99_ms=percentile(ttfbs, 99) if ttfbs else None,
        server_cpu_ms_per_req=server_cpu * 1e3 / len(samples),
        server_cpu_util=server_cpu / wall,
        server_sys_share=server_sys / server_cpu if server_cpu else 0.0,
        client_cpu_ms_per_req=client_cpu * 1e3 / len(samples),
        request_bytes=len(scenario.body),
        response_bytes=len(body),
        sse_events=body.count(b"\n\n") if scenario.stream else None,
    )


def _event_loop_factory() -> Callable[[], asyncio.AbstractEventLoop]:
    """uvloop for the client when installed: less client CPU per request, same server work."""
    try:
        import uvloop
    except ImportError:
        return asyncio.new_event_loop
    return uvloop.new_event_loop


def run_load(args: argparse.Namespace, scenarios: Sequence[Scenario]) -> tuple[list[LoadResult], str]:
    pin_server = 0 if args.pin else None
    results: list[LoadResult] = []
    with GatewayServer(args.server, pin_server) as server:
        print(f"gateway pid {server.proc.pid if server.proc else '?'} on port {server.port}: "
              f"{' '.join(server.command)}", file=sys.stderr)  # fmt: skip
        with asyncio.Runner(loop_factory=_event_loop_factory()) as runner:
            for scenario in scenarios:
                for concurrency in args.concurrency:
                    # Interference from other processes only ever adds time, so the least-disturbed
                    # repeat is the best estimate of the gateway's own cost (as timeit reports the min).
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


# --------------------------------------------------------------------------- cold import


@dataclass(slots=True)
class ImportResult:
    runs: int
    wall_ms: list[float]  # perf_counter around ``import app`` in a plain interpreter
    importtime_ms: list[float]  # sum of top-level cumulative -X importtime entries under ``import app``
    importtime_wall_ms: list[float]  # perf_counter around the import in the -X importtime run
    process_ms: list[float]  # whole interpreter: spawn to exit, plain run (includes startup)
    modules: int
    top_cumulative: list[tuple[str, float]] = field(default_factory=list)
    top_self: list[tuple[str, float]] = field(default_factory=list)


IMPORT_SNIPPET = (
    "import sys, time\n"
    f"sys.stderr.write({IMPORT_MARKER!r} + '\\n'); sys.stderr.flush()\n"
    "t = time.perf_counter()\n"
    "import app\n"
    "print((time.perf_counter() - t) * 1e3)\n"
)


def import_env() -> dict[str, str]:
    """Like Lambda: the function directory and the layer package on the path, bytecode written and used."""
    env = scrubbed_env()
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    env["PYTHONPATH"] = os.pathsep.join([str(MESSAGES_FUNCTION), str(LAYER_DIR)])
    return env


def _run_import(importtime: bool) -> tuple[float, float, str]:
    """(perf_counter ms around the import, process wall ms, stderr) of one fresh interpreter."""
    cmd = [sys.executable, *(["-X", "importtime"] if importtime else []), "-c", IMPORT_SNIPPET]
    start = time.perf_counter()
    done = subprocess.run(
        cmd, cwd=MESSAGES_FUNCTION, env=import_env(), capture_output=True, text=True, timeout=120, check=False
    )
    process_ms = (time.perf_counter() - start) * 1e3
    if done.returncode != 0:
        raise BenchError(f"import of {MESSAGES_FUNCTION / 'app.py'} failed:\n{done.stderr[-3000:]}")
    return float(done.stdout.strip().splitlines()[-1]), process_ms, done.stderr


def parse_importtime(stderr: str) -> tuple[float, dict[str, tuple[int, int]]]:
    """Total ms of the top-level imports after the marker, and module -> (self us, cumulative us)."""
    lines = stderr.splitlines()
    if IMPORT_MARKER not in lines:
        raise BenchError("importtime output without the start marker")
    total_us = 0
    modules: dict[str, tuple[int, int]] = {}
    for line in lines[lines.index(IMPORT_MARKER) + 1 :]:
        match = IMPORTTIME_LINE.match(line)
        if match is None:
            continue
        self_us, cumulative_us, indent, name = int(match[1]), int(match[2]), match[3], match[4].strip()
        modules[name] = (self_us, cumulative_us)
        if not indent:
            total_us += cumulative_us
    return total_us / 1e3, modules


def measure_import(repeats: int, top: int = 10) -> ImportResult:
    """Cold import of the messages handler, ``repeats`` fresh interpreters each way, .pyc warmed first."""
    _run_import(importtime=False)  # writes any missing __pycache__ entries: "bytecode present"
    result = ImportResult(runs=repeats, wall_ms=[], importtime_ms=[], importtime_wall_ms=[], process_ms=[], modules=0)
    per_module: dict[str, list[tuple[int, int]]] = {}
    for _ in range(repeats):
        wall, process, _ = _run_import(importtime=False)
        result.wall_ms.append(wall)
        result.process_ms.append(process)
        wall, _, stderr = _run_import(importtime=True)
        result.importtime_wall_ms.append(wall)
        total, modules = parse_importtime(stderr)
        result.importtime_ms.append(total)
        result.modules = len(modules)
        for name, timing in modules.items():
            per_module.setdefault(name, []).append(timing)
    medians = {
        name: (statistics.median(t[0] for t in timings) / 1e3, statistics.median(t[1] for t in timings) / 1e3)
        for name, timings in per_module.items()
    }
    result.top_cumulative = sorted(((n, m[1]) for n, m in medians.items()), key=lambda x: -x[1])[:top]
    result.top_self = sorted(((n, m[0]) for n, m in medians.items()), key=lambda x: -x[1])[:top]
    return result


# --------------------------------------------------------------------------- report


def machine_info() -> dict[str, Any]:
    cpu_model = "unknown"
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu_model = line.split(":", 1)[1].strip()
                break
    versions = {}
    for package in ("fastapi", "starlette", "pydantic", "pydantic-core", "uvicorn", "uvloop", "httptools", "mangum"):
        with contextlib.suppress(metadata.PackageNotFoundError):
            versions[package] = metadata.version(package)
    return {
        "cpu": cpu_model,
        "cores": os.cpu_count(),
        "python": platform.python_version(),
        "kernel": platform.release(),
        "packages": versions,
    }


def code_version() -> str:
    """The commit measured, and whether the gateway's code had uncommitted changes (figures move with it)."""
    try:
        commit = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True, timeout=10, check=True
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--", "layers", "functions"],
            cwd=ROOT, capture_output=True, text=True, timeout=10, check=True,
        ).stdout.splitlines()  # fmt: skip
    except (OSError, subprocess.SubprocessError):
        return "unknown (not a git checkout)"
    return f"{commit}" + (f" + {len(dirty)} uncommitted files under layers/ and functions/" if dirty else "")


def _fmt(value: float | None, digits: int = 2) -> str:
    return "-" if value is None else f"{value:.{digits}f}"


def render_markdown(report: dict[str, Any]) -> str:
    machine = report["machine"]
    packages = ", ".join(f"{k} {v}" for k, v in machine["packages"].items())
    out = [
        f"### aimux gateway benchmark, {report['date']}",
        "",
        f"- machine: {machine['cpu']}, {machine['cores']} cores, Linux {machine['kernel']}, "
        f"Python {machine['python']}; {packages}",
        f"- code: {report['code']}",
        f"- load average before/after: {report['loadavg_before']} / {report['loadavg_after']}",
        f"- command: `{report['command']}`",
    ]
    load: list[dict[str, Any]] = report.get("load") or []
    if load:
        out += [
            f"- gateway: `{report['server_command']}`"
            + (" pinned to CPU 0, load generator on CPU 1" if report["pinned"] else " (not pinned)"),
            f"- client: {report['client']}; {report['requests']} timed requests per row after "
            f"{report['warmup']} warm-up requests"
            + (f"; each row the best of {report['repeat']} runs" if report["repeat"] > 1 else ""),
            "",
            "| dialect | body | stream | conc | p50 ms | p99 ms | TTFB p50 ms | TTFB p99 ms | req/s "
            "| server CPU ms/req | server CPU util | client CPU ms/req | req KB | resp KB | SSE events |",
            "|---|---|---|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|",
        ]
        for r in load:
            out.append(
                f"| {r['dialect']} | {r['body']} | {'yes' if r['stream'] else 'no'} | {r['concurrency']} "
                f"| {_fmt(r['p50_ms'])} | {_fmt(r['p99_ms'])} | {_fmt(r['ttfb_p50_ms'])} "
                f"| {_fmt(r['ttfb_p99_ms'])} | {r['rps']:.0f} | **{_fmt(r['server_cpu_ms_per_req'])}** "
                f"| {r['server_cpu_util']:.0%} | {_fmt(r['client_cpu_ms_per_req'])} "
                f"| {r['request_bytes'] / 1024:.1f} | {r['response_bytes'] / 1024:.1f} "
                f"| {r['sse_events'] if r['sse_events'] is not None else '-'} |"
            )
        nonstream = [r for r in load if not r["stream"]]
        if nonstream:
            worst = max(nonstream, key=lambda r: r["server_cpu_ms_per_req"])
            verdict = "met" if worst["server_cpu_ms_per_req"] < TARGET_CPU_MS_NONSTREAM else "MISSED"
            out += [
                "",
                f"Target: under {TARGET_CPU_MS_NONSTREAM:g} server CPU ms per non-streaming request: "
                f"**{verdict}** (worst row: {worst['dialect']} {worst['body']} c={worst['concurrency']}, "
                f"{worst['server_cpu_ms_per_req']:.2f} ms).",
            ]
    imp: dict[str, Any] | None = report.get("import")
    if imp:
        median_wall = statistics.median(imp["wall_ms"])
        verdict = "met" if median_wall < TARGET_IMPORT_MS else "MISSED"
        rows = [
            ("`import app` wall, plain interpreter (perf_counter)", imp["wall_ms"]),
            ("`import app` total, `-X importtime` (sum of top-level cumulative)", imp["importtime_ms"]),
            ("`import app` wall inside the `-X importtime` run (perf_counter)", imp["importtime_wall_ms"]),
            ("whole process, spawn to exit, plain (interpreter start included)", imp["process_ms"]),
        ]
        out += [
            "",
            f"Cold import of `functions/messages/app.py` ({imp['runs']} fresh interpreters each, .pyc present, "
            f"{imp['modules']} modules imported by `import app`):",
            "",
            "| measure | min ms | median ms |",
            "|---|--:|--:|",
            *(f"| {name} | {min(v):.0f} | {statistics.median(v):.0f} |" for name, v in rows),
            "",
            f"Target: cold import under {TARGET_IMPORT_MS:g} ms (median plain wall): **{verdict}** "
            f"({median_wall:.0f} ms).",
            "",
            "Top imports by cumulative time (median over the `-X importtime` runs, ms):",
            "",
            "| module | cumulative ms | | module | self ms |",
            "|---|--:|---|---|--:|",
        ]
        for (cum_name, cum_ms), (self_name, self_ms) in zip(imp["top_cumulative"], imp["top_self"], strict=False):
            out.append(f"| {cum_name} | {cum_ms:.1f} | | {self_name} | {self_ms:.1f} |")
    return "\n".join(out)


# --------------------------------------------------------------------------- main


def _loadavg() -> str:
    return " ".join(f"{x:.2f}" for x in os.getloadavg())


def _raise_system_exit(signum: int, _frame: object) -> None:
    """SIGTERM/SIGHUP become SystemExit so every ``finally`` and ``__exit__`` stops the gateway."""
    raise SystemExit(128 + signum)


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--requests", type=int, default=2000, help="timed requests per row (default 2000)")
    parser.add_argument("--warmup", type=int, default=200, help="untimed requests before each row (default 200)")
    parser.add_argument(
        "--concurrency", type=lambda s: [int(x) for x in s.split(",")], default=[1, 16],
        help="comma-separated concurrency levels (default 1,16)",
    )  # fmt: skip
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
    parser.add_argument("--import-repeats", type=int, default=7, help="fresh interpreters per import measure")
    parser.add_argument("--no-load", action="store_true", help="skip the request benchmark")
    parser.add_argument("--no-import", action="store_true", help="skip the cold import benchmark")
    parser.add_argument(
        "--json", nargs="?", const="auto", default=None, metavar="PATH",
        help="also write the raw results as JSON (default path: bench/results/<timestamp>.json)",
    )  # fmt: skip
    args = parser.parse_args(argv)
    if min(args.requests, args.repeat, args.import_repeats, *args.concurrency) < 1 or args.warmup < 0:
        parser.error("--requests, --repeat, --import-repeats and --concurrency must be positive, --warmup >= 0")
    if args.pin and (os.cpu_count() or 1) < 2:
        parser.error("--pin needs at least two CPUs")
    return args


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    for signum in (signal.SIGTERM, signal.SIGHUP):
        signal.signal(signum, _raise_system_exit)
    scenarios = [s for s in build_scenarios() if all(word in label(s) for word in args.only)]
    if not args.no_load and not scenarios:
        print(f"no scenario matches {args.only}", file=sys.stderr)
        return 2
    report: dict[str, Any] = {
        "date": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "command": " ".join([Path(sys.executable).name, "bench/bench_gateway.py", *(argv or sys.argv[1:])]),
        "machine": machine_info(),
        "code": code_version(),
        "loadavg_before": _loadavg(),
        "pinned": args.pin,
        "client": (
            "raw asyncio sockets (HTTP/1.1 keep-alive, one connection per worker, uvloop)"
            if args.client == "raw"
            else "one pooled httpx.AsyncClient (keep-alive)"
        ),
        "requests": args.requests,
        "warmup": args.warmup,
        "repeat": args.repeat,
    }
    try:
        if not args.no_import:
            print("cold import ...", file=sys.stderr)
            report["import"] = asdict(measure_import(args.import_repeats))
        if not args.no_load:
            if args.pin:
                os.sched_setaffinity(0, {1})
            load, report["server_command"] = run_load(args, scenarios)
            report["load"] = [asdict(r) for r in load]
    except BenchError as exc:
        print(f"benchmark failed: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("interrupted; the gateway was stopped", file=sys.stderr)
        return 130
    report["loadavg_after"] = _loadavg()
    print(render_markdown(report))
    if args.json:
        path = Path(args.json) if args.json != "auto" else RESULTS_DIR / f"{time.strftime('%Y%m%d-%H%M%S')}.json"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(report, indent=2) + "\n")
        print(f"\nresults written to {path}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
