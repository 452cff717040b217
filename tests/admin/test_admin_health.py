"""``GET /admin/health`` and the breaker controls, after real traffic with faults from a fake upstream.

Anthropic fails twice with a 500 (the breaker's threshold): its circuit opens, requests fail over to
OpenAI, and the health view says so: ``CIRCUIT_OPEN`` with the breaker's times, the last errors (kind,
status, redacted message), success rates and latency percentiles. A 529 with ``retry-after`` rests a
target instead (a load signal, not a fault): the view shows the cooldown and its reason. An operator's
reset closes a circuit (logged with who); ``open`` holds one open until closed, whatever its cooldown.
"""

from __future__ import annotations

import logging
from typing import Any

import anthropic
import pytest
from admin_conftest import ANTHROPIC_KEY, Deployment

from fakes import Fault, Reply, Usage

PROMPT = [{"role": "user", "content": "hi"}]


def health(deployment: Deployment, **params: Any) -> dict[str, Any]:
    with deployment.admin() as http:
        answer = http.get("/admin/health", params=params)
    assert answer.status_code == 200, answer.text
    return dict(answer.json())


def provider(report: dict[str, Any], name: str) -> dict[str, Any]:
    return next(p for p in report["providers"] if p["provider"] == name)


def send(deployment: Deployment, key: str, *, stream: bool = False) -> str:
    """One request for the default route; the provider that served it."""
    claude = anthropic.Anthropic(base_url=deployment.url, api_key=key, max_retries=0)
    if stream:
        with claude.messages.with_streaming_response.create(
            model="claude-sonnet-4-5", max_tokens=16, messages=PROMPT, stream=True
        ) as response:
            response.read()
            return response.headers["x-aimux-provider"]
    raw = claude.messages.with_raw_response.create(model="claude-sonnet-4-5", max_tokens=16, messages=PROMPT)
    return raw.headers["x-aimux-provider"]


def test_an_upstream_failing_shows_as_circuit_open_with_its_errors(deployment: Deployment) -> None:
    key, _ = deployment.key("ops")
    deployment.openai.default = Reply(text="ok", usage=Usage(input_tokens=5, output_tokens=5))
    deployment.anthropic.default = Reply(text="ok", usage=Usage(input_tokens=5, output_tokens=5))
    assert send(deployment, key) == "anthropic" and send(deployment, key, stream=True) == "anthropic"
    failing = Fault.http(500, message="Internal error, key {credential} is fine")  # an upstream echoing its key
    deployment.anthropic.enqueue(failing, failing)
    assert [send(deployment, key) for _ in range(2)] == ["openai", "openai"]
    assert send(deployment, key) == "openai"  # the circuit is open: anthropic is not even tried
    assert len(deployment.anthropic.message_requests) == 4

    report = health(deployment, minutes=5)
    assert report["window_minutes"] == 5 and report["generated_at"].endswith("Z")
    assert [p["provider"] for p in report["providers"]] == ["anthropic", "openai"]
    down = provider(report, "anthropic")
    assert down["state"] == "CIRCUIT_OPEN"
    assert down["breaker"]["state"] == "open" and down["breaker"]["scope"] == "provider"
    assert down["breaker"]["opened_at"].endswith("Z") and down["breaker"]["half_open_at"] > down["breaker"]["opened_at"]
    assert (down["requests"], down["success_rate"]) == (4, 0.5)
    assert down["latency_ms"]["p50"] > 0 and down["latency_ms"]["p99"] >= down["latency_ms"]["p50"]
    assert down["ttft_ms"] is not None  # the stream's time to first token
    (error,) = down["last_errors"]  # the latest of each kind and status, per minute
    assert (error["kind"], error["status"], error["count"]) == ("server_error", 500, 2)
    assert down["last_errors"][0]["model"] == "claude-sonnet-4-5" and down["last_errors"][0]["time"].endswith("Z")
    assert "Internal error" in down["last_errors"][0]["message"] and ANTHROPIC_KEY not in str(report)
    assert "[redacted]" in down["last_errors"][0]["message"]
    (model,) = down["models"]
    assert (model["model"], model["requests"]) == ("claude-sonnet-4-5", 4)
    assert model["target"] == "anthropic/claude-sonnet-4-5" and model["state"] == "CIRCUIT_OPEN"
    up = provider(report, "openai")
    assert up["state"] == "HEALTHY" and up["breaker"]["state"] == "closed" and up["cooldown"] is None
    assert (up["requests"], up["success_rate"], up["last_errors"]) == (3, 1.0, [])
    assert {m["model"]: m["requests"] for m in up["models"]} == {"gpt-4.1": 3, "cheap": 0}


def test_a_load_signal_shows_as_a_cooldown_with_its_reason(deployment: Deployment) -> None:
    key, _ = deployment.key("ops")
    deployment.anthropic.enqueue(Fault.http(529, retry_after=30))
    assert send(deployment, key) == "openai"
    down = provider(health(deployment), "anthropic")
    assert down["cooldown"]["reason"] == "overloaded" and down["cooldown"]["status"] == 529
    assert down["cooldown"]["until"] > down["cooldown"]["since"]
    assert down["models"][0]["cooldown"] == down["cooldown"] and down["breaker"]["state"] == "closed"
    assert [(e["kind"], e["status"]) for e in down["last_errors"]] == [("overloaded", 529)]
    assert send(deployment, key) == "openai"  # resting: openai first, without trying anthropic
    assert len(deployment.anthropic.message_requests) == 1


