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
from typing import TYPE_CHECKING, Any, Literal, assert_never

from ..wire.anthropic import (
    ContentBlockDeltaEvent,
    ContentBlockStartEvent,
    ContentBlockStopEvent,
    ErrorEvent,
    MessageDeltaEvent,
    MessageDeltaUsage,
    MessageStartEvent,
    MessageStopEvent,
    OtherEvent,
    PingEvent,
    StreamEvent,
    Usage,
)
from .pricing import cache_savings_usd, cost_usd

if TYPE_CHECKING:
    from .pricing import Price

Surface = Literal["anthropic", "openai"]


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
    project: str | None = None  # the caller's key's project (its record's, at request time)
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
    cache_savings_usd: float = 0.0  # pricing.cache_savings_usd: cache reads' saving less cache writes' premium
    tokens_removed: int = 0  # by the route's token guards

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

    def observe(self, event: StreamEvent) -> None:
        match event:
            case ContentBlockDeltaEvent() | ContentBlockStartEvent():
                self.timer.mark_first_token()
            case MessageStartEvent():
                self._take(event.message.usage)
            case MessageDeltaEvent():
                self._take(event.usage)
            case ErrorEvent():
                self.error_kind = event.error.type or "api_error"
            case ContentBlockStopEvent() | MessageStopEvent() | PingEvent() | OtherEvent():
                pass
            case _:
                assert_never(event)

    def fail(self, kind: str) -> None:
        self.error_kind = kind

    @property
    def tokens(self) -> TokenCounts:
        return TokenCounts(self._input, self._output, self._cache_read, self._cache_write)

    def _take(self, usage: Usage | MessageDeltaUsage | None) -> None:
        if usage is None:
            return
        self._input = _or(usage.input_tokens, self._input)
        self._output = _or(usage.output_tokens, self._output)
        self._cache_read = _or(usage.cache_read_input_tokens, self._cache_read)
        self._cache_write = _or(usage.cache_creation_input_tokens, self._cache_write)


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


def cache_savings(counts: TokenCounts, price: Price | None) -> float:
    """What prompt caching saved on ``counts`` at ``price`` (``pricing.cache_savings_usd``; 0.0 when unpriced)."""
    if price is None or not (counts.cache_read or counts.cache_write):
        return 0.0
    try:
        return cache_savings_usd(counts.cache_read, counts.cache_write, price)
    except ValueError:  # a malformed price must not fail the answer it describes
        return 0.0


def price_tokens(counts: TokenCounts, price: Price | None) -> float:
    """The exact USD cost of ``counts`` at ``price`` (``pricing.cost_usd``; 0.0 when unpriced)."""
    if price is None:
        return 0.0
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


COST_HEADER = "x-aimux-cost-usd"


def micro_usd(cost_usd: float) -> int:
    """US dollars as whole micro-dollars, rounded half up like ``pricing.cost_micro_usd``; 0 for anything
    not a positive finite number. The one conversion behind the cost header and the usage counters, so
    the sum of the counters is the sum of what the clients were told."""
    if not math.isfinite(cost_usd) or cost_usd <= 0:
        return 0
    return int((Decimal(repr(cost_usd)) * 1_000_000).to_integral_value(rounding=ROUND_HALF_UP))


def format_cost(cost_usd: float) -> str:
    """US dollars as fixed-point text with exactly 6 decimals: whole micro-dollars (``micro_usd``). Never an
    exponent, never negative."""
    micro = micro_usd(cost_usd)
    return f"{micro // 1_000_000}.{micro % 1_000_000:06d}"


def cost_header(record: RequestRecord) -> dict[str, str]:
    """``{"x-aimux-cost-usd": "0.000123"}`` for a buffered answer (a stream's headers leave before its cost)."""
    return {COST_HEADER: format_cost(record.cost_usd)}
