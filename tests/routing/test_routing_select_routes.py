"""Selection, choosing the route: explicit choices (``provider/model``, an explicit provider), aliases
and model names, and scenario routes replacing the alias route.

Tables are built by hand (``select_helpers``) so each test states the configuration it relies on;
``Selector`` is driven directly, no gateway and no HTTP.
"""

from __future__ import annotations

import pytest
from routing_conftest import make_entry, make_request, make_table, target_of
from select_helpers import DEEPSEEK, GPT, IMAGE, SONNET, labels, select, table

from aimux_core.errors import NotFound
from aimux_core.routing.select import HealthView, RequestMeta
from aimux_core.routing.table import Target
from support.samples import BASH_TOOL

# --------------------------------------------------------------------------- explicit choices


def test_explicit_provider_slash_model() -> None:
    decision = select(make_request(model="openai/gpt-4.1"))
    assert decision.targets == (target_of(GPT),)
    assert (decision.route, decision.reason) == ("explicit", "model openai/gpt-4.1")
    assert decision.header == "explicit; route=explicit; model openai/gpt-4.1"


def test_explicit_provider_slash_unlisted_model_is_sent_as_named() -> None:
    decision = select(make_request(model="openai/gpt-5-preview"))
    assert decision.targets == (Target("openai", "gpt-5-preview"),)


def test_explicit_model_may_itself_contain_slashes() -> None:
    """``openrouter/meta-llama/llama-3``: the provider is the first segment, the rest is its model id."""
    router = make_entry("llama", "openrouter", "meta-llama/llama-3-70b")
    routing = make_table([SONNET, router], {"default": [[SONNET]]})
    decision = select(make_request(model="openrouter/meta-llama/llama-3-70b"), routing)
    assert decision.targets == (target_of(router),)


def test_slash_name_of_an_unconfigured_provider_is_just_a_name() -> None:
    """OpenRouter-style ids (``meta-llama/llama-3``) are model names: unknown ones use the default route."""
    decision = select(make_request(model="meta-llama/llama-3-70b"))
    assert decision.route == "default" and labels(decision) == ["sonnet", "gpt", "deepseek"]


def test_explicit_provider_with_one_of_its_models() -> None:
    decision = select(make_request(model="gpt"), meta=RequestMeta(explicit_provider="openai"))
    assert decision.targets == (target_of(GPT),)
    assert decision.reason == "provider openai"
    assert decision.header == "explicit; route=explicit; provider openai"


def test_explicit_provider_with_a_foreign_model_name_uses_the_providers_model() -> None:
    """``claude-sonnet-4-5`` sent to ``/v1/deepseek/messages``: the provider's own model serves it."""
    decision = select(make_request(model="claude-sonnet-4-5"), meta=RequestMeta(explicit_provider="deepseek"))
    assert decision.targets == (target_of(DEEPSEEK),)


def test_explicit_unknown_provider_is_404() -> None:
    with pytest.raises(NotFound) as caught:
        select(make_request(), meta=RequestMeta(explicit_provider="nope"))
    assert caught.value.param == "provider" and "nope" in caught.value.message


def test_explicit_choice_is_honoured_alone() -> None:
    """No silent substitution: no fallbacks, no capability filter, no stickiness, whatever the request."""
    request = make_request(model="deepseek/deepseek-chat", messages=[{"role": "user", "content": [IMAGE]}])
    decision = select(
        request,
        table(strategy="weighted"),
        meta=RequestMeta(session_id="s1"),
        health=HealthView(open_circuits=frozenset({"openai"})),
    )
    assert labels(decision) == ["deepseek"] and decision.dropped == ()
    assert decision.scenario == "vision"


# --------------------------------------------------------------------------- aliases and names


@pytest.mark.parametrize(
    ("model", "route", "first"),
    [
        ("claude-sonnet-4-5", "default", "sonnet"),
        ("claude-sonnet-4-5-20250929", "default", "sonnet"),
        ("claude-sonnet-5", "default", "sonnet"),
        ("claude-opus-4-1-20250805", "opus", "opus-4-1"),
        ("claude-opus-5-5", "opus", "opus-4-1"),
        ("claude-3-7-sonnet-latest", "default", "sonnet"),  # the catch-all claude-*
    ],
)
def test_claude_code_names_of_any_version_map_to_routes(model: str, route: str, first: str) -> None:
    decision = select(make_request(model=model))
    assert decision.route == route and labels(decision)[0] == first
    assert decision.reason.startswith("alias ")


def test_haiku_names_go_to_the_background_route() -> None:
    decision = select(make_request(model="claude-haiku-4-5-20251001"))
    assert (decision.scenario, decision.route) == ("background", "background")
    assert labels(decision) == ["haiku", "tiny"]


def test_alias_naming_a_model_puts_it_first_with_the_default_route_behind() -> None:
    decision = select(make_request(model="gpt-4o-mini"))
    assert labels(decision) == ["gpt", "sonnet", "deepseek"], "gpt once: listed first, then not repeated"
    assert decision.reason == "alias gpt-*->gpt; plain request"


def test_first_matching_alias_wins() -> None:
    routing = table(aliases=[("claude-*", "default"), ("claude-opus-*", "opus")])
    assert select(make_request(model="claude-opus-4-1"), routing).route == "default"


def test_unknown_name_uses_the_default_route() -> None:
    decision = select(make_request(model="mystery-model-9"))
    assert (decision.route, decision.reason) == ("default", "plain request")
    assert labels(decision) == ["sonnet", "gpt", "deepseek"]


def test_alias_to_a_missing_route_falls_back_to_default() -> None:
    routing = table(aliases=[("claude-*", "no-such-route")])
    assert select(make_request(model="claude-sonnet-4-5"), routing).route == "default"


@pytest.mark.parametrize("model", ["opus-4-1", "opus-latest"])
def test_catalog_id_or_entry_alias_names_itself_first(model: str) -> None:
    decision = select(make_request(model=model))
    assert labels(decision) == ["opus-4-1", "sonnet", "gpt", "deepseek"]
    assert decision.reason == f"model {model}; plain request"


def test_catalog_id_is_not_replaced_by_a_scenario_route() -> None:
    """A client naming a catalog model gets that model first even when a scenario route exists."""
    decision = select(make_request(model="gpt", thinking={"type": "adaptive"}))
    assert decision.scenario == "thinking" and labels(decision)[0] == "gpt"


# --------------------------------------------------------------------------- scenario routes


def test_scenario_route_replaces_the_alias_route() -> None:
    decision = select(make_request(model="claude-opus-4-1", thinking={"type": "adaptive"}, tools=[BASH_TOOL]))
    assert (decision.scenario, decision.route) == ("thinking", "thinking")
    assert labels(decision) == ["opus-4-1", "deepseek"]
    assert decision.header == "thinking; route=thinking; alias claude-opus-*->opus; thinking adaptive"


def test_scenario_without_a_route_keeps_the_alias_route() -> None:
    decision = select(make_request(model="claude-opus-4-1", tools=[BASH_TOOL]))
    assert (decision.scenario, decision.route) == ("tools", "opus")


def test_long_context_route_and_window_filter() -> None:
    decision = select(make_request(model="claude-sonnet-4-5"), tokens=150_000)
    assert (decision.scenario, decision.route) == ("long_context", "long_context")
    assert labels(decision) == ["big"]
    assert decision.dropped == (("tiny", "context window 8000 < ~150000 tokens"),)
