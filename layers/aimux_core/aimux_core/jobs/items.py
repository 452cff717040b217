"""One request of a batch, or one async job, served like a live request off the request path.

``prepare`` parses the stored body in the caller's dialect into the canonical request (the same checks
as the surfaces: ``check_request``, the chat translation) and keeps how to render the answer back in
that dialect. ``run`` then goes through the gateway exactly as a live request does (routing, the key's
model and route allow-lists, rate windows, the budget hold, failover, the breaker) and through the
same accounting (``surfaces.exchange.Exchange``: settle, metrics, the log line), under the caller's
key as it is now (``keys.admin.record_by_id``) and the limits of that key's project as they are now
(``Jobs.project_of``: its rate windows and budgets, shared with the project's live traffic).

What is retried later instead of answered: the key's or its project's rate window (after its reset), a
state store that cannot be read for the project's limits, an overloaded or rate-limited upstream and
other retryable upstream failures (with backoff), for at most ``MAX_ATTEMPTS`` attempts; everything else
(a 400, a refused model, a key's or project's budget that cannot cover the request) is the request's
answer at once, as it would be live.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from pydantic import ValidationError

from ..errors import (
    AimuxError,
    AuthenticationFailed,
    InternalError,
    Overloaded,
    PermissionDenied,
    RateLimited,
    UpstreamError,
)
from ..providers.base import RequestContext
from ..routing.select import RequestMeta
from ..translate.client_thinking import thinking_enabled, without_thinking
from ..translate.errors import (
    PathStyle,
    anthropic_error_body,
    invalid_request_from_validation,
    openai_error_body,
    openai_status,
)
from ..wire.anthropic import Message, MessagesRequest
from ..wire.anthropic_rules import check_request
from ..wire.openai import ChatCompletionRequest

if TYPE_CHECKING:
    from ..cache.policy import Directive
    from ..gateway import Gateway
    from ..keys.record import ApiKeyRecord
    from ..limits.project import Project
    from .ledger import Ledger
    from .records import Dialect

log = logging.getLogger("aimux.jobs")
NO_OWNER = "-"  # the owner of work sent with auth off
MAX_ATTEMPTS = 5
BACKOFF_SECONDS = (10.0, 30.0, 120.0, 600.0)

ProjectLookup = Callable[["ApiKeyRecord"], Awaitable["Project | None"]]
"""The project whose limits apply to a key's work (``runtime.Jobs.project_of``)."""


@dataclass(frozen=True, slots=True)
class RunContext:
    """What a stored request needs besides its body: the caller's headers, as they came (``cache``: its
    ``x-aimux-cache``, already checked by the surface)."""

    dialect: Dialect
    anthropic_version: str | None = None
    betas: tuple[str, ...] = ()
    provider: str | None = None
    cache: Directive | None = None

    def to_item(self) -> dict[str, Any]:
        item = {"anthropic_version": self.anthropic_version, "betas": list(self.betas), "provider": self.provider}
        return item | ({"cache": self.cache} if self.cache is not None else {})

    @classmethod
    def from_item(cls, dialect: Dialect, item: dict[str, Any]) -> RunContext:
        betas, cache = tuple(item.get("betas") or ()), item.get("cache")
        return cls(dialect, item.get("anthropic_version"), betas, item.get("provider"), cache)


@dataclass(slots=True)
class Prepared:
    canonical: MessagesRequest
    client_model: str
    render: Callable[[Message], dict[str, Any]]
    backend: str | None = None
    tool_names: list[str] = field(default_factory=list)


@dataclass(slots=True)
class Answer:
    """The request's answer in its caller's dialect: ``status`` 200 and the message, or an error's body."""

    status: int
    body: dict[str, Any]
    request_id: str
    error: AimuxError | None = None
    cost_usd: float = 0.0
    extra: dict[str, Any] = field(default_factory=dict)


class Retry(Exception):
    """Not answered yet: try the request again in ``after`` seconds."""

    def __init__(self, error: AimuxError, after: float) -> None:
        super().__init__(error.message)
        self.error = error
        self.after = after


