"""The per-request record: everything the metrics, the log line and the cost header need, and nothing else.

A ``RequestRecord`` is built once, when a request ends, from what the surface already holds: the
gateway's ``Served`` (decision and outcome), the canonical usage, a ``RequestTimer`` and, on failure,
the ``AimuxError``. It has no field for prompt text, message content or API keys, so nothing built
from it can leak them; ``request_log`` still redacts its strings in case a caller puts a key where an
id belongs.

Only the standard library and ``errors`` are imported at module level (gateway types are for type
checkers, ``pricing`` is imported on first use): the surfaces import this on the hot path, and it
must not pull in Powertools.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal
from typing import TYPE_CHECKING, Any, Literal

from ..errors import RateLimited

if TYPE_CHECKING:
    from ..errors import AimuxError
    from ..gateway import Served
    from ..routing.catalog import Price

Surface = Literal["anthropic", "openai"]
_CONTENT_EVENTS = frozenset({"content_block_start", "content_block_delta"})


@dataclass(frozen=True, slots=True)
class TokenCounts:
    """Token usage with Anthropic's meaning: ``input`` excludes cache reads and cache writes."""

    input: int = 0
    output: int = 0
    cache_read: int = 0
    cache_write: int = 0


@dataclass(frozen=True, slots=True)
class RequestRecord:
    """One finished request. ``provider``/``model`` are the serving (upstream) target; None if none served."""

    request_id: str
    surface: Surface
    status: int
    latency_ms: float
    key_id: str | None = None
    function_request_id: str | None = None  # Lambda's request id (Mangum context or LWA header)
    correlation_id: str | None = None  # API Gateway / function URL request id
    client_model: str | None = None
    scenario: str | None = None
    route: str | None = None
    reason: str | None = None
    provider: str | None = None
    model: str | None = None
    attempts: int = 0
    fallbacks: int = 0  # attempts made before the one that served
    error_kind: str | None = None
    stream: bool = False
    ttft_ms: float | None = None
    input_tokens: int = 0
    output_tokens: int = 0
    cache_read_tokens: int = 0
    cache_write_tokens: int = 0
    cost_usd: float = 0.0
    breaker_open_seen: bool = False
    rate_limited: bool = False
    cache: str | None = None  # the response cache: hit | miss | stored | bypass (None: not involved)
    cache_reason: str | None = None
    dedup: str | None = None  # leader | waited | fallback | timeout
    cache_saved_usd: float = 0.0  # a hit: what its answer cost when it was computed (at today's price)

    @property
    def is_error(self) -> bool:
        """A failure on aimux's or an upstream's side: any 5xx/529, or a stream that broke after its headers.

        Client errors (4xx, including 429) are not Errors: they say nothing about the gateway's health.
        """
        return self.status >= 500 or (self.status < 400 and self.error_kind is not None)

    @property
    def fell_back(self) -> bool:
        return self.fallbacks > 0

    @property
    def cache_hit(self) -> bool:
        """Answered from a stored answer that was there when the request arrived (``CacheHits``)."""
        return self.cache == "hit" and self.dedup != "waited"

    @property
    def dedup_saved(self) -> bool:
        """Answered with the answer of an identical request in flight when it arrived (``DedupSaved``)."""
        return self.cache == "hit" and self.dedup == "waited"


class RequestTimer:
    """Wall-clock timing of one request: start at arrival, mark the first content, read the total."""

    __slots__ = ("_first", "_start")

    def __init__(self, start: float | None = None) -> None:
        self._start = time.perf_counter() if start is None else start
        self._first: float | None = None

    def mark_first_token(self) -> None:
        """The first content reached the client (only the first call counts)."""
        if self._first is None:
            self._first = time.perf_counter()

    @property
    def ttft_ms(self) -> float | None:
        return None if self._first is None else (self._first - self._start) * 1000

    def elapsed_ms(self) -> float:
        return (time.perf_counter() - self._start) * 1000


