"""``GET /admin/config`` and ``POST /admin/route/explain``: how the gateway is set up, and where a request
would go.

The configuration view hides every secret behind where it comes from (``reports/config_view.py``). The
explanation is ``aimux route explain --json`` for a posted request (a Messages or Chat Completions body,
or a recorded ``{"path", "headers", "body"}``), decided against the live health view: a target that is
down now (open circuit, cooling down) is listed last and under ``down``, as dispatch would try it.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Body, FastAPI

from ..reports.config_view import config_view
from ..routing.explain import decision_json, explain, parse_request
from .admin_context import AdminContext


def add_config_routes(app: FastAPI, context: AdminContext) -> None:
    router = APIRouter(prefix="/admin", tags=["configuration"])

    @router.get("/config")
    def config() -> dict[str, Any]:
        """The effective configuration: providers (each key shown by its source), models, routes, retry,
        breaker, and the deployment's settings."""
        return config_view(context.gateway().config, context.settings)

    @router.post("/route/explain")
    async def route_explain(document: Annotated[dict[str, Any], Body()]) -> dict[str, Any]:
        """The routing decision for a request, without sending it: route, targets in order, and the
        targets dropped with the reason."""
        request, meta = parse_request(document)
        gateway = context.gateway()
        decision = explain(request, meta, gateway.table, await gateway.health_view())
        return decision_json(decision)

    app.include_router(router)
