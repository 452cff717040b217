"""``GET /admin/`` serves the dashboard: one page and its own files, nothing from elsewhere, guarded like
every admin route. (What the page shows is checked in a browser: tests/browser/.)"""

from __future__ import annotations

import re
from pathlib import Path

from fastapi.testclient import TestClient

from aimux_core.assembly import build_mock_gateway
from aimux_core.dashboard.page import ASSETS, STATIC
from aimux_core.keys import KeyRing
from aimux_core.settings import Settings
from aimux_core.state import MemoryStore
from aimux_core.surfaces.admin import create_admin_app
from aimux_core.surfaces.admin_access import AdminAccess

LOOPBACK = ("127.0.0.1", 5000)


def _client(access: AdminAccess | None = None, peer: tuple[str, int] = LOOPBACK) -> TestClient:
    app = create_admin_app(build_mock_gateway(), KeyRing(MemoryStore()), access=access or AdminAccess(Settings()))
    return TestClient(app, client=peer)


def test_the_page_and_each_asset_are_served_with_their_type_and_policy() -> None:
    http = _client()
    page = http.get("/admin/")
    assert page.status_code == 200 and page.headers["content-type"] == "text/html; charset=utf-8"
    policy = page.headers["content-security-policy"]
    assert "default-src 'none'" in policy and "script-src 'self'" in policy and "connect-src 'self'" in policy
    assert page.headers["x-content-type-options"] == "nosniff" and page.headers["x-frame-options"] == "DENY"
    assert http.get("/admin", follow_redirects=False).headers["location"].endswith("/admin/")
    for name, media_type in ASSETS.items():
        answer = http.get(f"/admin/ui/{name}")
        assert answer.status_code == 200 and answer.headers["content-type"] == media_type, name
        assert answer.content == (STATIC / name).read_bytes()
        again = http.get(f"/admin/ui/{name}", headers={"if-none-match": answer.headers["etag"]})
        assert again.status_code == 304 and not again.content


def test_only_shipped_files_are_served() -> None:
    http = _client()
    for path in ("/admin/ui/nope.js", "/admin/ui/..%2F..%2Fpage.py", "/admin/ui/%2Fetc%2Fpasswd"):
        assert http.get(path).status_code == 404, path
    assert sorted(p.name for p in STATIC.iterdir()) == sorted(ASSETS)  # every shipped file is servable


def test_nothing_is_fetched_from_elsewhere() -> None:
    html = (STATIC / "index.html").read_text()
    references = re.findall(r'(?:src|href)="([^"]+)"', html)
    assert references and all(ref.startswith(("/admin/ui/", "#", "data:")) for ref in references), references
    for name in ASSETS:
        text = (STATIC / name).read_text()
        assert not re.search(r"https?://(?!www\.w3\.org/2000/svg)", text), name  # no outside URL at all
        assert "<script>" not in text and "innerHTML" not in text, name  # values never become markup
    imports = {m for name in ASSETS for m in re.findall(r'from "\./([a-z]+\.js)"', (STATIC / name).read_text())}
    assert imports <= set(ASSETS), imports


def test_the_page_is_an_admin_route_like_the_others() -> None:
    token = "page-token-" + "x" * 16
    remote = _client(peer=("203.0.113.9", 1))
    assert remote.get("/admin/").status_code == 403
    with_token = _client(AdminAccess(Settings(admin_token=token)))
    # A page load cannot carry a header: the page (static, no data) loads, then asks for the token.
    for path in ("/admin/", "/admin/ui/app.js"):
        assert with_token.get(path).status_code == 200
    assert with_token.get("/admin/status").status_code == 401
    assert with_token.get("/admin/keys").status_code == 401
    assert with_token.get("/admin/status", headers={"x-aimux-admin-token": token}).status_code == 200


def test_the_layer_and_the_wheel_ship_the_page() -> None:
    pyproject = (Path(__file__).parents[2] / "pyproject.toml").read_text()
    assert 'aimux_core = ["dashboard/static/*"]' in pyproject  # infra/check_build.py checks the built layer
