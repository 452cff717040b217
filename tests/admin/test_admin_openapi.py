"""Every admin route is in the OpenAPI document (``/admin/openapi.json``), as the admin contract requires:
the dashboard and operators' tools read it, and ``/admin/docs`` renders it."""

from __future__ import annotations

from typing import Any

from fastapi.routing import APIRoute

from aimux_core.assembly import build_mock_gateway
from aimux_core.keys import KeyRing
from aimux_core.settings import Settings
from aimux_core.state import MemoryStore
from aimux_core.surfaces.admin import create_admin_app
from aimux_core.surfaces.admin_access import AdminAccess


def api_routes(routes: list[Any]) -> list[APIRoute]:
    """Every ``APIRoute``, those of included routers too (FastAPI keeps them behind ``original_router``)."""
    found: list[APIRoute] = []
    for route in routes:
        if isinstance(route, APIRoute):
            found.append(route)
        elif getattr(route, "original_router", None) is not None:
            found += api_routes(route.original_router.routes)
    return found


def test_every_admin_route_is_documented() -> None:
    app = create_admin_app(build_mock_gateway(), KeyRing(MemoryStore()), access=AdminAccess(Settings()))
    documented = {(method.upper(), path) for path, ops in app.openapi()["paths"].items() for method in ops}
    routes = {(method, route.path) for route in api_routes(app.routes) for method in route.methods}
    assert len(routes) >= 19 and routes <= documented, sorted(routes - documented)
    usage = app.openapi()["paths"]["/admin/usage"]["get"]
    assert {p["name"] for p in usage["parameters"]} == {"from", "to", "group_by"}
