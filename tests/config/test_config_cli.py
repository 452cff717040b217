"""``aimux config check FILE`` as a user runs it: a summary and exit 0, or each bad field's path and exit 1."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

EXAMPLE = Path(__file__).resolve().parents[2] / "aimux.example.yaml"


def aimux(*args: str, cwd: Path | None = None, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if k != "AIMUX_CONFIG" and not k.endswith("_API_KEY")}
    return subprocess.run(
        [sys.executable, "-m", "aimux_core.cli", *args],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=cwd,
        env={**clean, **(env or {})},
    )


def test_check_good_file_prints_a_summary() -> None:
    result = aimux("config", "check", str(EXAMPLE))
    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert out.splitlines()[0] == f"{EXAMPLE}: OK"
    assert "providers (6):" in out
    assert "zai: preset zai, key from SSM parameter /aimux/providers/zai" in out
    assert "claude-sonnet-4-5 -> anthropic (aliases: claude-sonnet-4-5-20250929)" in out
    assert "default: claude-sonnet-4-5 | glm-4.6, deepseek-chat | bedrock-sonnet-4-5" in out
    assert "background [cheapest]:" in out


def test_check_bad_file_names_the_path_and_exits_1(write_config: Callable[..., Path], tmp_path: Path) -> None:
    write_config("""
        providers:
          anthropic:
            preset: anthropic
        models:
          sonnet:
            provider: anthropic
        routes:
          default: [sonnet, x]
        """)
    result = aimux("config", "check", "aimux.yaml", cwd=tmp_path)
    assert result.returncode == 1
    assert result.stderr.strip() == "aimux.yaml: routes.default[1]: unknown model 'x' (line 8)"
    assert result.stdout == ""


def test_check_inline_key_is_refused_without_echoing_it(write_config: Callable[..., Path], tmp_path: Path) -> None:
    write_config("""
        providers:
          openai:
            preset: openai
            api_key: sk-proj-DONOTPRINT0123456789
        """)
    result = aimux("config", "check", "aimux.yaml", cwd=tmp_path)
    assert result.returncode == 1
    assert "aimux.yaml: providers.openai.api_key: API keys may not be written in the config file" in result.stderr
    assert "DONOTPRINT" not in result.stderr + result.stdout


def test_check_missing_file(tmp_path: Path) -> None:
    result = aimux("config", "check", "absent.yaml", cwd=tmp_path)
    assert result.returncode == 1
    assert result.stderr.strip() == "absent.yaml: file not found"


def test_check_without_file_uses_local_file_then_environment(write_config: Callable[..., Path], tmp_path: Path) -> None:
    result = aimux("config", "check", cwd=tmp_path, env={"ZAI_API_KEY": "k"})
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("environment: OK")
    assert "zai: preset zai, key from environment variable ZAI_API_KEY" in result.stdout
    write_config("""
        providers:
          m: {preset: mock}
        models:
          aimux-mock: {provider: m}
        """)
    result = aimux("config", "check", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("aimux.yaml: OK")


def test_serve_with_a_missing_key_fails_at_start_naming_provider_and_variable(tmp_path: Path) -> None:
    result = aimux("serve", "--config", str(EXAMPLE), "--port", "1", cwd=tmp_path,
                   env={"OPENROUTER_API_KEY": "k", "DEEPSEEK_API_KEY": "k", "AWS_REGION": "us-east-1",
                        "AWS_ACCESS_KEY_ID": "x", "AWS_SECRET_ACCESS_KEY": "x", "AWS_EC2_METADATA_DISABLED": "true",
                        "AWS_ENDPOINT_URL_SSM": "http://127.0.0.1:9"})  # fmt: skip
    assert result.returncode == 1
    assert f"aimux: {EXAMPLE}: providers.anthropic: API key environment variable ANTHROPIC_API_KEY is not set" in (
        result.stderr
    )
    assert "providers.zai: cannot read API key SSM parameter /aimux/providers/zai" in result.stderr
    assert "Traceback" not in result.stderr


def test_serve_with_a_bad_config_file_fails_at_start(write_config: Callable[..., Path], tmp_path: Path) -> None:
    write_config("providers: {a: {preset: nope}}\n")
    result = aimux("serve", "--port", "1", cwd=tmp_path)
    assert result.returncode == 1
    assert "aimux: aimux.yaml: providers.a.preset: unknown preset 'nope'" in result.stderr
