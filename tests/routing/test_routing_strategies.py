"""Strategies within a tier, measured as distributions over many draws with seeded randomness.

Each strategy is checked on ``order_tier`` directly (exact, cheap) and once through ``Selector``
(the route's strategy is the one used, and tiers never mix: a fallback tier stays behind).
"""

from __future__ import annotations

import itertools
import random
from collections import Counter
from collections.abc import Sequence

import pytest
from routing_conftest import make_entry, make_request, make_table, target_of

from aimux_core.routing import catalog as catalog_module
from aimux_core.routing.select import HealthView, RequestMeta, Selector
from aimux_core.routing.strategies import OrderingContext, RoundRobin, order_tier
from aimux_core.routing.table import Strategy, Target

DRAWS = 6_000
# chi-square critical values at p = 0.001 (a correct implementation fails 1 run in 1000 at most;
# the seeds are fixed, so in practice never)
CHI2_CRITICAL = {1: 10.83, 2: 13.82, 3: 16.27, 4: 18.47}


def ctx(
    seed: int = 0,
    *,
    latencies: dict[str, float] | None = None,
    input_tokens: int = 1_000,
    output_tokens: int = 1_000,
    rotation: RoundRobin | None = None,
    inflight: dict[str, int] | None = None,
) -> OrderingContext:
    view = HealthView(latencies_ms=latencies or {}, inflight=inflight or {})
    return OrderingContext(
        input_tokens=input_tokens,
        output_tokens=output_tokens,
        latency_ms=view.latency,
        rng=random.Random(seed),
        rotation=rotation or RoundRobin(),
        inflight=view.in_flight,
    )


def tier(*names: str, weights: Sequence[int] | None = None) -> list[Target]:
    weights = weights or [1] * len(names)
    return [target_of(make_entry(n, f"p-{n}", f"m-{n}", weight=w)) for n, w in zip(names, weights, strict=True)]


def names(targets: Sequence[Target]) -> list[str]:
    return [t.label for t in targets]


def chi_square(observed: Counter[str], expected: dict[str, float]) -> float:
    return sum((observed[k] - e) ** 2 / e for k, e in expected.items())


# --------------------------------------------------------------------------- priority


def test_priority_is_the_configured_order_every_time() -> None:
    targets = tier("a", "b", "c")
    context = ctx()
    orders = {tuple(names(order_tier(targets, "priority", context))) for _ in range(1_000)}
    assert orders == {("a", "b", "c")}


ALL = ["priority", "weighted", "round_robin", "cheapest", "lowest_latency", "least_connections"]


@pytest.mark.parametrize("strategy", ALL)
def test_every_strategy_returns_a_permutation_of_the_tier(strategy: Strategy) -> None:
    targets = tier("a", "b", "c", "d", weights=[1, 2, 3, 0])
    context = ctx(3, latencies={"p-b/m-b": 10.0})
    for _ in range(200):
        assert sorted(names(order_tier(targets, strategy, context))) == ["a", "b", "c", "d"]


@pytest.mark.parametrize("strategy", ALL)
def test_single_target_tier_is_itself(strategy: Strategy) -> None:
    only = tier("solo")
    assert order_tier(only, strategy, ctx()) == only


# --------------------------------------------------------------------------- weighted


@pytest.mark.parametrize("weights", [(1, 1, 1), (1, 2, 7), (5, 3, 2, 10)])
def test_weighted_first_choice_follows_the_weights(weights: tuple[int, ...]) -> None:
    labels = [f"t{i}" for i in range(len(weights))]
    targets = tier(*labels, weights=weights)
    context = ctx(42)
    firsts = Counter(order_tier(targets, "weighted", context)[0].label for _ in range(DRAWS))
    total = sum(weights)
    expected = {label: DRAWS * w / total for label, w in zip(labels, weights, strict=True)}
    statistic = chi_square(firsts, expected)
    assert statistic < CHI2_CRITICAL[len(weights) - 1], (firsts, expected)


def test_weighted_second_choice_is_weighted_among_the_rest() -> None:
    """Without replacement: given ``a`` (weight 6) first, ``b`` (3) precedes ``c`` (1) 3 times in 4."""
    targets = tier("a", "b", "c", weights=[6, 3, 1])
    context = ctx(7)
    seconds: Counter[str] = Counter()
    for _ in range(DRAWS):
        order = names(order_tier(targets, "weighted", context))
        if order[0] == "a":
            seconds[order[1]] += 1
    n = sum(seconds.values())
    assert chi_square(seconds, {"b": n * 0.75, "c": n * 0.25}) < CHI2_CRITICAL[1], seconds


def test_weight_zero_is_never_first_while_others_have_weight() -> None:
    targets = tier("on", "off", weights=[1, 0])
    context = ctx(1)
    assert {names(order_tier(targets, "weighted", context))[0] for _ in range(2_000)} == {"on"}
    assert all(names(order_tier(targets, "weighted", context))[1] == "off" for _ in range(100)), "kept as last resort"


