"""Selection: explicit choices, aliases, scenario routes, the capability filter and the route header.

Tables are built by hand so each test states the configuration it relies on. The HTTP tests drive
the real surfaces (the official SDKs over loopback, real adapters on the fake upstreams) because
the explicit-choice inputs (path, header, ``backend``) only exist there, and because ``backend``
is an aimux-only field that must never reach an upstream.
"""

from __future__ import annotations

import json
import random
from collections.abc import Callable, Iterable
from typing import Any

import anthropic
import httpx
import openai
import pytest
from routing_conftest import (
    Stage,
    Upstreams,
    claude_code_record,
    make_entry,
    make_request,
    make_table,
    target_of,
)

from aimux_core.errors import NotFound, Overloaded
from aimux_core.gateway import Gateway
from aimux_core.providers.mock import MockProvider
from aimux_core.routing.catalog import ModelEntry
from aimux_core.routing.select import Decision, HealthView, RequestMeta, Selector
from aimux_core.routing.table import RoutingTable, Target
from fakes import Reply
from fakes.anthropic_upstream import AnthropicUpstream
from fakes.openai_upstream import OpenAIUpstream
from support.samples import BASH_TOOL, PNG_1X1

IMAGE = {"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": PNG_1X1}}
NO_META = RequestMeta()
GPT_KEY = "openai/gpt-4.1"
HEALTHY = HealthView()

SONNET = make_entry("sonnet", "anthropic", "claude-sonnet-4-5")
OPUS = make_entry("opus-4-1", "anthropic", "claude-opus-4-1", aliases=("opus-latest",))
HAIKU = make_entry("haiku", "anthropic", "claude-haiku-4-5")
GPT = make_entry("gpt", "openai", "gpt-4.1")
DEEPSEEK = make_entry("deepseek", "deepseek", "deepseek-chat", capabilities=frozenset({"tools", "thinking"}))
TINY = make_entry("tiny", "local", "tiny-1", capabilities=frozenset(), context_window=8_000)
BIG = make_entry("big", "gemini", "gemini-2.5-pro", context_window=1_000_000)
ENTRIES = [SONNET, OPUS, HAIKU, GPT, DEEPSEEK, TINY, BIG]
ALIASES = [
    ("claude-sonnet-*", "default"),
    ("claude-opus-*", "opus"),
    ("claude-haiku-*", "background"),
    ("gpt-*", "gpt"),  # a glob naming a catalog model, not a route
    ("claude-*", "default"),
]
ROUTES: dict[str, list[list[ModelEntry]]] = {
    "default": [[SONNET], [GPT, DEEPSEEK]],
    "opus": [[OPUS], [SONNET]],
    "background": [[HAIKU], [TINY]],
    "thinking": [[OPUS], [DEEPSEEK]],
    "long_context": [[BIG], [TINY]],
}


def table(routes: dict[str, list[list[ModelEntry]]] | None = None, **changes: Any) -> RoutingTable:
    return make_table(ENTRIES, routes if routes is not None else ROUTES, aliases=changes.pop("aliases", ALIASES),
                      **changes)


def select(
    request: Any,
    routing: RoutingTable | None = None,
    *,
    meta: RequestMeta = NO_META,
    health: HealthView = HEALTHY,
    tokens: int = 100,
    pinned: Callable[[str], str | None] | None = None,
) -> Decision:
    selector = Selector(routing or table(), rng=random.Random(1))
    if pinned is not None:
        selector.pinned = pinned
    return selector.select(request, meta, health, estimated_tokens=tokens)


def labels(decision: Decision) -> list[str]:
    return [t.label for t in decision.targets]


# --------------------------------------------------------------------------- explicit choices


def test_explicit_provider_slash_model() -> None:
    decision = select(make_request(model="openai/gpt-4.1"))
    assert decision.targets == (target_of(GPT),)
    assert (decision.route, decision.reason) == ("explicit", "explicit model openai/gpt-4.1")
    assert decision.header == "default; route=explicit; explicit model openai/gpt-4.1"


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
    assert decision.reason == "explicit provider openai"


def test_explicit_provider_with_a_foreign_model_name_uses_the_providers_model() -> None:
    """``claude-sonnet-4-5`` sent to ``/v1/deepseek/messages``: the provider's own model serves it."""
    decision = select(make_request(model="claude-sonnet-4-5"), meta=RequestMeta(explicit_provider="deepseek"))
    assert decision.targets == (target_of(DEEPSEEK),)


