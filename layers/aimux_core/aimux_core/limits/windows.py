"""Per-key rate limits: requests and tokens per minute in fixed windows, admitted atomically.

Items: pk ``rate#<scope>#<id>``, sk ``<window start>`` (epoch seconds, a multiple of 60), attributes
``requests`` and ``tokens``. The window a request belongs to is chosen by its time, so an old window is
simply never touched again: correctness comes from the time-bucketed key, ``expires_at`` (window end +
a minute) only lets DynamoDB clean up.

Atomicity. Every admission is one conditional ``add`` on the window item: the store applies the
increment only if the result stays within the bound (a result exactly at the limit is admitted), and
the store serialises operations on one item. However many Lambdas race, the requests admitted into a
window never exceed the limit: a refused ``add`` writes nothing.

Both limits in one round trip. ``Store.add`` takes a single limit attribute, so ``take`` with rpm *and*
tpm does this (one ``add``, same item, both deltas):

- the guard (the store's condition) is on ``tokens`` (the dimension that moves in big steps),
- ``requests`` is checked on the item the ``add`` returns: over the limit means refused, and a second
  ``add`` gives both deltas back (compensation).

The returned item reflects every ``add`` serialised before ours, so the check can never admit over the
limit either. The price: between the over-limit ``add`` and its compensation (one round trip), the
window shows one request (and that request's token estimate) too many, so a concurrent request may be
refused that would have fitted. It is conservative, transient, and only happens when the rpm limit is
already reached; if the compensation itself fails, the window stays over-counted until it ends (at most
60 s). Guarding ``tokens`` rather than ``requests`` keeps a refused 150k-token estimate from ever being
written, so that over-count is one request, never a large token amount. (A store whose ``add`` took a
condition on several attributes, which DynamoDB's ``UpdateItem`` supports, would remove the
compensation; that is a contract change, not made here.)

Tokens: the input estimate is admitted up front; after the answer ``settle`` adds ``actual - estimate``
without any condition (it is never refused, and a window may end up over its limit when the answer was
larger than estimated: later requests in that window are then refused until it ends). A settlement after
the admission window has ended counts extra tokens in the current window and drops refunds (returning
an estimate to a window it was never charged to would let that window admit more than its limit).

Fixed windows allow up to twice the limit across a window boundary (the end of one minute and the start
of the next); that is the usual fixed-window trade for one item per window. Instances whose clocks differ
by a few hundred milliseconds may put a request at a boundary into the neighbouring window, which is the
same effect. Store errors other than ``ConditionFailed`` propagate: ``failure_policy`` decides.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Literal, Protocol

from ..errors import RateLimited
from ..state.clock import Clock
from ..state.store import ConditionFailed, Store, StoreError

if TYPE_CHECKING:
    from ..wire.anthropic import Usage

__all__ = [
    "WINDOW_SECONDS",
    "RateDecision",
    "RateLimitExceeded",
    "RateLimiter",
    "RateLimits",
    "WindowState",
    "rate_pk",
    "rfc3339",
    "usage_tokens",
    "window_start",
]

log = logging.getLogger(__name__)

WINDOW_SECONDS = 60
CLEANUP_GRACE = 60  # seconds an ended window's item lives on before DynamoDB may delete it

Dimension = Literal["requests", "tokens"]


def window_start(now: float, seconds: int = WINDOW_SECONDS) -> int:
    """Start (epoch seconds) of the fixed window containing ``now``."""
    return int(now // seconds) * seconds


def rate_pk(scope: str, ident: str) -> str:
    return f"rate#{scope}#{ident}"


def rfc3339(epoch: float) -> str:
    """``2026-11-23T00:00:00Z`` (whole seconds, UTC)."""
    return datetime.fromtimestamp(math.floor(epoch), UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def usage_tokens(usage: Usage) -> int:
    """Tokens a request counts against tpm: all input (cached or not) plus output."""
    return (
        usage.input_tokens
        + (usage.cache_creation_input_tokens or 0)
        + (usage.cache_read_input_tokens or 0)
        + usage.output_tokens
    )


class HasRateLimits(Protocol):
    """Anything with per-minute limits (a key record, ``RateLimits``); None means unlimited."""

    @property
    def rpm(self) -> int | None: ...

    @property
    def tpm(self) -> int | None: ...


@dataclass(frozen=True, slots=True)
class RateLimits:
    rpm: int | None = None
    tpm: int | None = None


@dataclass(frozen=True, slots=True)
class WindowState:
    """One dimension of one window as this decision saw it (``used`` includes this request if admitted)."""

    dimension: Dimension
    limit: int
    used: int
    start: int
    end: int

    @property
    def remaining(self) -> int:
        return max(0, self.limit - self.used)


@dataclass(frozen=True, slots=True)
class RateDecision:
    """The outcome of one admission: what the rate-limit headers of either dialect are built from.

    ``requests`` / ``tokens`` are None when that dimension has no limit (or, on a refusal by the store's
    condition, when it was not observed). ``checked=False`` marks a decision made without the store (a
    fail-open policy): admitted, no headers. On a refusal the refused dimension reads ``remaining`` 0.
    """

    scope: str
    ident: str
    admitted: bool
    decided_at: float
    requests: WindowState | None = None
    tokens: WindowState | None = None
    estimate: int = 0
    refused: Dimension | None = None
    retry_after: float | None = None
    checked: bool = True

    @classmethod
    def unchecked(cls, scope: str, ident: str, decided_at: float, estimate: int = 0) -> RateDecision:
        """Admitted without consulting the store (state unavailable, policy open)."""
        return cls(scope, ident, True, decided_at, estimate=estimate, checked=False)

    def windows(self) -> list[WindowState]:
        return [w for w in (self.requests, self.tokens) if w is not None]


class RateLimitExceeded(RateLimited):
    """429 ``rate_limit_error`` carrying the decision, so a surface can add its dialect's headers.

    ``retry_after`` is set (the generic ``retry-after`` header); ``ratelimit_headers`` builds the rest.
    A request that could never fit (its estimate alone exceeds tpm) carries no ``retry_after`` and the
    ``x-should-retry: false`` header the Stainless SDKs honour.
    """

    def __init__(self, message: str, decision: RateDecision, *, retryable: bool = True) -> None:
        headers = {} if retryable else {"x-should-retry": "false"}
        super().__init__(message, retry_after=decision.retry_after, headers=headers)
        self.decision = decision


_UNITS = {"requests": "requests", "tokens": "tokens"}
_SCOPES = {"key": "this API key", "provider": "this provider"}


def _refusal_message(scope: str, window: WindowState) -> str:
    who = _SCOPES.get(scope, f"this {scope}")
    return (
        f"rate limit of {window.limit} {_UNITS[window.dimension]} per minute reached for {who}; "
        f"resets at {rfc3339(window.end)}"
    )


def seconds_until(end: float, now: float) -> float:
    """Whole seconds to wait, at least 1 (a ``retry-after: 0`` invites an immediate retry)."""
    return float(max(1, math.ceil(end - now)))


class RateLimiter:
    """Fixed-window admissions over a ``Store``; see the module docstring for the atomicity argument.

    Store round trips: ``take`` 0 (no limits) or 1 (any limits); +1 only when the rpm check on the
    returned item refuses (compensation). A refusal by the store's condition costs nothing more.
    ``settle`` 0 (nothing to correct) or 1.
    """

    def __init__(self, store: Store, clock: Clock, *, window_seconds: int = WINDOW_SECONDS) -> None:
        if window_seconds <= 0:
            raise ValueError("window_seconds must be positive")
        self._store = store
        self._clock = clock
        self._seconds = window_seconds

    async def take_requests(self, scope: str, ident: str, limit_rpm: int) -> WindowState:
        """Count one request in the current window, or raise ``RateLimitExceeded`` at the limit."""
        decision = await self.take(scope, ident, RateLimits(rpm=limit_rpm))
        assert decision.requests is not None
        return decision.requests

    async def take_tokens(self, scope: str, ident: str, limit_tpm: int, estimate: int) -> WindowState:
        """Admit ``estimate`` input tokens up front, or raise ``RateLimitExceeded``."""
        decision = await self.take(scope, ident, RateLimits(tpm=limit_tpm), estimate)
        assert decision.tokens is not None
        return decision.tokens

    async def take(self, scope: str, ident: str, limits: HasRateLimits, estimate: int = 0) -> RateDecision:
        """Admit one request (and its token estimate) against rpm and tpm in one ``add``.

        Raises ``RateLimitExceeded`` (carrying the decision) when refused.
        """
        rpm, tpm = limits.rpm, limits.tpm
        if estimate < 0:
            raise ValueError("estimate must be >= 0")
        now = self._clock.now()
        if rpm is None and tpm is None:
            return RateDecision(scope, ident, True, now, estimate=estimate)
        start = window_start(now, self._seconds)
        end = start + self._seconds
        if tpm is not None and estimate > tpm:
            window = WindowState("tokens", tpm, tpm, start, end)
            decision = RateDecision(scope, ident, False, now, tokens=window, estimate=estimate, refused="tokens")
            raise RateLimitExceeded(
                f"this request's estimated {estimate} input tokens exceed the limit of {tpm} tokens per minute "
                f"for {_SCOPES.get(scope, 'this ' + scope)}; it cannot be admitted in any window",
                decision,
                retryable=False,
            )
        deltas: dict[str, int] = {}
        if rpm is not None:
            deltas["requests"] = 1
        if tpm is not None:
            deltas["tokens"] = estimate
        guard: tuple[Dimension, int]
        if tpm is not None:
            guard = ("tokens", tpm)
        else:
            assert rpm is not None
            guard = ("requests", rpm)
        pk, sk = rate_pk(scope, ident), str(start)
        try:
            item = await self._store.add(pk, sk, deltas, limit=guard, expires_at=end + CLEANUP_GRACE)
        except ConditionFailed:
            refused = WindowState(guard[0], guard[1], guard[1], start, end)
            decision = self._refusal(scope, ident, now, refused, None, estimate)
            raise RateLimitExceeded(_refusal_message(scope, refused), decision) from None
        requests = WindowState("requests", rpm, int(item.get("requests", 0)), start, end) if rpm is not None else None
        tokens = WindowState("tokens", tpm, int(item.get("tokens", 0)), start, end) if tpm is not None else None
        if requests is not None and tokens is not None and requests.used > requests.limit:
            await self._compensate(pk, sk, deltas, end)
            # The window as it is without this request.
            refused = WindowState("requests", requests.limit, requests.used - 1, start, end)
            other = WindowState("tokens", tokens.limit, tokens.used - estimate, start, end)
            decision = self._refusal(scope, ident, now, refused, other, estimate)
            raise RateLimitExceeded(_refusal_message(scope, refused), decision)
        return RateDecision(scope, ident, True, now, requests=requests, tokens=tokens, estimate=estimate)

    async def settle(self, decision: RateDecision, actual_tokens: int) -> None:
        """After the answer: correct the admitted estimate to the tokens actually used (never refused)."""
        if not decision.admitted or not decision.checked or decision.tokens is None:
            return
        await self.settle_tokens(
            decision.scope, decision.ident, actual_tokens - decision.estimate, window=decision.tokens.start
        )

    async def settle_tokens(self, scope: str, ident: str, delta: int, *, window: int | None = None) -> None:
        """Add ``delta`` (actual - estimate) tokens; see the module docstring for ended windows.

        ``window`` is the start of the admission window (None: the current one).
        """
        now = self._clock.now()
        current = window_start(now, self._seconds)
        if window is not None and window != current and delta < 0:
            return  # a refund to an ended window changes nothing anyone will read
        if delta == 0:
            return
        await self._store.add(
            rate_pk(scope, ident), str(current), {"tokens": delta}, expires_at=current + self._seconds + CLEANUP_GRACE
        )

    async def current(self, scope: str, ident: str, limits: HasRateLimits) -> RateDecision:
        """The current window without counting anything (one read; for admin views)."""
        now = self._clock.now()
        start = window_start(now, self._seconds)
        end = start + self._seconds
        item = await self._store.get(rate_pk(scope, ident), str(start)) or {}
        requests = tokens = None
        if limits.rpm is not None:
            requests = WindowState("requests", limits.rpm, int(item.get("requests", 0)), start, end)
        if limits.tpm is not None:
            tokens = WindowState("tokens", limits.tpm, int(item.get("tokens", 0)), start, end)
        return RateDecision(scope, ident, True, now, requests=requests, tokens=tokens)

    def _refusal(
        self,
        scope: str,
        ident: str,
        now: float,
        refused: WindowState,
        other: WindowState | None,
        estimate: int,
    ) -> RateDecision:
        by_dimension = {refused.dimension: refused}
        if other is not None:
            by_dimension[other.dimension] = other
        return RateDecision(
            scope,
            ident,
            False,
            now,
            requests=by_dimension.get("requests"),
            tokens=by_dimension.get("tokens"),
            estimate=estimate,
            refused=refused.dimension,
            retry_after=seconds_until(refused.end, now),
        )

    async def _compensate(self, pk: str, sk: str, deltas: dict[str, int], end: int) -> None:
        """Give back an over-limit ``add``; on a store error the window stays over-counted until it ends."""
        try:
            await self._store.add(pk, sk, {k: -v for k, v in deltas.items()}, expires_at=end + CLEANUP_GRACE)
        except StoreError as exc:
            log.warning("rate window compensation failed (%s); window over-counted until it ends", type(exc).__name__)
