"""The servers under test as child processes: spawned, pinned, health-checked, and always stopped.

Why a subprocess: the server's CPU must be measured apart from the load generator's, and the server
may be pinned to its own core. Why the care on exit: a benchmark interrupted by Ctrl-C, SIGTERM or
its own death must not leave servers behind on a shared machine (``PR_SET_PDEATHSIG`` covers the last).
"""

from __future__ import annotations

import contextlib
import ctypes
import http.client
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from proc_accounting import descendants, tree_cpu_seconds, tree_rss_kb

ROOT = Path(__file__).resolve().parent.parent
HOST = "127.0.0.1"
READY_TIMEOUT_S = 30.0
READY_POLL_S = 0.005  # fine-grained, so that the start-up time it measures is not rounded up much
STOP_TIMEOUT_S = 10.0

# Environment the servers must not see: anything that could configure a real provider, so the
# benchmarks always measure the mock or the fake upstream and never spend money upstream.
SCRUBBED_ENV_PREFIXES = ("AIMUX_", "ANTHROPIC_", "OPENAI_", "OPENROUTER_", "GEMINI_", "AWS_")


class BenchError(RuntimeError):
    """A benchmark precondition failed (server did not start, wrong status, malformed answer)."""


def free_port() -> int:
    """A port that was free a moment ago (the tiny race is acceptable on a dev machine)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((HOST, 0))
        return int(sock.getsockname()[1])


def scrubbed_env() -> dict[str, str]:
    """This process's environment without anything that could point a server at a real upstream."""
    return {k: v for k, v in os.environ.items() if not k.startswith(SCRUBBED_ENV_PREFIXES)}


def child_setup(pin_cpu: int | None) -> Callable[[], None]:
    """Runs in the child before exec: pin it, and make it die with us even if we are SIGKILLed."""

    def setup() -> None:
        if pin_cpu is not None:
            os.sched_setaffinity(0, {pin_cpu})
        with contextlib.suppress(OSError, AttributeError):
            libc = ctypes.CDLL(None, use_errno=True)
            pr_set_pdeathsig = 1
            libc.prctl(pr_set_pdeathsig, signal.SIGTERM)

    return setup


def _raise_system_exit(signum: int, _frame: object) -> None:
    raise SystemExit(128 + signum)


def stop_servers_on_signals() -> None:
    """SIGTERM/SIGHUP become SystemExit so every ``finally`` and ``__exit__`` stops the servers."""
    for signum in (signal.SIGTERM, signal.SIGHUP):
        signal.signal(signum, _raise_system_exit)


class ServerProcess:
    """A server subprocess (gateway, fake upstream, floor): started and health-checked, stopped on every exit path.

    ``name`` is how messages and the kept log's file name call it; ``display`` how a report names the
    command (default: the command line).
    """

    def __init__(
        self, name: str, command: list[str], env: dict[str, str], port: int, pin_cpu: int | None,
        display: str | None = None,
    ) -> None:  # fmt: skip
        self.name, self.command, self.env, self.port, self.pin_cpu = name, command, env, port, pin_cpu
        self.display = display or " ".join(command)
        self.proc: subprocess.Popen[bytes] | None = None
        self.pids: list[int] = []
        self.startup_s: float | None = None
        fd, log_name = tempfile.mkstemp(prefix=f"aimux-bench-{name.replace(' ', '-')}-", suffix=".log")
        os.close(fd)
        self.log_path = Path(log_name)

    def __enter__(self) -> ServerProcess:
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
        with self.log_path.open("wb") as log:  # the child keeps its own copy of the descriptor
            start = time.perf_counter()
            self.proc = subprocess.Popen(
                self.command, cwd=ROOT, env=self.env, stdin=subprocess.DEVNULL, stdout=log,
                stderr=subprocess.STDOUT, preexec_fn=child_setup(self.pin_cpu),
            )  # fmt: skip
        try:
            self._wait_ready()
        except BaseException:
            self.stop()
            raise
        self.startup_s = time.perf_counter() - start
        self.pids = descendants(self.proc.pid)
        return self.startup_s

    def _wait_ready(self) -> None:
        assert self.proc is not None
        deadline = time.monotonic() + READY_TIMEOUT_S
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise BenchError(f"{self.name} exited with {self.proc.returncode}:\n{self.log_tail()}")
            with contextlib.suppress(OSError, http.client.HTTPException):
                conn = http.client.HTTPConnection(HOST, self.port, timeout=1)
                try:
                    conn.request("GET", "/healthz")
                    if conn.getresponse().status == 200:
                        return
                finally:
                    conn.close()
            time.sleep(READY_POLL_S)
        raise BenchError(f"{self.name} not ready after {READY_TIMEOUT_S:.0f} s:\n{self.log_tail()}")

    def log_tail(self, lines: int = 30) -> str:
        return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])

    def cpu_split(self) -> tuple[float, float]:
        """(user, system) CPU seconds of the process tree so far (one clock tick resolution)."""
        return tree_cpu_seconds(self.pids)

    def cpu_seconds(self) -> float:
        """User + system CPU seconds of the process tree so far."""
        return sum(self.cpu_split())

    def rss_mb(self) -> tuple[float, float]:
        """(resident, peak resident) MB of the process tree now."""
        rss, hwm = tree_rss_kb(self.pids)
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
