"""Cold import of the messages Lambda handler (``functions/messages/app.py``), in fresh interpreters.

Why: on Lambda every millisecond of import is waited for on a cold start. Measured as Lambda runs
it (the function directory and the layer package on the path, bytecode present), both with a plain
``perf_counter`` and with ``-X importtime``, whose per-module figures say what to trim.
"""

from __future__ import annotations

import os
import re
import statistics
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

from server_process import BenchError, scrubbed_env

ROOT = Path(__file__).resolve().parent.parent
MESSAGES_FUNCTION = ROOT / "functions" / "messages"
LAYER_DIR = ROOT / "layers" / "aimux_core"
IMPORT_MARKER = "@@aimux-bench-import-start"
IMPORTTIME_LINE = re.compile(r"^import time:\s*(\d+)\s*\|\s*(\d+)\s*\| ( *)(\S.*)$")


@dataclass(slots=True)
class ImportResult:
    """The cold-import figures, every fresh interpreter's value kept (the report shows min and median)."""

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
