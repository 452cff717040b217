"""Admin routes for virtual API keys (``/admin/keys...``), thin over ``keys.admin``.

    POST   /admin/keys               create; 201 with the plaintext ``api_key``, shown this once only
    GET    /admin/keys               list (never a plaintext key or a hash)
    GET    /admin/keys/{id}          show
    POST   /admin/keys/{id}/disable  refuse the key (403) from now on
    POST   /admin/keys/{id}/enable   accept it again
    POST   /admin/keys/{id}/rotate   new plaintext for the same id and limits; the old one stops working
    DELETE /admin/keys/{id}          remove for good

Who may call is decided for the whole admin app by ``admin_access.py`` (deployed: IAM auth; locally:
loopback callers only, the admin token when configured): ``aimux serve --host 0.0.0.0`` does not let
the network mint keys.

Errors are ``{"error": {"type", "message", "param"}}`` with the ``AimuxError`` status (400 bad field,
401/403 refused by the access rules, 404 no such id, 409 a concurrent change, 503 state store
unavailable); a body of the wrong shape is FastAPI's 422.
"""

from __future__ import annotations

import logging
from typing import Any

from fastapi import APIRouter, FastAPI, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict

from ..errors import AimuxError
from ..keys import admin as key_admin
from ..keys.admin import SHOWN_ONCE
from ..keys.record import ApiKeyRecord
from ..keys.ring import KeyRing
from ..state.store import StoreUnavailable

log = logging.getLogger("aimux.admin")

NO_STORE = {"cache-control": "no-store"}


class CreateKeyBody(BaseModel):
    """A new key's name, owner and limits (limits left out are unlimited; empty allow-lists allow all)."""

    model_config = ConfigDict(extra="forbid")

    name: str
    owner: str | None = None
    project: str | None = None
    allowed_models: list[str] = []
    """Glob patterns of model names the key may ask for."""
    allowed_routes: list[str] = []
    """Glob patterns of route names the key may be served by."""
    rpm: int | None = None
    tpm: int | None = None
    budget_daily_usd: float | None = None
    budget_monthly_usd: float | None = None
    budget_route: str | None = None
    """A cheaper route to step down to when a budget is spent."""


def add_key_routes(app: FastAPI, keys: KeyRing) -> None:
    """Mount the ``/admin/keys`` routes over ``keys`` on ``app``."""
    router = APIRouter(prefix="/admin/keys", tags=["keys"])

    @router.post("", status_code=201)
    async def create(body: CreateKeyBody) -> JSONResponse:
        """Create a key; the answer holds its plaintext, which is never shown again."""
        plaintext, record = await key_admin.create_key(keys, **body.model_dump())
        return _with_secret(plaintext, record, 201)

    @router.get("")
    async def list_all() -> dict[str, Any]:
        """Every key, oldest first."""
        return {"keys": [record.public() for record in await key_admin.list_keys(keys)]}

    @router.get("/{key_id}")
    async def show(key_id: str) -> dict[str, Any]:
        """The key and its spend today and this month."""
        return await key_admin.describe_key(keys, key_id)

    @router.post("/{key_id}/disable")
    async def disable(key_id: str) -> dict[str, Any]:
        return (await key_admin.disable_key(keys, key_id)).public()

    @router.post("/{key_id}/enable")
    async def enable(key_id: str) -> dict[str, Any]:
        return (await key_admin.enable_key(keys, key_id)).public()

    @router.post("/{key_id}/rotate")
    async def rotate(key_id: str) -> JSONResponse:
        """A new secret for the key; the old one stops working."""
        plaintext, record = await key_admin.rotate_key(keys, key_id)
        return _with_secret(plaintext, record, 200)

    @router.delete("/{key_id}")
    async def delete(key_id: str) -> dict[str, Any]:
        record = await key_admin.delete_key(keys, key_id)
        return {"id": record.id, "deleted": True}

    app.include_router(router)
    app.add_exception_handler(AimuxError, _aimux_error)
    app.add_exception_handler(StoreUnavailable, _store_unavailable)


def _with_secret(plaintext: str, record: ApiKeyRecord, status: int) -> JSONResponse:
    body = {"api_key": plaintext, "warning": SHOWN_ONCE, **record.public()}
    return JSONResponse(body, status_code=status, headers=NO_STORE)


async def _aimux_error(request: Request, error: Exception) -> JSONResponse:
    if not isinstance(error, AimuxError):  # registered for AimuxError only
        raise error
    body = {"error": {"type": error.kind, "message": error.message, "param": error.param}}
    return JSONResponse(body, status_code=error.status)


async def _store_unavailable(request: Request, error: Exception) -> JSONResponse:
    log.warning("admin %s %s: state store unavailable", request.method, request.url.path)
    body = {"error": {"type": "api_error", "message": "state store unavailable; retry", "param": None}}
    return JSONResponse(body, status_code=503, headers={"retry-after": "1"})
