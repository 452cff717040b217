"""``aimux projects ...``: create, list, show, update and delete projects.

Which projects: those of a running gateway through its admin routes (``--url``, default
``http://127.0.0.1:$AIMUX_PORT``), or with ``AIMUX_TABLE`` set and no ``--url`` the DynamoDB table the
deployed gateway reads: the same choice as ``aimux keys`` (``keys/commands.py`` ``backend_for``), and the
same answers (the admin routes' ``ProjectView``). ``--json`` prints them whole.

Limits left out are unlimited; ``update`` changes only the options given, and ``none`` clears a limit
(``aimux projects update web --rpm none``).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Mapping
from typing import Any, Protocol
from urllib.parse import quote

from ..keys.commands import backend_for
from ..keys.remote import HttpBackend, KeyCommandError, StoreBackend
from ..limits.project import Project
from . import admin

CLEAR = "none"


class ProjectBackend(Protocol):
    where: str

    def create(self, name: str, fields: Mapping[str, Any]) -> dict[str, Any]: ...
    def list(self) -> list[dict[str, Any]]: ...
    def show(self, name: str) -> dict[str, Any]: ...
    def update(self, name: str, fields: Mapping[str, Any]) -> dict[str, Any]: ...
    def delete(self, name: str, force: bool) -> None: ...


class HttpProjects:
    """The ``/admin/projects`` routes of a running gateway."""

    def __init__(self, http: HttpBackend) -> None:
        self.http = http
        self.where = http.where

    def create(self, name: str, fields: Mapping[str, Any]) -> dict[str, Any]:
        return self.http.call("POST", "/admin/projects", json={"name": name, **fields})

    def list(self) -> list[dict[str, Any]]:
        return list(self.http.call("GET", "/admin/projects")["projects"])

    def show(self, name: str) -> dict[str, Any]:
        return self.http.call("GET", f"/admin/projects/{quote(name, safe='')}")

    def update(self, name: str, fields: Mapping[str, Any]) -> dict[str, Any]:
        return self.http.call("PATCH", f"/admin/projects/{quote(name, safe='')}", json=dict(fields))

    def delete(self, name: str, force: bool) -> None:
        suffix = "?force=true" if force else ""
        self.http.call("DELETE", f"/admin/projects/{quote(name, safe='')}{suffix}")


class StoreProjects:
    """The project operations over the table (``projects/admin.py``)."""

    def __init__(self, store: StoreBackend) -> None:
        self.store = store
        self.where = store.where

    def _view(self, project: Project) -> dict[str, Any]:
        return self.store.run(admin.project_views(self.store.keys, [project]))[0]

    def create(self, name: str, fields: Mapping[str, Any]) -> dict[str, Any]:
        return self._view(self.store.run(admin.create_project(self.store.keys, name, **fields)))

    def list(self) -> list[dict[str, Any]]:
        keys = self.store.keys

        async def views() -> list[dict[str, Any]]:
            return await admin.project_views(keys, await admin.list_projects(keys))

        return self.store.run(views())

    def show(self, name: str) -> dict[str, Any]:
        return self._view(self.store.run(admin.show_project(self.store.keys, name)))

    def update(self, name: str, fields: Mapping[str, Any]) -> dict[str, Any]:
        return self._view(self.store.run(admin.update_project(self.store.keys, name, fields)))

    def delete(self, name: str, force: bool) -> None:
        self.store.run(admin.delete_project(self.store.keys, name, force=force))


def projects_backend(url: str | None, env: Mapping[str, str]) -> ProjectBackend:
    backend = backend_for(url, env)
    if isinstance(backend, StoreBackend):
        return StoreProjects(backend)
    assert isinstance(backend, HttpBackend)
    return HttpProjects(backend)


def _number(kind: type[int] | type[float]) -> Any:
    def parse(text: str) -> int | float | None:
        if text.strip().lower() == CLEAR:
            return None
        return kind(text)

    parse.__name__ = kind.__name__  # argparse names the type in its error message
    return parse


def add_projects_parser(commands: Any) -> None:
    """Register ``aimux projects`` on the top-level subparsers."""
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument(
        "--url", help="gateway whose projects to manage (default http://127.0.0.1:$AIMUX_PORT, or AIMUX_TABLE)"
    )
    common.add_argument("--json", action="store_true", help="print the answers as JSON")
    limits = argparse.ArgumentParser(add_help=False, argument_default=argparse.SUPPRESS)  # absent: not given
    limits.add_argument("--description", help="what the project is")
    limits.add_argument("--rpm", type=_number(int), help="requests per minute across its keys ('none': unlimited)")
    limits.add_argument("--tpm", type=_number(int), help="tokens per minute across its keys ('none': unlimited)")
    limits.add_argument("--budget-daily", type=_number(float), metavar="USD", help="daily budget ('none': no budget)")
    limits.add_argument("--budget-monthly", type=_number(float), metavar="USD", help="monthly budget")
    projects = commands.add_parser("projects", help="manage projects: keys under shared limits and budgets")
    verbs = projects.add_subparsers(dest="projects_command", required=True)
    create = verbs.add_parser("create", parents=[common, limits], help="create a project")
    create.add_argument("name", help="1-63 letters, digits, '.', '_' or '-'")
    create.set_defaults(run=run_projects, action=_create)
    listing = verbs.add_parser("list", parents=[common], help="list projects with their keys and spend")
    listing.set_defaults(run=run_projects, action=_list)
    show = verbs.add_parser("show", parents=[common], help="show one project")
    show.add_argument("name")
    show.set_defaults(run=run_projects, action=_show)
    update = verbs.add_parser("update", parents=[common, limits], help="change a project's limits")
    update.add_argument("name")
    update.set_defaults(run=run_projects, action=_update)
    delete = verbs.add_parser("delete", parents=[common], help="delete a project (refused while it has keys)")
    delete.add_argument("name")
    delete.add_argument("--force", action="store_true", help="detach its keys and delete it anyway")
    delete.set_defaults(run=run_projects, action=_delete)


def run_projects(args: argparse.Namespace, env: Mapping[str, str] | None = None) -> int:
    """Run one ``aimux projects`` command; 0 on success, 1 with a message on stderr otherwise."""
    try:
        backend = projects_backend(args.url, os.environ if env is None else env)
        return int(args.action(args, backend))
    except KeyCommandError as exc:
        print(f"aimux: {exc}", file=sys.stderr)
        return 1


def _given(args: argparse.Namespace) -> dict[str, Any]:
    """The limit options given on the command line (``none`` as null), by their API names."""
    names = {"description": "description", "rpm": "rpm", "tpm": "tpm", "budget_daily": "budget_daily_usd",
             "budget_monthly": "budget_monthly_usd"}  # fmt: skip
    given = vars(args)
    return {field: given[option] for option, field in names.items() if option in given}


def _create(args: argparse.Namespace, backend: ProjectBackend) -> int:
    fields = {name: value for name, value in _given(args).items() if value is not None}
    return _print(args, backend.create(args.name, fields), "created")


def _list(args: argparse.Namespace, backend: ProjectBackend) -> int:
    projects = backend.list()
    if args.json:
        print(json.dumps({"projects": projects}, indent=2, sort_keys=True))
        return 0
    if not projects:
        print(f"no projects at {backend.where}", file=sys.stderr)
        return 0
    rows = [("NAME", "KEYS", "RPM", "TPM", "DAILY$", "MONTHLY$", "TODAY$", "MONTH$", "DESCRIPTION")]
    rows += [
        (p["name"], str(len(p["keys"])), _dash(p["rpm"]), _dash(p["tpm"]), _dash(p["budget_daily_usd"]),
         _dash(p["budget_monthly_usd"]), f"{p['spend_today_usd']:.6f}", f"{p['spend_month_usd']:.6f}",
         p["description"] or "-")
        for p in projects
    ]  # fmt: skip
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    for row in rows:
        print("  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip())
    return 0


def _show(args: argparse.Namespace, backend: ProjectBackend) -> int:
    return _print(args, backend.show(args.name), None)


def _update(args: argparse.Namespace, backend: ProjectBackend) -> int:
    return _print(args, backend.update(args.name, _given(args)), "updated")


def _delete(args: argparse.Namespace, backend: ProjectBackend) -> int:
    backend.delete(args.name, args.force)
    print(f"{args.name}: deleted")
    return 0


def _print(args: argparse.Namespace, view: dict[str, Any], done: str | None) -> int:
    if args.json:
        print(json.dumps(view, indent=2, sort_keys=True))
        return 0
    if done is not None:
        print(f"aimux: {done} project {view['name']}", file=sys.stderr)
    for name, value in view.items():
        shown = ", ".join(value) or "-" if isinstance(value, list) else _dash(value)
        print(f"{name}: {shown}")
    return 0


def _dash(value: Any) -> str:
    return "-" if value is None or value == "" else f"{value:g}" if isinstance(value, float) else str(value)