class StreamTally:
    """Usage, first-token time and failure of a stream, observed as its events pass to the client.

    Call ``observe`` for every canonical event the surface encodes, ``fail`` when the stream ends in an
    error; read ``tokens`` at the end. ``message_delta`` usage is cumulative, so it replaces, not adds.
    """

    __slots__ = ("_cache_read", "_cache_write", "_input", "_output", "error_kind", "timer")

    def __init__(self, timer: RequestTimer) -> None:
        self.timer = timer
        self._input = self._output = self._cache_read = self._cache_write = 0
        self.error_kind: str | None = None

    def observe(self, event: Any) -> None:
        kind = getattr(event, "type", None)
        if kind in _CONTENT_EVENTS:
            self.timer.mark_first_token()
        elif kind == "message_start":
            self._take(getattr(event.message, "usage", None))
        elif kind == "message_delta":
            self._take(getattr(event, "usage", None))
        elif kind == "error":
            self.error_kind = getattr(getattr(event, "error", None), "type", None) or "api_error"

    def fail(self, kind: str) -> None:
        self.error_kind = kind

    @property
    def tokens(self) -> TokenCounts:
        return TokenCounts(self._input, self._output, self._cache_read, self._cache_write)

    def _take(self, usage: Any) -> None:
        if usage is None:
            return
        self._input = _or(getattr(usage, "input_tokens", None), self._input)
        self._output = _or(getattr(usage, "output_tokens", None), self._output)
        self._cache_read = _or(getattr(usage, "cache_read_input_tokens", None), self._cache_read)
        self._cache_write = _or(getattr(usage, "cache_creation_input_tokens", None), self._cache_write)


def _or(value: int | None, current: int) -> int:
    return current if value is None else int(value)


def tokens_of(usage: Any) -> TokenCounts:
    """``TokenCounts`` from a canonical ``Usage`` (or anything with its attribute names); None is zero."""
    if usage is None:
        return TokenCounts()
    return TokenCounts(
        int(getattr(usage, "input_tokens", 0) or 0),
        int(getattr(usage, "output_tokens", 0) or 0),
        int(getattr(usage, "cache_read_input_tokens", 0) or 0),
        int(getattr(usage, "cache_creation_input_tokens", 0) or 0),
    )


def price_tokens(counts: TokenCounts, price: Price | None) -> float:
    """The exact USD cost of ``counts`` at ``price`` (``pricing.cost_usd``; 0.0 when unpriced)."""
    if price is None:
        return 0.0
    from ..wire.anthropic import Usage
    from .pricing import cost_usd

    usage = Usage(
        input_tokens=counts.input,
        output_tokens=counts.output,
        cache_read_input_tokens=counts.cache_read,
        cache_creation_input_tokens=counts.cache_write,
    )
    try:
        return cost_usd(usage, price)
    except ValueError:  # a malformed price must not fail the answer it would have priced
        return 0.0


def saw_open_circuit(served_or_decision: Any) -> bool:
    """Did routing drop a target because its circuit was open? (Takes a ``Served`` or a ``Decision``.)"""
    decision = getattr(served_or_decision, "decision", served_or_decision)
    notes = (*getattr(decision, "dropped", ()), *getattr(decision, "down", ()))
    return any(why.startswith("circuit") for _, why in notes)


