"""The ``aimux`` command: ``aimux serve`` runs the local gateway in one process.

Later subcommands (``config check``, ``route explain``, ``keys``) hang off the same parser.
"""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Sequence

from .settings import Settings


def _serve(args: argparse.Namespace) -> int:
    import uvicorn

    from .gateway import build_default_gateway
    from .surfaces.app import create_local_app

    settings = Settings.from_env()
    host = args.host or settings.host
    port = args.port or settings.port
    logging.basicConfig(level=settings.log_level, format="%(levelname)s %(name)s: %(message)s")
    gateway = build_default_gateway()
    if set(gateway.providers) == {"mock"}:
        print(
            "aimux: no provider configured - serving the built-in mock provider for every model name",
            file=sys.stderr,
        )
    print(f"aimux: listening on http://{host}:{port} (client API and /admin)", file=sys.stderr)
    uvicorn.run(
        create_local_app(gateway),
        host=host,
        port=port,
        log_level=settings.log_level.lower(),
        access_log=False,
        loop="auto",
        http="auto",
        timeout_graceful_shutdown=5,
    )
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="aimux", description="Multi-provider LLM gateway.")
    commands = parser.add_subparsers(dest="command", required=True)
    serve = commands.add_parser("serve", help="run the gateway locally (client API and admin routes)")
    serve.add_argument("--host", help="bind address (default AIMUX_HOST or 127.0.0.1)")
    serve.add_argument("--port", type=int, help="port (default AIMUX_PORT or 8080)")
    serve.set_defaults(run=_serve)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return int(args.run(args))


if __name__ == "__main__":
    raise SystemExit(main())
