#!/usr/bin/env python3
"""The cheapest Lambda memory size that keeps up: aimux under Lambda's CPU share at each size.

Why: on Lambda a request is billed for its whole duration and a streamed answer lasts as long as the
model writes, so the memory size (which sets both the price per second and the CPU share) is most of
the gateway's own cost. Lambda gives one vCPU at 1,769 MB and proportionally less below; this script
caps aimux with the kernel's CFS bandwidth control at that share (``cpu_limit.py``: cgroup v2
``cpu.max``, or the v1 ``cpu.cfs_quota_us`` equivalent) and measures, per size:

- **added latency** of the recorded Claude Code turn (``tests/fixtures/claude_code/request_tool_turn1.json``,
  47 KB, its headers and ``?beta=true``), JSON: aimux (``aimux serve``, an ``anthropic`` provider
  pointed at the fast fake upstream) minus the same request straight to the fake;
- **added TTFT** of the same turn streamed: time to the first ``content_block_delta`` via aimux minus
  direct (and the added time to the last byte);
- **init** of MessagesFunction through the Runtime Interface Emulator (``cold_start.rie_samples``, the
  built layer of ``.aws-sam/build``, python3.13): the emulator and the runtime it spawns in the same
  cgroup, so the import runs under the share (whether Lambda boosts CPU during init is not documented:
  these are the pessimistic figures).

Requests are sent one at a time with ``--idle-ms`` between them, as a Lambda instance serves one
request at a time and waits for the next (or for the model): each request starts on a quota the
previous one did not exhaust. aimux runs pinned to CPU 0 (its cgroup caps it below that), the fake
upstream and this client on CPU 1. Figures are wall times on a shared machine: the p50 is the one to
read. Script, never a test.

Run (after ``make sam-check`` has built ``.aws-sam/build``; root, for the cgroup):
``.venv/bin/python bench/bench_lambda_sizing.py --sizes 256,512,1024,1769 --requests 60 --init-runs 3``
"""

from __future__ import annotations

import argparse
import contextlib
import copy
import http.client
import json
import os
import statistics
import sys
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from cold_start import BUILD, _messages_event, rie_samples
from cpu_limit import CpuLimit, lambda_vcpus
from deployed_state import DeployedState, deployed_state
from lambda_python import find_lambda_python
from request_shapes import DROPPED_FIXTURE_HEADERS, FIXTURE
from run_report import header_lines, new_report
from server_process import HOST, ServerProcess, stop_servers_on_signals
from upstream_processes import aimux_process, fake_process, write_config
from upstream_scenarios import ANTHROPIC_MODEL, UPSTREAM_ANTHROPIC_MODEL

FIRST_CONTENT = b"event: content_block_delta"


@dataclass(slots=True)
class Timing:
    first_byte_ms: float
    first_content_ms: float | None
    total_ms: float


@dataclass(slots=True)
class SizeResult:
    memory_mb: int
    vcpus: float
    quota_us: int
    period_us: int
    json_added_ms: list[float] = field(default_factory=list)  # per request: via - median direct
    stream_ttft_added_ms: list[float] = field(default_factory=list)
    stream_total_added_ms: list[float] = field(default_factory=list)
    init_ms: list[float] = field(default_factory=list)
    first_invoke_ms: list[float] = field(default_factory=list)
    throttled_s: float = 0.0


def claude_code_request(model: str, stream: bool) -> tuple[str, dict[str, str], bytes]:
    """(path with query, headers, compact body) of the recorded turn, with ``model`` and ``stream`` set."""
    recorded = json.loads(FIXTURE.read_text(encoding="utf-8"))
    body = copy.deepcopy(recorded["body"])
    body.update(model=model, stream=stream)
    headers = {k: v for k, v in recorded["headers"].items() if k.lower() not in DROPPED_FIXTURE_HEADERS}
    path = recorded["path"] + (f"?{recorded['query']}" if recorded.get("query") else "")
    return path, headers, json.dumps(body, separators=(",", ":"), ensure_ascii=False).encode()


