"""A cold start must stay lean: importing a function's ``app.py`` does no network I/O and no boto3.

Each check runs the import in a fresh interpreter (modules already imported by the test process
would hide what the import pulls in), with Lambda's environment variables set, and records every
socket operation through an audit hook installed before the import starts.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from typing import Any

import pytest
from lambda_harness import FUNCTIONS

from aimux_core.collector import YOUNG_THRESHOLD

# Runs in the child interpreter: argv[1] is the function directory.
PROBE = r"""
import importlib.util, json, sys, time

NETWORK_EVENTS = {
    "socket.connect", "socket.getaddrinfo", "socket.gethostbyname", "socket.gethostbyname_ex",
    "socket.gethostbyaddr", "socket.sendto", "socket.sendmsg", "socket.bind", "urllib.Request",
}
network = []
sys.addaudithook(lambda event, args: network.append(f"{event}{args!r:.200}") if event in NETWORK_EVENTS else None)

directory = sys.argv[1]
sys.path.insert(0, directory)  # Lambda puts the function's directory ($LAMBDA_TASK_ROOT) on sys.path
start = time.perf_counter()
spec = importlib.util.spec_from_file_location("app", f"{directory}/app.py")
module = importlib.util.module_from_spec(spec)
sys.modules["app"] = module
spec.loader.exec_module(module)
print(json.dumps({
    "import_ms": round((time.perf_counter() - start) * 1000),
    "network": network,
    "top_level_modules": sorted({name.partition(".")[0] for name in sys.modules}),
    "handler_callable": callable(getattr(module, "handler", None)),
    "gc_young_threshold": __import__("gc").get_threshold()[0],
    "gc_frozen": __import__("gc").get_freeze_count(),
}))
"""

# What a Lambda container sets, plus the template's Globals.Function.Environment.
LAMBDA_ENV = {
    "AWS_LAMBDA_FUNCTION_NAME": "aimux-test",
    "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": "1024",
    "AWS_EXECUTION_ENV": "AWS_Lambda_python3.13",
    "AWS_REGION": "us-east-1",
    "AWS_DEFAULT_REGION": "us-east-1",
    "AIMUX_MAX_REQUEST_MB": "5",
    "AIMUX_LOG_LEVEL": "INFO",
    "POWERTOOLS_SERVICE_NAME": "aimux",
}

HEAVY_ON_COLD_START = {"boto3", "botocore", "s3transfer", "aws_xray_sdk"}


def _cold_import(function: str) -> dict[str, Any]:
    directory = FUNCTIONS / function
    env = {**os.environ, **LAMBDA_ENV, "LAMBDA_TASK_ROOT": str(directory), "PYTHONDONTWRITEBYTECODE": "1"}
    result = subprocess.run(
        [sys.executable, "-c", PROBE, str(directory)],
        cwd=directory,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, f"importing functions/{function}/app.py failed:\n{result.stderr}"
    report: dict[str, Any] = json.loads(result.stdout.strip().splitlines()[-1])
    assert report["handler_callable"], f"functions/{function}/app.py defines no callable `handler`"
    return report


@pytest.fixture(scope="module", params=["messages", "admin", "worker"])
def cold_import(request: pytest.FixtureRequest) -> tuple[str, dict[str, Any]]:
    return request.param, _cold_import(request.param)


def test_import_does_no_network_io(cold_import: tuple[str, dict[str, Any]]) -> None:
    function, report = cold_import
    assert report["network"] == [], f"functions/{function}/app.py touched the network at import"


def test_import_does_not_load_boto3(cold_import: tuple[str, dict[str, Any]]) -> None:
    function, report = cold_import
    heavy = HEAVY_ON_COLD_START & set(report["top_level_modules"])
    assert not heavy, (
        f"functions/{function}/app.py imports {sorted(heavy)} at cold start "
        f"(import took {report['import_ms']} ms); create AWS clients lazily, on first use"
    )


def test_import_ends_with_the_collector_tuned_for_serving(cold_import: tuple[str, dict[str, Any]]) -> None:
    """aimux_core/collector.py: the imported objects frozen, the young generation collected less often."""
    function, report = cold_import
    assert report["gc_young_threshold"] == YOUNG_THRESHOLD, f"functions/{function}/app.py left gc thresholds alone"
    assert report["gc_frozen"] > 10_000, f"functions/{function}/app.py froze only {report['gc_frozen']} objects"


def test_messages_import_skips_fastapi() -> None:
    """The client API is plain Starlette on purpose (aimux_core/surfaces/app.py): FastAPI's import
    is several hundred ms of cold start on the user-facing function."""
    report = _cold_import("messages")
    assert "fastapi" not in report["top_level_modules"], "the messages function imports fastapi at cold start"
