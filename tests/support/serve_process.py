"""``aimux serve`` in its own process on a free loopback port, as an operator runs it.

Used where the server must be the real command (its uvicorn settings, its header limits) or where
its memory must be measured apart from the test process (``rss_mb``, ``peak_rss_mb`` read ``/proc``).
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import httpx

from .server import free_port


@dataclass
class ServeProcess:
    url: str
    port: int
    process: subprocess.Popen[str]
    stderr: str = ""

    def alive(self) -> bool:
        return self.process.poll() is None

    def rss_mb(self) -> float:
        return _status_kb(self.process.pid, "VmRSS") / 1024

    def peak_rss_mb(self) -> float:
        return _status_kb(self.process.pid, "VmHWM") / 1024


def start(env_extra: dict[str, str], port: int | None = None) -> ServeProcess:
    """Start ``aimux serve`` with a clean environment (no provider keys, no ``AIMUX_*``) plus ``env_extra``."""
    port = port or free_port()
    env = {k: v for k, v in os.environ.items() if not k.endswith("_API_KEY") and not k.startswith("AIMUX_")}
    env.pop("AWS_LAMBDA_FUNCTION_NAME", None)
    env.update(env_extra)
    process = subprocess.Popen(
        [sys.executable, "-m", "aimux_core.cli", "serve", "--port", str(port)],
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, env=env, cwd="/tmp",
    )  # fmt: skip
    return ServeProcess(f"http://127.0.0.1:{port}", port, process)


def wait_ready(served: ServeProcess, seconds: float = 20) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if not served.alive():
            raise AssertionError(f"aimux serve exited: {served.process.stderr.read() if served.process.stderr else ''}")
        try:
            if httpx.get(f"{served.url}/healthz", timeout=0.5).status_code == 200:
                return
        except httpx.HTTPError:
            time.sleep(0.1)
    raise AssertionError("aimux serve did not start")


def stop(served: ServeProcess) -> str:
    """Stop the process (SIGTERM, then SIGKILL) and return what it wrote to stderr."""
    served.process.terminate()
    try:
        _, err = served.process.communicate(timeout=10)
    except subprocess.TimeoutExpired:
        served.process.kill()
        _, err = served.process.communicate(timeout=10)
    served.stderr = err
    return err


@contextmanager
def aimux_serve(env_extra: dict[str, str] | None = None) -> Iterator[ServeProcess]:
    """A ready ``aimux serve``; stopped on exit (its stderr is then in ``.stderr``)."""
    served = start(env_extra or {})
    try:
        wait_ready(served)
        yield served
    finally:
        stop(served)


def _status_kb(pid: int, field: str) -> int:
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    raise AssertionError(f"no {field} in /proc/{pid}/status")
