"""``GET /admin/config`` shows the configuration with each secret replaced by where it comes from, and
``POST /admin/route/explain`` answers what ``aimux route explain --json`` prints, with the live health."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from admin_conftest import ANTHROPIC_KEY, OPENAI_KEY, Deployment

from aimux_core.cli import main
from aimux_core.config.validate import validate_config
from aimux_core.reports.config_view import config_view
from aimux_core.settings import Settings

MESSAGES = {"model": "claude-sonnet-4-5", "max_tokens": 64, "messages": [{"role": "user", "content": "hi"}]}


def test_the_configuration_hides_every_secret_behind_its_source(deployment: Deployment) -> None:
    with deployment.admin() as http:
        answer = http.get("/admin/config")
    assert answer.status_code == 200, answer.text
    view = answer.json()
    assert view["source"] == "admin-test.yaml"
    assert view["providers"]["anthropic"]["api_key"] == {"source": "env", "name": "TEST_ANTHROPIC_KEY"}
    assert view["providers"]["openai"]["api_key"] == {"source": "env", "name": "TEST_OPENAI_KEY"}
    assert "api_key_env" not in view["providers"]["anthropic"]
    assert view["models"]["gpt-4.1"]["price"]["input"] == 2.0
    assert view["routes"]["default"]["tiers"] == [["claude-sonnet-4-5"], ["gpt-4.1"]]
    assert view["aliases"] == {"claude-sonnet-*": "default", "fast-*": "cheap"}
    assert view["breaker"]["failure_threshold"] == 2 and view["retry"]["max_attempts"] == 2
    assert view["deployment"]["usage_retention_days"] == 400 and view["deployment"]["admin_token"] is None
    for secret in (ANTHROPIC_KEY, OPENAI_KEY):
        assert secret not in answer.text

    token = "an-admin-token-nobody-may-see-1234"
    settings = Settings.from_env({"AIMUX_ADMIN_TOKEN": token, "AIMUX_USAGE_RETENTION_DAYS": "30"})
    with_token = config_view(deployment.gateway.config, settings)
    assert with_token["deployment"]["admin_token"] == {"source": "env", "name": "AIMUX_ADMIN_TOKEN"}
    assert with_token["deployment"]["usage_retention_days"] == 30
    assert token not in json.dumps(with_token)


def test_an_ssm_held_key_is_shown_by_its_parameter_name() -> None:
    config = validate_config(
        {"providers": {"anthropic": {"preset": "anthropic", "api_key_ssm": "/aimux/providers/anthropic"},
                       "bedrock": {"preset": "bedrock"}},
         "models": {"m": {"provider": "anthropic"}}},
        "ssm.yaml",
    )  # fmt: skip
    view = config_view(config, Settings())
    assert view["providers"]["anthropic"]["api_key"] == {"source": "ssm", "name": "/aimux/providers/anthropic"}
    assert view["providers"]["bedrock"]["api_key"] is None  # AWS credentials, no key
    assert view["deployment"]["admin_token"] is None and view["deployment"]["state_table"] is None


def explain(deployment: Deployment, body: Any) -> Any:
    with deployment.admin() as http:
        return http.post("/admin/route/explain", json=body)


def test_route_explain_answers_like_the_cli(
    deployment: Deployment, tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    answer = explain(deployment, MESSAGES)
    assert answer.status_code == 200, answer.text
    decision = answer.json()
    assert decision["route"] == "default" and decision["decided_by"] == "model claude-sonnet-4-5"
    assert [t["key"] for t in decision["targets"]] == ["anthropic/claude-sonnet-4-5", "openai/gpt-4.1"]
    assert decision["dropped"] == decision["down"] == [] and decision["estimated_tokens"] > 0

    config_file = tmp_path / "aimux.json"
    config_file.write_text(json.dumps(deployment.gateway.config.model_dump(mode="json")))
    request_file = tmp_path / "request.json"
    request_file.write_text(json.dumps(MESSAGES))
    monkeypatch.setenv("TEST_ANTHROPIC_KEY", ANTHROPIC_KEY)
    assert main(["route", "explain", str(request_file), "--config", str(config_file), "--json"]) == 0
    printed = json.loads(capsys.readouterr().out)
    assert {k: v for k, v in printed.items() if k != "config"} == decision

    chat = explain(deployment, {"model": "fast-lane", "messages": [{"role": "developer", "content": "x"}]})
    assert chat.status_code == 200 and chat.json()["decided_by"] == "alias fast-*->cheap"
    assert chat.json()["targets"][0]["label"] == "cheap"
    recorded = explain(deployment, {"path": "/v1/openai/messages", "headers": {}, "body": MESSAGES})
    assert recorded.json()["route"] == "explicit" and recorded.json()["targets"][0]["provider"] == "openai"


def test_route_explain_sees_open_circuits(deployment: Deployment) -> None:
    with deployment.admin() as http:
        assert http.post("/admin/breakers/anthropic/open").status_code == 200
    decision = explain(deployment, MESSAGES).json()
    assert [t["key"] for t in decision["targets"]] == ["openai/gpt-4.1", "anthropic/claude-sonnet-4-5"]
    (down,) = decision["down"]  # tried last, as dispatch would
    assert down["target"] == "claude-sonnet-4-5" and "circuit" in down["reason"]


@pytest.mark.parametrize(
    ("body", "status", "param"),
    [
        ({"model": "claude-sonnet-4-5", "messages": "not a list"}, 400, "messages"),
        ({"path": "/v1/messages", "body": "text"}, 400, "body"),
        ([1, 2], 400, "body"),
        ({"model": "claude-sonnet-4-5", "max_tokens": 8, "messages": [], "backend": "nowhere"}, 404, "provider"),
    ],
)
def test_route_explain_refuses_what_it_cannot_read(deployment: Deployment, body: Any, status: int, param: str) -> None:
    answer = explain(deployment, body)
    assert answer.status_code == status, answer.text
    assert answer.json()["error"]["param"] == param
