"""Upstream HTTP failures as typed ``UpstreamError``s, with statuses Claude Code handles well.

What the caller sees for an upstream status:

    upstream        client   kind                  retryable  cooldown      why
    429             429      rate_limit_error      yes        rate_limit    + retry-after, Claude Code waits
    529             529      overloaded_error      yes        overloaded    "Overloaded" UX, SDKs retry
    503 overloaded  529      overloaded_error      yes        overloaded    the body says "overload", or a
                                                                            retry-after says when to come back
    503 otherwise   529      overloaded_error      yes        -             a fault (no backend, down...)
    500, 502        500      api_error             yes        -
    504, 408        504      timeout_error         yes        -
    400, 422        400      invalid_request_error no         -             the upstream's message, excerpted
    404             404      not_found_error       no         -             usually the model id
    413             413      request_too_large     no         -
    402             402      billing_error         no         -
    quota 403/429   429      rate_limit_error      yes        quota         plan quota exhausted: the target
                                                                            cools down until the announced reset
    401, 403        502      api_error             yes        auth_failure  the gateway's key for this provider
                                                                            was refused: another target serves;
                                                                            never a 401, which clients would
                                                                            blame on their own key
    200, unusable   502      api_error             yes        -             ``malformed_answer``: an answer that
                                                                            breaks the API's schema is an upstream
                                                                            fault, failed over like a 5xx

A cooldown means "rest, but not broken": dispatch cools the target down and the circuit breaker does
not count it (``UpstreamError.is_fault``).

The upstream body is excerpted (its ``error.message`` when it has one) and passed through
``redaction.redact`` (the exact value of every key aimux knows, the caller's key, anything shaped
like a credential) before it reaches an error message.
"""

from __future__ import annotations

import email.utils
import json
import logging
import re
import time
import traceback
from collections.abc import Mapping
from typing import Any

from ..errors import CooldownReason, UpstreamError
from ..redaction import redact
from .quota import quota_cooldown

log = logging.getLogger(__name__)
_EXCERPT_CHARS = 300
_AUTH_STATUSES = frozenset({401, 403})
_OVERLOAD = re.compile(r"overload", re.IGNORECASE)

_BY_STATUS: dict[int, tuple[int, str, bool]] = {
    400: (400, "invalid_request_error", False),
    401: (502, "api_error", True),
    402: (402, "billing_error", False),
    403: (502, "api_error", True),
    404: (404, "not_found_error", False),
    408: (504, "timeout_error", True),
    409: (500, "api_error", True),
    413: (413, "request_too_large", False),
    422: (400, "invalid_request_error", False),
    429: (429, "rate_limit_error", True),
    500: (500, "api_error", True),
    502: (500, "api_error", True),
    503: (529, "overloaded_error", True),
    504: (504, "timeout_error", True),
    529: (529, "overloaded_error", True),
}


def excerpt(body: bytes | str) -> str:
    """The upstream's own error message when the body has one, else the start of the body."""
    text = body.decode("utf-8", errors="replace") if isinstance(body, bytes) else body
    message: Any = None
    try:
        parsed = json.loads(text)
    except ValueError:
        parsed = None
    if isinstance(parsed, dict):
        error = parsed.get("error", parsed)
        message = error.get("message") if isinstance(error, dict) else error
    if not isinstance(message, str) or not message:
        message = text
    message = " ".join(message.split())
    if len(message) > _EXCERPT_CHARS:
        message = message[:_EXCERPT_CHARS] + "…"
    return redact(message)


def retry_after_seconds(headers: Mapping[str, str], now: float | None = None) -> float | None:
    """``retry-after-ms``, ``retry-after`` as seconds or as an HTTP date; None when absent or bad."""
    raw_ms = headers.get("retry-after-ms")
    if raw_ms:
        try:
            return max(0.0, float(raw_ms) / 1000)
        except ValueError:
            pass
    raw = headers.get("retry-after")
    if not raw:
        return None
    try:
        return max(0.0, float(raw))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(raw)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - (time.time() if now is None else now))


