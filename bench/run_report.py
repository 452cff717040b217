"""What every benchmark report carries besides its figures: the machine, the code, the load, the command.

Why: figures depend on the machine and its other load, and move with uncommitted code, so a report
without them cannot be compared with another one. Also the number formats the report tables share,
and writing the raw results as JSON.
"""

from __future__ import annotations

import contextlib
import json
import os
import platform
import subprocess
import sys
import time
from collections.abc import Sequence
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
RESULTS_DIR = ROOT / "bench" / "results"
STACK_PACKAGES = ("fastapi", "starlette", "pydantic", "pydantic-core", "uvicorn", "uvloop", "httptools", "mangum")


def machine_info(extra_packages: Sequence[str] = ()) -> dict[str, Any]:
    """CPU model, cores, Python, kernel, and the versions of the packages the figures depend on."""
    cpu_model = "unknown"
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu_model = line.split(":", 1)[1].strip()
                break
    versions = {}
    for package in (*STACK_PACKAGES, *extra_packages):
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


def loadavg() -> str:
    return " ".join(f"{x:.2f}" for x in os.getloadavg())


def new_report(
    script: str, argv: Sequence[str] | None, *, pinned: bool, extra_packages: Sequence[str] = ()
) -> dict[str, Any]:
    """The report's opening keys, taken before anything runs (the load average is taken again at the end)."""
    return {
        "date": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "command": " ".join([Path(sys.executable).name, script, *(argv or sys.argv[1:])]),
        "machine": machine_info(extra_packages),
        "code": code_version(),
        "loadavg_before": loadavg(),
        "pinned": pinned,
    }


def header_lines(title: str, report: dict[str, Any]) -> list[str]:
    """The report's title and the lines that say where and how it was measured."""
    machine = report["machine"]
    packages = ", ".join(f"{k} {v}" for k, v in machine["packages"].items())
    return [
        f"### {title}, {report['date']}",
        "",
        f"- machine: {machine['cpu']}, {machine['cores']} cores, Linux {machine['kernel']}, "
        f"Python {machine['python']}; {packages}",
        f"- code: {report['code']}",
        f"- load average before/after: {report['loadavg_before']} / {report['loadavg_after']}",
        f"- command: `{report['command']}`",
    ]


def write_json(report: dict[str, Any], path_option: str, default_name: str) -> None:
    """``--json [PATH]``: the raw results, by default under ``bench/results/`` (git-ignored)."""
    path = Path(path_option) if path_option != "auto" else RESULTS_DIR / default_name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(report, indent=2) + "\n")
    print(f"\nresults written to {path}", file=sys.stderr)


def timestamp() -> str:
    """The local time as the default JSON file names carry it."""
    return time.strftime("%Y%m%d-%H%M%S")


def fmt_num(value: float | None, digits: int = 2) -> str:
    return "-" if value is None else f"{value:.{digits}f}"


def fmt_pct(value: float | None) -> str:
    return "-" if value is None else f"{value:.0%}"


def fmt_signed(value: float | None, digits: int = 2) -> str:
    return "-" if value is None else f"{value:+.{digits}f}"


def yes_no(flag: bool) -> str:
    return "yes" if flag else "no"