def test_weighted_is_reproducible_with_a_seed() -> None:
    """Randomness is injected: the same seed gives the same sequence of orders (tests can pin it)."""
    targets = tier("a", "b", "c", weights=[1, 2, 3])

    def run(seed: int) -> list[list[str]]:
        context = ctx(seed)
        return [names(order_tier(targets, "weighted", context)) for _ in range(50)]

    assert run(9) == run(9)
    assert run(9) != run(10)


# --------------------------------------------------------------------------- round robin


def test_round_robin_rotates_exactly() -> None:
    targets = tier("a", "b", "c")
    context = ctx()
    orders = [names(order_tier(targets, "round_robin", context)) for _ in range(7)]
    assert orders == [
        ["a", "b", "c"], ["b", "c", "a"], ["c", "a", "b"],
        ["a", "b", "c"], ["b", "c", "a"], ["c", "a", "b"],
        ["a", "b", "c"],
    ]  # fmt: skip


def test_round_robin_spreads_first_choice_evenly() -> None:
    targets = tier("a", "b", "c", "d")
    context = ctx()
    firsts = Counter(order_tier(targets, "round_robin", context)[0].label for _ in range(1_000))
    assert firsts == {"a": 250, "b": 250, "c": 250, "d": 250}


def test_round_robin_counts_each_tier_separately() -> None:
    rotation = RoundRobin()
    one, two = tier("a", "b"), tier("x", "y", "z")
    context = ctx(rotation=rotation)
    got = [(order_tier(one, "round_robin", context)[0].label, order_tier(two, "round_robin", context)[0].label)
           for _ in range(3)]
    assert got == [("a", "x"), ("b", "y"), ("a", "z")]


# --------------------------------------------------------------------------- cheapest


def priced(name: str, input_price: float, output_price: float) -> Target:
    price_type = getattr(catalog_module, "Price", None)
    if price_type is None or "price" not in getattr(catalog_module.ModelEntry, "__dataclass_fields__", {}):
        pytest.skip("ModelEntry has no price yet (routing/catalog.py): the cheapest strategy cannot be measured")
    price = price_type(input=input_price, output=output_price, cache_read=input_price / 10,
                       cache_write=input_price * 1.25)
    return target_of(make_entry(name, f"p-{name}", f"m-{name}", price=price))


def test_cheapest_orders_by_expected_cost() -> None:
    targets = [priced("sonnet", 3, 15), priced("haiku", 1, 5), priced("opus", 15, 75)]
    orders = {tuple(names(order_tier(targets, "cheapest", ctx(s)))) for s in range(50)}
    assert orders == {("haiku", "sonnet", "opus")}, "deterministic, cheapest first"


def test_cheapest_depends_on_the_request_shape() -> None:
    """Cheap input but dear output vs. the reverse: the answer flips with the expected output size."""
    targets = [priced("cheap-in", 0.5, 20), priced("cheap-out", 4, 2)]
    reading = ctx(input_tokens=100_000, output_tokens=100)  # 0.05+0.002 vs 0.4+0.0002
    writing = ctx(input_tokens=100, output_tokens=50_000)  # 0.00005+1.0 vs 0.0004+0.1
    assert names(order_tier(targets, "cheapest", reading)) == ["cheap-in", "cheap-out"]
    assert names(order_tier(targets, "cheapest", writing)) == ["cheap-out", "cheap-in"]


def test_unpriced_targets_sort_after_priced_ones_in_their_order() -> None:
    unpriced = tier("free-a", "free-b")
    targets = [unpriced[0], priced("paid", 100, 100), unpriced[1]]
    assert names(order_tier(targets, "cheapest", ctx())) == ["paid", "free-a", "free-b"]


def test_cheapest_through_selection_uses_the_requests_max_tokens() -> None:
    a, b = priced("cheap-in", 0.5, 20), priced("cheap-out", 4, 2)
    assert a.entry is not None and b.entry is not None
    routing = make_table([a.entry, b.entry], {"default": [[a, b]]}, strategy="cheapest")
    selector = Selector(routing, rng=random.Random(0))
    short = selector.select(make_request(max_tokens=10), RequestMeta(), HealthView(), estimated_tokens=100_000)
    long = selector.select(make_request(max_tokens=64_000), RequestMeta(), HealthView(), estimated_tokens=100)
    assert names(short.targets) == ["cheap-in", "cheap-out"]
    assert names(long.targets) == ["cheap-out", "cheap-in"]


# --------------------------------------------------------------------------- lowest latency


def test_lowest_latency_orders_by_recent_latency() -> None:
    targets = tier("slow", "fast", "mid")
    latencies = {"p-slow/m-slow": 900.0, "p-fast/m-fast": 120.0, "p-mid/m-mid": 400.0}
    assert names(order_tier(targets, "lowest_latency", ctx(latencies=latencies))) == ["fast", "mid", "slow"]


def test_targets_without_latency_stats_follow_in_their_order() -> None:
    targets = tier("unknown-1", "slow", "unknown-2", "fast")
    latencies = {"p-slow/m-slow": 900.0, "p-fast/m-fast": 100.0}
    assert names(order_tier(targets, "lowest_latency", ctx(latencies=latencies))) == [
        "fast", "slow", "unknown-1", "unknown-2"
    ]