async def prepare(gateway: Gateway, context: RunContext, body: dict[str, Any]) -> Prepared:
    """The canonical request and its renderer (``InvalidRequest`` naming the field when the body is not valid)."""
    body = dict(body)
    backend = body.pop("backend", None)
    style: PathStyle = "dotted" if context.dialect == "anthropic" else "openai"
    try:
        if context.dialect == "anthropic":
            request = MessagesRequest.model_validate(body)
        else:
            chat = ChatCompletionRequest.model_validate(body)
    except ValidationError as exc:
        raise invalid_request_from_validation(exc, document=body, style=style) from None
    if context.dialect == "anthropic":
        check_request(request, context.anthropic_version)
        shows_thinking = thinking_enabled(request)

        def message_body(message: Message) -> dict[str, Any]:
            return (message if shows_thinking else without_thinking(message)).dump()

        return Prepared(request, request.model, message_body, backend if isinstance(backend, str) else None)
    from ..translate.chat_call import prepare_chat  # the chat translation: only for OpenAI-dialect requests

    call = await prepare_chat(chat, gateway.limits_for(chat.model).max_output)
    created = int(time.time())
    return Prepared(
        call.canonical, chat.model, lambda message: call.completion(message, created), call.backend, call.tool_names
    )


def error_answer(context: RunContext, error: AimuxError, request_id: str) -> Answer:
    if context.dialect == "anthropic":
        return Answer(error.status, anthropic_error_body(error, request_id), request_id, error)
    return Answer(openai_status(error), openai_error_body(error), request_id, error)


async def run(
    gateway: Gateway,
    key: ApiKeyRecord | None,
    context: RunContext,
    body: dict[str, Any],
    request_id: str,
    *,
    ledger: Ledger,
    projects: ProjectLookup,
    attempt: int = 1,
    owner: str = NO_OWNER,
) -> Answer:
    """Serve one stored request through the gateway; raises ``Retry`` for what is worth another attempt.

    ``owner`` is the id of the key that sent it (``-`` with auth off) and ``key`` that key's record as it is
    now: a key deleted or disabled since is the request's 401 or 403, as it would be live. ``projects``
    finds the key's project, whose limits apply as they would live. ``ledger`` accounts for it as for a
    live request (``ledger.py``).
    """
    exchange = ledger
    exchange.key = key
    try:
        if owner != NO_OWNER and key is None:
            raise AuthenticationFailed("the API key that sent this request no longer exists")
        if key is not None and key.disabled:
            raise PermissionDenied("this API key is disabled")
        exchange.project = await projects(key) if key is not None else None
        prepared = await prepare(gateway, context, body)
        exchange.client_model = prepared.client_model
        exchange.check_model(prepared.client_model)
        call_context = RequestContext(
            request_id=request_id, anthropic_version=context.anthropic_version, betas=list(context.betas)
        )
        call_context.key, call_context.project = key, exchange.project
        meta = RequestMeta(explicit_provider=context.provider or prepared.backend)
        message, served = await gateway.create(prepared.canonical, call_context, meta, cache_directive=context.cache)
        record = exchange.settled(gateway, served, message.usage)
        answer = Answer(200, prepared.render(message), request_id)
        answer.cost_usd = record.cost_usd
        return answer
    except AimuxError as error:
        delay = retry_delay(error, attempt)
        if delay is not None:
            raise Retry(error, delay) from None
        exchange.failed(error)
        return error_answer(context, error, request_id)
    except Exception as exc:
        log.exception("unexpected error serving %s", request_id, exc_info=exc)
        bug = InternalError(f"internal error; quote request id {request_id} when reporting it")
        if attempt < MAX_ATTEMPTS:
            raise Retry(bug, BACKOFF_SECONDS[min(attempt, len(BACKOFF_SECONDS)) - 1]) from None
        exchange.failed(bug)
        return error_answer(context, bug, request_id)


def retry_delay(error: AimuxError, attempt: int) -> float | None:
    """Seconds until the next attempt, or None when ``error`` is the answer."""
    if attempt >= MAX_ATTEMPTS:
        return None
    if error.headers.get("x-should-retry") == "false":
        return None  # as live: a budget that cannot cover it, a request larger than the key's tpm
    backoff = BACKOFF_SECONDS[min(attempt, len(BACKOFF_SECONDS)) - 1]
    if isinstance(error, RateLimited | Overloaded) or (isinstance(error, UpstreamError) and error.retryable):
        return max(backoff, error.retry_after or 0.0)
    return None
