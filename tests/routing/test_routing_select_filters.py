"""Selection, filtering the route: the capability filter (vision, tools, context window), health
(open circuits) and the errors when nothing is left, and session stickiness on the selection side.

Tables are built by hand (``select_helpers``) so each test states the configuration it relies on.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import pytest
from routing_conftest import make_request, make_table, target_of
from select_helpers import (
    DEEPSEEK,
    ENTRIES,
    GPT,
    GPT_KEY,
    IMAGE,
    NO_META,
    SONNET,
    SONNET_KEY,
    TINY,
    labels,
    select,
    table,
)

from aimux_core.errors import NotFound, Overloaded
from aimux_core.gateway import Gateway
from aimux_core.providers.base import RequestContext
from aimux_core.providers.mock import MockProvider
from aimux_core.routing.dispatch import Refusal, RetryPolicy
from aimux_core.routing.select import HealthView, RequestMeta, Resting
from aimux_core.routing.stickiness import sticky_order
from aimux_core.routing.table import RoutingTable, Target
from support.samples import BASH_TOOL

# --------------------------------------------------------------------------- capability filter


def test_vision_drops_targets_without_vision() -> None:
    request = make_request(model="claude-sonnet-4-5", messages=[{"role": "user", "content": [IMAGE]}])
    decision = select(request)
    assert decision.scenario == "vision" and decision.route == "default"
    assert labels(decision) == ["sonnet", "gpt"]
    assert decision.dropped == (("deepseek", "no vision"),)


def test_vision_in_a_tool_result_drops_targets_without_vision() -> None:
    messages = [
        {"role": "user", "content": "screenshot please"},
        {"role": "assistant", "content": [{"type": "tool_use", "id": "t1", "name": "Bash", "input": {}}]},
        {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "t1", "content": [IMAGE]}]},
    ]
    decision = select(make_request(model="deepseek", messages=messages, tools=[BASH_TOOL]))
    assert "deepseek" not in labels(decision)
    assert ("deepseek", "no vision") in decision.dropped


def test_tools_drop_targets_without_tools() -> None:
    decision = select(make_request(model="claude-haiku-4-5", tools=[BASH_TOOL]))
    assert labels(decision) == ["haiku"]
    assert decision.dropped == (("tiny", "no tools"),)


def test_context_window_drops_small_models_below_the_long_context_threshold() -> None:
    decision = select(make_request(model="claude-haiku-4-5"), tokens=50_000)
    assert decision.scenario == "background"
    assert decision.dropped == (("tiny", "context window 8000 < ~50000 tokens"),)


@pytest.mark.parametrize("key", ["anthropic/claude-sonnet-4-5", "anthropic"], ids=["target", "provider"])
def test_open_circuit_moves_the_target_last(key: str) -> None:
    """A target that is down stays as a last resort (dispatch falls back on it when nothing else
    can serve), behind every target that is up."""
    decision = select(make_request(), health=HealthView(open_circuits=frozenset({key})))
    assert labels(decision) == ["gpt", "deepseek", "sonnet"]
    assert decision.down == (("sonnet", "circuit open"),) and decision.dropped == ()
    assert "all targets down" not in decision.reason


def test_down_targets_are_ordered_soonest_to_recover_first() -> None:
    health = HealthView(
        open_circuits=frozenset({"deepseek"}),
        resting={SONNET_KEY: Resting("cooling down (rate limit)", 9.0), GPT_KEY: Resting("circuit open", 2.0)},
    )
    decision = select(make_request(), health=health)
    assert labels(decision) == ["gpt", "sonnet", "deepseek"], "known recoveries first, soonest first"
    assert decision.reason.endswith("; all targets down")


def test_targets_without_a_catalog_entry_are_only_filtered_by_health() -> None:
    raw = Target("local", "llama-3")
    routing = make_table(ENTRIES, {"default": [[raw], [SONNET]]})
    request = make_request(messages=[{"role": "user", "content": [IMAGE]}], tools=[BASH_TOOL])
    assert select(request, routing, tokens=900_000).targets[0] == raw
    shut = select(request, routing, health=HealthView(open_circuits=frozenset({"local"})))
    assert shut.down == (("local/llama-3", "circuit open"),) and shut.targets[-1] == raw


def gateway_for(routing: RoutingTable) -> Gateway:
    return Gateway({name: MockProvider() for name in routing.providers}, routing)


@pytest.mark.anyio
async def test_nothing_left_for_a_capability_is_a_named_error() -> None:
    routing = make_table([DEEPSEEK, TINY], {"default": [[DEEPSEEK], [TINY]]})
    request = make_request(messages=[{"role": "user", "content": [IMAGE]}])
    with pytest.raises(NotFound) as caught:
        await gateway_for(routing).decide(request, NO_META)
    assert "deepseek: no vision" in caught.value.message and "tiny: no vision" in caught.value.message


class ViewGuard:
    """A guard with a health snapshot, as the circuit breaker provides (``Gateway.health_view``), whose
    admission refuses the providers the snapshot shows open (unless forced, as an open circuit is)."""

    def __init__(self, view: HealthView) -> None:
        self._view = view
        self.forced: list[str] = []

    async def view(self, targets: Iterable[Target]) -> HealthView:
        return self._view

    async def acquire(self, target: Target, *, force: bool = False) -> Any:
        if target.provider not in self._view.open_circuits:
            return True
        if force:
            self.forced.append(target.provider)
            return True
        return Refusal("circuit open", retry_after=12.5)

    async def succeeded(self, *args: Any) -> None:
        return None

    async def failed(self, *args: Any) -> None:
        return None


@pytest.mark.anyio
async def test_every_circuit_open_still_tries_the_soonest_to_recover() -> None:
    """All targets down: not a 404 about the model, and not a refusal either: the request goes to the
    target that recovers soonest (``retry.when_all_down: try``), past its open circuit."""
    routing = make_table([SONNET, GPT], {"default": [[SONNET], [GPT]]})
    guard = ViewGuard(HealthView(open_circuits=frozenset({"anthropic", "openai"})))
    gateway = Gateway({"anthropic": MockProvider(), "openai": MockProvider()}, routing, guard=guard)
    decision = await gateway.decide(make_request(), NO_META)
    assert labels(decision) == ["sonnet", "gpt"] and decision.reason.endswith("; all targets down")
    _, served = await gateway.create(make_request(), RequestContext(request_id="req_t"), NO_META)
    assert served.target.provider == "anthropic" and guard.forced == ["anthropic"]
    assert len(served.outcome.attempts) == 1


@pytest.mark.anyio
async def test_every_circuit_open_is_refused_when_configured() -> None:
    """``retry.when_all_down: refuse``: 529 at once, with retry-after and x-aimux-attempts: 0."""
    routing = make_table([SONNET, GPT], {"default": [[SONNET], [GPT]]})
    guard = ViewGuard(HealthView(open_circuits=frozenset({"anthropic", "openai"})))
    policy = RetryPolicy(when_all_down="refuse")
    gateway = Gateway({"anthropic": MockProvider(), "openai": MockProvider()}, routing, guard=guard, policy=policy)
    with pytest.raises(Overloaded) as caught:
        await gateway.create(make_request(), RequestContext(request_id="req_r"), NO_META)
    assert caught.value.status == 529 and caught.value.retry_after == 13
    assert "sonnet: circuit open" in caught.value.message and "gpt: circuit open" in caught.value.message
    assert caught.value.headers["x-aimux-attempts"] == "0" and guard.forced == []


@pytest.mark.anyio
async def test_a_target_both_unfit_and_down_is_reported_unfit() -> None:
    """Capability is checked before health, so an open circuit on a target that could never serve
    the request does not turn a lasting 404 into a retryable 529."""
    routing = make_table([DEEPSEEK], {"default": [[DEEPSEEK]]})
    guard = ViewGuard(HealthView(open_circuits=frozenset({"deepseek"})))
    gateway = Gateway({"deepseek": MockProvider()}, routing, guard=guard)
    with pytest.raises(NotFound) as caught:
        await gateway.decide(make_request(messages=[{"role": "user", "content": [IMAGE]}]), NO_META)
    assert "deepseek: no vision" in caught.value.message


# --------------------------------------------------------------------------- session stickiness (selection side)

WEIGHTED = {"default": [[GPT, DEEPSEEK, SONNET]]}


def _session_first(first: str) -> str:
    """A session id whose rendezvous choice in ``WEIGHTED``'s tier is the entry labelled ``first``."""
    tier = [target_of(e) for e in (GPT, DEEPSEEK, SONNET)]
    return next(s for s in (f"session-{n}" for n in range(1000))
                if sticky_order(tier, s, lambda t: 1.0)[0].label == first)


