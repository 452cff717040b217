"""Each client's settings for a gateway ``Target``: Claude Code, OpenAI SDKs and tools, Cursor.

Shell output is meant for ``eval "$(aimux env --client claude)"``; values are quoted for the shell
named. Cursor keeps its OpenAI settings in its own UI (Settings, Models), so it gets JSON naming each
field to fill in.
"""

from __future__ import annotations

import json
import shlex
from collections.abc import Mapping, Sequence
from typing import Any

from .endpoint import Target

CLIENTS = ("claude", "openai", "cursor")
SHELLS = ("sh", "fish", "powershell")


def claude_env(target: Target) -> dict[str, str | None]:
    """Claude Code's variables (None: unset). ``ANTHROPIC_API_KEY`` is unset so a personal Anthropic key in
    the shell is neither sent to the gateway nor preferred over the gateway key; nonessential traffic
    (telemetry, update checks, error reports) is off: the gateway is the only host Claude Code calls."""
    return {
        "ANTHROPIC_BASE_URL": target.url,
        "ANTHROPIC_AUTH_TOKEN": target.token,
        "ANTHROPIC_API_KEY": None,
        "CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC": "1",
    }


def openai_env(target: Target) -> dict[str, str | None]:
    """The variables the OpenAI SDKs (and tools built on them) read: base URL with ``/v1``, key."""
    return {"OPENAI_BASE_URL": f"{target.url}/v1", "OPENAI_API_KEY": target.token}


def cursor_settings(target: Target, models: Sequence[str]) -> dict[str, Any]:
    """What to enter in Cursor (Settings, Models): the OpenAI key and base-URL override, the model names."""
    return {
        "openai_api_key": target.token,
        "override_openai_base_url": f"{target.url}/v1",
        "models": list(models),
        "where": "Cursor Settings > Models: paste openai_api_key as the OpenAI API Key, turn on Override "
        "OpenAI Base URL with override_openai_base_url, and add each name in models as a custom model",
    }


def render_exports(variables: Mapping[str, str | None], shell: str = "sh") -> str:
    """One line per variable for ``shell`` (sh/bash/zsh, fish, PowerShell); None unsets it."""
    lines = []
    for name, value in variables.items():
        if shell == "fish":
            lines.append(f"set -e {name}" if value is None else f"set -gx {name} {shlex.quote(value)}")
        elif shell == "powershell":
            quoted = "'" + (value or "").replace("'", "''") + "'"
            lines.append(f"Remove-Item Env:{name} -ErrorAction SilentlyContinue" if value is None
                         else f"$env:{name} = {quoted}")  # fmt: skip
        else:
            lines.append(f"unset {name}" if value is None else f"export {name}={shlex.quote(value)}")
    return "\n".join(lines)


def render_json(settings: Mapping[str, Any]) -> str:
    return json.dumps(settings, indent=2)
