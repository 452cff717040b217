"""``/admin`` as ``aimux serve`` publishes it, over real loopback HTTP: forwarding headers and the admin token.

Only the public behaviour is used here (environment variables, HTTP), so each test states a fault of
the earlier gateway by itself: ``/admin`` answered any caller, ``AIMUX_ADMIN_TOKEN`` and
``AIMUX_TRUSTED_PROXIES`` did not exist, and uvicorn believed any loopback peer's ``X-Forwarded-For``.
"""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest
from fastapi.testclient import TestClient

from aimux_core.assembly import build_mock_gateway
from aimux_core.keys import KeyRing
from aimux_core.state import MemoryStore
from aimux_core.surfaces.admin import create_admin_app
from support.serve_process import aimux_serve, start, stop

TOKEN = "t0ken-for-the-admin-routes-" + "z" * 8


def test_operator_views_refuse_a_caller_from_the_network() -> None:
    app = create_admin_app(build_mock_gateway(), KeyRing(MemoryStore()))
    with TestClient(app, client=("203.0.113.9", 40000)) as remote:  # what --host 0.0.0.0 exposes
        for path in ("/admin/status", "/admin/models", "/admin/metrics", "/admin/docs", "/admin/openapi.json"):
            answer = remote.get(path)
            assert answer.status_code == 403, path
            assert answer.json()["error"]["type"] == "permission_error"


def test_a_configured_admin_token_is_required_from_loopback_too() -> None:
    with aimux_serve({"AIMUX_ADMIN_TOKEN": TOKEN}) as served:
        for path in ("/admin/status", "/admin/keys", "/admin/docs"):
            assert httpx.get(served.url + path, timeout=10).status_code == 401, path
            with_token = httpx.get(served.url + path, headers={"authorization": f"Bearer {TOKEN}"}, timeout=10)
            assert with_token.status_code == 200, path
        assert httpx.get(f"{served.url}/healthz", timeout=10).status_code == 200  # client routes: unaffected
    assert TOKEN not in served.stderr


@pytest.fixture(scope="module")
def served_behind_a_local_proxy() -> Iterator[str]:
    """``aimux serve`` told that 127.0.0.1 is a reverse proxy (nginx on the same host, say)."""
    with aimux_serve({"AIMUX_TRUSTED_PROXIES": "127.0.0.1"}) as served:
        yield served.url


def test_a_same_host_proxy_does_not_make_every_caller_loopback(served_behind_a_local_proxy: str) -> None:
    url = served_behind_a_local_proxy
    unnamed = httpx.post(f"{url}/admin/keys", json={"name": "mint"}, timeout=10)
    assert unnamed.status_code == 403 and "trusted proxy" in unnamed.json()["error"]["message"]
    remote = httpx.post(f"{url}/admin/keys", json={"name": "mint"}, headers={"x-forwarded-for": "198.51.100.7"},
                        timeout=10)  # fmt: skip
    assert remote.status_code == 403
    local = httpx.get(f"{url}/admin/keys", headers={"x-forwarded-for": "127.0.0.1"}, timeout=10)
    assert local.status_code == 200, local.text


def test_aimux_serve_ignores_forwarding_headers_from_an_untrusted_peer() -> None:
    with aimux_serve() as served:
        # uvicorn's own handling would have made this caller 198.51.100.7 (and loopback callers spoofable)
        answer = httpx.get(f"{served.url}/admin/status", headers={"x-forwarded-for": "198.51.100.7"}, timeout=10)
        assert answer.status_code == 200


def test_aimux_serve_refuses_to_start_on_a_bad_admin_setting() -> None:
    served = start({"AIMUX_ADMIN_ALLOW_REMOTE": "1"})
    assert served.process.wait(timeout=30) == 1
    assert "AIMUX_ADMIN_ALLOW_REMOTE=1 needs AIMUX_ADMIN_TOKEN" in stop(served)
