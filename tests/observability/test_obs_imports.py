"""Cold start: neither importing the observability modules nor writing metrics imports Powertools (~80 ms).

Each check runs in a fresh interpreter, since this test process may have imported Powertools already.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

PROBE = r"""
import json, sys
import aimux_core.accounting.record, aimux_core.accounting.metrics, aimux_core.accounting.request_log
import aimux_core.accounting.local_metrics
after_import = sorted(m for m in sys.modules if m.startswith("aws_lambda_powertools"))
from aimux_core.accounting.metrics import Emission, emit_metrics
from aimux_core.accounting.record import RequestRecord
from aimux_core.settings import Settings
emission = Emission.of(Settings.from_env())
emit_metrics(RequestRecord(request_id="r", surface="anthropic", status=200, latency_ms=1.0, provider="p", model="m"),
             emission)
after_local_emit = sorted(m for m in sys.modules if m.startswith("aws_lambda_powertools"))
from aimux_core.accounting.request_log import log_request
log_request(RequestRecord(request_id="r", surface="anthropic", status=200, latency_ms=1.0), emission)
after_log_line = sorted(m for m in sys.modules if m.startswith("aws_lambda_powertools"))
xray = sorted(m for m in sys.modules if m.startswith("aws_xray_sdk"))
print(json.dumps({"after_import": after_import, "after_local_emit": after_local_emit,
                  "after_log_line": after_log_line, "xray": xray}))
"""


def run_probe(env: dict[str, str]) -> dict:
    result = subprocess.run(
        [sys.executable, "-c", PROBE], capture_output=True, text=True, env=env, timeout=60, check=True
    )
    return json.loads(result.stdout.splitlines()[-1])


@pytest.fixture
def local_env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("AWS_LAMBDA_FUNCTION_NAME", "AIMUX_EMF")}
    env["PYTHONPATH"] = os.pathsep.join(p for p in sys.path if p)
    return env


def test_importing_does_not_import_powertools(local_env: dict[str, str]) -> None:
    probe = run_probe(local_env)
    assert probe["after_import"] == []
    # locally, without AIMUX_EMF, a request's metrics stay in memory: Powertools is never needed
    assert probe["after_local_emit"] == []
    # the request log line has Powertools' format but is written without it
    assert probe["after_log_line"] == []


def test_an_emf_line_is_written_without_powertools(local_env: dict[str, str]) -> None:
    # EMF lines are built by accounting/emf.py: the first request of a Lambda instance no longer pays the
    # import of Powertools' metrics package (and of the X-Ray SDK behind Powertools' package __init__)
    probe = run_probe({**local_env, "AIMUX_EMF": "1"})
    assert probe["after_import"] == []
    assert probe["after_local_emit"] == [] and probe["after_log_line"] == []
    assert probe["xray"] == []
