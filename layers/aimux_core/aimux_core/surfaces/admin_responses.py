"""How every admin route answers a failure: ``{"error": {"type", "message", "param"}}`` with the right status.

- an ``AimuxError`` (bad field 400, unknown name 404, conflict 409, ...) with its status, kind and ``param``;
- a request FastAPI could not read into the route's parameters (a missing or mistyped field or query
  parameter, a body that is not JSON): 400 ``invalid_request_error`` naming the parameter;
- the state store unreachable: 503 with ``retry-after: 1``.
"""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse

from ..errors import AimuxError
from ..state.store import StoreUnavailable

log = logging.getLogger("aimux.admin")


def error_body(kind: str, message: str, param: str | None) -> dict[str, Any]:
    return {"error": {"type": kind, "message": message, "param": param}}


async def aimux_error(request: Request, error: AimuxError) -> JSONResponse:
    return JSONResponse(error_body(error.kind, error.message, error.param), status_code=error.status,
                        headers=dict(error.headers))  # fmt: skip


async def unreadable_request(request: Request, error: RequestValidationError) -> JSONResponse:
    """400 naming the first parameter FastAPI could not read (``body.name`` → ``name``)."""
    problems = error.errors()
    first = problems[0] if problems else {}
    loc = [str(part) for part in first.get("loc", ())]
    location = [part for part in loc if part not in ("body", "query", "path", "header")]
    param = ".".join(location) or (loc[0] if loc else None)
    message = str(first.get("msg", "invalid request"))
    if first.get("type") == "json_invalid":
        param, message = "body", "the body is not valid JSON"
    text = f"{param}: {message}" if param else message
    return JSONResponse(error_body("invalid_request_error", text, param), status_code=400)


async def store_unavailable(request: Request, error: StoreUnavailable) -> JSONResponse:
    log.warning("admin %s %s: state store unavailable", request.method, request.url.path)
    body = error_body("api_error", "state store unavailable; retry", None)
    return JSONResponse(body, status_code=503, headers={"retry-after": "1"})


def add_error_handlers(app: FastAPI) -> None:
    """Answer every admin route's failures in the admin error shape (see the module docstring)."""
    app.add_exception_handler(AimuxError, aimux_error)  # type: ignore[arg-type]
    app.add_exception_handler(RequestValidationError, unreadable_request)  # type: ignore[arg-type]
    app.add_exception_handler(StoreUnavailable, store_unavailable)  # type: ignore[arg-type]
