"""Run a function's real handler behind the Lambda Runtime API on loopback, without Docker.

``sam local invoke`` needs a container engine and AWS's runtime images. The pieces that matter are
available anyway: the Runtime Interface Emulator (RIE) binary that the aws-sam-cli wheel ships
(``samcli/local/rapid/aws-lambda-rie-<arch>``) serves the Runtime API and the invoke endpoint, and
``awslambdaric`` (what the managed python runtime runs) fetches each event from it, imports the
handler and posts the result back. So an invocation here goes through the same protocol, the same
bootstrap and the same handler import as on Lambda. What differs: the interpreter (a local CPython
of the runtime's version), the CPU, and no sandbox.

Used by tests/functions/test_runtime_api.py and bench/cold_start.py:

    with LocalLambda(python, task_root, layer, "app.handler", ric) as fn:
        result = fn.invoke(event)          # parsed JSON the handler returned
        fn.reports()                       # init and per-invoke durations from the RIE log
"""

from __future__ import annotations

import json
import os
import re
import socket
import subprocess
import tempfile
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

ROOT = Path(__file__).resolve().parents[1]
INVOKE_PATH = "/2015-03-31/functions/function/invocations"
_INIT = re.compile(r"INIT REPORT\(durationMs: ([\d.]+)\)")
_INVOKE = re.compile(r"INVOKE RTDONE\(status: (\w+), produced bytes: \d+, duration: ([\d.]+)ms\)")
_ARCH = {"x86_64": "x86_64", "aarch64": "arm64", "arm64": "arm64"}


def sam_venv() -> Path:
    return Path(os.environ.get("AIMUX_SAM_VENV") or ROOT / ".venv-sam").resolve()


def find_rie(venv: Path | None = None) -> Path | None:
    """The RIE binary for this machine's CPU inside the aws-sam-cli install, or None."""
    arch = _ARCH.get(os.uname().machine, "x86_64")
    found = sorted((venv or sam_venv()).glob(f"lib/python3*/site-packages/samcli/local/rapid/aws-lambda-rie-{arch}"))
    return found[0] if found else None


def ric_dir(version: str, venv: Path | None = None) -> Path | None:
    """Where ``make sam-tools`` installed awslambdaric for CPython ``version`` (``3.13``), or None."""
    path = (venv or sam_venv()) / "ric" / ("cp" + version.replace(".", ""))
    return path if (path / "awslambdaric").is_dir() else None


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def lambda_environment(function_name: str, task_root: Path, memory_mb: int = 1024) -> dict[str, str]:
    """A scrubbed environment like Lambda's: no developer keys, AWS profile or venv leak in."""
    return {
        "PATH": "/usr/local/bin:/usr/bin:/bin",
        "LANG": "en_US.UTF-8",
        "TZ": ":UTC",
        "HOME": tempfile.gettempdir(),
        "LAMBDA_TASK_ROOT": str(task_root),
        "AWS_LAMBDA_FUNCTION_NAME": function_name,
        "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": str(memory_mb),
        "AWS_LAMBDA_FUNCTION_VERSION": "$LATEST",
        "AWS_EXECUTION_ENV": "AWS_Lambda_python",
        "AWS_REGION": "us-east-1",
        "AWS_DEFAULT_REGION": "us-east-1",
        "AIMUX_MAX_REQUEST_MB": "5",
        "AIMUX_LOG_LEVEL": "INFO",
        "POWERTOOLS_SERVICE_NAME": "aimux",
        "POWERTOOLS_METRICS_NAMESPACE": "Aimux",
    }


@dataclass
class Reports:
    init_ms: float | None
    invokes: list[tuple[str, float]] = field(default_factory=list)  # (status, duration ms)


