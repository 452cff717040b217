"""The ASGI apps: the client API (messages function), and the local one-process app.

The client API is plain Starlette (FastAPI's own core) rather than FastAPI: importing FastAPI
adds 0.2-0.4 s of Lambda cold start on this machine for OpenAPI machinery the data plane never
uses (see bench/README.md). The admin app, off the hot path, is FastAPI.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route
from starlette.types import ASGIApp, Receive, Scope, Send

from ..accounting.metrics import Emission
from ..errors import AimuxError, InvalidRequest, MethodNotAllowed, NotFound
from ..gateway import Gateway
from ..settings import Settings
from ..wire.headers import header_safe
from .chat import create_chat_completion
from .cors import CorsMiddleware, cors_policy
from .direct_routes import DirectPosts, direct_posts
from .error_answers import anthropic_error_response, openai_error_response
from .http import new_request_id, unexpected_error, wants_anthropic
from .invocation import FinishWritesInRequest
from .messages import count_tokens, create_message
from .models import get_model, list_models

if TYPE_CHECKING:  # annotations only: the client API imports neither the key ring nor the admin app
    from ..jobs.runtime import Jobs
    from ..keys.ring import KeyRing
    from .admin_access import AdminAccess


async def healthz(request: Request) -> Response:
    """Readiness for the Lambda Web Adapter and load balancers (``/healthz``), and public liveness
    (``/health``): no key, no upstream call, no state read."""
    return JSONResponse({"status": "ok"})


def client_routes() -> list[Route]:
    routes: list[Route] = [Route("/healthz", healthz, methods=["GET"]), Route("/health", healthz, methods=["GET"])]
    for prefix in ("", "/anthropic"):
        routes += [
            Route(f"{prefix}/v1/messages", create_message, methods=["POST"]),
            Route(f"{prefix}/v1/messages/count_tokens", count_tokens, methods=["POST"]),
        ]
    for path in ("/v1/chat/completions", "/chat/completions", "/openai/v1/chat/completions"):
        routes.append(Route(path, create_chat_completion, methods=["POST"]))
    # An explicit provider in the path: /v1/{provider}/messages, /v1/{provider}/chat/completions.
    routes += [
        Route("/v1/{provider}/messages", create_message, methods=["POST"]),
        Route("/v1/{provider}/messages/count_tokens", count_tokens, methods=["POST"]),
        Route("/v1/{provider}/chat/completions", create_chat_completion, methods=["POST"]),
    ]
    for prefix in ("/v1", "/anthropic/v1", "/openai/v1", ""):
        routes += [
            Route(f"{prefix}/models", list_models, methods=["GET"]),
            Route(f"{prefix}/models/{{model_id:path}}", get_model, methods=["GET"]),
        ]
    return routes + job_routes()


class _Lazy:
    """Import a handler's module on its first request: the batch and file routes stay out of the cold start."""

    def __init__(self, module: str) -> None:
        self.module = module

    def __getattr__(self, name: str) -> Callable[[Request], Awaitable[Response]]:
        async def endpoint(request: Request) -> Response:
            from importlib import import_module  # the point of _Lazy: the module loads on the first request

            handler: Callable[[Request], Awaitable[Response]] = getattr(import_module(self.module, __package__), name)
            return await handler(request)

        endpoint.__name__ = name
        return endpoint


def job_routes() -> list[Route]:
    """Long work off the request path: Anthropic Message Batches, OpenAI Files and Batch, async jobs."""
    anthropic, openai, jobs = _Lazy(".batches_anthropic"), _Lazy(".batches_openai"), _Lazy(".jobs_http")
    routes: list[Route] = []
    for prefix in ("/v1", "/anthropic/v1"):
        batches = f"{prefix}/messages/batches"
        routes += [
            Route(batches, anthropic.create_batch, methods=["POST"]),
            Route(batches, anthropic.list_batches, methods=["GET"]),
            Route(f"{batches}/{{batch_id}}", anthropic.retrieve_batch, methods=["GET"]),
            Route(f"{batches}/{{batch_id}}", anthropic.delete_batch, methods=["DELETE"]),
            Route(f"{batches}/{{batch_id}}/cancel", anthropic.cancel_batch, methods=["POST"]),
            Route(f"{batches}/{{batch_id}}/results", anthropic.batch_results, methods=["GET"]),
        ]
    for prefix in ("/v1", "/openai/v1"):
        routes += [
            Route(f"{prefix}/files", openai.upload_file, methods=["POST"]),
            Route(f"{prefix}/files", openai.list_files, methods=["GET"]),
            Route(f"{prefix}/files/{{file_id}}", openai.retrieve_file, methods=["GET"]),
            Route(f"{prefix}/files/{{file_id}}", openai.delete_file, methods=["DELETE"]),
            Route(f"{prefix}/files/{{file_id}}/content", openai.file_content, methods=["GET"]),
            Route(f"{prefix}/batches", openai.create_batch, methods=["POST"]),
            Route(f"{prefix}/batches", openai.list_batches, methods=["GET"]),
            Route(f"{prefix}/batches/{{batch_id}}", openai.retrieve_batch, methods=["GET"]),
            Route(f"{prefix}/batches/{{batch_id}}/cancel", openai.cancel_batch, methods=["POST"]),
        ]
    routes += [
        Route("/v1/jobs/webhook_secret", jobs.webhook_secret, methods=["GET"]),
        Route("/v1/jobs/{job_id}", jobs.get_job, methods=["GET"]),
    ]
    return routes


