"""infra/smoke.py (`make smoke`) against a real local gateway: it passes a working one and says what is wrong.

The gateway is the local app (client API + admin, as `aimux serve` runs it) with keys checked; the
same script against `sam local start-api` (the HTTP API through the Runtime Interface Emulator) is in
tests/functions/test_sam_local.py.
"""

from __future__ import annotations

import asyncio
import subprocess
import sys
from collections.abc import Iterator

import httpx
import pytest
from infra_template import INFRA, ROOT
from smoke import Outcome, SmokeFailure, _headers, run_checks

from aimux_core.assembly import local_app
from aimux_core.keys import KeyRing
from aimux_core.keys.admin import create_key
from aimux_core.state import SystemClock
from aimux_core.state.memory import MemoryStore
from support.server import serve

CHECKS = 9  # per base URL: 4 Anthropic, 3 OpenAI, 2 refused keys


@pytest.fixture(scope="module")
def gateway() -> Iterator[tuple[str, str]]:
    """(base URL, key) of a local gateway that checks keys (the built-in mock provider upstream)."""
    clock = SystemClock()
    ring = KeyRing(MemoryStore(clock), clock, cache_seconds=30)
    key, _ = asyncio.run(create_key(ring, name="smoke"))
    with serve(local_app(keys=ring)) as url:
        yield url, key


def test_a_working_gateway_passes_every_check_on_both_urls(gateway: tuple[str, str]) -> None:
    url, key = gateway
    seen: list[Outcome] = []
    outcomes = run_checks([("function-url", url), ("http-api", url)], key, "claude-sonnet-4-5", report=seen.append)
    assert seen == outcomes and len(outcomes) == 2 * CHECKS
    assert [o.line() for o in outcomes if not o.ok] == []
    by_check = {o.check: o.detail for o in outcomes if o.target == "http-api"}
    assert by_check["anthropic json"].startswith("mock/aimux-mock attempts=1 $")
    assert "events" in by_check["anthropic stream"] and "tokens" in by_check["openai stream"]
    assert "get_weather(" in by_check["anthropic tools"] and "get_weather(" in by_check["openai tools"]
    assert by_check["anthropic refused key"].startswith("401 authentication_error")


def test_the_command_prints_each_check_and_fails_on_a_wrong_key(gateway: tuple[str, str]) -> None:
    url, key = gateway
    command = [sys.executable, str(INFRA / "smoke.py"), "--url", url, "--timeout", "30"]
    good = subprocess.run([*command, "--key", key], capture_output=True, text=True, timeout=120, cwd=ROOT)
    assert good.returncode == 0, good.stdout + good.stderr
    assert good.stdout.count("\nPASS  function-url") == CHECKS
    assert f"smoke: {CHECKS} checks passed, 0 failed, 0 skipped" in good.stdout
    wrong = subprocess.run([*command, "--key", "amx-not-a-key"], capture_output=True, text=True, timeout=120)
    assert wrong.returncode == 1
    assert "FAIL  function-url  anthropic json" in wrong.stdout and "HTTP 401" in wrong.stdout
    assert "PASS  function-url  anthropic refused key" in wrong.stdout  # the made-up key is refused too


def test_a_gateway_that_checks_no_keys_fails_the_refused_key_checks() -> None:
    with serve(local_app()) as url:  # keys=None: auth off, as an unprotected deployment would be
        outcomes = run_checks([("function-url", url)], "amx-anything", "claude-sonnet-4-5")
        failed = {o.check: o.detail for o in outcomes if o.ok is False}
        assert failed == {
            "anthropic refused key": "SmokeFailure: a made-up key was accepted: this gateway checks no keys",
            "openai refused key": "SmokeFailure: a made-up key was accepted: this gateway checks no keys",
        }
        skipped = run_checks([("function-url", url)], "x", "claude-sonnet-4-5", auth=False)
        assert [o.check for o in skipped if o.ok is None] == ["anthropic refused key", "openai refused key"]
        assert all(o.ok for o in skipped if o.ok is not None)


def test_an_answer_without_aimux_headers_fails() -> None:
    headers = httpx.Headers({"x-request-id": "req_1", "x-aimux-provider": "p", "x-aimux-model": "m"})
    with pytest.raises(SmokeFailure, match=r"missing headers \['x-aimux-route', 'x-aimux-attempts'\]"):
        _headers(headers, buffered=False)
    headers.update({"x-aimux-route": "default", "x-aimux-attempts": "1"})
    assert _headers(headers, buffered=False) == "p/m attempts=1 id=req_1"
    with pytest.raises(SmokeFailure, match="x-aimux-cost-usd"):
        _headers(headers, buffered=True)