class LocalLambda:
    """One execution environment: RIE + awslambdaric + the handler, started on the first invoke."""

    def __init__(
        self,
        python: str,
        task_root: Path,
        layer: Path,
        handler: str,
        ric: Path,
        *,
        rie: Path | None = None,
        env: dict[str, str] | None = None,
        python_flags: tuple[str, ...] = ("-B",),
        function_name: str = "aimux-local",
    ) -> None:
        found = rie or find_rie()
        if found is None:
            raise FileNotFoundError("no Runtime Interface Emulator: run `make sam-tools` (aws-sam-cli in .venv-sam)")
        self.rie = found
        self.python, self.task_root, self.layer, self.handler, self.ric = python, task_root, layer, handler, ric
        self.python_flags = python_flags
        self.env = {**lambda_environment(function_name, task_root), **(env or {})}
        self.port = free_port()
        self._process: subprocess.Popen[bytes] | None = None
        self._log_file: IO[bytes] | None = None
        self._log_path: Path | None = None

    def __enter__(self) -> LocalLambda:
        # Lambda's search path: the function first, then the layer (/opt/python), then the runtime.
        path = os.pathsep.join(str(p) for p in (self.task_root, self.layer, self.ric))
        env = {**self.env, "PYTHONPATH": path}
        fd, name = tempfile.mkstemp(prefix="aimux-rie-", suffix=".log")
        os.close(fd)
        self._log_path = Path(name)
        self._log_file = self._log_path.open("wb")
        command = [
            str(self.rie),
            "--runtime-interface-emulator-address", f"127.0.0.1:{self.port}",
            "--runtime-api-address", f"127.0.0.1:{free_port()}",
            self.python, *self.python_flags, "-m", "awslambdaric", self.handler,
        ]  # fmt: skip
        self._process = subprocess.Popen(
            command, cwd=self.task_root, env=env, stdout=self._log_file, stderr=subprocess.STDOUT
        )
        self._wait_listening()
        return self

    def __exit__(self, *exc: object) -> None:
        if self._process is not None:
            self._process.terminate()
            try:
                self._process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self._process.kill()
                self._process.wait()
        if self._log_file is not None:
            self._log_file.close()
        if self._log_path is not None:
            self._log_path.unlink(missing_ok=True)

    @property
    def pid(self) -> int:
        """The emulator's process id (the runtime it spawns on the first invoke is its child)."""
        assert self._process is not None, "not started"
        return self._process.pid

    def _wait_listening(self, timeout: float = 10.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            assert self._process is not None
            if self._process.poll() is not None:
                raise RuntimeError(f"the emulator exited:\n{self.log()}")
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.2):
                    return
            except OSError:
                time.sleep(0.02)
        raise RuntimeError(f"the emulator did not listen on 127.0.0.1:{self.port}:\n{self.log()}")

    def invoke(self, event: dict[str, Any], timeout: float = 60.0) -> tuple[Any, float]:
        """Invoke once; (the handler's parsed result, client-side milliseconds)."""
        request = urllib.request.Request(
            f"http://127.0.0.1:{self.port}{INVOKE_PATH}", data=json.dumps(event).encode(), method="POST"
        )
        started = time.perf_counter()
        with urllib.request.urlopen(request, timeout=timeout) as response:
            body = response.read()
        return json.loads(body), (time.perf_counter() - started) * 1000

    def log(self) -> str:
        if self._log_file is not None:
            self._log_file.flush()
        return self._log_path.read_text(errors="replace") if self._log_path else ""

    def reports(self, invokes: int = 1, timeout: float = 2.0) -> Reports:
        """Init duration and each invoke's (status, duration) as the emulator logged them.

        The emulator may log an invoke's line just after answering it: wait up to ``timeout`` for
        ``invokes`` of them.
        """
        deadline = time.monotonic() + timeout
        while True:
            text = self.log()
            init = _INIT.search(text)
            done = [(status, float(ms)) for status, ms in _INVOKE.findall(text)]
            if len(done) >= invokes or time.monotonic() > deadline:
                return Reports(float(init.group(1)) if init else None, done)
            time.sleep(0.02)
