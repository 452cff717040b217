"""What one request's walk through its targets leaves behind, and the answer when no target served it.

``routing.dispatch`` walks the targets and records every attempt and every target it could not call
(``Walk``); when nothing answered, ``unserved`` turns that record into the client's answer:

- one target tried (or only refused provider keys): that target's own error, which says the most.
  A refused key is a 502 with ``x-should-retry: false``: retrying cannot help before an operator
  fixes the key, and the official SDKs obey that header;
- every failure a rate limit, or every target resting after one: 429 ``rate_limit_error``;
- anything else: 529 ``overloaded_error`` (503 for OpenAI clients), naming each target and why.

Every such answer carries ``x-aimux-attempts`` (0 when nothing was called) and the last target tried.
Every 429 and 529, and any answer while a target rests, says when to come back (when the soonest
target recovers, else ``ALL_DOWN_RETRY_AFTER``): ``retry-after`` in whole seconds, rounded up, and
``retry-after-ms``, which the official SDKs read first.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from ..errors import AimuxError, Overloaded, RateLimited, UpstreamError
from .table import Target

ALL_DOWN_RETRY_AFTER = 1.0  # seconds, when every target is down and none says for how long


@dataclass(slots=True)
class Attempt:
    target: Target
    outcome: str  # "ok", or the failure in a few words


@dataclass(frozen=True, slots=True)
class Down:
    """A target a round could not call: why, in how many seconds it recovers, and what may be done."""

    target: Target
    why: str
    recovers_in: float | None
    waitable: bool  # a load signal's cooldown: worth waiting for
    forcible: bool  # may be called anyway when every target is down
    rate_limited: bool = False  # resting after a rate limit or an exhausted quota


@dataclass(slots=True)
class Walk:
    """One request's way through its targets."""

    attempts: list[Attempt] = field(default_factory=list)
    failures: list[UpstreamError] = field(default_factory=list)
    blamed: set[str] = field(default_factory=set)  # breaker keys a failure was counted against
    down: list[Down] = field(default_factory=list)  # the last round's targets that could not be called
    spent: set[str] = field(default_factory=set)  # refused our key or out of quota in this request: not again
    forced: set[str] = field(default_factory=set)  # called although down: once per request is enough


def unserved(walk: Walk, resting: float | None) -> AimuxError:
    """The answer for a request no target served; ``resting``: seconds until the soonest of its targets
    recovers, when one rests (see the module docstring)."""
    attempts, failures = walk.attempts, walk.failures
    one_target = len({a.target.key for a in attempts}) == 1
    if failures and (one_target or all(f.cooldown == "auth_failure" for f in failures)):
        own = failures[-1]
        if own.cooldown == "auth_failure":
            own.headers["x-should-retry"] = "false"
        else:
            wait = own.retry_after if own.retry_after is not None else resting
            if wait is None and own.status in (429, 529):  # a refusal says when to come back, always
                wait = ALL_DOWN_RETRY_AFTER
            if wait is not None:
                retry_in(own, wait)
        return with_attempts(own, attempts)
    tried = [f"{a.target.label}: {a.outcome}" for a in attempts]
    tried += [f"{d.target.label}: {d.why}" for d in walk.down if all(a.target != d.target for a in attempts)]
    listed = ", ".join(tried) or "no target to try"
    error: AimuxError
    if failures and all(f.kind == "rate_limit_error" for f in failures):
        error = RateLimited(f"all targets are rate limited ({listed})")
    elif not failures and walk.down and all(d.rate_limited for d in walk.down):
        error = RateLimited(f"all targets are rate limited now ({listed})")
    elif failures:
        error = Overloaded(f"no upstream could serve the request ({listed})")
    else:
        error = Overloaded(f"no upstream can serve the request now ({listed})")
    retry_in(error, resting if resting is not None else ALL_DOWN_RETRY_AFTER)
    return with_attempts(error, attempts)


def describe(error: UpstreamError) -> str:
    """An attempt's failure in a few words: the upstream status, else the error kind."""
    return f"{error.upstream_status or error.kind}"


def retry_in(error: AimuxError, seconds: float) -> None:
    """Tell the client when to come back: ``retry-after`` in whole seconds, rounded up ("0" would invite
    a retry at once), and ``retry-after-ms``, which the official SDKs read first, to the millisecond."""
    error.retry_after = float(math.ceil(seconds))
    error.headers["retry-after-ms"] = str(max(1, math.ceil(seconds * 1000)))


def with_attempts(error: AimuxError, attempts: list[Attempt]) -> AimuxError:
    """Error answers say how many attempts were made and which target answered last."""
    error.headers["x-aimux-attempts"] = str(len(attempts))
    if attempts:
        error.headers["x-aimux-provider"] = attempts[-1].target.provider
        error.headers["x-aimux-model"] = attempts[-1].target.model
    return error
