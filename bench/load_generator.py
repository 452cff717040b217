"""The load generator: concurrent keep-alive workers, answer checks, and latency percentiles.

Why raw sockets by default: httpx costs the client several times what the server spends per
request, so at concurrency 16 the client's core would saturate first and the latency figures would
describe httpx, not the server. The raw sender pre-encodes the request and parses only what HTTP/1.1
needs (Content-Length or chunked bodies); ``HttpxSender`` is there to show the difference.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import socket
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from proc_accounting import self_cpu_seconds
from request_shapes import Scenario, label
from server_process import HOST, BenchError

# Hard bounds so that no loop can run away on a misbehaving server.
MAX_CHUNKS_PER_RESPONSE = 100_000
MAX_TRAILER_LINES = 100
REQUEST_TIMEOUT_S = 30.0

CpuMeter = Callable[[], tuple[float, float]]  # (user, system) CPU seconds of a server so far


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
    """One keep-alive HTTP/1.1 connection over plain asyncio streams (the default client)."""

    def __init__(self, port: int, scenario: Scenario) -> None:
        self.port = port
        self.wire = scenario.wire_request(HOST, port)
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
        # The server hung, died or answered something that is not HTTP/1.1: report, don't trace back.
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


def percentile(values: Sequence[float], q: float) -> float:
    """Linear-interpolated percentile (q in 0..100) of a non-empty sequence."""
    ordered = sorted(values)
    rank = (len(ordered) - 1) * q / 100
    low = int(rank)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (rank - low)


@dataclass(slots=True)
class TimedPhase:
    """What one timed phase saw: the checked answers, its wall time, and the CPU spent in it."""

    stream: bool
    samples: list[Sample]
    wall_s: float
    client_cpu_s: float
    meter_cpu_s: list[tuple[float, float]]  # (user, system) seconds per meter, in the order they were given

    @property
    def requests(self) -> int:
        return len(self.samples)

    @property
    def totals_ms(self) -> list[float]:
        return [s.total_s * 1e3 for s in self.samples]

    def latency_ms(self, q: float) -> float:
        """Percentile ``q`` of the whole request, first byte written to last byte read."""
        return percentile(self.totals_ms, q)

    def ttfb_ms(self, q: float) -> float | None:
        """Percentile ``q`` of the time to the first body byte; None unless the answers are streams."""
        ttfbs = [s.ttfb_s * 1e3 for s in self.samples if s.ttfb_s is not None] if self.stream else []
        return percentile(ttfbs, q) if ttfbs else None

    @property
    def response_bytes(self) -> int:
        return len(self.samples[-1].body)

    @property
    def sse_events(self) -> int | None:
        """Events in one streamed answer (the last); None for JSON answers."""
        return self.samples[-1].body.count(b"\n\n") if self.stream else None


async def timed_phase(
    senders: Sequence[Sender], scenario: Scenario, requests: int, warmup: int, meters: Sequence[CpuMeter]
) -> TimedPhase:
    """Warm up, then time ``requests`` requests, reading CPU around the timed phase only.

    The warm-up sends at least one request per sender, so every connection is open before timing.
    The senders are closed when this returns.
    """
    try:
        check_samples(scenario, await run_phase(senders, max(warmup, len(senders))), deep=True)
        meters_before = [meter() for meter in meters]
        client_before, start = self_cpu_seconds(), time.perf_counter()
        samples = await run_phase(senders, requests)
        wall = time.perf_counter() - start
        meters_after = [meter() for meter in meters]
        client_cpu = self_cpu_seconds() - client_before
    finally:
        for sender in senders:
            await sender.close()
    check_samples(scenario, samples, deep=False)
    spent = [
        (after[0] - before[0], after[1] - before[1]) for after, before in zip(meters_after, meters_before, strict=True)
    ]
    return TimedPhase(scenario.stream, samples, wall, client_cpu, spent)


def event_loop_factory() -> Callable[[], asyncio.AbstractEventLoop]:
    """uvloop for the client when installed: less client CPU per request, same server work."""
    try:
        import uvloop
    except ImportError:
        return asyncio.new_event_loop
    return uvloop.new_event_loop
