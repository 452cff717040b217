"""``aimux keys ...``: create, list, show, disable, enable, rotate and delete virtual API keys.

Which keys: with ``--url`` (or by default, ``http://127.0.0.1:$AIMUX_PORT``) those of a running
gateway, through its admin routes; with ``AIMUX_TABLE`` set and no ``--url``, the DynamoDB table the
deployed gateway reads (AWS credentials from the usual places).

Output: a created or rotated key's plaintext goes alone to stdout (``KEY=$(aimux keys create ...)``
works) and the warning that it is never shown again to stderr; ``--json`` prints the whole answer.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from ..settings import Settings, SettingsError
from .remote import HttpBackend, KeyBackend, KeyCommandError, StoreBackend
from .ring import build_keyring

ID_COMMANDS = {
    "show": "show one key",
    "disable": "refuse the key from now on (403); running gateways notice within their cache time",
    "enable": "accept a disabled key again",
    "rotate": "give the key a new secret (printed once); the old secret stops working",
    "delete": "remove the key for good",
}


def add_keys_parser(commands: Any) -> None:
    """Register ``aimux keys`` on the top-level subparsers."""
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument(
        "--url",
        help="gateway whose keys to manage (default http://127.0.0.1:$AIMUX_PORT, or the AIMUX_TABLE table when set)",
    )
    common.add_argument("--json", action="store_true", help="print the answers as JSON")
    keys = commands.add_parser("keys", help="manage virtual API keys (of a running local gateway, or AIMUX_TABLE)")
    verbs = keys.add_subparsers(dest="keys_command", required=True)
    create = verbs.add_parser("create", parents=[common], help="create a key and print it once")
    create.add_argument("--name", required=True, help="what the key is for")
    create.add_argument("--owner", help="who holds it")
    create.add_argument("--project", help="which project it bills to")
    create.add_argument("--rpm", type=int, help="requests per minute (default unlimited)")
    create.add_argument("--tpm", type=int, help="tokens per minute (default unlimited)")
    create.add_argument("--budget-daily", type=float, metavar="USD", help="daily budget in US dollars")
    create.add_argument("--budget-monthly", type=float, metavar="USD", help="monthly budget in US dollars")
    create.add_argument("--budget-route", metavar="ROUTE", help="cheaper route for when the budget runs low")
    create.add_argument(
        "--allow-model", action="append", default=[], metavar="GLOB", help="allowed model pattern (repeatable)"
    )
    create.add_argument(
        "--allow-route", action="append", default=[], metavar="GLOB", help="allowed route pattern (repeatable)"
    )
    create.set_defaults(run=run_keys, action=_create)
    listing = verbs.add_parser("list", parents=[common], help="list keys (never their secrets)")
    listing.set_defaults(run=run_keys, action=_list)
    for verb, help_text in ID_COMMANDS.items():
        parser = verbs.add_parser(verb, parents=[common], help=help_text)
        parser.add_argument("id", help="the key id (key_...)")
        parser.set_defaults(run=run_keys, action=_by_id)


def backend_for(url: str | None, env: Mapping[str, str]) -> KeyBackend:
    """``--url`` wins; else the ``AIMUX_TABLE`` table; else the local gateway on ``AIMUX_PORT``.

    Over HTTP the gateway's admin token, when it has one, comes from ``AIMUX_ADMIN_TOKEN``.
    """
    try:
        settings = Settings.from_env(env)
    except SettingsError as exc:
        raise KeyCommandError(str(exc)) from None
    token = settings.admin_token
    if url:
        return HttpBackend(url, admin_token=token)
    if settings.table:
        import importlib.util  # only this command asks whether boto3 is there

        if importlib.util.find_spec("boto3") is None:
            raise KeyCommandError(
                f"AIMUX_TABLE={settings.table} needs the AWS SDK, which is not installed: "
                "pip install 'aimux[aws]' (make install does)"
            )

        return StoreBackend(build_keyring(settings), f"DynamoDB table {settings.table}")
    return HttpBackend(f"http://127.0.0.1:{settings.port}", admin_token=token)


def run_keys(args: argparse.Namespace, env: Mapping[str, str] | None = None) -> int:
    """Run one ``aimux keys`` command; 0 on success, 1 with a message on stderr otherwise."""
    try:
        backend = backend_for(args.url, os.environ if env is None else env)
        return int(args.action(args, backend))
    except KeyCommandError as exc:
        print(f"aimux: {exc}", file=sys.stderr)
        return 1


def _create(args: argparse.Namespace, backend: KeyBackend) -> int:
    fields = {
        "name": args.name,
        "owner": args.owner,
        "project": args.project,
        "rpm": args.rpm,
        "tpm": args.tpm,
        "budget_daily_usd": args.budget_daily,
        "budget_monthly_usd": args.budget_monthly,
        "budget_route": args.budget_route,
        "allowed_models": args.allow_model,
        "allowed_routes": args.allow_route,
    }
    return _print_secret(args, backend.create(fields), "created")


def _list(args: argparse.Namespace, backend: KeyBackend) -> int:
    records = backend.list()
    if args.json:
        _print_json({"keys": records})
        return 0
    if not records:
        print(f"no keys at {backend.where}", file=sys.stderr)
        return 0
    rows = [("ID", "NAME", "STATUS", "OWNER", "PROJECT", "RPM", "TPM", "DAILY$", "MONTHLY$", "MODELS", "CREATED")]
    rows += [
        (
            r["id"],
            r["name"],
            "disabled" if r["disabled"] else "active",
            r["owner"] or "-",
            r["project"] or "-",
            _or_dash(r["rpm"]),
            _or_dash(r["tpm"]),
            _or_dash(r["budget_daily_usd"]),
            _or_dash(r["budget_monthly_usd"]),
            ",".join(r["allowed_models"]) or "*",
            _when(r["created_at"]),
        )
        for r in records
    ]
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    for row in rows:
        print("  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip())
    return 0


def _by_id(args: argparse.Namespace, backend: KeyBackend) -> int:
    verb = args.keys_command
    answer = getattr(backend, verb)(args.id)
    if verb == "rotate":
        return _print_secret(args, answer, "rotated")
    if args.json:
        _print_json(answer)
    elif verb == "show":
        for name, value in answer.items():
            print(f"{name}: {_field(name, value)}")
    else:
        print(f"{answer['id']}: {verb}d")
    return 0


def _print_secret(args: argparse.Namespace, answer: dict[str, Any], done: str) -> int:
    """The plaintext alone on stdout (or in the JSON), the never-again warning on stderr."""
    if args.json:
        _print_json(answer)
    else:
        print(answer["api_key"])
    print(f"aimux: {done} key {answer['id']} ({answer['name']}) - {answer['warning']}", file=sys.stderr)
    return 0


def _print_json(value: Any) -> None:
    print(json.dumps(value, indent=2, sort_keys=True))


def _field(name: str, value: Any) -> str:
    if isinstance(value, list):
        return ", ".join(value) or "-"
    if name.endswith("_at") and value is not None:
        return _when(value)
    return _or_dash(value)


def _or_dash(value: Any) -> str:
    return "-" if value is None else f"{value:g}" if isinstance(value, float) else str(value)


def _when(epoch: float) -> str:
    return datetime.fromtimestamp(epoch, UTC).strftime("%Y-%m-%d %H:%M:%SZ")
