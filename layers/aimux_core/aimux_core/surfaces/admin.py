"""Admin routes for operators (``/admin/...``): what this gateway serves and how it is set up.

FastAPI is used here (typed, self-documenting at ``/admin/docs``) because this app is off the
request hot path; its import cost is paid only by the admin function.
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI

from .. import __version__
from ..gateway import Gateway, build_default_gateway


def create_admin_app(gateway: Gateway | None = None) -> FastAPI:
    gateway = gateway or build_default_gateway()
    app = FastAPI(
        title="aimux admin",
        version=__version__,
        docs_url="/admin/docs",
        openapi_url="/admin/openapi.json",
        redoc_url=None,
    )

    @app.get("/admin/status")
    def status() -> dict[str, Any]:
        """Version, configured providers and routable models."""
        return {
            "version": __version__,
            "providers": sorted(gateway.providers),
            "models": [entry.id for entry in gateway.catalog],
        }

    @app.get("/admin/models")
    def models() -> list[dict[str, Any]]:
        """Every routable model with the provider and upstream id that serve it."""
        return [
            {
                "id": entry.id,
                "provider": entry.provider,
                "upstream_model": entry.upstream_model,
                "context_window": entry.context_window,
                "max_output": entry.max_output,
                "capabilities": sorted(entry.capabilities),
            }
            for entry in gateway.catalog
        ]

    return app