def upstream_error(provider: str, status: int, headers: Mapping[str, str], body: bytes | str) -> UpstreamError:
    """The typed error for an upstream HTTP error answer."""
    client_status, kind, retryable = _BY_STATUS.get(
        status, (500, "api_error", True) if status >= 500 else (400, "invalid_request_error", False)
    )
    detail = excerpt(body) if body else ""
    message = f"upstream {provider} answered {status}" + (f": {detail}" if detail else "")
    cooldown = quota_cooldown(status, headers, body)
    if cooldown is not None:  # out of plan quota until a known reset: move on, cool the target down
        return UpstreamError(
            message,
            provider=provider,
            upstream_status=status,
            retryable=True,
            status=429,
            kind="rate_limit_error",
            retry_after=cooldown,
            quota=True,
        )
    if status in _AUTH_STATUSES:
        return auth_failure(provider, status, detail)
    retry_after = retry_after_seconds(headers)
    return UpstreamError(
        message,
        provider=provider,
        upstream_status=status,
        retryable=retryable,
        status=client_status,
        kind=kind,
        retry_after=retry_after,
        cooldown=_load_signal(status, retry_after, detail),
    )


def _load_signal(status: int, retry_after: float | None, detail: str) -> CooldownReason | None:
    """``rate_limit`` for a 429, ``overloaded`` for a 529 or a 503 that says so; else None (a fault)."""
    if status == 429:
        return "rate_limit"
    if status == 529 or (status == 503 and (retry_after is not None or _OVERLOAD.search(detail))):
        return "overloaded"
    return None


def auth_failure(provider: str, status: int | None, detail: str = "") -> UpstreamError:
    """The upstream refused the gateway's credentials for ``provider`` (a revoked, expired or mistyped key).

    Retryable (another target can serve) with an ``auth_failure`` cooldown; shown as 502 with a message
    naming the provider, then ``detail``: the upstream's own words, already excerpted and redacted
    (``excerpt``), since they often quote part of the key they refused.
    """
    answered = f"answered {status}" if status is not None else "refused the request"
    return UpstreamError(
        f"upstream {provider} {answered}: it refused the gateway's credentials for this provider "
        f"(the configured key is missing, revoked, expired or lacks access)" + (f": {detail}" if detail else ""),
        provider=provider,
        upstream_status=status,
        retryable=True,
        status=502,
        kind="api_error",
        cooldown="auth_failure",
    )


PARSE_FAULTS: tuple[type[Exception], ...] = (TypeError, ValueError, KeyError, IndexError, AttributeError)
"""What reading an answer of an unexpected shape raises (pydantic's ``ValidationError`` is a ``ValueError``)."""


def malformed_answer(provider: str, what: str, cause: Exception | None = None) -> UpstreamError:
    """The upstream answered with something its own API does not allow (wrong types, missing parts).

    An upstream fault like a 5xx: retryable (the next target is tried), counted as a breaker
    failure, and shown as a 502 ``api_error`` that names the fault when no target is left. ``cause``
    is an exception raised while reading the answer: its type and where it was raised are logged
    (never its text, which may quote the answer), so a bug in aimux's own parsing stays visible.
    """
    if cause is not None:
        frames = traceback.extract_tb(cause.__traceback__)
        ours = [frame for frame in frames if "aimux_core" in frame.filename] or frames
        where = f"{ours[-1].filename.rsplit('/', 1)[-1]}:{ours[-1].lineno}" if ours else "?"
        log.warning("upstream %s: unreadable answer (%s at %s)", provider, type(cause).__name__, where)
        what += _validation_detail(cause)
    return UpstreamError(f"upstream {provider} {what}", provider=provider, upstream_status=200, status=502)


def _validation_detail(cause: Exception) -> str:
    """`` (content.0.text: Input should be a valid string)`` for a pydantic error, else nothing."""
    errors = getattr(cause, "errors", None)
    if not callable(errors):
        return ""
    try:
        first = errors(include_url=False, include_input=False)[0]
    except Exception:
        return ""
    where = ".".join(str(part) for part in first.get("loc", ()))
    return f" ({where}: {first.get('msg')})" if where else f" ({first.get('msg')})"


def connection_error(provider: str, what: str) -> UpstreamError:
    """The upstream could not be reached or the connection broke: retryable, shown as 500 api_error."""
    return UpstreamError(f"upstream {provider}: {what}", provider=provider, retryable=True, status=500)


def timeout_error(provider: str, what: str) -> UpstreamError:
    return UpstreamError(
        f"upstream {provider}: {what}", provider=provider, retryable=True, status=504, kind="timeout_error"
    )