async def _route_error(request: Request, exc: Exception) -> Response:
    """404, 405 and any unexpected exception as a JSON error in the caller's dialect (``wants_anthropic``)."""
    request_id = new_request_id()
    anthropic = wants_anthropic(request)
    where = f"{request.method} {header_safe(request.url.path)[:200]}"
    error: AimuxError
    if isinstance(exc, HTTPException) and exc.status_code == 405:
        error = MethodNotAllowed(f"method not allowed: {where}", headers=dict(exc.headers or {}))
    elif isinstance(exc, HTTPException) and exc.status_code == 404:
        # OpenAI answers an unknown path with invalid_request_error "Invalid URL (...)", code null.
        error = NotFound(f"no such route: {where}") if anthropic else InvalidRequest(f"Invalid URL ({where})")
        error.status = 404
    else:
        error = unexpected_error(exc, request_id)
    if anthropic:
        return anthropic_error_response(error, request_id)
    return openai_error_response(error, request_id)


ROUTE_ERRORS: dict[Any, Callable[[Request, Exception], Awaitable[Response]]] = {
    404: _route_error,
    405: _route_error,
    Exception: _route_error,
}


def create_messages_app(
    gateway: Gateway | None = None,
    keys: KeyRing | None = None,
    *,
    build_gateway: Callable[[], Gateway] | None = None,
    build_keys: Callable[[], KeyRing] | None = None,
    settings: Settings | None = None,
) -> Starlette:
    """The client API: Anthropic and OpenAI surfaces over one gateway.

    ``gateway``, or ``build_gateway`` called on the first request (a Lambda handler's import then reads
    no provider key). ``keys``: the ring client keys are checked against (None and no ``build_keys``:
    auth off); ``build_keys`` builds it on first use, so the import stays free of boto3. ``settings``:
    the body cap, whether responses wait for their state writes, and the origins browser pages may
    call from (``cors_origins``: none, no CORS middleware at all) (default: ``Settings()``). The
    composition root (``assembly.messages_app``) passes all of them from the environment.
    """
    if gateway is None and build_gateway is None:
        raise TypeError("create_messages_app needs a gateway or build_gateway")
    settings = settings if settings is not None else Settings()
    routes = client_routes()
    app = Starlette(routes=routes, exception_handlers=ROUTE_ERRORS)
    app.add_middleware(DirectPosts, endpoints=direct_posts(routes))  # first added: innermost, next to the router
    if settings.finishes_writes_in_request:  # on Lambda: see surfaces/invocation.py
        app.add_middleware(FinishWritesInRequest, gateway=lambda: getattr(app.state, "gateway", None))
    app.state.settings = settings
    app.state.emission = Emission.of(settings)
    policy = cors_policy(settings.cors_origins)
    if policy is not None:  # outermost: a preflight is answered before anything else runs
        app.add_middleware(CorsMiddleware, policy=policy)
    app.state.gateway = gateway
    app.state.build_gateway = build_gateway
    app.state.keys = keys
    app.state.build_keys = build_keys if keys is None else None
    return app


class _PathSplit:
    """Send ``/admin...`` to the admin app and everything else to the client API."""

    def __init__(self, client: ASGIApp, admin: ASGIApp) -> None:
        self.client, self.admin = client, admin

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path: str = scope.get("path", "")
        target = self.admin if path == "/admin" or path.startswith("/admin/") else self.client
        await target(scope, receive, send)


def create_local_app(
    gateway: Gateway,
    keys: KeyRing | None = None,
    *,
    admin_keys: KeyRing,
    admin_access: AdminAccess,
    settings: Settings | None = None,
) -> ASGIApp:
    """One process serving the client API and the admin routes with shared in-memory state.

    ``keys`` are checked on client requests (None: auth off); ``/admin/keys`` manages ``admin_keys``,
    so ``aimux keys`` against this process creates the keys it checks. ``admin_access``: who may call
    ``/admin``. CORS as for ``create_messages_app``: the admin routes never answer cross-origin callers.
    """
    from .admin import create_admin_app  # FastAPI: only the local one-process app and the admin function pay it

    client = create_messages_app(gateway, keys, settings=settings)

    def jobs() -> Jobs:  # the admin routes see the client API's in-process jobs (queue, store, blobs)
        from .jobs_http import jobs_of_app  # the jobs package: only when a dead-letter route is called

        return jobs_of_app(client, gateway)

    settings = settings if settings is not None else Settings()
    admin = create_admin_app(
        gateway, admin_keys, access=admin_access, emission=Emission.of(settings), jobs=jobs, settings=settings
    )
    return _PathSplit(client, admin)