def test_explicit_unknown_provider_is_404() -> None:
    with pytest.raises(NotFound) as caught:
        select(make_request(), meta=RequestMeta(explicit_provider="nope"))
    assert caught.value.param == "provider" and "nope" in caught.value.message


def test_explicit_choice_is_honoured_alone() -> None:
    """No silent substitution: no fallbacks, no capability filter, no pin, whatever the request."""
    request = make_request(model="deepseek/deepseek-chat", messages=[{"role": "user", "content": [IMAGE]}])
    decision = select(
        request,
        meta=RequestMeta(session_id="s1"),
        health=HealthView(open_circuits=frozenset({"openai"})),
        pinned=lambda session: GPT_KEY,
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
def test_open_circuit_drops_the_target(key: str) -> None:
    decision = select(make_request(), health=HealthView(open_circuits=frozenset({key})))
    assert labels(decision) == ["gpt", "deepseek"]
    assert decision.dropped == (("sonnet", "circuit open"),)


def test_targets_without_a_catalog_entry_are_only_filtered_by_health() -> None:
    raw = Target("local", "llama-3")
    routing = make_table(ENTRIES, {"default": [[raw], [SONNET]]})
    request = make_request(messages=[{"role": "user", "content": [IMAGE]}], tools=[BASH_TOOL])
    assert select(request, routing, tokens=900_000).targets[0] == raw
    shut = select(request, routing, health=HealthView(open_circuits=frozenset({"local"})))
    assert shut.dropped[0] == ("local/llama-3", "circuit open")


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
    """A guard with a health snapshot, as the circuit breaker provides (``Gateway.health_view``)."""

    def __init__(self, view: HealthView) -> None:
        self._view = view

    async def view(self, targets: Iterable[Target]) -> HealthView:
        return self._view

    async def admit(self, target: Target) -> Any:
        return True

    async def succeeded(self, *args: Any) -> None:
        return None

    async def failed(self, *args: Any) -> None:
        return None


@pytest.mark.anyio
async def test_every_circuit_open_is_overloaded_not_not_found() -> None:
    """All targets down is a 529 with retry-after (the issue), not a 404 about the model."""
    routing = make_table([SONNET, GPT], {"default": [[SONNET], [GPT]]})
    guard = ViewGuard(HealthView(open_circuits=frozenset({"anthropic", "openai"})))
    gateway = Gateway({"anthropic": MockProvider(), "openai": MockProvider()}, routing, guard=guard)
    with pytest.raises(Overloaded) as caught:
        await gateway.decide(make_request(), NO_META)
    assert caught.value.status == 529 and caught.value.retry_after
    assert "circuit open" in caught.value.message


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


# --------------------------------------------------------------------------- session pins (selection side)


def test_pin_moves_the_sessions_target_first() -> None:
    decision = select(make_request(), meta=RequestMeta(session_id="s"), pinned=lambda s: GPT_KEY)
    assert labels(decision) == ["gpt", "sonnet", "deepseek"]
    assert decision.header.endswith("; session pinned")


def test_pin_to_a_dropped_target_is_ignored() -> None:
    decision = select(
        make_request(),
        meta=RequestMeta(session_id="s"),
        pinned=lambda s: GPT_KEY,
        health=HealthView(open_circuits=frozenset({"openai"})),
    )
    assert labels(decision) == ["sonnet", "deepseek"] and "pinned" not in decision.reason


def test_pinning_off_ignores_pins() -> None:
    decision = select(
        make_request(), table(session_pinning=False), meta=RequestMeta(session_id="s"), pinned=lambda s: GPT_KEY
    )
    assert labels(decision)[0] == "sonnet"


# --------------------------------------------------------------------------- through HTTP


CLAUDE = make_entry("claude", "anthropic", "claude-sonnet-4-5")
OPENAI_GPT = make_entry("gpt", "openai", "gpt-4.1")


@pytest.fixture
def two_dialects(
    anthropic_upstream: AnthropicUpstream, openai_upstream: OpenAIUpstream, upstreams: Upstreams, stage: Stage
) -> Callable[[str], str]:
    """``two_dialects(default_first)``: a served gateway (URL returned) with an ``anthropic`` and an
    ``openai`` provider on the fakes; the default route starts with ``default_first``."""
    anthropic_upstream.default = Reply(text="from the anthropic fake")
    openai_upstream.default = Reply(text="from the openai fake")

    def build(default_first: str) -> str:
        providers = {
            "anthropic": upstreams.provider("anthropic", "anthropic", anthropic_upstream.base_url),
            "openai": upstreams.provider("openai", "openai", openai_upstream.base_url),
        }
        order = [CLAUDE, OPENAI_GPT] if default_first == "anthropic" else [OPENAI_GPT, CLAUDE]
        routing = make_table([CLAUDE, OPENAI_GPT], {"default": [[order[0]], [order[1]]]})
        return stage.use(Gateway(providers, routing)).url

    return build


def anthropic_client(url: str) -> anthropic.Anthropic:
    return anthropic.Anthropic(base_url=url, api_key="sk-client", max_retries=0, timeout=10)


def openai_client(base_url: str) -> openai.OpenAI:
    return openai.OpenAI(base_url=base_url, api_key="sk-client", max_retries=0, timeout=10)


MESSAGES = [{"role": "user", "content": "which one are you"}]
ROUTING_HEADERS = ("x-aimux-provider", "x-aimux-model", "x-aimux-route", "x-aimux-attempts", "x-request-id")


def assert_served(headers: Any, provider: str, model: str, route: str) -> None:
    for name in ROUTING_HEADERS:
        assert headers.get(name), f"missing {name}"
    assert headers["x-aimux-provider"] == provider
    assert headers["x-aimux-model"] == model
    assert headers["x-aimux-route"].startswith(route), headers["x-aimux-route"]
    assert headers["x-aimux-attempts"] == "1"


@pytest.mark.timeout(20)
def test_path_names_the_provider_for_messages(
    two_dialects: Callable[[str], str], anthropic_upstream: AnthropicUpstream, openai_upstream: OpenAIUpstream
) -> None:
    url = two_dialects("anthropic")
    response = httpx.post(
        f"{url}/v1/openai/messages",
        headers={"x-api-key": "sk-client", "anthropic-version": "2023-06-01"},
        json={"model": "claude-sonnet-4-5", "max_tokens": 64, "messages": MESSAGES},
        timeout=10,
    )
    assert response.status_code == 200, response.text
    assert_served(response.headers, "openai", "gpt-4.1", "default; route=explicit; explicit provider openai")
    assert response.json()["content"][0]["text"] == "from the openai fake"
    assert openai_upstream.last_request.json["model"] == "gpt-4.1"
    assert anthropic_upstream.requests == []


@pytest.mark.timeout(20)
def test_path_names_the_provider_for_chat_completions(
    two_dialects: Callable[[str], str], anthropic_upstream: AnthropicUpstream
) -> None:
    url = two_dialects("openai")
    raw = openai_client(f"{url}/v1/anthropic").chat.completions.with_raw_response.create(
        model="gpt-4.1", messages=MESSAGES
    )
    assert_served(raw.headers, "anthropic", "claude-sonnet-4-5", "default; route=explicit")
    assert raw.parse().choices[0].message.content == "from the anthropic fake"
    assert anthropic_upstream.last_request.json["model"] == "claude-sonnet-4-5"


@pytest.mark.timeout(20)
def test_unknown_provider_in_the_path_is_404(two_dialects: Callable[[str], str]) -> None:
    url = two_dialects("anthropic")
    response = httpx.post(
        f"{url}/v1/nowhere/messages",
        headers={"x-api-key": "sk-client"},
        json={"model": "claude-sonnet-4-5", "max_tokens": 64, "messages": MESSAGES},
        timeout=10,
    )
    assert response.status_code == 404
    assert response.json()["error"]["type"] == "not_found_error"
    assert "nowhere" in response.json()["error"]["message"]


@pytest.mark.timeout(20)
@pytest.mark.parametrize("stream", [False, True], ids=["non-stream", "stream"])
def test_header_names_the_provider(two_dialects: Callable[[str], str], stream: bool) -> None:
    url = two_dialects("anthropic")
    client = anthropic_client(url)
    fields: dict[str, Any] = {
        "model": "claude-sonnet-4-5", "max_tokens": 64, "messages": MESSAGES,
        "extra_headers": {"x-aimux-provider": "openai"},
    }
    if stream:
        with client.messages.with_streaming_response.create(stream=True, **fields) as response:
            headers = response.headers
            response.read()
    else:
        headers = client.messages.with_raw_response.create(**fields).headers
    assert_served(headers, "openai", "gpt-4.1", "default; route=explicit; explicit provider openai")


@pytest.mark.timeout(20)
@pytest.mark.parametrize("stream", [False, True], ids=["non-stream", "stream"])
@pytest.mark.parametrize(("default_first", "backend"), [("anthropic", "openai"), ("openai", "anthropic")])
def test_backend_field_names_the_provider_and_never_reaches_the_upstream(
    two_dialects: Callable[[str], str],
    anthropic_upstream: AnthropicUpstream,
    openai_upstream: OpenAIUpstream,
    default_first: str,
    backend: str,
    stream: bool,
) -> None:
    url = two_dialects(default_first)
    client = anthropic_client(url)
    if stream:
        with client.messages.with_streaming_response.create(
            model="claude-sonnet-4-5", max_tokens=64, messages=MESSAGES, stream=True, extra_body={"backend": backend}
        ) as response:
            headers = response.headers
            response.read()
    else:
        raw = client.messages.with_raw_response.create(
            model="claude-sonnet-4-5", max_tokens=64, messages=MESSAGES, extra_body={"backend": backend}
        )
        headers = raw.headers
    assert headers["x-aimux-provider"] == backend
    fake = anthropic_upstream if backend == "anthropic" else openai_upstream
    assert len(fake.requests) == 1
    assert "backend" not in fake.last_request.json, "an aimux-only field leaked to the upstream"


@pytest.mark.timeout(20)
def test_backend_field_works_for_openai_clients(
    two_dialects: Callable[[str], str], anthropic_upstream: AnthropicUpstream
) -> None:
    url = two_dialects("openai")
    raw = openai_client(f"{url}/v1").chat.completions.with_raw_response.create(
        model="gpt-4.1", messages=MESSAGES, extra_body={"backend": "anthropic"}
    )
    assert raw.headers["x-aimux-provider"] == "anthropic"
    assert "backend" not in anthropic_upstream.last_request.json


@pytest.mark.timeout(20)
def test_header_beats_backend_and_backend_still_never_leaks(
    two_dialects: Callable[[str], str], anthropic_upstream: AnthropicUpstream
) -> None:
    """Path > header > body; whichever wins, the body's ``backend`` is removed before any upstream."""
    url = two_dialects("openai")
    raw = anthropic_client(url).messages.with_raw_response.create(
        model="claude-sonnet-4-5",
        max_tokens=64,
        messages=MESSAGES,
        extra_headers={"x-aimux-provider": "anthropic"},
        extra_body={"backend": "openai"},
    )
    assert raw.headers["x-aimux-provider"] == "anthropic"
    assert "backend" not in anthropic_upstream.last_request.json


@pytest.mark.timeout(20)
def test_path_beats_header(two_dialects: Callable[[str], str]) -> None:
    url = two_dialects("anthropic")
    response = httpx.post(
        f"{url}/v1/openai/messages",
        headers={"x-api-key": "sk-client", "x-aimux-provider": "anthropic"},
        json={"model": "claude-sonnet-4-5", "max_tokens": 64, "messages": MESSAGES},
        timeout=10,
    )
    assert response.headers["x-aimux-provider"] == "openai"


@pytest.mark.timeout(20)
def test_provider_slash_model_through_http(
    two_dialects: Callable[[str], str], openai_upstream: OpenAIUpstream
) -> None:
    url = two_dialects("anthropic")
    raw = anthropic_client(url).messages.with_raw_response.create(
        model="openai/gpt-4.1-mini", max_tokens=64, messages=MESSAGES
    )
    assert_served(raw.headers, "openai", "gpt-4.1-mini", "default; route=explicit; explicit model openai/gpt-4.1-mini")
    assert raw.parse().model == "openai/gpt-4.1-mini", "the client's model name comes back"
    assert openai_upstream.last_request.json["model"] == "gpt-4.1-mini"


@pytest.mark.timeout(20)
@pytest.mark.parametrize("stream", [False, True], ids=["non-stream", "stream"])
def test_openai_surface_carries_the_routing_headers(two_dialects: Callable[[str], str], stream: bool) -> None:
    url = two_dialects("anthropic")
    client = openai_client(f"{url}/v1")
    if stream:
        with client.chat.completions.with_streaming_response.create(
            model="claude-sonnet-4-5", messages=MESSAGES, stream=True
        ) as response:
            assert_served(response.headers, "anthropic", "claude-sonnet-4-5", "default; route=default; plain request")
    else:
        raw = client.chat.completions.with_raw_response.create(model="claude-sonnet-4-5", messages=MESSAGES)
        assert_served(raw.headers, "anthropic", "claude-sonnet-4-5", "default; route=default; plain request")


# --------------------------------------------------------------------------- Claude Code's requests on the wire


def named_mock(name: str) -> MockProvider:
    provider = MockProvider()
    provider.name = name
    return provider


@pytest.fixture
def scenario_gateway(stage: Stage) -> str:
    """Mock providers named after the routes they serve, so the header shows where a request went."""
    entries = [make_entry(f"{name}-model", name) for name in ("main", "bg", "think")]
    main, bg, think = entries
    routing = make_table(
        entries,
        {"default": [[main]], "background": [[bg]], "thinking": [[think]]},
        aliases=[("claude-opus-*", "default")],
    )
    return stage.use(Gateway({e.provider: named_mock(e.provider) for e in entries}, routing)).url


@pytest.mark.timeout(20)
@pytest.mark.parametrize(
    ("name", "route", "provider"),
    [
        ("request_title_background", "background; route=background; alias claude-opus-*->default; small structured",
         "bg"),
        ("request_tool_turn1", "thinking; route=thinking; alias claude-opus-*->default; thinking adaptive", "think"),
        ("request_tool_turn2", "thinking; route=thinking; alias claude-opus-*->default; thinking adaptive", "think"),
    ],
)
def test_claude_code_requests_are_routed_by_scenario(
    scenario_gateway: str, name: str, route: str, provider: str
) -> None:
    """The recorded requests, headers and all, replayed to the gateway: the route header tells the story."""
    record = claude_code_record(name)
    headers = {k: v for k, v in record["headers"].items() if k.lower() not in ("host", "content-length")}
    response = httpx.post(
        f"{scenario_gateway}{record['path']}",
        params=record["query"],
        headers=headers,
        content=json.dumps(record["body"]),
        timeout=10,
    )
    assert response.status_code == 200, response.text[:500]
    assert response.headers["x-aimux-route"].startswith(route), response.headers["x-aimux-route"]
    assert response.headers["x-aimux-provider"] == provider


# --------------------------------------------------------------------------- the route header on the wire


@pytest.fixture
def mock_gateway(stage: Stage) -> str:
    """Mock providers only: ``mock`` in the default route, so any model name gets an answer."""
    entry = make_entry("mock-model", "mock")
    return stage.use(Gateway({"mock": MockProvider()}, make_table([entry], {"default": [[entry]]}))).url


@pytest.mark.timeout(20)
@pytest.mark.parametrize(
    ("model", "escaped"),
    [
        ("claude-haiku-\u2713", "claude-haiku-\\u2713"),  # not Latin-1: would be a 500
        ("claude-haiku-caf\u00e9", "claude-haiku-caf\\xe9"),  # Latin-1 but not ASCII
        ("mock/line\r\nx-injected: 1", "line\\r\\nx-injected: 1"),  # CR/LF: would drop the connection
    ],
)
def test_client_model_names_in_routing_headers_are_escaped(mock_gateway: str, model: str, escaped: str) -> None:
    """The client's model name reaches ``x-aimux-route`` / ``x-aimux-model``; whatever it contains, the
    answer must still be a well-formed HTTP response."""
    response = httpx.post(
        f"{mock_gateway}/v1/messages",
        headers={"x-api-key": "sk-client"},
        json={"model": model, "max_tokens": 32, "messages": MESSAGES},
        timeout=10,
    )
    assert response.status_code == 200, response.text[:300]
    routing = response.headers["x-aimux-route"] + " " + response.headers["x-aimux-model"]
    assert escaped in routing
    assert "x-injected" not in response.headers
    assert response.json()["model"] == model, "the body keeps the exact name"
