"""functions/messages/run.sh, the Lambda Web Adapter entry point, serves the app over HTTP and streams.

LWA itself cannot run here (its layer comes from AWS), so this starts the script the way LWA does
-- as a child process with AWS_LWA_PORT set -- and talks to it on loopback like LWA would.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from lambda_harness import FUNCTIONS

RUN_SH = FUNCTIONS / "messages" / "run.sh"


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.fixture(scope="module")
def base_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    pytest.importorskip("uvicorn", reason="uvicorn is not installed")
    log_path = tmp_path_factory.mktemp("run_sh") / "server.log"
    port = _free_port()
    env = {
        **os.environ,
        # `python3` in run.sh must be this interpreter, as it is the runtime's on Lambda.
        "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}",
        "AWS_LWA_PORT": str(port),
        "LAMBDA_TASK_ROOT": str(RUN_SH.parent),
    }
    log = log_path.open("wb")
    process = subprocess.Popen([str(RUN_SH)], cwd=RUN_SH.parent, env=env, stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 20
        while True:  # what LWA does before the first invoke: poll the readiness path
            try:
                if httpx.get(f"{url}/healthz", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if process.poll() is not None or time.monotonic() > deadline:
                pytest.fail(f"run.sh did not become ready on {url}/healthz:\n{log_path.read_text()}")
            time.sleep(0.1)
        yield url
    finally:
        process.terminate()  # run.sh execs uvicorn, so this pid is the server itself
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        log.close()


def test_run_sh_is_executable() -> None:
    assert os.access(RUN_SH, os.X_OK), "Lambda runs run.sh directly: it must be executable"
    assert b"\r\n" not in RUN_SH.read_bytes(), "run.sh needs LF line endings"


def test_run_sh_streams_messages(base_url: str) -> None:
    body = {
        "model": "claude-sonnet-4-5",
        "max_tokens": 64,
        "stream": True,
        "messages": [{"role": "user", "content": "hello"}],
    }
    events: list[str] = []
    with httpx.stream("POST", f"{base_url}/v1/messages", json=body, timeout=10) as response:
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/event-stream")
        for line in response.iter_lines():
            if line.startswith("data: "):
                events.append(json.loads(line.removeprefix("data: "))["type"])
    assert events[0] == "message_start"
    assert events[-1] == "message_stop"
