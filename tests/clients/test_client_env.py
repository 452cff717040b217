"""``aimux env --client claude|openai|cursor``: the settings each client needs, for a local, given or
deployed gateway, checked by using them (a shell evaluates the exports, the OpenAI SDK calls with them)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator

import httpx
import openai
import pytest

from aimux_core.cli import main
from support.stacks import apply_env, keyed_mock_gateway, stack_with_outputs

FUNCTION_URL = "https://abc123.lambda-url.eu-west-1.on.aws/"


@pytest.fixture(scope="module")
def keyed_gateway() -> Iterator[tuple[str, str]]:
    """A gateway that requires keys, and one valid key."""
    with keyed_mock_gateway() as gateway:
        yield gateway


def evaluated(args: list[str], extra_env: dict[str, str] | None = None) -> dict[str, str]:
    """The environment after ``eval "$(aimux env ARGS)"`` in sh, started with a personal Anthropic key set."""
    script = f'eval "$({sys.executable} -m aimux_core.cli env {" ".join(args)})" && env -0'
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AIMUX_", "ANTHROPIC_", "OPENAI_"))}
    env.update({"ANTHROPIC_API_KEY": "sk-ant-personal-key", **(extra_env or {})})
    done = subprocess.run(["sh", "-c", script], env=env, capture_output=True, timeout=60, check=True)
    return dict(item.split("=", 1) for item in done.stdout.decode().split("\0") if "=" in item)


def test_claude_exports_point_claude_code_at_the_gateway_and_nowhere_else(keyed_gateway: tuple[str, str]) -> None:
    url, key = keyed_gateway
    env = evaluated(["--client", "claude", "--url", url + "/"], {"AIMUX_KEY": key})
    assert env["ANTHROPIC_BASE_URL"] == url  # the trailing slash is dropped
    assert env["ANTHROPIC_AUTH_TOKEN"] == key
    assert env["CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC"] == "1"
    assert "ANTHROPIC_API_KEY" not in env  # a personal key is neither sent to the gateway nor preferred


def test_openai_exports_work_for_the_openai_sdk(
    keyed_gateway: tuple[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    url, key = keyed_gateway
    env = evaluated(["--client", "openai", "--url", url, "--key", key])
    assert env["OPENAI_BASE_URL"] == f"{url}/v1" and env["OPENAI_API_KEY"] == key
    monkeypatch.setenv("OPENAI_BASE_URL", env["OPENAI_BASE_URL"])
    monkeypatch.setenv("OPENAI_API_KEY", env["OPENAI_API_KEY"])
    answer = openai.OpenAI().chat.completions.create(model="gpt-4.1", messages=[{"role": "user", "content": "hi"}])
    assert answer.choices[0].message.content  # the gateway took the key from the exported settings


def test_without_a_key_a_placeholder_is_sent_and_said(capsys: pytest.CaptureFixture[str],
                                                      monkeypatch: pytest.MonkeyPatch) -> None:  # fmt: skip
    monkeypatch.delenv("AIMUX_KEY", raising=False)
    monkeypatch.setenv("AIMUX_PORT", "9123")
    assert main(["env", "--client", "claude"]) == 0
    out, err = capsys.readouterr()
    assert "export ANTHROPIC_BASE_URL=http://127.0.0.1:9123\n" in out  # the local aimux serve's port
    assert "export ANTHROPIC_AUTH_TOKEN=aimux-no-key\n" in out
    assert "no key (--key or AIMUX_KEY)" in err


def test_other_shells_get_their_own_syntax(capsys: pytest.CaptureFixture[str]) -> None:
    key = "amx-it's"
    assert main(["env", "--client", "claude", "--url", "http://gw.example", "--key", key, "--shell", "fish"]) == 0
    fish = capsys.readouterr().out.splitlines()
    assert fish[:3] == ["set -gx ANTHROPIC_BASE_URL http://gw.example", "set -gx ANTHROPIC_AUTH_TOKEN 'amx-it'\"'\"'s'",
                        "set -e ANTHROPIC_API_KEY"]  # fmt: skip
    assert main(["env", "--client", "openai", "--url", "http://gw.example", "--key", key, "--shell", "powershell"]) == 0
    assert capsys.readouterr().out.splitlines() == [
        "$env:OPENAI_BASE_URL = 'http://gw.example/v1'",
        "$env:OPENAI_API_KEY = 'amx-it''s'",
    ]


def test_cursor_gets_json_with_the_gateway_models(keyed_gateway: tuple[str, str],
                                                  capsys: pytest.CaptureFixture[str]) -> None:  # fmt: skip
    url, key = keyed_gateway
    assert main(["env", "--client", "cursor", "--url", url, "--key", key]) == 0
    settings = json.loads(capsys.readouterr().out)
    listed = httpx.get(f"{url}/v1/models", headers={"x-api-key": key}, timeout=10).json()["data"]
    assert settings["models"] == [model["id"] for model in listed] and settings["models"]
    assert settings["openai_api_key"] == key and settings["override_openai_base_url"] == f"{url}/v1"
    assert "Override OpenAI Base URL" in settings["where"]


def test_a_deployed_stack_gives_its_function_url(monkeypatch: pytest.MonkeyPatch,
                                                 capsys: pytest.CaptureFixture[str]) -> None:  # fmt: skip
    outputs = {"StreamFunctionUrl": FUNCTION_URL, "HttpApiUrl": "https://api.example"}
    with stack_with_outputs("aimux-prod", outputs) as aws:
        apply_env(monkeypatch, aws)
        assert main(["env", "--client", "openai", "--stack", "aimux-prod", "--key", "amx-k"]) == 0
        assert capsys.readouterr().out == f"export OPENAI_BASE_URL={FUNCTION_URL}v1\nexport OPENAI_API_KEY=amx-k\n"
        assert main(["env", "--client", "claude", "--stack", "aimux-nope"]) == 1
        assert "stack 'aimux-nope': Stack with id aimux-nope does not exist" in capsys.readouterr().err


def test_a_stack_without_the_output_or_a_bad_url_is_a_clear_error(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    with stack_with_outputs("other", {"Something": "x"}) as aws:
        apply_env(monkeypatch, aws)
        assert main(["env", "--client", "claude", "--stack", "other"]) == 1
        assert "stack 'other' has no StreamFunctionUrl output (outputs: Something)" in capsys.readouterr().err
    assert main(["env", "--client", "claude", "--url", "gw.example"]) == 1
    assert "--url must start with http:// or https://" in capsys.readouterr().err
