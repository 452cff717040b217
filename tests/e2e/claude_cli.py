"""Run the real Claude Code CLI (print mode) against a base URL, isolated from the user's setup."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path
from typing import Any

HERE = Path(__file__).parent
_LOCAL_BIN = HERE / "node_modules" / ".bin" / "claude"


def claude_binary() -> str | None:
    """``AIMUX_CLAUDE_BIN``, else the copy ``make test`` installs under tests/e2e, else None."""
    configured = os.environ.get("AIMUX_CLAUDE_BIN")
    if configured:
        return configured if shutil.which(configured) or Path(configured).exists() else None
    return str(_LOCAL_BIN) if _LOCAL_BIN.exists() else None


def run_claude(binary: str, base_url: str, prompt: str, home: Path, *extra: str, timeout: float = 90) -> dict[str, Any]:
    """``claude -p PROMPT --output-format json`` with only the gateway reachable; the parsed result."""
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": str(home),
        "ANTHROPIC_BASE_URL": base_url,
        "ANTHROPIC_AUTH_TOKEN": "local-test-token",
        "CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC": "1",
        "DISABLE_AUTOUPDATER": "1",
    }
    completed = subprocess.run(
        [binary, "-p", prompt, "--output-format", "json", *extra],
        cwd=home,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    assert completed.returncode == 0, f"claude exited {completed.returncode}: {completed.stderr[-2000:]}"
    return json.loads(completed.stdout.strip().splitlines()[-1])
