"""What one answer cost, from its usage and the model's list price.

Prices are USD per million tokens, so a price is also exactly *micro-dollars per token*: the cost of a
request in micro-dollars is ``sum(tokens_i * price_i)`` with no scaling at all. aimux stores money only
as integer micro-dollars (spend items, budgets); the sum is computed in ``Decimal`` from the prices'
decimal spelling (``0.3`` stays 0.3, not 0.29999…) and rounded **half up, once per request**, to whole
micro-dollars. The rounding error is below half a micro-dollar per request, i.e. below $0.50 per million
requests, and never accumulates across the four token kinds.

Anthropic usage counts four disjoint kinds of tokens, each at its own rate:

- ``input_tokens``: uncached input (it excludes cache reads and cache writes),
- ``cache_creation_input_tokens``: input written to the prompt cache (``Price.cache_write``),
- ``cache_read_input_tokens``: input read from the prompt cache (``Price.cache_read``),
- ``output_tokens``: output, thinking included.

An unpriced model (``price is None``, e.g. the mock or a ``provider/model`` target without a catalog
entry) costs 0: its spend is not counted and budgets do not see it. ``cost_breakdown(...).priced`` says
so, for the log line and metrics.

Worst case, before the call (``worst_case_micro_usd``): what a budget reserves. Every input token is
priced at the dearest input rate that can apply to it: the plain input rate, the cache-read rate, and,
when the request marks anything with ``cache_control`` (``uses_prompt_cache``), the cache-write rate
(a cache write costs more than plain input: 1.25x for Anthropic's 5-minute cache). Output is
``max_tokens`` at the output rate (thinking is part of it). The sum is rounded **up**, so the cost
settled afterwards (rounded half up from fewer or as many tokens at rates no higher) never exceeds it;
the one exception is an input estimate below the real count (``accounting/tokens.py``: within about
10% on English and JSON, rougher on other scripts), by that difference at the input rate.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import ROUND_CEILING, ROUND_HALF_UP, Decimal
from functools import lru_cache
from typing import Any

from ..wire.anthropic import MessagesRequest, ToolResultBlock, Usage

__all__ = [
    "CostBreakdown",
    "Price",
    "batch_price",
    "cache_savings_usd",
    "cost_breakdown",
    "cost_micro_usd",
    "cost_usd",
    "uses_prompt_cache",
    "worst_case_micro_usd",
]


@dataclass(frozen=True, slots=True)
class Price:
    """List price in USD per million tokens; cache reads and writes have their own rates.

    ``batch``: the fraction of every rate a provider's batch API charges (Anthropic Message Batches,
    OpenAI Batch and Bedrock batch inference: half); ``batch_price`` applies it.
    """

    input: float
    output: float
    cache_read: float
    cache_write: float
    batch: float = 0.5


_MILLION = Decimal(1_000_000)


@dataclass(frozen=True, slots=True)
class CostBreakdown:
    """The exact (unrounded) cost of one answer in micro-dollars, by token kind."""

    input: Decimal
    output: Decimal
    cache_read: Decimal
    cache_write: Decimal
    priced: bool

    @property
    def exact_micro_usd(self) -> Decimal:
        return self.input + self.output + self.cache_read + self.cache_write

    @property
    def micro_usd(self) -> int:
        """Whole micro-dollars, rounded half up (the amount spend accounting stores)."""
        return int(self.exact_micro_usd.to_integral_value(rounding=ROUND_HALF_UP))


@lru_cache(maxsize=1024, typed=True)
def _rate(price_per_million: float) -> Decimal:
    """USD per million tokens == micro-dollars per token; ``str`` keeps the decimal the config spelled.

    Cached (a ``Decimal`` is immutable): a request prices its tokens several times (its cost, the cache
    saving, its spend) from the few prices of the catalog, and each parse cost about a microsecond.
    """
    rate = Decimal(str(price_per_million))
    if not rate.is_finite() or rate < 0:
        raise ValueError(f"a price must be a finite, non-negative number, got {price_per_million!r}")
    return rate


def _count(value: int | None) -> Decimal:
    if value is None:
        return Decimal(0)
    if value < 0:
        raise ValueError(f"token counts are non-negative, got {value!r}")
    return Decimal(value)


_ZERO = Decimal(0)


def cost_breakdown(usage: Usage, price: Price | None) -> CostBreakdown:
    """Each token kind at its own rate; all zero (``priced=False``) when the model has no price."""
    if price is None:
        return CostBreakdown(_ZERO, _ZERO, _ZERO, _ZERO, priced=False)
    return CostBreakdown(
        input=_count(usage.input_tokens) * _rate(price.input),
        output=_count(usage.output_tokens) * _rate(price.output),
        cache_read=_count(usage.cache_read_input_tokens) * _rate(price.cache_read),
        cache_write=_count(usage.cache_creation_input_tokens) * _rate(price.cache_write),
        priced=True,
    )


def cost_micro_usd(usage: Usage, price: Price | None) -> int:
    """The request's cost in whole micro-dollars (half up, once per request); 0 when unpriced."""
    return cost_breakdown(usage, price).micro_usd


