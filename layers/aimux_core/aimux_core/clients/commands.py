"""``aimux claude [-- CLAUDE ARGS]`` and ``aimux env --client claude|openai|cursor``.

``aimux claude`` replaces itself with Claude Code (``exec``: signals, the terminal and the exit status
are Claude Code's own) with the variables of ``client_settings.claude_env`` set for the chosen gateway,
like claude-code-router's ``ccr code``. ``aimux env`` prints the same settings for a shell to ``eval``
(or JSON for Cursor). Notes go to stderr, so stdout stays machine-readable.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
from collections.abc import Mapping
from typing import Any

from .client_settings import CLIENTS, SHELLS, claude_env, cursor_settings, openai_env, render_exports, render_json
from .endpoint import KEY_VARIABLE, Target, add_target_arguments, resolve_target
from .stack import StackError

MODELS_TIMEOUT_SECONDS = 5.0


def add_client_parsers(commands: Any) -> None:
    """Register ``claude`` and ``env`` on the ``aimux`` sub-command parser."""
    claude = commands.add_parser(
        "claude",
        help="start Claude Code pointed at the gateway (local, --url or --stack)",
        description="Start Claude Code with ANTHROPIC_BASE_URL and ANTHROPIC_AUTH_TOKEN set for the gateway and "
        "nonessential traffic off. Arguments after -- go to claude.",
    )
    add_target_arguments(claude)
    claude.add_argument("--claude", metavar="PATH", help="the claude executable (default: claude on PATH)")
    claude.add_argument("claude_args", nargs=argparse.REMAINDER, help="-- then arguments for claude")
    claude.set_defaults(run=run_claude)
    env = commands.add_parser("env", help="print a client's settings for the gateway (shell exports, or JSON)")
    add_target_arguments(env)
    env.add_argument("--client", choices=CLIENTS, required=True)
    env.add_argument("--shell", choices=SHELLS, default="sh", help="syntax of the exports (default sh)")
    env.set_defaults(run=run_env)


def run_env(args: argparse.Namespace, env: Mapping[str, str] | None = None) -> int:
    target = _target(args, os.environ if env is None else env)
    if target is None:
        return 1
    _note_key(target)
    if args.client == "cursor":
        print(render_json(cursor_settings(target, _model_ids(target))))
    else:
        print(render_exports(claude_env(target) if args.client == "claude" else openai_env(target), args.shell))
    return 0


def run_claude(args: argparse.Namespace, env: Mapping[str, str] | None = None) -> int:
    environ = dict(os.environ if env is None else env)
    target = _target(args, environ)
    if target is None:
        return 1
    binary = args.claude or shutil.which("claude", path=environ.get("PATH"))
    if not binary or not os.access(binary, os.X_OK):
        print(f"aimux: Claude Code not found ({binary or 'no claude on PATH'}): npm install -g "
              "@anthropic-ai/claude-code, or pass --claude PATH", file=sys.stderr)  # fmt: skip
        return 127
    if target.local and not _answers(target.url):
        print(f"aimux: no gateway answering at {target.url}: start `aimux serve`, or pass --url or --stack",
              file=sys.stderr)  # fmt: skip
        return 1
    _note_key(target)
    for name, value in claude_env(target).items():
        if value is None:
            environ.pop(name, None)
        else:
            environ[name] = value
    extra = list(args.claude_args)
    if extra[:1] == ["--"]:
        extra = extra[1:]
    print(f"aimux: Claude Code -> {target.url}", file=sys.stderr)
    sys.stderr.flush()
    os.execve(binary, [binary, *extra], environ)
    return 0  # not reached: execve replaces this process


def _target(args: argparse.Namespace, env: Mapping[str, str]) -> Target | None:
    try:
        return resolve_target(args, env)
    except (StackError, ValueError) as exc:
        print(f"aimux: {exc}", file=sys.stderr)
        return None


def _note_key(target: Target) -> None:
    if target.key is None:
        print(f"aimux: no key (--key or {KEY_VARIABLE}): a placeholder is sent, which only a gateway without "
              "keys accepts", file=sys.stderr)  # fmt: skip


def _answers(url: str) -> bool:
    import httpx  # deferred: only the commands that call the gateway pay its import

    try:
        return httpx.get(f"{url}/healthz", timeout=2.0).status_code == 200
    except httpx.HTTPError:
        return False


def _model_ids(target: Target) -> list[str]:
    """The gateway's model names (``GET /v1/models``), for Cursor's custom models; empty if unreachable."""
    import httpx  # deferred: only the commands that call the gateway pay its import

    try:
        answer = httpx.get(f"{target.url}/v1/models", headers={"authorization": f"Bearer {target.token}"},
                           timeout=MODELS_TIMEOUT_SECONDS)  # fmt: skip
        answer.raise_for_status()
        return [str(model["id"]) for model in answer.json()["data"]]
    except (httpx.HTTPError, ValueError, KeyError, TypeError) as exc:
        print(f"aimux: could not list the gateway's models ({type(exc).__name__}); add them in Cursor by hand",
              file=sys.stderr)  # fmt: skip
        return []