def test_reset_closes_the_circuit_and_records_who_did_it(
    deployment: Deployment, caplog: pytest.LogCaptureFixture
) -> None:
    key, _ = deployment.key("ops")
    deployment.anthropic.enqueue(Fault.http(500), Fault.http(500))
    assert [send(deployment, key) for _ in range(2)] == ["openai", "openai"]
    assert provider(health(deployment), "anthropic")["state"] == "CIRCUIT_OPEN"
    caplog.set_level(logging.INFO, logger="aimux.admin")
    with deployment.admin() as http:
        answer = http.post("/admin/breakers/anthropic/reset")
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert (body["provider"], body["action"], body["by"]) == ("anthropic", "reset", "loopback (127.0.0.1)")
    assert body["breaker"]["state"] == "closed" and body["breaker"]["changed_by"] == body["by"]
    assert any("breaker anthropic reset by loopback" in record.getMessage() for record in caplog.records)
    assert send(deployment, key) == "anthropic"
    assert provider(health(deployment), "anthropic")["breaker"]["state"] == "closed"


def test_open_holds_a_circuit_open_until_an_operator_closes_it(deployment: Deployment) -> None:
    key, _ = deployment.key("ops")
    with deployment.admin() as http:
        opened = http.post("/admin/breakers/anthropic/open").json()
        assert opened["breaker"]["state"] == "open" and opened["breaker"]["held_open"] is True
        assert opened["breaker"]["half_open_at"] is None  # no cooldown ends it
        assert send(deployment, key) == "openai"
        assert provider(health(deployment), "anthropic")["state"] == "CIRCUIT_OPEN"
        again = http.post("/admin/breakers/anthropic/open")  # idempotent
        assert again.status_code == 200 and again.json()["breaker"]["held_open"] is True
        closed = http.post("/admin/breakers/anthropic/close").json()
        assert closed["breaker"]["state"] == "closed" and closed["breaker"]["held_open"] is False
    assert send(deployment, key) == "anthropic"


def test_bad_breaker_calls_and_bad_windows_are_refused(deployment: Deployment) -> None:
    with deployment.admin() as http:
        unknown = http.post("/admin/breakers/nobody/reset")
        action = http.post("/admin/breakers/anthropic/explode")
        wrong_method = http.get("/admin/breakers/anthropic/reset")
        windows = [http.get("/admin/health", params={"minutes": m}) for m in ("0", "1441", "abc", "-5")]
    assert unknown.status_code == 404 and unknown.json()["error"]["param"] == "provider"
    assert action.status_code == 400 and action.json()["error"]["param"] == "action"
    assert wrong_method.status_code == 405
    for answer in windows:
        assert answer.status_code == 400 and answer.json()["error"]["param"] == "minutes", answer.text


def test_a_deployed_call_names_the_iam_principal() -> None:
    """On Lambda the IAM authorizer's principal (Mangum's ``aws.event``) is who changed the breaker."""
    from starlette.requests import Request

    from aimux_core.surfaces.admin_identity import caller_identity

    arn = "arn:aws:sts::123456789012:assumed-role/oncall/ana"
    event = {"requestContext": {"authorizer": {"iam": {"userArn": arn, "callerId": "AROAEXAMPLE:ana"}}}}
    scope = {"type": "http", "aws.event": event, "headers": [], "client": ("10.0.0.1", 1)}
    assert caller_identity(Request(scope), token_required=True) == arn
    without_arn = {"requestContext": {"authorizer": {"iam": {"callerId": "AROAEXAMPLE:ana"}}}}
    assert caller_identity(Request({**scope, "aws.event": without_arn}), token_required=False) == "AROAEXAMPLE:ana"
    assert caller_identity(Request({**scope, "aws.event": None}), token_required=True) == "token"


def test_per_model_breakers_are_shown_and_changed_model_by_model() -> None:
    from admin_conftest import ENV, document
    from fastapi.testclient import TestClient

    from aimux_core.assembly import build_gateway
    from aimux_core.config.validate import validate_config
    from aimux_core.keys import KeyRing
    from aimux_core.settings import Settings
    from aimux_core.state import MemoryStore
    from aimux_core.surfaces.admin import create_admin_app
    from aimux_core.surfaces.admin_access import AdminAccess
    from fakes.anthropic_upstream import AnthropicUpstream
    from fakes.openai_upstream import OpenAIUpstream

    with AnthropicUpstream() as anthropic_fake, OpenAIUpstream() as openai_fake:
        breaker = {"failure_threshold": 2, "failure_ratio": None, "cooldown": 60, "scope": "model"}
        config = validate_config(document(anthropic_fake, openai_fake, breaker=breaker), "per-model.yaml")
        store = MemoryStore()
        gateway = build_gateway(config, env=ENV, store=store)
        app = create_admin_app(gateway, KeyRing(store), access=AdminAccess(Settings()))
        with TestClient(app, client=("127.0.0.1", 5000), headers={"x-aimux-admin": "test"}) as http:
            opened = http.post("/admin/breakers/openai/open").json()
            assert opened["breaker"]["scope"] == "model" and opened["breaker"]["state"] == "open"
            view = provider(http.get("/admin/health").json(), "openai")
            assert view["state"] == "CIRCUIT_OPEN" and view["breaker"]["scope"] == "model"
            assert {m["model"]: m["breaker"]["state"] for m in view["models"]} == {"gpt-4.1": "open", "cheap": "open"}
            assert all(m["breaker"]["held_open"] for m in view["models"])
            other = provider(http.get("/admin/health").json(), "anthropic")
            assert other["state"] == "HEALTHY" and other["models"][0]["breaker"]["state"] == "closed"
            http.post("/admin/breakers/openai/close")
            view = provider(http.get("/admin/health").json(), "openai")
            assert view["state"] == "HEALTHY" and {m["breaker"]["state"] for m in view["models"]} == {"closed"}