def cost_usd(usage: Usage, price: Price | None) -> float:
    """The request's exact cost in USD (unrounded, for logs and metrics); 0.0 when unpriced."""
    return float(cost_breakdown(usage, price).exact_micro_usd / _MILLION)


def batch_price(price: Price | None) -> Price | None:
    """``price`` as a provider's batch API bills it: every rate times ``price.batch`` (exact in decimal,
    so 0.3 at half is 0.15, not 0.15000000000000002)."""
    if price is None:
        return None
    factor = Decimal(str(price.batch))

    def scaled(rate: float) -> float:
        return float(_rate(rate) * factor)

    return Price(
        input=scaled(price.input),
        output=scaled(price.output),
        cache_read=scaled(price.cache_read),
        cache_write=scaled(price.cache_write),
        batch=1.0,
    )


def cache_savings_usd(cache_read_tokens: int, cache_write_tokens: int, price: Price | None) -> float:
    """What prompt caching saved on an answer, in USD, against the same tokens uncached; negative when
    the answer paid a write premium it has not yet earned back.

    ``cache_read_tokens x (input - cache_read) - cache_write_tokens x (cache_write - input)``: a cache read
    costs the read rate instead of the input rate, a cache write costs the write rate instead of it.
    Summed over a conversation (or a metric period) it is the net saving of caching. The write rate is
    the configured ``cache_write`` (set it to the 1-hour rate when that TTL is used). 0 when the model is
    unpriced, or its cache rates are not configured (they default to the input rate).
    """
    if price is None or not (cache_read_tokens or cache_write_tokens):
        return 0.0
    base = _rate(price.input)
    read = _count(cache_read_tokens) * (base - _rate(price.cache_read))
    write = _count(cache_write_tokens) * (_rate(price.cache_write) - base)
    return float((read - write) / _MILLION)


def worst_case_micro_usd(input_tokens: int, max_output_tokens: int, price: Price | None, *, cache_writes: bool) -> int:
    """The most a request can cost in whole micro-dollars (rounded up); 0 when unpriced.

    ``input_tokens`` is the input estimate, ``max_output_tokens`` the request's ``max_tokens`` (the
    default the gateway applied when the client sent none), ``cache_writes`` whether the request asks
    for prompt caching (then input may be billed at the cache-write rate).
    """
    if price is None:
        return 0
    input_rate = max(_rate(price.input), _rate(price.cache_read))
    if cache_writes:
        input_rate = max(input_rate, _rate(price.cache_write))
    exact = _count(input_tokens) * input_rate + _count(max_output_tokens) * _rate(price.output)
    return int(exact.to_integral_value(rounding=ROUND_CEILING))


def uses_prompt_cache(request: MessagesRequest) -> bool:
    """True when any part of the request carries ``cache_control`` (top level, system, tools, messages)."""
    if request.cache_control is not None:
        return True
    if isinstance(request.system, list) and _any_marked(request.system):
        return True
    if request.tools and _any_marked(request.tools):
        return True
    return any(isinstance(message.content, list) and _any_marked(message.content) for message in request.messages)


def _any_marked(parts: list[Any]) -> bool:
    for part in parts:
        if getattr(part, "cache_control", None) is not None:
            return True
        if isinstance(part, ToolResultBlock) and isinstance(part.content, list) and _any_marked(part.content):
            return True  # a tool result's own blocks
    return False
