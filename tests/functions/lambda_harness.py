"""Helpers for driving the Lambda functions the way Lambda does: real event payloads, a context.

The events in ``events/`` are real payload shapes: ``http-api-v2.json`` and ``rest-api-v1.json``
come from ``sam local generate-event apigateway http-api-proxy`` / ``aws-proxy`` (with a
``content-type`` and ``anthropic-version`` header added: the generator emits dummy headers only),
``function-url.json`` is a function URL event (payload format 2.0) as Lambda delivers it. ``make_event`` keeps
each shape and only swaps method, path and body.
"""

from __future__ import annotations

import base64
import copy
import importlib.util
import json
import os
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any

GC_ENV = "AIMUX_GC"  # the handlers must not freeze the test process

ROOT = Path(__file__).resolve().parents[2]
FUNCTIONS = ROOT / "functions"
EVENTS = Path(__file__).resolve().parent / "events"

EVENT_FILES = {
    "http-api-v2": "http-api-v2.json",
    "rest-api-v1": "rest-api-v1.json",
    "function-url": "function-url.json",
}

Handler = Callable[[dict[str, Any], Any], dict[str, Any]]


@dataclass
class LambdaContext:
    """The attributes of the Python runtime's context object (Mangum passes it on as ``aws.context``)."""

    function_name: str = "aimux-messages-test"
    function_version: str = "$LATEST"
    invoked_function_arn: str = "arn:aws:lambda:us-east-1:123456789012:function:aimux-messages-test"
    memory_limit_in_mb: int = 1024
    aws_request_id: str = "00000000-0000-4000-8000-000000000000"
    log_group_name: str = "/aws/lambda/aimux-messages-test"
    log_stream_name: str = "2026/11/22/[$LATEST]0123456789abcdef"

    def get_remaining_time_in_millis(self) -> int:
        return 30_000


def load_function(name: str) -> ModuleType:
    """Import ``functions/<name>/app.py`` under a unique module name, as Lambda would import it.

    Both functions name their module ``app``, so a plain ``import app`` would hand the second test
    the first function's module. Lambda puts the function's directory on ``sys.path``; so do we,
    for the duration of the import.
    """
    directory = FUNCTIONS / name
    module_name = f"aimux_lambda_{name}_app"
    spec = importlib.util.spec_from_file_location(module_name, directory / "app.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.path.insert(0, str(directory))
    # the handlers freeze the collector's view of the process (aimux_core/collector.py): not the test run's
    collector_before = os.environ.get(GC_ENV)
    os.environ[GC_ENV] = "default"
    try:
        sys.modules[module_name] = module
        spec.loader.exec_module(module)
    except BaseException:
        sys.modules.pop(module_name, None)
        raise
    finally:
        sys.path.remove(str(directory))
        if collector_before is None:
            os.environ.pop(GC_ENV, None)
        else:
            os.environ[GC_ENV] = collector_before
    return module


def make_event(kind: str, method: str, path: str, body: str | None = None) -> dict[str, Any]:
    """The stored ``kind`` event with another method, path and body (same encoding as stored)."""
    event: dict[str, Any] = json.loads((EVENTS / EVENT_FILES[kind]).read_text())
    event = copy.deepcopy(event)
    if "httpMethod" in event:  # REST API, payload format 1.0
        event["httpMethod"] = method
        event["path"] = path
        event["pathParameters"] = {"proxy": path.lstrip("/")}
        context = event["requestContext"]
        context["httpMethod"] = method
        context["path"] = f"/{context['stage']}{path}"
    else:  # HTTP API payload 2.0 and function URLs share one shape
        event["rawPath"] = path
        event["requestContext"]["http"].update(method=method, path=path)
        if event["routeKey"] != "$default":
            event["routeKey"] = event["requestContext"]["routeKey"] = f"{method} {path}"
    if body is None:
        event.pop("body", None)
        event["isBase64Encoded"] = False
    elif event.get("isBase64Encoded"):
        event["body"] = base64.b64encode(body.encode()).decode()
    else:
        event["body"] = body
    return event


def response_json(response: dict[str, Any]) -> Any:
    """The JSON body of a Mangum response, decoding base64 if Mangum chose it."""
    body = response.get("body") or ""
    raw = base64.b64decode(body) if response.get("isBase64Encoded") else body.encode()
    return json.loads(raw)


def header(response: dict[str, Any], name: str) -> str | None:
    """A response header, whichever of ``headers``/``multiValueHeaders`` Mangum filled."""
    for key, value in (response.get("headers") or {}).items():
        if key.lower() == name:
            return value
    for key, values in (response.get("multiValueHeaders") or {}).items():
        if key.lower() == name and values:
            return values[0]
    return None
