"""Who may call ``/admin``: loopback callers only locally, the admin token when one is configured, IAM deployed.

The admin routes are read from the app itself (its OpenAPI document and its route table, of the admin
app and of the local one-process app), so an admin route added later is checked here without a change
to this file. ``surfaces/admin_access.py`` holds the rules; the module docstring there says them.

Non-loopback callers are simulated at the ASGI level (``TestClient(client=...)``): tests use loopback
only. Forwarding headers are exercised over real loopback HTTP against ``aimux serve`` itself.
"""

from __future__ import annotations

import ipaddress
import re
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from aimux_core.assembly import build_mock_gateway, local_app
from aimux_core.keys import KeyRing
from aimux_core.settings import Settings, SettingsError
from aimux_core.state import MemoryStore
from aimux_core.surfaces.admin import create_admin_app
from aimux_core.surfaces.admin_access import AdminAccess

TOKEN = "t0ken-for-the-admin-routes-" + "z" * 8
REMOTE = ("203.0.113.9", 40000)
LOOPBACK = ("127.0.0.1", 40000)
REFUSED = {401, 403}


def admin_routes(app: FastAPI) -> list[tuple[str, str]]:
    """``(method, path)`` of every admin route: the OpenAPI operations plus the plain routes (docs, schema)."""
    table = {
        (method.upper(), path)
        for path, operations in app.openapi()["paths"].items()
        for method in operations
    }
    for route in app.routes:
        path, methods = getattr(route, "path", None), getattr(route, "methods", None)
        if path is not None and methods:
            table |= {(method, path) for method in methods if method != "HEAD"}
    return sorted(table)


def concrete(path: str) -> str:
    return re.sub(r"\{[^}]+\}", "key_000000000000", path)


def _app(access: AdminAccess) -> FastAPI:
    return create_admin_app(build_mock_gateway(), KeyRing(MemoryStore()), access=access)


def _call(app: Any, client: tuple[str, int], method: str, path: str, **headers: str) -> int:
    body = {"name": "walker"} if method == "POST" and path == "/admin/keys" else None
    with TestClient(app, client=client) as http:
        return http.request(method, concrete(path), json=body, headers=headers).status_code


@pytest.fixture(scope="module")
def routes() -> list[tuple[str, str]]:
    table = admin_routes(_app(AdminAccess(Settings())))
    for expected in [("GET", "/admin/status"), ("GET", "/admin/models"), ("GET", "/admin/metrics"),
                     ("GET", "/admin/docs"), ("GET", "/admin/openapi.json"), ("POST", "/admin/keys"),
                     ("DELETE", "/admin/keys/{key_id}"), ("POST", "/admin/keys/{key_id}/rotate")]:  # fmt: skip
        assert expected in table  # the walk sees what it must, so it cannot pass by seeing nothing
    assert all(path.startswith("/admin/") for _, path in table), table  # reachable through the local app
    return table


def test_every_admin_route_refuses_a_remote_caller_and_answers_a_loopback_one(routes: list[tuple[str, str]]) -> None:
    app = _app(AdminAccess(Settings()))
    for method, path in [*routes, ("GET", "/admin/not-a-route")]:
        assert _call(app, REMOTE, method, path) == 403, (method, path)
        assert _call(app, ("::ffff:192.0.2.1", 1), method, path) == 403, (method, path)
        assert _call(app, LOOPBACK, method, path) not in REFUSED, (method, path)
        assert _call(app, ("::1", 1), method, path) not in REFUSED, (method, path)


def test_the_local_app_guards_its_admin_half_the_same_way(routes: list[tuple[str, str]]) -> None:
    local = local_app(build_mock_gateway(), admin_keys=KeyRing(MemoryStore()),
                             admin_access=AdminAccess(Settings()))  # fmt: skip
    assert admin_routes(local.admin) == routes  # type: ignore[attr-defined]
    for method, path in routes:
        assert _call(local, REMOTE, method, path) == 403, (method, path)
        assert _call(local, LOOPBACK, method, path) not in REFUSED, (method, path)


def test_with_a_token_every_caller_presents_it_loopback_included(routes: list[tuple[str, str]]) -> None:
    app = _app(AdminAccess(Settings(admin_token=TOKEN)))
    for method, path in routes:
        assert _call(app, LOOPBACK, method, path) == 401, (method, path)
        assert _call(app, LOOPBACK, method, path, authorization=f"Bearer {TOKEN}x") == 401
        assert _call(app, LOOPBACK, method, path, **{"x-aimux-admin-token": TOKEN[:-1]}) == 401
        assert _call(app, LOOPBACK, method, path, authorization=f"Basic {TOKEN}") == 401
        assert _call(app, LOOPBACK, method, path, authorization=f"Bearer {TOKEN}") not in REFUSED, (method, path)
        assert _call(app, LOOPBACK, method, path, **{"x-aimux-admin-token": TOKEN}) not in REFUSED, (method, path)
        assert _call(app, REMOTE, method, path, authorization=f"Bearer {TOKEN}") == 403  # remote: not allowed
    with TestClient(app, client=LOOPBACK) as http:
        refused = http.get("/admin/status")
    assert refused.json()["error"]["type"] == "authentication_error" and refused.headers["www-authenticate"] == "Bearer"
    assert TOKEN not in refused.text


