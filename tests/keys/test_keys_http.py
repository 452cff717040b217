"""The ``/admin/keys`` routes over real loopback HTTP: the plaintext is shown once, never listed."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterator

import httpx
import pytest
from fastapi.testclient import TestClient

from aimux_core.assembly import build_mock_gateway
from aimux_core.keys import KeyRing
from aimux_core.settings import Settings
from aimux_core.state import MemoryStore
from aimux_core.surfaces.admin import create_admin_app
from aimux_core.surfaces.admin_access import AdminAccess
from support.server import serve


@pytest.fixture
def admin_ring() -> KeyRing:
    return KeyRing(MemoryStore(), cache_seconds=30)


@pytest.fixture
def admin_url(admin_ring: KeyRing) -> Iterator[str]:
    with serve(create_admin_app(build_mock_gateway(), admin_ring)) as url:
        yield url


def test_key_lifecycle_over_http(admin_url: str, admin_ring: KeyRing, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    with httpx.Client(base_url=admin_url, timeout=10) as http:
        created = http.post(
            "/admin/keys", json={"name": "ci", "owner": "ana", "rpm": 60, "budget_daily_usd": 5,
                                 "allowed_models": ["claude-*"]},
        )  # fmt: skip
        assert created.status_code == 201, created.text
        assert created.headers["cache-control"] == "no-store"
        body = created.json()
        plaintext, key_id = body["api_key"], body["id"]
        assert plaintext.startswith("amx-") and "not" in body["warning"] and "again" in body["warning"]
        assert body["rpm"] == 60 and body["budget_daily_usd"] == 5 and body["allowed_models"] == ["claude-*"]
        assert "key_hash" not in body

        record = asyncio.run(admin_ring.authenticate(plaintext))
        assert record.id == key_id  # the key the routes made is the one the ring checks

        listed = http.get("/admin/keys")
        shown = http.get(f"/admin/keys/{key_id}")
        assert listed.status_code == shown.status_code == 200
        assert [k["id"] for k in listed.json()["keys"]] == [key_id]
        assert shown.json()["name"] == "ci" and shown.json()["owner"] == "ana"
        for answer in (listed, shown):
            assert plaintext not in answer.text and plaintext[4:] not in answer.text
            assert record.key_hash not in answer.text and "api_key" not in answer.text

        assert http.post(f"/admin/keys/{key_id}/disable").json()["disabled"] is True
        assert http.post(f"/admin/keys/{key_id}/enable").json()["disabled"] is False
        rotated = http.post(f"/admin/keys/{key_id}/rotate")
        assert rotated.status_code == 200 and rotated.headers["cache-control"] == "no-store"
        new_plain = rotated.json()["api_key"]
        assert new_plain != plaintext and rotated.json()["id"] == key_id and rotated.json()["rpm"] == 60
        assert http.delete(f"/admin/keys/{key_id}").json() == {"id": key_id, "deleted": True}
        assert http.get("/admin/keys").json() == {"keys": []}

        missing = http.get(f"/admin/keys/{key_id}")
        assert missing.status_code == 404 and missing.json()["error"]["type"] == "not_found_error"
        bad = http.post("/admin/keys", json={"name": "x", "rpm": 0})
        assert bad.status_code == 400 and bad.json()["error"]["param"] == "rpm"
        assert http.post("/admin/keys", json={"rpm": 1}).status_code == 422  # no name
        assert http.post("/admin/keys", json={"name": "x", "secret": "y"}).status_code == 422  # unknown field
        assert http.get("/admin/status").json()["providers"] == ["mock"]  # the existing routes are untouched
    for secret in (plaintext, new_plain):
        assert secret not in caplog.text and secret[4:] not in caplog.text
    assert key_id in caplog.text  # keys are named in logs by id


def test_only_loopback_clients_manage_keys_locally(admin_ring: KeyRing) -> None:
    app = create_admin_app(build_mock_gateway(), admin_ring, access=AdminAccess(Settings()))
    remote = TestClient(app, client=("203.0.113.9", 40000))
    refused = remote.post("/admin/keys", json={"name": "x"})
    assert refused.status_code == 403 and refused.json()["error"]["type"] == "permission_error"
    assert remote.get("/admin/keys").status_code == 403
    assert remote.get("/admin/status").status_code == 403  # every admin route (tests/security: the whole table)
    assert TestClient(app, client=("::1", 40000)).get("/admin/keys").status_code == 200
    deployed = create_admin_app(build_mock_gateway(), admin_ring, access=AdminAccess(Settings(), iam_guarded=True))
    assert TestClient(deployed, client=("203.0.113.9", 1)).post("/admin/keys", json={"name": "x"}).status_code == 201


def test_store_outage_is_503(admin_ring: KeyRing) -> None:
    from aimux_core.state import StoreUnavailable

    class Down(MemoryStore):
        async def query(self, pk: str, sk_from: str, sk_to: str) -> list:
            raise StoreUnavailable("throttled")

    app = create_admin_app(build_mock_gateway(), KeyRing(Down()))
    answer = TestClient(app, client=("127.0.0.1", 1)).get("/admin/keys")
    assert answer.status_code == 503 and answer.headers["retry-after"] == "1"
