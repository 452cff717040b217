"""Cold start of each deployed function as Lambda runs it, measured on the built artifacts.

For MessagesFunction and AdminFunction: ``sam build``'s output (.aws-sam/build), a CPython of the
template's runtime version with ``-B`` (Lambda's code directories are read-only: only the layer's
precompiled .pyc help), a scrubbed Lambda-like environment, and the real runtime protocol: the
Runtime Interface Emulator from aws-sam-cli starts ``python -m awslambdaric app.handler`` on the first
invoke. Reported from the emulator's own log: **Init** (``INIT REPORT durationMs``: interpreter
start, runtime client, handler import) and **first invoke** (``INVOKE RTDONE duration``: the first
request, including everything built lazily on it), then one warm invoke.

MessagesStreamFunction runs behind the Lambda Web Adapter, which cannot run here (AWS's layer). Its
init on Lambda is the adapter starting run.sh and polling the readiness path, so that is what is
timed: spawn of run.sh (uvicorn on the built layer) to the first ``/healthz`` 200, then the first
streamed request's time to first byte and to its end.

``--without-pyc`` repeats MessagesFunction on a copy of the layer with every .pyc removed: what
SAM's stock python builder would ship.

    make bench-cold-start                     # = .venv/bin/python bench/cold_start.py (after make sam-check)
    .venv/bin/python bench/cold_start.py --runs 7 --without-pyc --json
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "infra"))
sys.path.insert(0, str(ROOT / "tests" / "functions"))  # the stored real event payloads
from lambda_harness import make_event  # noqa: E402
from lambda_python import find_lambda_python, runtime_version  # noqa: E402
from local_lambda import LocalLambda, lambda_environment, ric_dir  # noqa: E402

BUILD = ROOT / ".aws-sam" / "build"
# Deployed, the app checks gateway keys, which live in DynamoDB: not here. (The key check is one
# cached GetItem per key; it is not part of the init figures.)
NO_AUTH = {"AIMUX_AUTH": "off"}
HELLO = json.dumps({"model": "claude-sonnet-4-5", "max_tokens": 64, "messages": [{"role": "user", "content": "hi"}]})


@dataclass
class Sample:
    init_ms: float
    first_ms: float
    warm_ms: float


def rie_samples(
    python: str, layer: Path, function: str, event: dict[str, Any], runs: int,
    on_start: Callable[[int], None] | None = None,
) -> list[Sample]:  # fmt: skip
    """``runs`` cold starts of ``function``; ``on_start(pid)`` sees each emulator before its first invoke
    (``bench_lambda_sizing.py`` moves it into a CPU-limited cgroup there)."""
    ric = ric_dir(runtime_version())
    if ric is None:
        raise SystemExit("no awslambdaric for the runtime in .venv-sam/ric: run `make sam-tools`")
    samples = []
    for _ in range(runs):
        with LocalLambda(
            python, BUILD / function, layer, "app.handler", ric, function_name=function, env=NO_AUTH
        ) as fn:
            if on_start is not None:
                on_start(fn.pid)
            for _ in range(2):
                result, _ = fn.invoke(event)
                if not isinstance(result, dict) or result.get("statusCode") != 200:
                    raise SystemExit(f"{function}: unexpected answer {str(result)[:300]}\n{fn.log()[-2000:]}")
            reports = fn.reports(invokes=2)
            if reports.init_ms is None or len(reports.invokes) < 2:
                raise SystemExit(f"{function}: no INIT/INVOKE reports in the emulator log\n{fn.log()[-2000:]}")
            samples.append(Sample(reports.init_ms, reports.invokes[0][1], reports.invokes[1][1]))
    return samples


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _http(method: str, url: str, body: bytes | None = None, headers: dict[str, str] | None = None) -> tuple[int, float]:
    """(status, ms to the first body byte) and the body read to its end; raises on connection errors."""
    import http.client
    from urllib.parse import urlsplit

    parts = urlsplit(url)
    connection = http.client.HTTPConnection(parts.hostname, parts.port, timeout=30)
    started = time.perf_counter()
    try:
        connection.request(method, parts.path, body=body, headers=headers or {})
        response = connection.getresponse()
        response.read(1)
        first = (time.perf_counter() - started) * 1000
        response.read()
        return response.status, first
    finally:
        connection.close()


def _stream_samples(python: str, layer: Path, runs: int) -> list[Sample]:
    """run.sh spawn -> /healthz 200 (init), first streamed request's TTFB (first), a second one (warm)."""
    task_root = BUILD / "MessagesStreamFunction"
    body = json.dumps({**json.loads(HELLO), "stream": True}).encode()
    headers = {"content-type": "application/json", "anthropic-version": "2023-06-01"}
    samples = []
    for _ in range(runs):
        port = _free_port()
        env = lambda_environment("aimux-stream-bench", task_root)
        env.update(
            PATH=f"{Path(python).parent}:{env['PATH']}",  # run.sh calls python3: the runtime's
            PYTHONPATH=str(layer),  # what /opt/python is on Lambda (run.sh prepends the real path)
            AWS_LWA_PORT=str(port),
            **NO_AUTH,
        )
        started = time.perf_counter()
        process = subprocess.Popen(
            [str(task_root / "run.sh")], cwd=task_root, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT
        )
        try:
            init_ms = _wait_ready(f"http://127.0.0.1:{port}/healthz", started, process)
            timings = []
            for _ in range(2):
                status, first = _http("POST", f"http://127.0.0.1:{port}/v1/messages", body, headers)
                if status != 200:
                    raise SystemExit(f"stream function answered {status}")
                timings.append(first)
            samples.append(Sample(init_ms, timings[0], timings[1]))
        finally:
            process.terminate()
            process.wait(timeout=10)
    return samples