def test_remote_callers_only_when_allowed_and_only_with_the_token(routes: list[tuple[str, str]]) -> None:
    app = _app(AdminAccess(Settings(admin_token=TOKEN, admin_allow_remote=True)))
    for method, path in routes:
        assert _call(app, REMOTE, method, path) == 401, (method, path)
        assert _call(app, REMOTE, method, path, authorization=f"Bearer {TOKEN}") not in REFUSED, (method, path)


def test_deployed_iam_decides_who_calls_and_a_token_is_still_checked(routes: list[tuple[str, str]]) -> None:
    deployed = _app(AdminAccess(Settings.from_env({"AWS_LAMBDA_FUNCTION_NAME": "aimux-admin-prod"})))
    with_token = _app(AdminAccess(Settings.from_env({"AWS_LAMBDA_FUNCTION_NAME": "f", "AIMUX_ADMIN_TOKEN": TOKEN})))
    for method, path in routes:
        assert _call(deployed, REMOTE, method, path) not in REFUSED, (method, path)
        assert _call(with_token, REMOTE, method, path) == 401, (method, path)
        assert _call(with_token, REMOTE, method, path, **{"x-aimux-admin-token": TOKEN}) not in REFUSED


def test_forwarding_headers_count_only_from_trusted_proxies() -> None:
    proxies = Settings(trusted_proxies=(ipaddress.ip_network("10.0.0.0/8"),))
    app = _app(AdminAccess(proxies))
    proxy = ("10.1.2.3", 5000)
    cases = [
        (LOOPBACK, {"x-forwarded-for": "203.0.113.9"}, 200),  # not from a proxy: the header is ignored
        (REMOTE, {"x-forwarded-for": "127.0.0.1"}, 403),  # a remote caller cannot claim to be loopback
        (REMOTE, {"forwarded": "for=127.0.0.1"}, 403),
        (proxy, {}, 403),  # a proxy that does not say for whom it speaks
        (proxy, {"x-forwarded-for": "127.0.0.1"}, 200),
        (proxy, {"x-forwarded-for": "203.0.113.9"}, 403),
        (proxy, {"x-forwarded-for": "127.0.0.1, 203.0.113.9"}, 403),  # the nearest untrusted hop counts
        (proxy, {"x-forwarded-for": "203.0.113.9, 127.0.0.1, 10.9.9.9"}, 200),
        (proxy, {"x-forwarded-for": "127.0.0.1", "forwarded": "for=203.0.113.9"}, 403),  # every header must agree
        (proxy, {"forwarded": 'for="[::1]:4711";proto=http'}, 200),
        (proxy, {"forwarded": "for=127.0.0.1:80, for=198.51.100.7"}, 403),
        (proxy, {"forwarded": "for=unknown"}, 403),
        (proxy, {"x-forwarded-for": "not-an-address"}, 403),
    ]
    for client, headers, status in cases:
        assert _call(app, client, "GET", "/admin/status", **headers) == status, (client, headers)


def test_admin_settings_are_checked_at_start() -> None:
    with pytest.raises(SettingsError, match="at least 16"):
        Settings.from_env({"AIMUX_ADMIN_TOKEN": "short"})
    with pytest.raises(SettingsError, match="needs AIMUX_ADMIN_TOKEN"):
        Settings.from_env({"AIMUX_ADMIN_ALLOW_REMOTE": "1"})
    with pytest.raises(SettingsError, match="AIMUX_ADMIN_ALLOW_REMOTE"):
        Settings.from_env({"AIMUX_ADMIN_ALLOW_REMOTE": "maybe", "AIMUX_ADMIN_TOKEN": TOKEN})
    with pytest.raises(SettingsError, match=r"'10\.0\.0\.0/33'"):
        Settings.from_env({"AIMUX_TRUSTED_PROXIES": "127.0.0.1, 10.0.0.0/33"})
    env = {"AIMUX_ADMIN_TOKEN": f" {TOKEN} ", "AIMUX_ADMIN_ALLOW_REMOTE": "yes"}
    env["AIMUX_TRUSTED_PROXIES"] = "::1,10.0.0.0/8"
    settings = Settings.from_env(env)
    assert settings.admin_token == TOKEN and settings.admin_allow_remote and len(settings.trusted_proxies) == 2
    assert TOKEN not in repr(settings)