def timed_request(connection: http.client.HTTPConnection, path: str, headers: dict[str, str], body: bytes) -> Timing:
    """One request on a kept-alive connection: first body byte, first content event, last byte (ms)."""
    started = time.perf_counter()
    connection.request("POST", path, body=body, headers=headers)
    response = connection.getresponse()
    first_byte = first_content = None
    seen = b""
    while chunk := response.read1(65536):
        now = time.perf_counter()
        first_byte = first_byte or now
        if first_content is None:
            seen = seen[-32:] + chunk
            if FIRST_CONTENT in seen:
                first_content = now
    total = time.perf_counter()
    response.read()  # marks the response finished, so the connection takes the next request
    if response.status != 200:
        raise RuntimeError(f"{path}: HTTP {response.status}")
    assert first_byte is not None
    ms = lambda t: (t - started) * 1e3  # noqa: E731
    return Timing(ms(first_byte), None if first_content is None else ms(first_content), ms(total))


def run_requests(
    port: int, model: str, stream: bool, count: int, idle_s: float, key: str | None = None
) -> list[Timing]:
    path, headers, body = claude_code_request(model, stream)
    if key is not None:
        headers = {**headers, "x-api-key": key}
    connection = http.client.HTTPConnection(HOST, port, timeout=60)
    try:
        for _ in range(3):  # warm: connection, the gateway built, the first upstream connection
            timed_request(connection, path, headers, body)
        timings = []
        for _ in range(count):
            time.sleep(idle_s)
            timings.append(timed_request(connection, path, headers, body))
        return timings
    finally:
        connection.close()


def measure_size(
    memory_mb: int, args: argparse.Namespace, fake: ServerProcess, config: Path, direct: dict[str, float],
    python: str | None, state: DeployedState | None = None,
) -> SizeResult:  # fmt: skip
    with CpuLimit(lambda_vcpus(memory_mb), args.period_us, name=f"aimux-lambda-{memory_mb}mb") as limit:
        result = SizeResult(memory_mb, limit.vcpus, limit.quota_us, limit.period_us)
        server = aimux_process("shipped", config, 0)
        if args.code is not None:  # another version of aimux_core (a paired A/B in the same minutes)
            server.env["PYTHONPATH"] = os.pathsep.join([str(args.code.resolve()), server.env["PYTHONPATH"]])
        if state is not None:
            server.env.update(state.env)
        key = state.key if state is not None else None
        with server:
            for pid in server.pids or [server.proc.pid if server.proc else 0]:
                limit.add(pid)
            idle = args.idle_ms / 1e3
            for t in run_requests(server.port, ANTHROPIC_MODEL, False, args.requests, idle, key):
                result.json_added_ms.append(t.total_ms - direct["json_total"])
            for t in run_requests(server.port, ANTHROPIC_MODEL, True, args.requests, idle, key):
                assert t.first_content_ms is not None
                result.stream_ttft_added_ms.append(t.first_content_ms - direct["stream_ttft"])
                result.stream_total_added_ms.append(t.total_ms - direct["stream_total"])
        if python is not None and args.init_runs:
            layer = args.layer.resolve()
            for sample in rie_samples(python, layer, "MessagesFunction", _messages_event(), args.init_runs, limit.add):
                result.init_ms.append(sample.init_ms)
                result.first_invoke_ms.append(sample.first_ms)
        result.throttled_s = limit.throttled_s()
        print(f"  {memory_mb} MB done (throttled {result.throttled_s:.1f} s)", file=sys.stderr)
        return result


