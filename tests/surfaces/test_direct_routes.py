"""``surfaces/direct_routes.py``: a POST to a fixed path skips the router and gets what the router would give.

The table is derived from the route list by the router's own matching, so a path an earlier route would
take maps to that route; the requests themselves go over real HTTP (uvicorn on loopback).
"""

from __future__ import annotations

from typing import Any

import httpx
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from aimux_core.surfaces.app import ROUTE_ERRORS, client_routes
from aimux_core.surfaces.chat import create_chat_completion
from aimux_core.surfaces.direct_routes import DirectPosts, direct_posts
from aimux_core.surfaces.messages import count_tokens, create_message
from support.server import serve


async def fixed(request: Request) -> Response:
    return JSONResponse({"endpoint": "fixed", "params": request.path_params, "body": (await request.body()).decode()})


async def param(request: Request) -> Response:
    return JSONResponse({"endpoint": "param", "params": request.path_params})


async def both(request: Request) -> Response:
    return JSONResponse({"endpoint": "both", "method": request.method})


async def broken(request: Request) -> Response:
    raise RuntimeError("a bug in an endpoint")


def sync_endpoint(request: Request) -> Response:
    return JSONResponse({"endpoint": "sync"})


ROUTES = [
    Route("/v1/{provider}/shadowed", param, methods=["POST"]),
    Route("/v1/p/shadowed", fixed, methods=["POST"]),  # the router never reaches it for this path
    Route("/mixed", both, methods=["GET", "POST"]),
    Route("/mixed", fixed, methods=["POST"]),
    Route("/fixed", fixed, methods=["POST"]),
    Route("/get-only", fixed, methods=["GET"]),
    Route("/v1/messages", broken, methods=["POST"]),
    Route("/sync", sync_endpoint, methods=["POST"]),
]


def test_the_table_holds_what_the_router_picks_for_each_fixed_path() -> None:
    table = direct_posts(ROUTES)
    assert table == {"/mixed": both, "/fixed": fixed, "/v1/messages": broken}  # shadowed and sync: the router's
    client = direct_posts(client_routes())
    for path in ("/v1/messages", "/anthropic/v1/messages"):
        assert client[path] is create_message
    assert client["/v1/messages/count_tokens"] is count_tokens
    for path in ("/v1/chat/completions", "/chat/completions", "/openai/v1/chat/completions"):
        assert client[path] is create_chat_completion
    assert not any("{" in path for path in client)  # paths with parameters stay with the router


def test_direct_posts_answer_as_the_router_does_over_http() -> None:
    app = Starlette(routes=ROUTES, exception_handlers=ROUTE_ERRORS)
    app.add_middleware(DirectPosts, endpoints=direct_posts(ROUTES))
    router_only = Starlette(routes=ROUTES, exception_handlers=ROUTE_ERRORS)
    with serve(app) as direct_url, serve(router_only) as router_url:
        for method, path, body in (
            ("POST", "/fixed", "abc"),
            ("POST", "/v1/p/shadowed", ""),
            ("POST", "/mixed", ""),
            ("GET", "/mixed", ""),
            ("POST", "/sync", ""),
            ("POST", "/get-only", ""),  # 405 from the router, in the caller's dialect
            ("POST", "/nowhere", ""),  # 404
        ):
            direct = httpx.request(method, direct_url + path, content=body, timeout=5)
            routed = httpx.request(method, router_url + path, content=body, timeout=5)
            assert (direct.status_code, _comparable(direct)) == (routed.status_code, _comparable(routed)), path
        assert httpx.post(direct_url + "/fixed", content="abc", timeout=5).json() == {
            "endpoint": "fixed", "params": {}, "body": "abc",
        }  # fmt: skip
        failed = httpx.post(direct_url + "/v1/messages", json={}, timeout=5)  # an exception past the endpoint
        assert failed.status_code == 500
        assert failed.json()["type"] == "error" and failed.json()["error"]["type"] == "api_error"


def _comparable(response: httpx.Response) -> Any:
    """The body without what differs per request (error ids)."""
    body = response.json()
    if isinstance(body, dict) and "error" in body:
        error = dict(body["error"])
        error.pop("request_id", None)
        return {**body, "error": error, "request_id": None}
    return body
