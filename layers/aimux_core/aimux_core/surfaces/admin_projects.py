"""``/admin/projects``: a team's keys under shared limits, thin over ``projects/admin.py``.

GET    /admin/projects          every project (``ProjectView``: fields, keys, spend today / month / held)
POST   /admin/projects          create; 201; 409 when the name is taken
GET    /admin/projects/{name}   one project; 404
PATCH  /admin/projects/{name}   change the fields given (null clears a limit)
DELETE /admin/projects/{name}   204; 409 while keys belong to it, unless ``?force=true`` (detaches them)
"""

from __future__ import annotations

import logging
from typing import Any

from fastapi import APIRouter, FastAPI, Request
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel, ConfigDict

from ..limits.project import Project
from ..projects import admin as project_admin
from ..reports.params import flag
from .admin_context import AdminContext

log = logging.getLogger("aimux.admin")


class ProjectFields(BaseModel):
    """A project's limits and budgets (left out or null: unlimited)."""

    model_config = ConfigDict(extra="forbid")

    description: str | None = None
    rpm: int | None = None
    """Requests per minute, across all of the project's keys together."""
    tpm: int | None = None
    """Tokens per minute, likewise."""
    budget_daily_usd: float | None = None
    """US dollars per UTC day, held exactly like a key's budget (``state/reservations.py``)."""
    budget_monthly_usd: float | None = None


class CreateProjectBody(ProjectFields):
    name: str
    """1-63 letters, digits, '.', '_' or '-', starting with a letter or digit."""


def add_project_routes(app: FastAPI, context: AdminContext) -> None:
    router = APIRouter(prefix="/admin/projects", tags=["projects"])
    keys = context.keys

    async def view(project: Project) -> dict[str, Any]:
        return (await project_admin.project_views(keys, [project]))[0]

    @router.get("")
    async def list_all() -> dict[str, Any]:
        """Every project, by name."""
        return {"projects": await project_admin.project_views(keys, await project_admin.list_projects(keys))}

    @router.post("", status_code=201)
    async def create(body: CreateProjectBody, request: Request) -> JSONResponse:
        """Create a project."""
        fields = body.model_dump(exclude={"name"}, exclude_none=True)
        project = await project_admin.create_project(keys, body.name, **fields)
        log.warning("admin: project %s created by %s", project.name, context.who(request))
        return JSONResponse(await view(project), status_code=201)

    @router.get("/{name}")
    async def show(name: str) -> dict[str, Any]:
        """One project with its keys and spend."""
        return await view(await project_admin.show_project(keys, name))

    @router.patch("/{name}")
    async def update(name: str, body: ProjectFields, request: Request) -> dict[str, Any]:
        """Change the fields given; a field sent as null is cleared (unlimited)."""
        project = await project_admin.update_project(keys, name, body.model_dump(include=body.model_fields_set))
        log.warning("admin: project %s updated by %s", name, context.who(request))
        return await view(project)

    @router.delete("/{name}", status_code=204)
    async def delete(name: str, request: Request, force: str | None = None) -> Response:
        """Delete a project; refused (409) while keys belong to it unless ``force=true``."""
        forced = flag(force, "force")
        await project_admin.delete_project(keys, name, force=forced)
        log.warning("admin: project %s deleted by %s%s", name, context.who(request), " (forced)" if forced else "")
        return Response(status_code=204)

    app.include_router(router)
