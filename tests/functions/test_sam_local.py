"""`sam local start-api` as the README documents it, in Docker, driven with both official SDKs.

The command runs from the repository root, so samconfig.toml supplies what a user gets: the built
template (the layer with its dependencies and .pyc), infra/sam-local-env.json (in-memory state, no
gateway keys, no SSM path: nothing is reached from inside the container) and LAZY containers. SAM
builds its emulator image on the Lambda Python base image and runs MessagesFunction with the layer at
/opt, behind its API Gateway emulation: the HTTP API of a deployment, minus AWS.

No image registry is reachable in CI, so ``make sam-local-prepare`` starts Docker and builds the base
image under the name SAM asks for (infra/lambda_image.py); hence ``--skip-pull-image``. Under
``AIMUX_REQUIRE_SAM=1`` (``make test``) a missing piece fails this module instead of skipping it. The
server is stopped and the containers and images it created are removed at the end.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import anthropic
import openai
import pytest
from lambda_harness import ROOT

sys.path.insert(0, str(ROOT / "infra"))
from local_lambda import free_port, sam_venv
from smoke import run_checks

pytestmark = pytest.mark.timeout(600)
BUILT = ROOT / ".aws-sam" / "build" / "template.yaml"
PREPARE_LOG = ROOT / "build" / "docker" / "prepare.log"
REQUIRED = os.environ.get("AIMUX_REQUIRE_SAM") == "1"
SAM_LABEL = "label=sam.cli.container.type=lambda"
FIRST_REQUEST_TIMEOUT = 300.0  # SAM builds its emulator and layer images on the first request


def _missing(reason: str) -> None:
    log = PREPARE_LOG.read_text(errors="replace")[-3000:] if PREPARE_LOG.is_file() else "(no prepare log)"
    if REQUIRED:
        pytest.fail(f"{reason}\n--- {PREPARE_LOG} ---\n{log}")
    pytest.skip(reason)


def _docker(*args: str, timeout: float = 60) -> str:
    result = subprocess.run(["docker", *args], capture_output=True, text=True, timeout=timeout)
    if result.returncode != 0:
        raise RuntimeError(f"docker {' '.join(args)}: {result.stderr.strip()}")
    return result.stdout


def _ids(*args: str) -> set[str]:
    return set(_docker(*args).split())


def _preconditions() -> Path:
    if os.environ.get("AIMUX_SAM_LOCAL") == "first-pass":
        pytest.skip("sam local ran in make test's first pass: the container runs its own python3.13")
    sam = sam_venv() / "bin" / "sam"
    if not sam.exists():
        _missing(f"no {sam} (run `make sam-tools`)")
    try:
        _docker("info", timeout=20)
    except (OSError, RuntimeError, subprocess.TimeoutExpired) as exc:
        _missing(f"no Docker engine answers (make sam-local-prepare starts one): {exc}")
    check = subprocess.run([sys.executable, str(ROOT / "infra" / "lambda_image.py"), "--check"],
                           capture_output=True, text=True, timeout=60)  # fmt: skip
    if check.returncode != 0:
        _missing(f"the Lambda base image is missing or stale (make sam-local-prepare): {check.stderr.strip()}")
    if not BUILT.is_file():
        _missing(f"no {BUILT} (make sam-check runs sam build)")
    return sam


def _wait_listening(process: subprocess.Popen[bytes], port: int, log: Path, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            pytest.fail(f"sam local start-api exited ({process.returncode}):\n{log.read_text(errors='replace')}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.2)
    pytest.fail(f"sam local start-api did not listen on {port}:\n{log.read_text(errors='replace')}")


@pytest.fixture(scope="module")
def sam_local() -> Iterator[str]:
    """The base URL of `sam local start-api` (the documented command, plus --skip-pull-image and a port)."""
    sam = _preconditions()
    containers_before = _ids("ps", "-aq", "--filter", SAM_LABEL)
    images_before = _ids("images", "-q", "samcli/lambda-python")
    port = free_port()
    log = Path(tempfile.mkstemp(prefix="aimux-sam-local-", suffix=".log")[1])
    command = [str(sam), "local", "start-api", "--skip-pull-image", "--host", "127.0.0.1", "--port", str(port)]
    with log.open("wb") as out:
        process = subprocess.Popen(
            command, cwd=ROOT, stdout=out, stderr=subprocess.STDOUT, start_new_session=True,
            env={**os.environ, "SAM_CLI_TELEMETRY": "0"},
        )  # fmt: skip
    try:
        _wait_listening(process, port, log)
        yield f"http://127.0.0.1:{port}"
    finally:
        os.killpg(process.pid, signal.SIGINT)
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()
        # SAM leaves its warm containers running when interrupted: remove exactly the ones it started.
        started = _ids("ps", "-aq", "--filter", SAM_LABEL) - containers_before
        if started:
            _docker("rm", "-f", *sorted(started))
        built = _ids("images", "-q", "samcli/lambda-python") - images_before
        if built:  # the layer image SAM rebuilds on every start; the base and emulator images stay cached
            _docker("rmi", "-f", *sorted(built))
        log.unlink(missing_ok=True)


def test_the_anthropic_sdk_gets_json_a_stream_tools_and_token_counts(sam_local: str) -> None:
    client = anthropic.Anthropic(base_url=sam_local, api_key="local", max_retries=0, timeout=FIRST_REQUEST_TIMEOUT)
    raw = client.messages.with_raw_response.create(
        model="claude-sonnet-4-5", max_tokens=64, messages=[{"role": "user", "content": "Hello from sam local"}]
    )
    message = raw.parse()
    assert raw.status_code == 200 and raw.headers["x-aimux-provider"] == "mock"
    assert raw.headers["x-request-id"].startswith("req_")
    assert message.content[0].type == "text" and "Hello from sam local" in message.content[0].text
    with client.messages.stream(
        model="claude-sonnet-4-5", max_tokens=64, messages=[{"role": "user", "content": "stream please"}]
    ) as stream:
        events = [event.type for event in stream]
        final = stream.get_final_message()
    assert events[0] == "message_start" and events[-1] == "message_stop"
    assert final.stop_reason == "end_turn" and "stream please" in final.content[0].text  # type: ignore[union-attr]
    counted = client.messages.count_tokens(model="claude-sonnet-4-5", messages=[{"role": "user", "content": "x y z"}])
    assert counted.input_tokens > 0
    with pytest.raises(anthropic.BadRequestError) as refused:  # the app's own 400, through API Gateway
        client.messages.create(model="claude-sonnet-4-5", max_tokens=8, messages=[])
    assert refused.value.body["error"] == {  # type: ignore[index]
        "type": "invalid_request_error", "message": "messages: at least one message is required"
    }


def test_the_openai_sdk_gets_json_and_a_stream(sam_local: str) -> None:
    client = openai.OpenAI(base_url=f"{sam_local}/v1", api_key="local", max_retries=0, timeout=120)
    completion = client.chat.completions.create(
        model="gpt-4o", max_tokens=64, messages=[{"role": "user", "content": "Hello from the OpenAI SDK"}]
    )
    assert completion.object == "chat.completion"
    assert "Hello from the OpenAI SDK" in (completion.choices[0].message.content or "")
    chunks = list(client.chat.completions.create(
        model="gpt-4o", max_tokens=64, stream=True, stream_options={"include_usage": True},
        messages=[{"role": "user", "content": "stream it"}],
    ))  # fmt: skip
    assert "stream it" in "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert chunks[-1].usage is not None and chunks[-1].usage.completion_tokens > 0
    assert [m.id for m in client.models.list()]


def test_the_smoke_test_passes_against_the_http_api_emulation(sam_local: str) -> None:
    """infra/smoke.py's checks through SAM's API Gateway emulation and the Runtime Interface Emulator."""
    outcomes = run_checks([("http-api", sam_local)], "local", "claude-sonnet-4-5", auth=False, timeout=120)
    assert [o.line() for o in outcomes if o.ok is False] == []
    assert sum(1 for o in outcomes if o.ok) == 7


def test_the_container_runs_the_built_function_with_nothing_to_reach(sam_local: str) -> None:
    """What SAM started: the built MessagesFunction, the layer baked in at /opt, no table or SSM path."""
    ids = sorted(_ids("ps", "-q", "--filter", SAM_LABEL, "--filter", "label=sam.cli.function.name=MessagesFunction"))
    assert ids, "no MessagesFunction container is running"
    inspected = json.loads(_docker("inspect", ids[-1]))[0]
    env = dict(item.split("=", 1) for item in inspected["Config"]["Env"])
    assert env["AIMUX_TABLE"] == "" and env["AIMUX_AUTH"] == "off" and env["AIMUX_PROVIDER_KEY_PATH"] == ""
    assert env["AWS_LAMBDA_FUNCTION_HANDLER"] == "app.handler" and env["LAMBDA_TASK_ROOT"] == "/var/task"
    listing = _docker("exec", ids[-1], "/bin/sh", "-c", "ls /opt/python/aimux_core/__init__.py /var/task/app.py")
    assert "/opt/python/aimux_core/__init__.py" in listing