def direct_figures(fake: ServerProcess, args: argparse.Namespace) -> dict[str, float]:
    """The fake alone (medians): what the added figures subtract."""
    idle = args.idle_ms / 1e3
    json_runs = run_requests(fake.port, UPSTREAM_ANTHROPIC_MODEL, False, args.requests, idle)
    stream_runs = run_requests(fake.port, UPSTREAM_ANTHROPIC_MODEL, True, args.requests, idle)
    return {
        "json_total": statistics.median(t.total_ms for t in json_runs),
        "stream_ttft": statistics.median(t.first_content_ms or 0.0 for t in stream_runs),
        "stream_total": statistics.median(t.total_ms for t in stream_runs),
    }


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--sizes", default="256,512,1024,1769", help="Lambda memory sizes in MB (default: those four)")
    parser.add_argument("--requests", type=int, default=60, help="timed requests per size and answer kind")
    parser.add_argument("--idle-ms", type=float, default=150.0, help="pause before each request (default 150)")
    parser.add_argument("--period-us", type=int, default=100_000, help="CFS period (default 100000, the kernel's)")
    parser.add_argument("--init-runs", type=int, default=3, help="cold starts through the emulator per size (0: none)")
    parser.add_argument("--layer", type=Path, default=BUILD / "AimuxCoreLayer" / "python", help="built layer content")
    parser.add_argument(
        "--deployed",
        action="store_true",
        help="run as deployed: state in DynamoDB (dynalite), a key, EMF, writes held (deployed_state.py)",
    )
    parser.add_argument("--code", type=Path, help="an aimux_core directory to serve instead of this tree's")
    parser.add_argument("--json", metavar="PATH", help="also write the raw results")
    args = parser.parse_args(argv)
    args.sizes = [int(x) for x in args.sizes.split(",") if x]
    return args


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q / 100 * (len(ordered) - 1)))]


def render(report: dict[str, Any]) -> str:
    out = header_lines("aimux under Lambda's CPU share per memory size", report)
    out += [
        f"- cgroup: {report['cgroup']}, period {report['period_us'] / 1000:g} ms; {report['requests']} requests per "
        f"cell, one at a time, {report['idle_ms']:g} ms idle before each; direct (fake alone, ms): JSON "
        f"{report['direct']['json_total']:.2f}, stream TTFT {report['direct']['stream_ttft']:.2f}; "
        + ("as deployed (state in DynamoDB on dynalite, a key, EMF, writes held)" if report.get("deployed")
           else "aimux serve as is (state in memory, auth off)") + f"; aimux_core: {report.get('code', '.')}",
        "",
        "| memory MB | vCPU | JSON added p50 / p99 ms | stream added TTFT p50 / p99 ms | stream added to last byte p50 "
        "| init (RIE) median (min-max) ms | first invoke median ms |",
        "|--:|--:|--:|--:|--:|--:|--:|",
    ]  # fmt: skip
    for r in report["sizes"]:
        init = (
            f"{statistics.median(r['init_ms']):.0f} ({min(r['init_ms']):.0f}-{max(r['init_ms']):.0f})"
            if r["init_ms"] else "-"
        )  # fmt: skip
        first = f"{statistics.median(r['first_invoke_ms']):.0f}" if r["first_invoke_ms"] else "-"
        out.append(
            f"| {r['memory_mb']} | {r['vcpus']:.3f} "
            f"| {pct(r['json_added_ms'], 50):.1f} / {pct(r['json_added_ms'], 99):.1f} "
            f"| {pct(r['stream_ttft_added_ms'], 50):.1f} / {pct(r['stream_ttft_added_ms'], 99):.1f} "
            f"| {pct(r['stream_total_added_ms'], 50):.1f} | {init} | {first} |"
        )
    return "\n".join(out)


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    stop_servers_on_signals()
    report = new_report("bench/bench_lambda_sizing.py", argv, pinned=True)
    python = find_lambda_python() if args.init_runs else None
    if args.init_runs and (python is None or not args.layer.is_dir()):
        raise SystemExit("init needs python3.13 and .aws-sam/build: run `make sam-check` first (or --init-runs 0)")
    os.sched_setaffinity(0, {1})
    with fake_process(1, 0.0) as fake, deployed_state() if args.deployed else contextlib.nullcontext() as state:
        config = write_config(fake.port)
        try:
            direct = direct_figures(fake, args)
            sizes = [asdict(measure_size(mb, args, fake, config, direct, python, state)) for mb in args.sizes]
        finally:
            config.unlink(missing_ok=True)
    probe = CpuLimit(1.0)
    report.update(
        sizes=sizes, direct=direct, cgroup=probe.kind, period_us=args.period_us, requests=args.requests,
        idle_ms=args.idle_ms, deployed=args.deployed, code=str(args.code or "."),
        loadavg_after=" ".join(f"{x:.2f}" for x in os.getloadavg()),
    )  # fmt: skip
    print(render(report))
    if args.json:
        Path(args.json).write_text(json.dumps(report, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
