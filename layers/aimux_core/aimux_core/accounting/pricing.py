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
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal

from ..routing.catalog import Price
from ..wire.anthropic import Usage

__all__ = ["CostBreakdown", "cost_breakdown", "cost_micro_usd", "cost_usd"]

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


def _rate(price_per_million: float) -> Decimal:
    """USD per million tokens == micro-dollars per token; ``str`` keeps the decimal the config spelled."""
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
