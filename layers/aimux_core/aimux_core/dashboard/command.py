"""``aimux dashboard --stack NAME | --url HTTP_API_URL``: the dashboard of a deployed gateway, on this machine.

Serves ``proxy.create_proxy_app`` on 127.0.0.1 (never another address: the proxy signs with your
credentials). The region comes from ``--region``, else the API's host name, else your AWS configuration.
"""

from __future__ import annotations

import argparse
import sys
from typing import Any
from urllib.parse import urlsplit

DEFAULT_PORT = 8090


def add_dashboard_parser(commands: Any) -> None:
    dashboard = commands.add_parser(
        "dashboard",
        help="serve a deployed gateway's dashboard on 127.0.0.1 (admin calls signed with your AWS credentials)",
    )
    where = dashboard.add_mutually_exclusive_group(required=True)
    where.add_argument("--stack", metavar="NAME", help="a deployed aimux stack: its HttpApiUrl output")
    where.add_argument("--url", metavar="HTTP_API_URL", help="the HTTP API base URL (the stack's HttpApiUrl)")
    dashboard.add_argument("--region", help="AWS region (default: from the URL, else your AWS configuration)")
    dashboard.add_argument("--profile", help="AWS profile whose credentials sign the admin calls")
    dashboard.add_argument("--port", type=int, default=DEFAULT_PORT, help=f"local port (default {DEFAULT_PORT})")
    dashboard.set_defaults(run=run_dashboard)


def run_dashboard(args: argparse.Namespace) -> int:
    # deferred: boto3 and uvicorn load only when this command runs, not for every aimux command
    from ..clients.stack import ADMIN_URL_OUTPUT, StackError, aws_session, stack_url
    from .signing import SigningError, SigV4Signer, region_of

    try:
        url = args.url or stack_url(args.stack, ADMIN_URL_OUTPUT, region=args.region, profile=args.profile)
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError(f"--url must be the HTTP API's base URL (https://...), got {url!r}")
        session = aws_session(region=args.region, profile=args.profile)
        region = args.region or region_of(parts.hostname) or session.region_name
        if not region:
            raise ValueError("no AWS region: pass --region")
        signer = SigV4Signer(session, region)
    except (StackError, SigningError, ValueError) as exc:
        print(f"aimux: {exc}", file=sys.stderr)
        return 1
    return serve_dashboard(url, signer, args.port)


def serve_dashboard(url: str, signer: Any, port: int) -> int:
    import uvicorn  # deferred: a server only when the dashboard is served

    from .proxy import create_proxy_app

    app = create_proxy_app(url, signer, port=port)
    print(f"aimux: dashboard of {url} at http://127.0.0.1:{port}/admin/ (admin calls signed as you; Ctrl-C stops)",
          file=sys.stderr)  # fmt: skip
    uvicorn.run(app, host="127.0.0.1", port=port, log_level="warning", access_log=False, proxy_headers=False)
    return 0
