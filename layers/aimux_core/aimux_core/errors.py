"""The errors aimux raises, as one tree; surfaces render them in the caller's dialect.

    AimuxError                    status  kind (Anthropic error.type)
    ├── InvalidRequest              400   invalid_request_error   (``param`` names the field)
    │   └── ContextWindowExceeded   400   invalid_request_error   (OpenAI code ``context_length_exceeded``)
    ├── AuthenticationFailed        401   authentication_error
    ├── PermissionDenied            403   permission_error
    ├── NotFound                    404   not_found_error
    ├── MethodNotAllowed            405   invalid_request_error
    ├── RequestTooLarge             413   request_too_large
    ├── UnsupportedMediaType        415   invalid_request_error   (a compressed request body)
    ├── RateLimited                 429   rate_limit_error        (``retry_after`` seconds)
    ├── InternalError               500   api_error
    ├── UpstreamError               5xx   api_error / overloaded_error / timeout_error
    │                                     (``provider``, ``upstream_status``, ``retryable``, ``cooldown``)
    └── Overloaded                  529   overloaded_error        (``retry_after`` seconds)

``kind`` uses Anthropic's ``error.type`` names because the canonical model is Anthropic's;
``translate.errors`` maps a kind to OpenAI's ``type``/``code``. Messages never contain API
keys or prompt text: they name the field or the condition, nothing more; and every message goes
through ``redaction.redact`` when the error is made, so an upstream's text quoted in it cannot carry
a key to the client, a log line or a metric.
"""

from __future__ import annotations

import enum
from typing import Literal

from .redaction import redact

# Why a target rests without being blamed (``UpstreamError.cooldown``): a load signal (``rate_limit``,
# ``overloaded``), an exhausted plan quota, or a provider key the upstream refused.
CooldownReason = Literal["rate_limit", "overloaded", "quota", "auth_failure"]
LOAD_SIGNALS: frozenset[str] = frozenset({"rate_limit", "overloaded"})
_COOLDOWN_OF_KIND: dict[str, CooldownReason] = {"rate_limit_error": "rate_limit", "overloaded_error": "overloaded"}


class _Default(enum.Enum):
    FROM_KIND = enum.auto()  # ``cooldown`` not given: it follows ``kind``


_FROM_KIND = _Default.FROM_KIND


class AimuxError(Exception):
    """Base of every error the gateway turns into an HTTP answer."""

    status: int = 500
    kind: str = "api_error"
    openai_code: str | None = None  # OpenAI's ``error.code`` when the kind's default is not precise enough

    def __init__(
        self,
        message: str,
        *,
        param: str | None = None,
        retry_after: float | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        message = redact(message)
        super().__init__(message)
        self.message = message
        self.param = param
        self.retry_after = retry_after
        self.headers = headers or {}


class InvalidRequest(AimuxError):
    status = 400
    kind = "invalid_request_error"


class ContextWindowExceeded(InvalidRequest):
    """The request is larger than every context window it could be sent to (a route's token guard)."""

    openai_code = "context_length_exceeded"


class AuthenticationFailed(AimuxError):
    status = 401
    kind = "authentication_error"


class PermissionDenied(AimuxError):
    status = 403
    kind = "permission_error"


class NotFound(AimuxError):
    status = 404
    kind = "not_found_error"


class MethodNotAllowed(AimuxError):
    status = 405
    kind = "invalid_request_error"


class RequestTooLarge(AimuxError):
    status = 413
    kind = "request_too_large"


class UnsupportedMediaType(AimuxError):
    status = 415
    kind = "invalid_request_error"


class RateLimited(AimuxError):
    status = 429
    kind = "rate_limit_error"


class InternalError(AimuxError):
    status = 500
    kind = "api_error"


class Overloaded(AimuxError):
    status = 529
    kind = "overloaded_error"


class UpstreamError(AimuxError):
    """A provider failed. ``retryable`` says whether another attempt (or target) can help.

    ``cooldown`` says the target is not broken but must rest (its reason, see ``CooldownReason``):
    dispatch cools it down instead of counting a breaker failure. By default it follows ``kind``
    (``rate_limit_error`` → ``rate_limit``, ``overloaded_error`` → ``overloaded``); pass it (None
    included) when the upstream's answer says more, as ``translate.upstream_errors`` does.
    """

    def __init__(
        self,
        message: str,
        *,
        provider: str,
        upstream_status: int | None = None,
        retryable: bool = True,
        status: int = 500,
        kind: str = "api_error",
        retry_after: float | None = None,
        quota: bool = False,
        cooldown: CooldownReason | _Default | None = _FROM_KIND,
    ) -> None:
        super().__init__(message, retry_after=retry_after)
        if quota:  # out of plan quota until ``retry_after``
            reason: CooldownReason | None = "quota"
        elif cooldown is _FROM_KIND:
            reason = _COOLDOWN_OF_KIND.get(kind)
        else:
            reason = cooldown
        self.cooldown = reason
        self.provider = provider
        self.upstream_status = upstream_status
        self.retryable = retryable
        self.status = status
        self.kind = kind

    @property
    def quota(self) -> bool:
        """Out of plan quota until ``retry_after``: a cooldown, not a fault."""
        return self.cooldown == "quota"

    @property
    def is_fault(self) -> bool:
        """Does this failure say the target is broken (what a circuit breaker counts)?

        Connection failures, timeouts, malformed answers and 5xx that are not overload are faults;
        load signals, quota, a refused key and the caller's own errors (4xx) are not.
        """
        return self.retryable and self.cooldown is None
