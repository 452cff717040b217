"""Serve the dashboard page and its assets: ``GET /admin/`` and ``GET /admin/ui/<file>``.

The files ship inside the package (``static/``; pyproject package-data, the layer copies the package
as is, ``infra/check_build.py`` checks they are there). Each is read once per process. The page gets
a Content-Security-Policy that allows only this origin's scripts, styles and API calls: nothing is
fetched from elsewhere, and no inline script could run if some value ever slipped into the markup.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from functools import cache
from pathlib import Path

from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import BaseRoute, Route

STATIC = Path(__file__).parent / "static"
JS = "text/javascript; charset=utf-8"
ASSETS = {
    "index.html": "text/html; charset=utf-8",
    "app.css": "text/css; charset=utf-8",
    "app.js": JS,  # the page: sections and the refresh loop
    "api.js": JS,  # fetch with the admin token and the x-aimux-admin header
    "dom.js": JS,  # element builders and number formats
    "charts.js": JS,  # SVG stacked bars
    "manage.js": JS,  # keys and projects
}
CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; "
    "base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
)
SECURITY_HEADERS = {
    "content-security-policy": CSP,
    "x-content-type-options": "nosniff",
    "referrer-policy": "no-referrer",
    "x-frame-options": "DENY",
}


@dataclass(frozen=True)
class Asset:
    body: bytes
    media_type: str
    etag: str


@cache
def asset(name: str) -> Asset | None:
    """A shipped file by name (only the names in ``ASSETS``: no path from the request reaches the disk)."""
    media_type = ASSETS.get(name)
    if media_type is None:
        return None
    body = (STATIC / name).read_bytes()
    return Asset(body, media_type, '"' + hashlib.sha256(body).hexdigest()[:32] + '"')


def _answer(request: Request, name: str) -> Response:
    found = asset(name)
    if found is None:
        return PlainTextResponse("not found", status_code=404)
    headers = {**SECURITY_HEADERS, "etag": found.etag, "cache-control": "no-cache"}
    if request.headers.get("if-none-match") == found.etag:
        return Response(status_code=304, headers=headers)
    return Response(found.body, media_type=found.media_type, headers=headers)


async def index(request: Request) -> Response:
    """The dashboard (same-origin calls to the admin API; the admin token, if any, typed in the page)."""
    return _answer(request, "index.html")


async def ui_asset(request: Request) -> Response:
    return _answer(request, request.path_params["name"])


def page_routes() -> list[BaseRoute]:
    """The page's routes, for the admin app and for ``aimux dashboard``'s proxy (``/admin`` is redirected to
    ``/admin/`` by the router's trailing-slash rule)."""
    return [
        Route("/admin/", index, methods=["GET"], include_in_schema=False),
        Route("/admin/ui/{name}", ui_asset, methods=["GET"], include_in_schema=False),
    ]