@pytest.mark.parametrize("strategy", ["weighted", "round_robin"])
def test_a_session_gets_its_own_order_whatever_the_process_randomness(strategy: str) -> None:
    """Two selectors with different RNG seeds (two instances) order a session's tier the same way."""
    routing = table(WEIGHTED, strategy=strategy)
    meta = RequestMeta(session_id=_session_first("deepseek"))
    orders = {tuple(labels(select(make_request(), routing, meta=meta, seed=seed))) for seed in range(8)}
    assert len(orders) == 1 and next(iter(orders))[0] == "deepseek"
    assert select(make_request(), routing, meta=meta).header.endswith("; session sticky")


def test_without_a_session_a_weighted_tier_stays_random() -> None:
    routing = table(WEIGHTED, strategy="weighted")
    firsts = {labels(select(make_request(), routing, seed=seed))[0] for seed in range(30)}
    assert firsts == {"gpt", "deepseek", "sonnet"}


def test_a_sessions_target_with_an_open_circuit_gives_way_to_its_next_choice_only() -> None:
    """The down target's sessions move to their second choice (the down target stays, last, as a last
    resort); other sessions do not move."""
    routing = table(WEIGHTED, strategy="weighted")
    on_gpt, on_sonnet = RequestMeta(session_id=_session_first("gpt")), RequestMeta(session_id=_session_first("sonnet"))
    healthy = labels(select(make_request(), routing, meta=on_gpt))
    down = HealthView(open_circuits=frozenset({"openai"}))
    assert labels(select(make_request(), routing, meta=on_gpt, health=down)) == [*healthy[1:], healthy[0]]
    assert labels(select(make_request(), routing, meta=on_sonnet, health=down))[0] == "sonnet"


def test_priority_tiers_are_not_reordered_by_a_session() -> None:
    decision = select(make_request(), table(WEIGHTED), meta=RequestMeta(session_id=_session_first("sonnet")))
    assert labels(decision) == ["gpt", "deepseek", "sonnet"] and "sticky" not in decision.reason


def test_pinning_off_leaves_sessions_to_the_strategy() -> None:
    routing = table(WEIGHTED, strategy="weighted", session_pinning=False)
    meta = RequestMeta(session_id="s")
    firsts = {labels(select(make_request(), routing, meta=meta, seed=seed))[0] for seed in range(30)}
    assert len(firsts) > 1 and "sticky" not in select(make_request(), routing, meta=meta).reason
