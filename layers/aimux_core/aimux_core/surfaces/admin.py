"""Admin routes for operators (``/admin/...``): what this gateway serves and how it is set up.

FastAPI is used here (typed, self-documenting at ``/admin/docs``) because this app is off the
request hot path; its import cost is paid only by the admin function.

Who may call any of these routes is decided in one place, ``admin_access.AdminAccessMiddleware``,
installed in front of the whole app (documentation and routes added later included).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from fastapi import FastAPI, HTTPException

from .. import __version__
from ..accounting.metrics import Emission, metrics_snapshot
from ..config.errors import ConfigError
from ..gateway import Gateway
from ..keys.ring import KeyRing
from ..settings import Settings
from .admin_access import AdminAccess, AdminAccessMiddleware
from .admin_jobs import add_job_routes
from .admin_keys import add_key_routes

if TYPE_CHECKING:
    from ..jobs.runtime import Jobs


def create_admin_app(
    gateway: Gateway | Callable[[], Gateway],
    keys: KeyRing,
    *,
    access: AdminAccess | None = None,
    emission: Emission | None = None,
    jobs: Callable[[], Jobs] | None = None,
    settings: Settings | None = None,
) -> FastAPI:
    """The admin app over ``gateway`` (or the function building it on first use: the admin function's
    init reads no provider key). ``keys``: the ring whose keys ``/admin/keys`` manages (locally, the one
    the client surfaces check). ``access``: who may call (default: loopback callers only, no token).
    ``emission``: the service name ``/admin/metrics`` reports. ``jobs``: the long work whose dead letters
    ``/admin/jobs`` shows (default: built on first use from ``settings``, the deployment's queue and bucket)."""
    built: list[Gateway] = [gateway] if isinstance(gateway, Gateway) else []
    build = gateway if not isinstance(gateway, Gateway) else None

    def current() -> Gateway:
        if not built and build is not None:
            try:
                built.append(build())
            except ConfigError as exc:
                raise HTTPException(500, "gateway configuration error: " + "; ".join(exc.lines())) from None
        return built[0]

    app = FastAPI(
        title="aimux admin",
        version=__version__,
        docs_url="/admin/docs",
        openapi_url="/admin/openapi.json",
        redoc_url=None,
        swagger_ui_oauth2_redirect_url=None,  # no OAuth2 here; its default path is outside /admin
    )

    @app.get("/admin/status")
    def status() -> dict[str, Any]:
        """Version, configured providers and routable models."""
        return {
            "version": __version__,
            "providers": sorted(current().providers),
            "models": [entry.id for entry in current().catalog],
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
            for entry in current().catalog
        ]

    add_metrics_route(app, emission or Emission())
    add_key_routes(app, keys)
    # Long work (batches, async jobs): the dead letters of webhook delivery (surfaces/admin_jobs.py).
    add_job_routes(app, jobs or _own_jobs(current, settings or Settings(), emission or Emission()))
    app.add_middleware(AdminAccessMiddleware, access=access or AdminAccess(Settings()))
    return app


def _own_jobs(gateway: Callable[[], Gateway], settings: Settings, emission: Emission) -> Callable[[], Jobs]:
    """Jobs over ``gateway`` with ``settings`` (the admin function: the deployment's queue, bucket and table),
    built on first use."""
    built: list[Jobs] = []

    def jobs() -> Jobs:
        if not built:
            from ..jobs.build import build_jobs  # the jobs package: only when a dead-letter route is called
            from .exchange import off_path_exchanges  # as above

            built.append(build_jobs(gateway(), settings, ledgers=off_path_exchanges(emission)))
        return built[0]

    return jobs


def add_metrics_route(app: FastAPI, emission: Emission) -> None:
    """``GET /admin/metrics``: this process's request metrics (the CloudWatch names and views, in memory).

    Meaningful for ``aimux serve`` (one process serves clients and admin); on AWS the admin function
    is another process, so use the CloudWatch dashboard there.
    """

    @app.get("/admin/metrics")
    def metrics() -> dict[str, Any]:
        return metrics_snapshot(emission)
