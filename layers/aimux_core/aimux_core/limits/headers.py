"""The rate-limit response headers each dialect's clients read, built from one ``RateDecision``.

Anthropic (docs.anthropic.com, API reference, "Rate limits": response headers)::

    anthropic-ratelimit-requests-limit: 50
    anthropic-ratelimit-requests-remaining: 49
    anthropic-ratelimit-requests-reset: 2026-11-22T10:16:00Z        (RFC 3339: when the window is full again)
    anthropic-ratelimit-tokens-limit / -remaining / -reset           (remaining rounded down to a thousand)

OpenAI (platform.openai.com, "Rate limits": rate limits in headers)::

    x-ratelimit-limit-requests: 50
    x-ratelimit-remaining-requests: 49
    x-ratelimit-reset-requests: 42s                                  (duration until reset: 20ms, 6s, 1m0s)
    x-ratelimit-limit-tokens / x-ratelimit-remaining-tokens / x-ratelimit-reset-tokens

Both add ``retry-after`` (whole seconds) on a refusal. A dimension without a limit has no headers, and
a decision made without the store (fail-open) has none at all: aimux does not invent numbers.
Use on every answer of a key with limits (success or 429); ``RateLimitExceeded.decision`` carries the
decision of a refusal.
"""

from __future__ import annotations

import math
from typing import Literal

from .windows import RateDecision, WindowState, rfc3339

__all__ = ["anthropic_ratelimit_headers", "openai_duration", "openai_ratelimit_headers", "ratelimit_headers"]

Dialect = Literal["anthropic", "openai"]


def _retry_after(decision: RateDecision, headers: dict[str, str]) -> dict[str, str]:
    if not decision.admitted and decision.retry_after is not None:
        headers["retry-after"] = str(max(1, math.ceil(decision.retry_after)))
    return headers


def _anthropic_remaining(window: WindowState) -> int:
    if window.dimension == "tokens":
        return window.remaining // 1000 * 1000  # as Anthropic does; rounding down never overstates
    return window.remaining


def anthropic_ratelimit_headers(decision: RateDecision) -> dict[str, str]:
    """``anthropic-ratelimit-{requests,tokens}-{limit,remaining,reset}`` (+ ``retry-after`` when refused)."""
    if not decision.checked:
        return {}
    headers: dict[str, str] = {}
    for window in decision.windows():
        prefix = f"anthropic-ratelimit-{window.dimension}"
        headers[f"{prefix}-limit"] = str(window.limit)
        headers[f"{prefix}-remaining"] = str(_anthropic_remaining(window))
        headers[f"{prefix}-reset"] = rfc3339(window.end)
    return _retry_after(decision, headers)


def openai_duration(seconds: float) -> str:
    """OpenAI's reset spelling (Go durations): ``0s``, ``250ms``, ``6s``, ``6.5s``, ``1m0s``, ``1h2m3s``."""
    if seconds <= 0:
        return "0s"
    if seconds < 1:
        return f"{max(1, round(seconds * 1000))}ms"
    seconds = round(seconds, 3)
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    text = f"{secs:.3f}".rstrip("0").rstrip(".") + "s"
    if hours:
        return f"{int(hours)}h{int(minutes)}m{text}"
    if minutes:
        return f"{int(minutes)}m{text}"
    return text


def openai_ratelimit_headers(decision: RateDecision) -> dict[str, str]:
    """``x-ratelimit-{limit,remaining,reset}-{requests,tokens}`` (+ ``retry-after`` when refused)."""
    if not decision.checked:
        return {}
    headers: dict[str, str] = {}
    for window in decision.windows():
        headers[f"x-ratelimit-limit-{window.dimension}"] = str(window.limit)
        headers[f"x-ratelimit-remaining-{window.dimension}"] = str(window.remaining)
        headers[f"x-ratelimit-reset-{window.dimension}"] = openai_duration(window.end - decision.decided_at)
    return _retry_after(decision, headers)


def ratelimit_headers(dialect: Dialect, decision: RateDecision) -> dict[str, str]:
    """The headers of ``dialect`` for ``decision``."""
    if dialect == "anthropic":
        return anthropic_ratelimit_headers(decision)
    return openai_ratelimit_headers(decision)
