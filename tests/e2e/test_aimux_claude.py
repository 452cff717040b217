"""``aimux claude``: the real Claude Code CLI started by aimux, answering through a gateway that requires
keys, with the base URL from ``--url`` or a deployed stack's outputs and the key from ``--key`` or
``AIMUX_KEY``. A personal ``ANTHROPIC_API_KEY`` in the shell must not reach the gateway (it would be
refused there: the gateway checks ``x-api-key`` first)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from claude_cli import claude_binary
from support.stacks import keyed_mock_gateway, stack_with_outputs

BINARY = claude_binary()
needs_claude = pytest.mark.skipif(
    BINARY is None,
    reason="Claude Code CLI not installed (make test installs @anthropic-ai/claude-code into tests/e2e; "
    "npm could not install it here)",
)


@pytest.fixture(scope="module")
def keyed_gateway() -> Iterator[tuple[str, str]]:
    with keyed_mock_gateway() as gateway:
        yield gateway


def aimux_claude(
    args: list[str], home: Path, env_extra: dict[str, str | None] | None = None
) -> subprocess.CompletedProcess[str]:
    """``aimux claude ARGS`` with Claude Code on PATH (as an operator has it) and a personal key set."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AIMUX_", "ANTHROPIC_", "CLAUDE_"))}
    env.update({"HOME": str(home), "DISABLE_AUTOUPDATER": "1", "ANTHROPIC_API_KEY": "sk-ant-personal-0000"})
    if BINARY is not None:
        env["PATH"] = f"{Path(BINARY).parent}{os.pathsep}{env.get('PATH', '')}"
    for name, value in (env_extra or {}).items():
        if value is None:
            env.pop(name, None)
        else:
            env[name] = value
    return subprocess.run([sys.executable, "-m", "aimux_core.cli", "claude", *args], cwd=home, env=env,
                          capture_output=True, text=True, timeout=120, check=False)  # fmt: skip


def result_of(done: subprocess.CompletedProcess[str]) -> dict:
    assert done.returncode == 0, f"exit {done.returncode}: {done.stderr[-2000:]}"
    return json.loads(done.stdout.strip().splitlines()[-1])


@needs_claude
def test_claude_code_answers_through_a_keyed_gateway(keyed_gateway: tuple[str, str], tmp_path: Path) -> None:
    url, key = keyed_gateway
    done = aimux_claude(["--url", url, "--key", key, "--", "-p", "say hello through aimux", "--output-format", "json"],
                        tmp_path)  # fmt: skip
    result = result_of(done)
    assert result["is_error"] is False
    assert "say hello through aimux" in result["result"]
    assert f"aimux: Claude Code -> {url}" in done.stderr


@needs_claude
def test_the_stack_outputs_and_aimux_key_are_enough(keyed_gateway: tuple[str, str], tmp_path: Path) -> None:
    url, key = keyed_gateway
    with stack_with_outputs("aimux-dev", {"StreamFunctionUrl": url + "/", "HttpApiUrl": "https://unused"}) as aws:
        done = aimux_claude(["--stack", "aimux-dev", "--", "-p", "hello from the stack", "--output-format", "json"],
                            tmp_path, {**aws, "AIMUX_KEY": key})  # fmt: skip
    assert "hello from the stack" in result_of(done)["result"]


def test_a_missing_claude_or_a_silent_local_gateway_is_said(tmp_path: Path) -> None:
    missing = aimux_claude(["--url", "http://127.0.0.1:9", "--claude", str(tmp_path / "nope")], tmp_path)
    assert missing.returncode == 127 and "Claude Code not found" in missing.stderr
    fake = tmp_path / "claude"
    fake.write_text("#!/bin/sh\nexit 0\n")
    fake.chmod(0o755)
    silent = aimux_claude(["--claude", str(fake)], tmp_path, {"AIMUX_PORT": "9"})
    assert silent.returncode == 1 and "no gateway answering at http://127.0.0.1:9" in silent.stderr
