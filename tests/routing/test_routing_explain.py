"""``aimux route explain``: the decision for a request file, printed without sending anything."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).parents[2]
EXAMPLE = ROOT / "aimux.example.yaml"
RECORDED = ROOT / "tests" / "fixtures" / "claude_code"


def _explain(request: Path, *extra: str) -> subprocess.CompletedProcess[str]:
    command = [sys.executable, "-m", "aimux_core.cli", "route", "explain", str(request), *extra]
    # Only what the example config needs to resolve: no provider key is read to explain a route.
    env = {"PATH": "/usr/bin:/bin", "HOME": str(ROOT)}
    return subprocess.run(command, capture_output=True, text=True, timeout=60, env=env, check=False)


def test_claude_code_title_request_goes_to_the_background_route() -> None:
    result = _explain(RECORDED / "request_title_background.json", "--config", str(EXAMPLE))
    assert result.returncode == 0, result.stderr
    assert "scenario: background" in result.stdout
    assert "route:    background" in result.stdout
    assert "1. " in result.stdout  # at least one ordered target


def test_tool_turn_with_adaptive_thinking_goes_to_the_thinking_route() -> None:
    result = _explain(RECORDED / "request_tool_turn2.json", "--config", str(EXAMPLE))
    assert result.returncode == 0, result.stderr
    assert "scenario: thinking" in result.stdout


def test_openai_body_with_an_image_is_vision(tmp_path: Path) -> None:
    body = {
        "model": "gpt-4o",
        "messages": [{"role": "user", "content": [
            {"type": "image_url", "image_url": {"url": "data:image/png;base64,iVBORw0KGgo="}}]}],
    }
    request = tmp_path / "chat.json"
    request.write_text(json.dumps(body))
    result = _explain(request, "--config", str(EXAMPLE))
    assert result.returncode == 0, result.stderr
    assert "scenario: vision" in result.stdout


def test_explicit_provider_header_in_a_recorded_request(tmp_path: Path) -> None:
    recorded = {"path": "/v1/messages", "headers": {"x-aimux-provider": "deepseek"},
                "body": {"model": "claude-sonnet-4-5", "messages": [{"role": "user", "content": "hi"}]}}
    request = tmp_path / "recorded.json"
    request.write_text(json.dumps(recorded))
    result = _explain(request, "--config", str(EXAMPLE))
    assert result.returncode == 0, result.stderr
    assert "route:    explicit" in result.stdout and "[deepseek /" in result.stdout


THINKING_BODY = {"model": "claude-sonnet-4-5", "thinking": {"type": "adaptive"},
                 "messages": [{"role": "user", "content": "think hard"}]}


def _explained(tmp_path: Path, document: dict[str, object], config: Path = EXAMPLE) -> str:
    request = tmp_path / "request.json"
    request.write_text(json.dumps(document))
    result = _explain(request, "--config", str(config))
    assert result.returncode == 0, result.stderr
    return result.stdout


def test_explicit_choice_prints_no_scenario(tmp_path: Path) -> None:
    """The request is a thinking one, but the path named the provider: no scenario decided."""
    out = _explained(tmp_path, {"path": "/v1/deepseek/messages", "headers": {}, "body": THINKING_BODY})
    assert "scenario:" not in out
    assert "decided:  explicit provider deepseek" in out and "route:    explicit" in out


def test_scenario_without_a_route_of_its_own_is_not_printed(tmp_path: Path) -> None:
    config = tmp_path / "aimux.yaml"
    config.write_text("providers:\n  mock:\n    preset: mock\nmodels:\n  main:\n    provider: mock\n"
                      "routes:\n  default: [main]\n")
    out = _explained(tmp_path, {**THINKING_BODY, "model": "claude-opus-4-5"}, config)
    assert "scenario:" not in out and "decided:  default route" in out
    assert "route:    default" in out and "thinking adaptive" in out  # the reason still says why


def test_model_named_by_the_client_decides_not_the_scenario(tmp_path: Path) -> None:
    out = _explained(tmp_path, THINKING_BODY)
    assert "scenario:" not in out and "decided:  model claude-sonnet-4-5" in out


@pytest.mark.parametrize("content", ["[1, 2]", "{not json", '{"model": "m", "messages": "nope"}'])
def test_bad_request_files_fail_with_a_message_not_a_traceback(tmp_path: Path, content: str) -> None:
    request = tmp_path / "bad.json"
    request.write_text(content)
    result = _explain(request, "--config", str(EXAMPLE))
    assert result.returncode == 1
    assert "Traceback" not in result.stderr and result.stderr.startswith("aimux:")
