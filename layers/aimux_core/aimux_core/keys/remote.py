"""Where ``aimux keys`` sends its commands: a running gateway's admin routes, or the DynamoDB table.

Locally the keys live in the memory of the running ``aimux serve`` (there is no key file on disk), so
the CLI talks to its ``/admin/keys`` routes over loopback: the keys it creates are exactly the ones
that gateway checks. With ``AIMUX_TABLE`` set the CLI writes the table directly, as the deployed
gateway reads it. Both backends answer with the admin routes' JSON shapes.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Mapping
from typing import Any, Protocol, TypeVar
from urllib.parse import quote

from ..errors import AimuxError
from ..state.store import StoreError
from . import admin
from .admin import SHOWN_ONCE
from .record import ApiKeyRecord
from .ring import KeyRing

T = TypeVar("T")


class KeyCommandError(Exception):
    """A key command failed; the message is for the operator (never holds a key)."""


class KeyBackend(Protocol):
    """The admin operations, answering JSON-like dicts (``api_key`` present only from create/rotate)."""

    where: str

    def create(self, fields: Mapping[str, Any]) -> dict[str, Any]: ...
    def list(self) -> list[dict[str, Any]]: ...
    def show(self, key_id: str) -> dict[str, Any]: ...
    def disable(self, key_id: str) -> dict[str, Any]: ...
    def enable(self, key_id: str) -> dict[str, Any]: ...
    def rotate(self, key_id: str) -> dict[str, Any]: ...
    def delete(self, key_id: str) -> dict[str, Any]: ...


class HttpBackend:
    """The ``/admin/keys`` routes of a gateway at ``base_url`` (a local ``aimux serve``)."""

    def __init__(
        self, base_url: str, *, timeout: float = 10.0, transport: Any = None, admin_token: str | None = None
    ) -> None:
        self.where = base_url.rstrip("/")
        self._timeout = timeout
        self._transport = transport
        # AIMUX_ADMIN_TOKEN of the gateway, when it has one (``surfaces/admin_access.py``).
        self._headers = {"x-aimux-admin-token": admin_token} if admin_token else {}

    def create(self, fields: Mapping[str, Any]) -> dict[str, Any]:
        return self._call("POST", "/admin/keys", json=dict(fields))

    def list(self) -> list[dict[str, Any]]:
        return list(self._call("GET", "/admin/keys")["keys"])

    def show(self, key_id: str) -> dict[str, Any]:
        return self._call("GET", f"/admin/keys/{_path_id(key_id)}")

    def disable(self, key_id: str) -> dict[str, Any]:
        return self._call("POST", f"/admin/keys/{_path_id(key_id)}/disable")

    def enable(self, key_id: str) -> dict[str, Any]:
        return self._call("POST", f"/admin/keys/{_path_id(key_id)}/enable")

    def rotate(self, key_id: str) -> dict[str, Any]:
        return self._call("POST", f"/admin/keys/{_path_id(key_id)}/rotate")

    def delete(self, key_id: str) -> dict[str, Any]:
        return self._call("DELETE", f"/admin/keys/{_path_id(key_id)}")

    def _call(self, method: str, path: str, json: dict[str, Any] | None = None) -> dict[str, Any]:
        import httpx  # only the HTTP backend needs it, and `aimux keys` against a table never does

        try:
            with httpx.Client(
                base_url=self.where, timeout=self._timeout, transport=self._transport, headers=self._headers
            ) as client:
                response = client.request(method, path, json=json)
        except httpx.HTTPError as exc:
            raise KeyCommandError(
                f"no aimux gateway answering at {self.where} ({type(exc).__name__}): start `aimux serve`, "
                "pass --url, or set AIMUX_TABLE to manage the deployed keys"
            ) from None
        try:
            body = response.json()
        except ValueError:
            body = None
        if response.is_success and isinstance(body, dict):
            return body
        raise KeyCommandError(f"{response.status_code}: {_error_message(body) or response.reason_phrase}")


class StoreBackend:
    """The admin functions over a ``Store`` (DynamoDB from the CLI), one event loop per command."""

    def __init__(self, keys: KeyRing, where: str) -> None:
        self.keys = keys
        self.where = where

    def create(self, fields: Mapping[str, Any]) -> dict[str, Any]:
        return _with_secret(*self._run(admin.create_key(self.keys, **fields)))

    def list(self) -> list[dict[str, Any]]:
        return [record.public() for record in self._run(admin.list_keys(self.keys))]

    def show(self, key_id: str) -> dict[str, Any]:
        return self._run(admin.describe_key(self.keys, key_id))

    def disable(self, key_id: str) -> dict[str, Any]:
        return self._run(admin.disable_key(self.keys, key_id)).public()

    def enable(self, key_id: str) -> dict[str, Any]:
        return self._run(admin.enable_key(self.keys, key_id)).public()

    def rotate(self, key_id: str) -> dict[str, Any]:
        return _with_secret(*self._run(admin.rotate_key(self.keys, key_id)))

    def delete(self, key_id: str) -> dict[str, Any]:
        record = self._run(admin.delete_key(self.keys, key_id))
        return {"id": record.id, "deleted": True}

    def _run(self, operation: Awaitable[T]) -> T:
        async def run() -> T:
            return await operation

        try:
            return asyncio.run(run())
        except AimuxError as exc:
            raise KeyCommandError(f"{exc.status}: {exc.message}") from None
        except StoreError as exc:
            raise KeyCommandError(f"state store {self.where}: {exc}") from None


def _with_secret(plaintext: str, record: ApiKeyRecord) -> dict[str, Any]:
    return {"api_key": plaintext, "warning": SHOWN_ONCE, **record.public()}


def _path_id(key_id: str) -> str:
    return quote(key_id, safe="")


def _error_message(body: Any) -> str | None:
    """The message of an admin error body (``{"error": {...}}``) or of FastAPI's 422 (``{"detail": [...]}``)."""
    if not isinstance(body, dict):
        return None
    error = body.get("error")
    message = error.get("message") if isinstance(error, dict) else None
    if isinstance(message, str):
        return message
    detail = body.get("detail")
    if isinstance(detail, list):
        return "; ".join(f"{'.'.join(str(p) for p in d.get('loc', [])[1:])}: {d.get('msg')}" for d in detail)
    return str(detail) if detail else None
