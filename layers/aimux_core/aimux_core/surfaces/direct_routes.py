"""``DirectPosts``: a POST to a fixed path goes straight to its endpoint, past Starlette's router.

Why: every client request is a POST to one of a few fixed paths (``/v1/messages``,
``/v1/chat/completions``, ...). Starlette's route table answers it after an exception layer, a linear
match over every route, and a second exception layer with its own ``send`` wrapper around the endpoint:
about 4 % of a request's CPU in the app (bench/README.md, issue 17), for nothing our endpoints use (they
answer every error themselves, in the caller's dialect: ``surfaces/exchange.serve``).

Contract: the app wrapped is Starlette's exception layer and router; this middleware is added first, so
it sits inside every other middleware (CORS, ``FinishWritesInRequest``) and inside Starlette's
``ServerErrorMiddleware``, which still turns an exception that escapes an endpoint into the 500 of
``ROUTE_ERRORS``. A POST whose path is in ``endpoints`` gets what the router would have given it: a
``Request`` over the same scope (``path_params`` empty, ``endpoint`` set), the endpoint's response sent
as is. Anything else (other methods, paths with parameters, unknown paths: their 404 and 405) goes
through the router unchanged. ``direct_posts`` derives the table from the route list, so the two cannot
disagree.
"""

from __future__ import annotations

import inspect
from collections.abc import Awaitable, Callable, Iterable

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Match, Route
from starlette.types import ASGIApp, Receive, Scope, Send

Endpoint = Callable[[Request], Awaitable[Response]]


def direct_posts(routes: Iterable[BaseRoute]) -> dict[str, Endpoint]:
    """The endpoint the router gives a POST to each fixed path (a route without ``{parameter}``), by path.

    Each path is put to the router's own test (``Route.matches``, first full match wins), so a path an
    earlier route takes (another method list) maps to what the router picks; a path a route with parameters
    would take, or an endpoint that is not a coroutine function, stays with the router.
    """
    routes = list(routes)
    table: dict[str, Endpoint] = {}
    for candidate in routes:
        if not isinstance(candidate, Route) or candidate.param_convertors or "POST" not in (candidate.methods or ()):
            continue
        scope = {"type": "http", "method": "POST", "path": candidate.path, "root_path": ""}
        winner = next((route for route in routes if route.matches(scope)[0] is Match.FULL), None)
        if not isinstance(winner, Route) or winner.param_convertors or not inspect.iscoroutinefunction(winner.endpoint):
            continue  # a route with parameters takes this path (they would be missing), or a sync endpoint
        table.setdefault(candidate.path, winner.endpoint)
    return table


class DirectPosts:
    """ASGI middleware: see the module docstring."""

    def __init__(self, app: ASGIApp, endpoints: dict[str, Endpoint]) -> None:
        self.app = app
        self.endpoints = endpoints

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["method"] == "POST":
            endpoint = self.endpoints.get(scope["path"])
            if endpoint is not None:
                scope["endpoint"] = endpoint
                scope["path_params"] = {}
                response = await endpoint(Request(scope, receive, send))
                await response(scope, receive, send)
                return
        await self.app(scope, receive, send)
