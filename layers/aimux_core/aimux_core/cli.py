"""The ``aimux`` command: ``aimux serve`` runs the local gateway in one process.

``aimux config check [FILE]`` validates a configuration and prints a summary (exit 1 with the
path of each bad field otherwise). ``aimux route explain`` shows a routing decision; ``aimux keys
...`` manages virtual API keys (``keys/commands.py``).
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
from collections.abc import Sequence
from typing import TYPE_CHECKING

from .settings import Settings

if TYPE_CHECKING:
    from .keys.mode import AuthMode
    from .keys.ring import KeyRing
    from .state.store import Store


def _serve(args: argparse.Namespace) -> int:
    import uvicorn

    from .collector import tune_for_serving
    from .config import ConfigError, resolve_config
    from .config.runtime import build_gateway_from_config
    from .state.store import StoreError
    from .surfaces.admin_access import AdminAccess
    from .surfaces.app import create_local_app
    from .surfaces.header_limits import MAX_HEADER_BYTES, header_limited_protocol

    settings = Settings.from_env()
    host = args.host or settings.host
    port = args.port or settings.port
    logging.basicConfig(level=settings.log_level, format="%(levelname)s %(name)s: %(message)s")
    try:
        config = resolve_config(os.environ, path=args.config)
        gateway = build_gateway_from_config(config)
    except ConfigError as exc:
        for line in exc.lines():
            print(f"aimux: {line}", file=sys.stderr)
        return 1
    if set(gateway.providers) == {"mock"}:
        print(
            "aimux: no provider configured - serving the built-in mock provider for every model name",
            file=sys.stderr,
        )
    elif config.source == "environment":
        names = ", ".join(config.providers)
        print(f"aimux: no config file - providers from the environment: {names}", file=sys.stderr)
    else:
        print(f"aimux: config {config.source}: {', '.join(config.providers)}", file=sys.stderr)
    try:
        keys, mode = _serve_keys(gateway.admission.ledger.store if gateway.admission is not None else None)
        admin_access = AdminAccess.from_env(os.environ)
    except (ValueError, StoreError) as exc:
        print(f"aimux: {exc}", file=sys.stderr)
        return 1
    app = create_local_app(gateway, keys if mode == "on" else None, admin_keys=keys, admin_access=admin_access)
    tune_for_serving()
    print(f"aimux: listening on http://{host}:{port} (client API and /admin)", file=sys.stderr)
    print(f"aimux: {admin_access.describe()}", file=sys.stderr)
    uvicorn.run(
        app,
        host=host,
        port=port,
        log_level=settings.log_level.lower(),
        access_log=False,
        loop="auto",
        http=header_limited_protocol(),  # 431 past 64 KiB of request headers (surfaces/header_limits.py)
        h11_max_incomplete_event_size=MAX_HEADER_BYTES,
        # The peer address is the caller: forwarding headers are read by surfaces/admin_access.py, and
        # only from AIMUX_TRUSTED_PROXIES (uvicorn would otherwise believe any loopback peer's).
        proxy_headers=False,
        timeout_graceful_shutdown=5,
    )
    return 0


def _serve_keys(store: Store | None = None) -> tuple[KeyRing, AuthMode]:
    """The key ring (on the gateway's ``store``: ``AIMUX_TABLE`` or this process's memory) and whether
    client requests must present a key."""
    from .keys.mode import AUTH_OFF_NOTICE, decide_at_start, keyring_from_env

    keys = keyring_from_env(os.environ, store=store)
    mode = decide_at_start(os.environ, keys)
    if mode == "off":
        print(AUTH_OFF_NOTICE, file=sys.stderr)
    else:
        print(
            f"aimux: AIMUX_AUTH=on - client requests need an API key (aimux keys create --name ...); "
            f"revocations take effect within {keys.cache_seconds:g} s",
            file=sys.stderr,
        )
    return keys, mode


def _config_check(args: argparse.Namespace) -> int:
    from .config import ConfigError, load_config, resolve_config
    from .config.summary import summarize

    try:
        config = load_config(args.file) if args.file else resolve_config(os.environ)
    except ConfigError as exc:
        print(exc, file=sys.stderr)
        return 1
    print(f"{config.source}: OK")
    print("\n".join(summarize(config)))
    return 0


def _route_explain(args: argparse.Namespace) -> int:
    from pathlib import Path

    from .config import ConfigError, resolve_config
    from .config.runtime import build_routing_table
    from .errors import AimuxError
    from .routing.explain import describe, explain, load_request

    try:
        config = resolve_config(os.environ, path=args.config)
        request, meta = load_request(Path(args.request))
        decision = explain(request, meta, build_routing_table(config))
    except ConfigError as exc:
        print(exc, file=sys.stderr)
        return 1
    except (AimuxError, OSError, ValueError) as exc:
        print(f"aimux: {getattr(exc, 'message', exc)}", file=sys.stderr)
        return 1
    print(f"config:   {config.source}")
    print("\n".join(describe(decision)))
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="aimux", description="Multi-provider LLM gateway.")
    commands = parser.add_subparsers(dest="command", required=True)
    serve = commands.add_parser("serve", help="run the gateway locally (client API and admin routes)")
    serve.add_argument("--host", help="bind address (default AIMUX_HOST or 127.0.0.1)")
    serve.add_argument("--port", type=int, help="port (default AIMUX_PORT or 8080)")
    serve.add_argument(
        "--config",
        metavar="FILE",
        help="configuration file (default AIMUX_CONFIG, else ./aimux.yaml, else presets whose key variables are set)",
    )
    serve.set_defaults(run=_serve)
    config = commands.add_parser("config", help="work with the configuration file")
    config_commands = config.add_subparsers(dest="config_command", required=True)
    check = config_commands.add_parser("check", help="validate a configuration and print a summary")
    check.add_argument(
        "file", nargs="?", help="the file (default AIMUX_CONFIG, else ./aimux.yaml, else the environment)"
    )
    check.set_defaults(run=_config_check)
    route = commands.add_parser("route", help="inspect routing decisions")
    route_commands = route.add_subparsers(dest="route_command", required=True)
    explain = route_commands.add_parser("explain", help="print where a request would be routed, without sending it")
    explain.add_argument("request", help="a request body (Anthropic or OpenAI) or a recorded {path, headers, body}")
    explain.add_argument("--config", metavar="FILE", help="configuration file (default as for serve)")
    explain.set_defaults(run=_route_explain)
    from .keys.commands import add_keys_parser

    add_keys_parser(commands)
    from .jobs.commands import add_worker_parser

    add_worker_parser(commands)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return int(args.run(args))


if __name__ == "__main__":
    raise SystemExit(main())
