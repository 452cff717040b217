"""Admin operations on projects: create, list, show, update, delete; and the view the admin API answers.

Used by the ``/admin/projects`` routes (``surfaces/admin_projects.py``) and by ``aimux projects`` against
DynamoDB. Each takes the ``KeyRing`` (its store holds keys and projects alike; its directory is the one
this process's requests read, updated at once by ``remember``). Every write is conditional: create only
if absent, update by compare-and-set on the version read (retried on a race), delete at the version read.

A project with keys is not deleted (409) unless forced; forced, each of its keys is detached first
(its ``project`` cleared, compare-and-set), then the project removed. Usage already counted stays under
the project's name (``state/usage.py``).

The view (``ProjectView`` in the admin contract): the project's fields, its key ids, its spend today and
this month (UTC) from the usage counters (``state/usage.py``, exact: the costs its clients were told),
and what requests in flight hold against its budgets (``state/spend.py``).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterable, Mapping
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

from ..errors import AimuxError, InvalidRequest
from ..keys import admin as key_admin
from ..keys.record import ApiKeyRecord
from ..keys.ring import KeyRing
from ..keys.validate import positive_int, text, usd
from ..limits.project import PROJECT_RANGE, PROJECTS_PK, Project, budget_scope, check_name, not_found, read_project
from ..limits.spend import SpendLedger
from ..state.store import ABSENT, ConditionFailed
from ..state.usage import UsageCounters, day_of

log = logging.getLogger("aimux.projects")

ATTEMPTS = 5
FIELDS = ("description", "rpm", "tpm", "budget_daily_usd", "budget_monthly_usd")


class ProjectConflict(AimuxError):
    """409: the project exists already, still has keys, or kept changing while being written."""

    status = 409
    kind = "invalid_request_error"


def _fields(values: Mapping[str, Any]) -> dict[str, Any]:
    """The checked project fields among ``values`` (unknown names refused, naming them)."""
    unknown = sorted(set(values) - set(FIELDS))
    if unknown:
        raise InvalidRequest(f"{unknown[0]}: not a project field (known: {', '.join(FIELDS)})", param=unknown[0])
    checked: dict[str, Any] = {}
    for name, value in values.items():
        if name == "description":
            checked[name] = text(name, value) or ""
        elif name in ("rpm", "tpm"):
            checked[name] = positive_int(name, value)
        else:
            checked[name] = usd(name, value)
    return checked


async def create_project(keys: KeyRing, name: str, **values: Any) -> Project:
    """A new project (409 if the name is taken); InvalidRequest names a bad field."""
    project = Project(name=check_name(name), created_at=keys.clock.now(), **_fields(values))
    try:
        version = await keys.store.put(PROJECTS_PK, project.name, project.to_item(), expect_version=ABSENT)
    except ConditionFailed:
        raise ProjectConflict(f"a project named {name!r} exists already", param="name") from None
    project = replace(project, version=version)
    keys.projects.remember(project.name, project)
    log.info("created project %s", project.name)
    return project


async def list_projects(keys: KeyRing) -> list[Project]:
    """Every project, by name (fresh from the store)."""
    items = await keys.store.query(PROJECTS_PK, *PROJECT_RANGE)
    return [Project.from_item(item) for item in items]


async def show_project(keys: KeyRing, name: str) -> Project:
    """The project ``name``, or NotFound."""
    project = await read_project(keys.store, check_name(name))
    if project is None:
        raise not_found(name)
    return project


async def update_project(keys: KeyRing, name: str, changes: Mapping[str, Any]) -> Project:
    """Apply ``changes`` (only the fields given; null clears a limit) by compare-and-set."""
    checked = _fields(changes)
    for _ in range(ATTEMPTS):
        current = await show_project(keys, name)
        updated = replace(current, **checked, updated_at=keys.clock.now())
        try:
            version = await keys.store.put(PROJECTS_PK, name, updated.to_item(), expect_version=current.version)
        except ConditionFailed:
            continue
        updated = replace(updated, version=version)
        keys.projects.remember(name, updated)
        log.info("updated project %s: %s", name, ", ".join(sorted(checked)) or "nothing")
        return updated
    raise ProjectConflict(f"project {name!r} kept changing; retry")


async def delete_project(keys: KeyRing, name: str, *, force: bool = False) -> Project:
    """Remove the project; 409 while keys belong to it unless ``force`` (which detaches them first).

    A key created for the project while it is being deleted keeps naming it: such a key has no project
    limits (there is no record to read them from) and its usage is still counted under the name.
    """
    project = await show_project(keys, name)
    members = [record for record in await key_admin.list_keys(keys) if record.project == name]
    if members and not force:
        ids = ", ".join(record.id for record in members[:5]) + (" ..." if len(members) > 5 else "")
        raise ProjectConflict(
            f"project {name!r} still has {len(members)} key(s) ({ids}): move or delete them, "
            "or delete with force to detach them",
            param="force",
        )
    for record in members:
        await key_admin.set_key_project(keys, record.id, None)
    await keys.store.delete(PROJECTS_PK, name)
    keys.projects.remember(name, None)
    log.info("deleted project %s (%d key(s) detached)", name, len(members))
    return project


async def project_views(keys: KeyRing, projects: Iterable[Project]) -> list[dict[str, Any]]:
    """``ProjectView`` of each project: fields, key ids, spend today / this month / held (USD)."""
    projects = list(projects)
    if not projects:
        return []
    now = keys.clock.now()
    records, spend, held = await asyncio.gather(
        key_admin.list_keys(keys), _month_spend(keys, now), _held(keys, projects)
    )
    members: dict[str, list[ApiKeyRecord]] = {}
    for record in records:
        if record.project:
            members.setdefault(record.project, []).append(record)
    today = day_of(now)
    views = []
    for project in projects:
        days = spend.get(project.name, {})
        views.append(
            {
                **project.public(),
                "keys": [record.id for record in members.get(project.name, [])],
                "spend_today_usd": _usd(days.get(today, 0)),
                "spend_month_usd": _usd(sum(days.values())),
                "spend_held_usd": _usd(held.get(project.name, 0)),
            }
        )
    return views


async def _month_spend(keys: KeyRing, now: float) -> dict[str, dict[str, int]]:
    """Micro-dollars per project and day, from the first of this month (UTC) to today."""
    usage = UsageCounters(keys.store, keys.clock)
    today = datetime.fromtimestamp(now, UTC).date()
    days = [(today.replace(day=1) + timedelta(days=n)).isoformat() for n in range(today.day)]
    spend: dict[str, dict[str, int]] = {}
    for rows in await asyncio.gather(*(usage.day(day) for day in days)):
        for row in rows:
            per_day = spend.setdefault(row.project, {})
            per_day[row.day] = per_day.get(row.day, 0) + row.counts.get("cost_micro_usd", 0)
    return spend


async def _held(keys: KeyRing, projects: list[Project]) -> dict[str, int]:
    """What requests in flight hold against each budgeted project this month (micro-dollars)."""
    budgeted = [p for p in projects if p.budget_daily_usd is not None or p.budget_monthly_usd is not None]
    ledger = SpendLedger(keys.store, keys.clock)
    totals = await asyncio.gather(*(ledger.totals(budget_scope(p.name)) for p in budgeted))
    return {project.name: total.held_month_micro for project, total in zip(budgeted, totals, strict=True)}


def _usd(micro: int) -> float:
    return round(micro / 1_000_000, 6)