def test_equal_latencies_keep_the_configured_order() -> None:
    targets = tier("a", "b", "c")
    latencies = dict.fromkeys(("p-a/m-a", "p-b/m-b", "p-c/m-c"), 250.0)
    assert names(order_tier(targets, "lowest_latency", ctx(latencies=latencies))) == ["a", "b", "c"]


def test_lowest_latency_follows_the_health_snapshot_over_time() -> None:
    """As the snapshot changes the preferred target changes with it (no state in the strategy)."""
    targets = tier("a", "b")
    for a_ms, b_ms, first in [(100, 200, "a"), (300, 200, "b"), (150, 150, "a")]:
        latencies = {"p-a/m-a": float(a_ms), "p-b/m-b": float(b_ms)}
        assert order_tier(targets, "lowest_latency", ctx(latencies=latencies))[0].label == first


# --------------------------------------------------------------------------- through selection


def test_route_strategy_overrides_the_table_default_and_tiers_never_mix() -> None:
    """Round-robin within the first tier; the fallback tier is always last, however it would rank."""
    first = tier("a", "b", "c")
    fallback = tier("z")
    entries = [t.entry for t in [*first, *fallback] if t.entry is not None]
    routing = make_table(entries, {"default": [first, fallback]}, strategy="priority",
                         route_strategies={"default": "round_robin"})
    selector = Selector(routing, rng=random.Random(0))
    orders = [
        names(selector.select(make_request(), RequestMeta(), HealthView(), estimated_tokens=10).targets)
        for _ in range(6)
    ]
    assert [o[0] for o in orders] == ["a", "b", "c", "a", "b", "c"]
    assert all(o[-1] == "z" for o in orders)


def test_weighted_distribution_through_selection() -> None:
    targets = tier("heavy", "light", weights=[4, 1])
    fallback = tier("last")
    entries = [t.entry for t in [*targets, *fallback] if t.entry is not None]
    routing = make_table(entries, {"default": [targets, fallback]}, strategy="weighted")
    selector = Selector(routing, rng=random.Random(2024))
    firsts: Counter[str] = Counter()
    for _ in range(DRAWS):
        decision = selector.select(make_request(), RequestMeta(), HealthView(), estimated_tokens=10)
        assert decision.targets[-1].label == "last"
        firsts[decision.targets[0].label] += 1
    assert chi_square(firsts, {"heavy": DRAWS * 0.8, "light": DRAWS * 0.2}) < CHI2_CRITICAL[1], firsts


def test_lowest_latency_through_selection_reads_the_health_view() -> None:
    targets = tier("a", "b", "c")
    entries = [t.entry for t in targets if t.entry is not None]
    routing = make_table(entries, {"default": [targets]}, strategy="lowest_latency")
    selector = Selector(routing)
    view = HealthView(latencies_ms={"p-c/m-c": 50.0, "p-a/m-a": 80.0})
    decision = selector.select(make_request(), RequestMeta(), view, estimated_tokens=10)
    assert names(decision.targets) == ["c", "a", "b"]


def test_round_robin_is_fair_across_many_requests_of_many_tiers() -> None:
    """Interleaved routes do not disturb each other's rotation."""
    one, two = tier("a", "b"), tier("x", "y", "z")
    entries = [t.entry for t in [*one, *two] if t.entry is not None]
    routing = make_table(entries, {"default": [one], "tools": [two]}, strategy="round_robin")
    selector = Selector(routing)
    from support.samples import BASH_TOOL

    firsts: dict[str, Counter[str]] = {"default": Counter(), "tools": Counter()}
    for plain in itertools.islice(itertools.cycle([True, False, True]), 600):
        request = make_request() if plain else make_request(tools=[BASH_TOOL])
        decision = selector.select(request, RequestMeta(), HealthView(), estimated_tokens=10)
        firsts[decision.route][decision.targets[0].label] += 1
    assert firsts["default"] == {"a": 200, "b": 200}
    assert firsts["tools"] == {"x": 67, "y": 67, "z": 66}


# --------------------------------------------------------------------------- least connections


def test_least_connections_orders_by_requests_in_flight() -> None:
    """Fewest in flight first (counts per provider, fleet-wide); providers without a count go last."""
    targets = tier("a", "b", "c", "d")
    context = ctx(inflight={"p-a": 7, "p-b": 0, "p-c": 3})
    orders = {tuple(names(order_tier(targets, "least_connections", context))) for _ in range(200)}
    assert orders == {("b", "c", "a", "d")}


def test_least_connections_shuffles_ties() -> None:
    """Instances reading the same (slightly old) counts must not all pick the same target."""
    targets = tier("a", "b", "c")
    context = ctx(5, inflight={"p-a": 2, "p-b": 2, "p-c": 9})
    firsts = Counter(names(order_tier(targets, "least_connections", context))[0] for _ in range(DRAWS))
    assert set(firsts) == {"a", "b"}
    assert chi_square(firsts, {"a": DRAWS / 2, "b": DRAWS / 2}) < CHI2_CRITICAL[1]
