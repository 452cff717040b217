"""A true Lambda Runtime API round trip: emulator -> awslambdaric -> the handler -> back, no Docker.

Two environments:
- ``source``: the repository's functions/ and layer under the test interpreter, as a quick check of
  the handler contract (event in, proxy response out) through the real runtime client;
- ``built``: what ``sam build`` produced (.aws-sam/build), under a CPython of the template's
  runtime version with ``-B``, the layer's precompiled bytecode and a scrubbed environment: the
  closest this machine gets to a deployed cold start (bench/cold_start.py measures it).

Needs the emulator and awslambdaric from ``make sam-tools``; ``make test`` sets AIMUX_REQUIRE_SAM=1,
which turns a missing piece into a failure instead of a skip.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from lambda_harness import FUNCTIONS, ROOT, make_event, response_json

sys.path.insert(0, str(ROOT / "infra"))  # the local Lambda runner lives with the deployment's tools
from lambda_python import find_lambda_python, runtime_version
from local_lambda import LocalLambda, find_rie, ric_dir

BUILD = ROOT / ".aws-sam" / "build"
# Deployed (AWS_LAMBDA_FUNCTION_NAME set), the app requires gateway keys, which live in DynamoDB; there
# is none here, so these round trips run with key checks off.
NO_KEY_STORE = {"AIMUX_AUTH": "off"}
REQUIRED = os.environ.get("AIMUX_REQUIRE_SAM") == "1"
HELLO = json.dumps({"model": "claude-sonnet-4-5", "max_tokens": 32, "messages": [{"role": "user", "content": "hi"}]})


@dataclass(frozen=True)
class Environment:
    python: str
    version: str
    layer: Path
    functions: Path
    flags: tuple[str, ...]


def _missing(reason: str) -> None:
    if REQUIRED:
        pytest.fail(reason)
    pytest.skip(reason)


def _environment(kind: str) -> Environment:
    if find_rie() is None:
        _missing("no Runtime Interface Emulator in .venv-sam (run `make sam-tools`)")
    if kind == "source":
        version = "{}.{}".format(*sys.version_info[:2])
        return Environment(sys.executable, version, ROOT / "layers" / "aimux_core", FUNCTIONS, ())
    version = runtime_version()
    # Found the way make sam-check finds it (so this very interpreter, when it is the runtime's version).
    python = os.environ.get("AIMUX_LAMBDA_PYTHON") or find_lambda_python(version) or ""
    if not python:  # make sam-check skipped the build for the same reason and said so
        _missing(f"no python{version} on this machine: the built artifacts cannot be run")
    if not (BUILD / "AimuxCoreLayer" / "python").is_dir():
        _missing("no sam build output in .aws-sam/build (run `make sam-check`)")
    return Environment(python, version, BUILD / "AimuxCoreLayer" / "python", BUILD, ("-B",))


@pytest.fixture(scope="module", params=["source", "built"])
def environment(request: pytest.FixtureRequest) -> Environment:
    return _environment(request.param)


def _function_dir(env: Environment, function: str) -> Path:
    built = {"messages": "MessagesFunction", "admin": "AdminFunction"}
    return env.functions / (built[function] if env.functions == BUILD else function)


@pytest.fixture(scope="module")
def messages(environment: Environment) -> Iterator[LocalLambda]:
    yield from _running(environment, "messages")


@pytest.fixture(scope="module")
def admin(environment: Environment) -> Iterator[LocalLambda]:
    yield from _running(environment, "admin")


def _running(env: Environment, function: str) -> Iterator[LocalLambda]:
    ric = ric_dir(env.version)
    if ric is None:
        _missing(f"no awslambdaric for Python {env.version} in .venv-sam/ric (run `make sam-tools`)")
    assert ric is not None
    task_root = _function_dir(env, function)
    with LocalLambda(
        env.python,
        task_root,
        env.layer,
        "app.handler",
        ric,
        python_flags=env.flags,
        function_name=f"aimux-{function}",
        env=NO_KEY_STORE,
    ) as fn:
        yield fn


def _invoke(fn: LocalLambda, event: dict[str, Any]) -> dict[str, Any]:
    result, _ = fn.invoke(event)
    assert isinstance(result, dict), f"not a proxy response: {result!r}\n{fn.log()[-3000:]}"
    assert "statusCode" in result, f"the handler failed: {result!r}\n{fn.log()[-3000:]}"
    return result


def test_messages_round_trip_http_api_event(messages: LocalLambda) -> None:
    response = _invoke(messages, make_event("http-api-v2", "POST", "/v1/messages", HELLO))
    assert response["statusCode"] == 200, response
    message = response_json(response)
    assert message["type"] == "message" and message["content"]

    reports = messages.reports()
    assert reports.init_ms is not None and reports.init_ms > 0, messages.log()
    assert reports.invokes and reports.invokes[0][0] == "success", messages.log()


def test_messages_round_trip_function_url_event_then_warm(messages: LocalLambda) -> None:
    response = _invoke(messages, make_event("function-url", "GET", "/v1/models"))
    assert response["statusCode"] == 200, response
    assert response_json(response)["data"]
    assert "Traceback" not in messages.log()


def _json_lines(log: str) -> list[dict[str, Any]]:
    found = []
    for line in log.splitlines():
        start = line.find("{")
        if start >= 0:
            with contextlib.suppress(ValueError):
                found.append(json.loads(line[start:]))
    return [entry for entry in found if isinstance(entry, dict)]


def test_request_log_line_and_emf_carry_the_lambda_ids(messages: LocalLambda) -> None:
    """What CloudWatch would receive from this invocation: EMF for the dashboard, and the request's
    log line with Lambda's request id and the API's request id as correlation ids."""
    event = make_event("http-api-v2", "POST", "/v1/messages", HELLO)
    api_request_id = event["requestContext"]["requestId"]
    response = _invoke(messages, event)
    assert response["statusCode"] == 200, response

    log = messages.log()
    lambda_request_ids = re.findall(r"START RequestId: (\S+)", log)
    entries = _json_lines(log)
    emf = [e for e in entries if "_aws" in e and e.get("Requests") is not None]
    assert emf, f"no EMF metrics line in the function's output:\n{log[-3000:]}"
    assert emf[-1]["_aws"]["CloudWatchMetrics"][0]["Namespace"] == "Aimux"
    lines = [e for e in entries if e.get("message") == "request" and e.get("function_request_id")]
    assert lines, f"no request log line in the function's output:\n{log[-3000:]}"
    assert lines[-1]["function_request_id"] == lambda_request_ids[-1]
    assert lines[-1]["correlation_id"] == api_request_id


def test_admin_round_trip(admin: LocalLambda) -> None:
    response = _invoke(admin, make_event("http-api-v2", "GET", "/admin/status"))
    assert response["statusCode"] == 200, response
    assert response_json(response)["providers"]
