"""The real Claude Code CLI through aimux: a plain answer and a tool round trip."""

from __future__ import annotations

from pathlib import Path

import pytest

from claude_cli import claude_binary, run_claude

BINARY = claude_binary()
pytestmark = pytest.mark.skipif(
    BINARY is None,
    reason="Claude Code CLI not installed (make test installs @anthropic-ai/claude-code into tests/e2e; "
    "npm could not install it here)",
)


def test_print_mode_answers_through_the_gateway(gateway_url: str, tmp_path: Path) -> None:
    result = run_claude(BINARY, gateway_url, "say hello to the gateway", tmp_path)  # type: ignore[arg-type]
    assert result["is_error"] is False
    assert "say hello to the gateway" in result["result"]


def test_tool_round_trip_runs_the_tool(gateway_url: str, tmp_path: Path) -> None:
    result = run_claude(
        BINARY,  # type: ignore[arg-type]
        gateway_url,
        "use the Bash tool to run `echo aimux-e2e-marker`",
        tmp_path,
        "--allowedTools",
        "Bash",
    )
    assert result["is_error"] is False
    assert result["num_turns"] == 2
    assert "aimux-e2e-marker" in result["result"]
