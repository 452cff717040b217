"""The client routes of long work that are not a batch API: async requests and ``GET /v1/jobs/{id}``.

- ``x-aimux-async`` on ``POST /v1/messages`` or ``/v1/chat/completions`` (``accept_async``, called by
  those surfaces once the request passed the same checks as a live one): ``202`` with the job object and
  ``location: /v1/jobs/<id>``. The value is the webhook URL, or ``1``/``true`` for the configured default
  (``AIMUX_ASYNC_WEBHOOK_URL``; none: poll the job). Streaming cannot be delivered to a webhook: 400.
- ``GET /v1/jobs/{id}``: the job (404 for another key's job, as if it did not exist).
- ``GET /v1/jobs/webhook_secret``: the caller's webhook signing secret (``jobs/webhooks.py``).

``jobs_of`` builds the process's ``jobs.runtime.Jobs`` on first use, on the gateway the app serves with.
"""

from __future__ import annotations

import functools
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any, Literal

from starlette.requests import Request
from starlette.responses import Response

from ..accounting.metrics import Emission
from ..errors import AimuxError, InvalidRequest, NotFound
from ..settings import Settings
from .error_answers import anthropic_error_response, openai_error_response
from .exchange import authenticate, off_path_exchanges
from .http import cache_directive, gateway_of, json_response, new_request_id, unexpected_error, wants_anthropic

if TYPE_CHECKING:
    from ..gateway import Gateway
    from ..jobs.runtime import Jobs
    from ..keys.record import ApiKeyRecord
    from ..providers.base import RequestContext

ASYNC_HEADER = "x-aimux-async"
Endpoint = Callable[[Request], Awaitable[Response]]
_DEFAULT_VALUES = frozenset({"1", "true", "yes", "default"})


def jobs_of(request: Request) -> Jobs:
    return jobs_of_app(request.app, None, request)


def jobs_of_app(app: Any, gateway: Gateway | None, request: Request | None = None) -> Jobs:
    """The app's ``Jobs``, built on first use on its gateway (``gateway``, else the request's) and settings."""
    state = app.state
    jobs: Jobs | None = getattr(state, "jobs", None)
    if jobs is None:
        from ..jobs.build import build_jobs  # the jobs package: with the first batch or async request

        if gateway is None:
            assert request is not None
            gateway = gateway_of(request)
        settings = getattr(state, "settings", None) or Settings()
        emission = getattr(state, "emission", None) or Emission.of(settings)
        jobs = state.jobs = build_jobs(gateway, settings, ledgers=off_path_exchanges(emission))
    return jobs


def owner_of(key: ApiKeyRecord | None) -> str:
    from ..jobs.items import NO_OWNER  # the jobs package: with the first batch or async request

    return key.id if key is not None else NO_OWNER


def base_url(request: Request) -> str:
    """Scheme, host and the route's prefix (``/anthropic``, ``/openai``) as the caller addressed this gateway."""
    path = request.url.path
    prefix = next((p for p in ("/anthropic", "/openai") if path.startswith(p + "/")), "")
    return f"{request.url.scheme}://{request.url.netloc}{prefix}"


Handler = Callable[[Request, str], Awaitable[Response]]


def answered_in(dialect: Literal["anthropic", "openai", "caller"]) -> Callable[[Handler], Endpoint]:
    """Make ``handler(request, request_id)`` a route: its errors (and any bug, as a 500 quoting the request id)
    answered in ``dialect`` (``caller``: by the route and headers, ``wants_anthropic``)."""
    anthropic = {"anthropic": True, "openai": False, "caller": None}[dialect]

    def wrap(handler: Handler) -> Endpoint:
        @functools.wraps(handler)
        async def endpoint(request: Request) -> Response:
            request_id = new_request_id()
            try:
                return await handler(request, request_id)
            except AimuxError as error:
                return error_response(request, error, request_id, anthropic=anthropic)
            except Exception as exc:
                return error_response(request, unexpected_error(exc, request_id), request_id, anthropic=anthropic)

        return endpoint

    return wrap


def error_response(request: Request, error: AimuxError, request_id: str, *, anthropic: bool | None = None) -> Response:
    if anthropic if anthropic is not None else wants_anthropic(request):
        return anthropic_error_response(error, request_id)
    return openai_error_response(error, request_id)


async def accept_async(
    request: Request,
    dialect: Literal["anthropic", "openai"],
    key: ApiKeyRecord | None,
    body: bytes,
    context: RequestContext,
    *,
    stream: bool,
) -> Response:
    """The 202 of an async request (``x-aimux-async``); ``InvalidRequest`` for a webhook aimux must refuse."""
    # the jobs package: with the first batch or async request, not the client API's cold start
    from ..jobs.async_jobs import accept, wire
    from ..jobs.items import RunContext
    from ..jobs.webhooks import check_url, resolve

    jobs = jobs_of(request)
    value = request.headers.get(ASYNC_HEADER, "").strip()
    if stream:
        raise InvalidRequest(f"{ASYNC_HEADER}: an async request cannot stream; send stream: false", param="stream")
    webhook: str | None = value
    if value.lower() in _DEFAULT_VALUES:
        webhook = jobs.settings.async_webhook_url
    if webhook:
        local = jobs.settings.local_mode
        await resolve(check_url(webhook, local_mode=local), local_mode=local)
    provider = request.path_params.get("provider") or request.headers.get("x-aimux-provider") or None
    directive = cache_directive(request)  # checked by the surface already; the job honours it as live would
    run_context = RunContext(dialect, context.anthropic_version, tuple(context.betas), provider, directive)
    record = await accept(jobs, dialect, owner_of(key), body, run_context, webhook or None)
    request_id = context.request_id
    headers = {"request-id": request_id, "x-request-id": request_id, "location": f"/v1/jobs/{record.id}"}
    return json_response(await wire(jobs, record), 202, headers)


def page_limit(raw: str | None, default: int, most: int) -> int:
    """A list route's ``limit`` query parameter (400 naming it when it is not 1..``most``)."""
    if raw is None or raw == "":
        return default
    if not raw.isdigit() or not 1 <= int(raw) <= most:
        raise InvalidRequest(f"limit: must be an integer from 1 to {most}", param="limit")
    return int(raw)


@answered_in("caller")
async def get_job(request: Request, request_id: str) -> Response:
    key = await authenticate(request)
    # the jobs package: with the first batch or async request, not the client API's cold start
    from ..jobs.async_jobs import get, wire
    from ..jobs.ids import JOB, has_shape

    job_id = request.path_params["job_id"]
    jobs = jobs_of(request)
    record = await get(jobs, job_id) if has_shape(job_id, JOB) else None
    if record is None or record.owner != owner_of(key):
        raise NotFound(f"no job with id {job_id[:64]!r}")
    return json_response(await wire(jobs, record), 200, {"request-id": request_id, "x-request-id": request_id})


@answered_in("caller")
async def webhook_secret(request: Request, request_id: str) -> Response:
    """The caller's webhook secret: receivers verify ``x-aimux-signature`` with it."""
    key = await authenticate(request)
    # the jobs package: with the first batch or async request, not the client API's cold start
    from ..jobs.webhooks import secret_for

    secret = await secret_for(owner_of(key))
    body = {"type": "webhook_secret", "secret": secret, "signature_header": "x-aimux-signature"}
    return json_response(body, 200, {"request-id": request_id, "cache-control": "no-store"})
