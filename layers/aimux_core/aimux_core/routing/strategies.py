"""Ordering the targets of one tier: priority, weighted, round-robin, cheapest, lowest latency,
least connections.

Each strategy is a function of the tier, the request's expected size and the health snapshot,
with randomness and rotation injected so tests can pin them. A request with a session is ordered by
``stickiness.sticky_order`` under ``weighted`` and ``round_robin``: the same target for every turn,
on every instance, with the tier's weights kept across sessions.

``least_connections`` orders by the requests in flight to each target's provider across the whole
fleet: the counts the provider concurrency leases keep in the state store (``limits.provider_caps``),
as the health view last saw them (refreshed by this process's own lease writes, and read with the
health snapshot every few seconds otherwise). Equal counts are shuffled, so instances that share a
slightly old view do not all pile onto the same target. It needs ``limits.max_concurrency`` on every
provider it orders (``config.checks``).
"""

from __future__ import annotations

import itertools
import random
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field

from .stickiness import sticky_order
from .table import Strategy, Target

STICKY_STRATEGIES: frozenset[Strategy] = frozenset({"weighted", "round_robin"})


@dataclass(slots=True)
class RoundRobin:
    """Per-process rotation counters, one per tier (keyed by the tier's target keys)."""

    _counters: dict[tuple[str, ...], itertools.count[int]] = field(default_factory=dict)

    def next(self, tier: Sequence[Target]) -> int:
        key = tuple(t.key for t in tier)
        counter = self._counters.setdefault(key, itertools.count())
        return next(counter)


@dataclass(frozen=True, slots=True)
class OrderingContext:
    input_tokens: int
    output_tokens: int
    latency_ms: Callable[[str], float | None]
    rng: random.Random
    rotation: RoundRobin
    inflight: Callable[[str], int | None] = lambda provider: None
    session: str | None = None  # a session to keep on one target (weighted, round_robin)


def _weight(target: Target) -> float:
    return float(target.entry.weight or 0) if target.entry is not None else 1.0


def _cost(target: Target, ctx: OrderingContext) -> float:
    """Expected USD for this request; unpriced targets sort last."""
    price = target.entry.price if target.entry is not None else None
    if price is None:
        return float("inf")
    cost: float = (ctx.input_tokens * price.input + ctx.output_tokens * price.output) / 1_000_000
    return cost


def _weighted(tier: Sequence[Target], ctx: OrderingContext) -> list[Target]:
    """Weighted random order without replacement (Efraimidis-Spirakis keys); a session's own order."""
    if ctx.session is not None:
        return sticky_order(tier, ctx.session, _weight)
    keyed = []
    for target in tier:
        weight = _weight(target)
        key = ctx.rng.random() ** (1.0 / weight) if weight > 0 else -1.0
        keyed.append((key, target))
    return [target for _, target in sorted(keyed, key=lambda pair: pair[0], reverse=True)]


def _round_robin(tier: Sequence[Target], ctx: OrderingContext) -> list[Target]:
    if ctx.session is not None:
        return sticky_order(tier, ctx.session, lambda target: 1.0)
    start = ctx.rotation.next(tier) % len(tier)
    return [*tier[start:], *tier[:start]]


def _lowest_latency(tier: Sequence[Target], ctx: OrderingContext) -> list[Target]:
    """Known latencies fastest first; targets without stats keep their order after them."""
    known = [(lat, i, t) for i, t in enumerate(tier) if (lat := ctx.latency_ms(t.key)) is not None]
    unknown = [t for t in tier if ctx.latency_ms(t.key) is None]
    return [t for _, _, t in sorted(known, key=lambda x: (x[0], x[1]))] + unknown


def _least_connections(tier: Sequence[Target], ctx: OrderingContext) -> list[Target]:
    """Fewest requests in flight (fleet-wide, per provider) first; ties in random order; unknown counts last."""
    keyed = []
    for target in tier:
        count = ctx.inflight(target.provider)
        keyed.append((float("inf") if count is None else count, ctx.rng.random(), target))
    return [target for *_, target in sorted(keyed, key=lambda item: (item[0], item[1]))]


_STRATEGIES: Mapping[Strategy, Callable[[Sequence[Target], OrderingContext], list[Target]]] = {
    "priority": lambda tier, ctx: list(tier),
    "weighted": _weighted,
    "round_robin": _round_robin,
    "cheapest": lambda tier, ctx: sorted(tier, key=lambda t: _cost(t, ctx)),
    "lowest_latency": _lowest_latency,
    "least_connections": _least_connections,
}


def order_tier(tier: Sequence[Target], strategy: Strategy, ctx: OrderingContext) -> list[Target]:
    if len(tier) <= 1:
        return list(tier)
    return _STRATEGIES[strategy](tier, ctx)
