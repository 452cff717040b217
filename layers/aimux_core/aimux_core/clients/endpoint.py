"""Which gateway a client command points at, and with which key.

The base URL: ``--url``, else a deployed stack's ``StreamFunctionUrl`` output (``--stack``), else the
local ``aimux serve`` (``http://127.0.0.1:<AIMUX_PORT or 8080>``). The key: ``--key``, else
``AIMUX_KEY``, else none (a local gateway with auth off accepts any token; the client tools still want
one, so they get a placeholder that says what it is).
"""

from __future__ import annotations

import argparse
from collections.abc import Mapping
from dataclasses import dataclass, field

from ..settings import Settings, variable_of
from .stack import CLIENT_URL_OUTPUT, stack_url

KEY_VARIABLE = variable_of("client_key")
PLACEHOLDER_KEY = "aimux-no-key"
"""Sent when no key is given: a local gateway without keys accepts it, any other answers 401."""


@dataclass(frozen=True)
class Target:
    """A gateway base URL (no trailing slash) and the key clients present to it."""

    url: str
    where: str
    key: str | None = field(default=None, repr=False)

    @property
    def token(self) -> str:
        return self.key or PLACEHOLDER_KEY

    @property
    def local(self) -> bool:
        return self.where == "local"


def add_target_arguments(parser: argparse.ArgumentParser) -> None:
    where = parser.add_mutually_exclusive_group()
    where.add_argument("--url", help="gateway base URL (default: the local aimux serve)")
    where.add_argument("--stack", metavar="NAME", help="a deployed aimux stack: its StreamFunctionUrl output")
    parser.add_argument("--region", help="AWS region of --stack (default: your AWS configuration's)")
    parser.add_argument("--profile", help="AWS profile for --stack")
    parser.add_argument("--key", help=f"aimux API key (default: {KEY_VARIABLE})")


def resolve_target(args: argparse.Namespace, env: Mapping[str, str]) -> Target:
    """The gateway and key from the arguments (``add_target_arguments``); StackError or ValueError if not
    (a ``SettingsError`` naming a malformed variable among them)."""
    settings = Settings.from_env(env)
    key = args.key or settings.client_key
    if args.url:
        url = args.url.strip().rstrip("/")
        if not url.startswith(("http://", "https://")):
            raise ValueError(f"--url must start with http:// or https://, got {args.url!r}")
        return Target(url, "url", key)
    if args.stack:
        return Target(stack_url(args.stack, CLIENT_URL_OUTPUT, region=args.region, profile=args.profile),
                      f"stack {args.stack}", key)  # fmt: skip
    return Target(local_url(settings), "local", key)


def local_url(settings: Settings) -> str:
    """Where ``aimux serve`` listens on this machine (a wildcard bind address is reached over loopback)."""
    host = settings.host if settings.host not in ("0.0.0.0", "::", "") else "127.0.0.1"
    return f"http://{host if ':' not in host else f'[{host}]'}:{settings.port}"