def record_served(
    *,
    request_id: str,
    surface: Surface,
    served: Served,
    timer: RequestTimer,
    usage: Any = None,
    tokens: TokenCounts | None = None,
    cost_usd: float | None = None,
    status: int = 200,
    error_kind: str | None = None,
    stream: bool = False,
    key_id: str | None = None,
    client_model: str | None = None,
    ids: tuple[str | None, str | None] = (None, None),
) -> RequestRecord:
    """The record of a request a target answered (a stream that broke later passes ``error_kind``).

    ``usage`` is the canonical ``Message.usage`` (buffered); streams pass ``tokens=tally.tokens``.
    ``cost_usd`` defaults to the serving target's catalog price applied by ``pricing.cost_usd`` (0 when
    unpriced); pass it when the caller already computed it (e.g. for spend accounting).
    ``ids`` is ``request_log.lambda_ids(scope)``: (Lambda request id, API Gateway/URL request id).
    A response-cache hit (``served.cache``) consumed no tokens and costs nothing: its tokens are recorded
    as 0, and what its answer cost when it was computed as ``cache_saved_usd``.
    """
    decision, outcome = served.decision, served.outcome
    counts = tokens if tokens is not None else tokens_of(usage)
    entry = outcome.target.entry
    price = entry.price if entry is not None else None
    cache = getattr(served, "cache", None)
    saved = 0.0
    if cache is not None and cache.hit:
        saved, counts, cost_usd = price_tokens(counts, price), TokenCounts(), 0.0
    if cost_usd is None:
        cost_usd = price_tokens(counts, price)
    attempts = len(outcome.attempts)
    return RequestRecord(
        request_id=request_id,
        surface=surface,
        status=status,
        latency_ms=timer.elapsed_ms(),
        key_id=key_id,
        function_request_id=ids[0],
        correlation_id=ids[1],
        client_model=client_model,
        scenario=decision.scenario,
        route=decision.route,
        reason=decision.reason,
        provider=outcome.target.provider,
        model=outcome.target.model,
        attempts=attempts,
        fallbacks=max(0, attempts - 1),
        error_kind=error_kind,
        stream=stream,
        ttft_ms=timer.ttft_ms if stream else None,
        input_tokens=counts.input,
        output_tokens=counts.output,
        cache_read_tokens=counts.cache_read,
        cache_write_tokens=counts.cache_write,
        cost_usd=max(0.0, float(cost_usd)),
        breaker_open_seen=saw_open_circuit(decision),
        cache=cache.state if cache is not None else None,
        cache_reason=cache.reason if cache is not None else None,
        dedup=cache.dedup if cache is not None else None,
        cache_saved_usd=saved,
    )


def record_failed(
    *,
    request_id: str,
    surface: Surface,
    error: AimuxError,
    timer: RequestTimer,
    stream: bool = False,
    key_id: str | None = None,
    client_model: str | None = None,
    ids: tuple[str | None, str | None] = (None, None),
    rate_limited: bool | None = None,
    breaker_open_seen: bool | None = None,
) -> RequestRecord:
    """The record of a request answered with an error before any target served it.

    Inferred unless passed: ``rate_limited`` (a 429 ``RateLimited`` raised before any attempt, i.e. by
    aimux's own key/rate limits, not an upstream's) and ``breaker_open_seen`` (the 529 the gateway
    raises when every target was dropped for "circuit open"). The provider is known only for an
    ``UpstreamError``; the model stays unknown (the metrics use "none").
    """
    attempts = _int(error.headers.get("x-aimux-attempts"))
    upstream = getattr(error, "provider", None)
    if rate_limited is None:
        rate_limited = isinstance(error, RateLimited) and "x-aimux-attempts" not in error.headers
    if breaker_open_seen is None:
        breaker_open_seen = error.status == 529 and "circuit open" in error.message
    return RequestRecord(
        request_id=request_id,
        surface=surface,
        status=error.status,
        latency_ms=timer.elapsed_ms(),
        key_id=key_id,
        function_request_id=ids[0],
        correlation_id=ids[1],
        client_model=client_model,
        provider=upstream if isinstance(upstream, str) else None,
        attempts=attempts,
        fallbacks=0,
        error_kind=error.kind,
        stream=stream,
        rate_limited=rate_limited,
        breaker_open_seen=breaker_open_seen,
    )


def _int(value: str | None) -> int:
    return int(value) if value is not None and value.isdigit() else 0


COST_HEADER = "x-aimux-cost-usd"


def format_cost(cost_usd: float) -> str:
    """US dollars as fixed-point text with exactly 6 decimals: whole micro-dollars, rounded half up like
    ``pricing.cost_micro_usd`` (what spend accounting stores). Never an exponent, never negative."""
    if not math.isfinite(cost_usd) or cost_usd <= 0:
        return "0.000000"
    micro = int((Decimal(repr(cost_usd)) * 1_000_000).to_integral_value(rounding=ROUND_HALF_UP))
    return f"{micro // 1_000_000}.{micro % 1_000_000:06d}"


def cost_header(record: RequestRecord) -> dict[str, str]:
    """``{"x-aimux-cost-usd": "0.000123"}`` for a buffered answer (a stream's headers leave before its cost)."""
    return {COST_HEADER: format_cost(record.cost_usd)}


def publish(record: RequestRecord) -> None:
    """Emit the record's metrics (EMF + in-memory) and its log line. Never raises into the request."""
    from .metrics import emit_metrics
    from .request_log import log_request

    emit_metrics(record)
    log_request(record)
