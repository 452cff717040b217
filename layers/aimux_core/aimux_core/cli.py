"""The ``aimux`` command: ``aimux serve`` runs the local gateway in one process.

``aimux config check [FILE]`` validates a configuration and prints a summary (exit 1 with the
path of each bad field otherwise). ``aimux route explain`` shows a routing decision; ``aimux keys
...`` manages virtual API keys (``keys/commands.py``); ``aimux worker`` consumes the SQS work queue.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING

from .settings import Settings

if TYPE_CHECKING:
    from .keys.ring import KeyRing
    from .settings import AuthMode


def _serve(args: argparse.Namespace) -> int:
    # Each subcommand imports what it runs, so `aimux keys` and `aimux config check` start fast.
    import uvicorn

    from .assembly import build_gateway, build_keyring
    from .collector import tune_for_serving
    from .config import ConfigError, resolve_config
    from .keys.mode import decide_at_start
    from .settings import SettingsError
    from .state.store import StoreError
    from .surfaces.admin_access import AdminAccess
    from .surfaces.app import create_local_app
    from .surfaces.header_limits import MAX_HEADER_BYTES, header_limited_protocol

    try:
        settings = Settings.from_env()
    except SettingsError as exc:
        for problem in exc.problems:
            print(f"aimux: {problem}", file=sys.stderr)
        return 1
    host = args.host or settings.host
    port = args.port or settings.port
    logging.basicConfig(level=settings.log_level, format="%(levelname)s %(name)s: %(message)s")
    try:
        config = resolve_config(os.environ, path=args.config, settings=settings)
        gateway = build_gateway(config, settings)
    except ConfigError as exc:
        for line in exc.lines():
            print(f"aimux: {line}", file=sys.stderr)
        return 1
    _say_where_providers_come_from(gateway.providers, config.source, list(config.providers))
    try:
        # One store for the gateway's state and the keys: AIMUX_TABLE, or this process's memory.
        store = gateway.admission.ledger.store if gateway.admission is not None else None
        keys = build_keyring(settings, store=store)
        mode = decide_at_start(settings, keys)
    except StoreError as exc:
        print(f"aimux: {exc}", file=sys.stderr)
        return 1
    _say_auth_mode(mode, keys)
    admin_access = AdminAccess(settings)
    app = create_local_app(
        gateway, keys if mode == "on" else None, admin_keys=keys, admin_access=admin_access, settings=settings
    )
    tune_for_serving(settings)
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


def _say_where_providers_come_from(providers: Iterable[str], source: str, configured: list[str]) -> None:
    if set(providers) == {"mock"}:
        print(
            "aimux: no provider configured - serving the built-in mock provider for every model name", file=sys.stderr
        )
    elif source == "environment":
        print(f"aimux: no config file - providers from the environment: {', '.join(configured)}", file=sys.stderr)
    else:
        print(f"aimux: config {source}: {', '.join(configured)}", file=sys.stderr)


def _say_auth_mode(mode: AuthMode, keys: KeyRing) -> None:
    from .keys.mode import AUTH_OFF_NOTICE  # with the subcommand's other imports

    if mode == "off":
        print(AUTH_OFF_NOTICE, file=sys.stderr)
    else:
        print(
            f"aimux: AIMUX_AUTH=on - client requests need an API key (aimux keys create --name ...); "
            f"revocations take effect within {keys.cache_seconds:g} s",
            file=sys.stderr,
        )


def _config_check(args: argparse.Namespace) -> int:
    # Each subcommand imports what it runs (see _serve).
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
    # Each subcommand imports what it runs (see _serve).
    from pathlib import Path

    from .assembly.parts import build_routing_table
    from .config import ConfigError, resolve_config
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


def _worker(args: argparse.Namespace) -> int:
    """``aimux worker``: the worker function's job outside Lambda, consuming ``AIMUX_QUEUE_URL``.

    For a deployment that runs workers on its own machines, and for tests that stop a worker with SIGKILL
    mid-batch: what it had started comes back after the queue's visibility timeout and the item leases,
    and another worker finishes it. ``aimux serve`` needs none: it handles its in-process queue itself.
    """
    # the worker's parts load for `aimux worker` only: the other commands start without them
    import asyncio
    import signal

    from .accounting.metrics import Emission
    from .assembly import build_gateway
    from .config import ConfigError, resolve_config
    from .jobs.build import build_jobs
    from .jobs.lambda_entry import consume
    from .settings import SettingsError
    from .surfaces.exchange import off_path_exchanges

    try:
        settings = Settings.from_env()
    except SettingsError as exc:
        for problem in exc.problems:
            print(f"aimux: {problem}", file=sys.stderr)
        return 1
    logging.basicConfig(level=settings.log_level, format="%(levelname)s %(name)s: %(message)s")
    if not settings.queue_url:
        print("aimux: aimux worker needs AIMUX_QUEUE_URL (aimux serve runs its own in-process queue)", file=sys.stderr)
        return 1
    try:
        gateway = build_gateway(resolve_config(os.environ, path=args.config, settings=settings), settings)
    except ConfigError as exc:
        for line in exc.lines():
            print(f"aimux: {line}", file=sys.stderr)
        return 1
    jobs = build_jobs(gateway, settings, ledgers=off_path_exchanges(Emission.of(settings)))

    async def run() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(signum, stop.set)
        print(f"aimux: worker consuming {settings.queue_url}", file=sys.stderr)
        await consume(jobs, stop, tick_seconds=settings.batch_poll_seconds)

    asyncio.run(run())
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
    from .keys.commands import add_keys_parser  # argparse only needs its parser; its backends load when run

    add_keys_parser(commands)
    worker = commands.add_parser("worker", help="consume the SQS work queue (AIMUX_QUEUE_URL) like the worker function")
    worker.add_argument("--config", metavar="FILE", help="configuration file (default as for serve)")
    worker.set_defaults(run=_worker)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return int(args.run(args))


if __name__ == "__main__":
    raise SystemExit(main())