def _wait_ready(url: str, started: float, process: subprocess.Popen[bytes]) -> float:
    deadline = started + 20
    while time.perf_counter() < deadline:
        if process.poll() is not None:
            raise SystemExit("run.sh exited before becoming ready")
        try:
            status, _ = _http("GET", url)
            if status == 200:
                return (time.perf_counter() - started) * 1000
        except OSError:
            pass
        time.sleep(0.005)  # LWA polls every 10 ms
    raise SystemExit("run.sh did not become ready in 20 s")


def _layer_without_pyc(layer: Path, into: Path) -> Path:
    copy = into / "python"
    shutil.copytree(layer, copy, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    return copy


def _summary(name: str, samples: list[Sample]) -> dict[str, Any]:
    def stats(values: list[float]) -> str:
        return f"{statistics.median(values):.0f} ({min(values):.0f}-{max(values):.0f})"

    return {
        "function": name,
        "init": stats([s.init_ms for s in samples]),
        "first": stats([s.first_ms for s in samples]),
        "warm": stats([s.warm_ms for s in samples]),
        "cold": stats([s.init_ms + s.first_ms for s in samples]),
        "samples": [asdict(s) for s in samples],
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Cold start of the built Lambda functions (no Docker, no AWS).")
    parser.add_argument("--runs", type=int, default=5, help="cold starts per function (default 5)")
    parser.add_argument("--without-pyc", action="store_true", help="also MessagesFunction on a layer without .pyc")
    parser.add_argument(
        "--layer", type=Path, default=BUILD / "AimuxCoreLayer" / "python", help="layer content (/opt/python) to use"
    )
    parser.add_argument("--json", nargs="?", const="-", metavar="PATH", help="also write the raw samples")
    args = parser.parse_args(argv)

    python = find_lambda_python()
    if python is None:
        raise SystemExit(f"no python{runtime_version()} found (PATH, pyenv, AIMUX_LAMBDA_PYTHON)")
    layer = args.layer.resolve()
    if not (BUILD / "MessagesFunction").is_dir() or not layer.is_dir():
        raise SystemExit("no .aws-sam/build: run `make sam-check` (it runs sam build) first")

    runs: list[tuple[str, Callable[[], list[Sample]]]] = [
        ("MessagesFunction", lambda: rie_samples(python, layer, "MessagesFunction", _messages_event(), args.runs)),
        ("AdminFunction", lambda: rie_samples(python, layer, "AdminFunction", _admin_event(), args.runs)),
        ("MessagesStreamFunction", lambda: _stream_samples(python, layer, args.runs)),
    ]
    results = []
    load_before = f"{os.getloadavg()[0]:.2f}"
    with tempfile.TemporaryDirectory(prefix="aimux-cold-") as scratch:
        if args.without_pyc:
            bare = _layer_without_pyc(layer, Path(scratch))
            runs.append(
                (
                    "MessagesFunction, layer without .pyc",
                    lambda: rie_samples(python, bare, "MessagesFunction", _messages_event(), args.runs),
                )
            )
        for name, measure in runs:
            print(f"cold_start: {name} x{args.runs}", file=sys.stderr)
            results.append(_summary(name, measure()))

    version = subprocess.run([python, "-VV"], capture_output=True, text=True).stdout.strip()
    print(f"Python {version.removeprefix('Python ')} `-B`, {os.cpu_count()} CPUs, {args.runs} cold starts each;")
    print("median (min-max) ms. Stream function: init = run.sh spawn to /healthz 200; first/warm = TTFB.")
    shown = layer.relative_to(ROOT) if layer.is_relative_to(ROOT) else layer
    print(f"Layer: {shown} ({sum(1 for _ in layer.rglob('*.pyc'))} .pyc).")
    print(f"Load average before/after: {load_before} / {os.getloadavg()[0]:.2f}.\n")
    print("| function | init | first invoke | init + first invoke | warm invoke |")
    print("|---|---|---|---|---|")
    for row in results:
        print(f"| {row['function']} | {row['init']} | {row['first']} | {row['cold']} | {row['warm']} |")
    if args.json:
        text = json.dumps({"python": version, "results": results}, indent=1)
        if args.json == "-":
            print(text, file=sys.stderr)
        else:
            Path(args.json).write_text(text)
    return 0


def _messages_event() -> dict[str, Any]:
    return make_event("http-api-v2", "POST", "/v1/messages", HELLO)


def _admin_event() -> dict[str, Any]:
    return make_event("http-api-v2", "GET", "/admin/status")


if __name__ == "__main__":
    sys.exit(main())
