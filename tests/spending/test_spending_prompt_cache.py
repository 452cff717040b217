"""Automatic prompt caching over real HTTP: an OpenAI-SDK client (no breakpoints of its own) drives a
multi-turn coding conversation (the recorded Claude Code shapes) through the gateway to a fake
Anthropic upstream that bills cache writes and reads as Anthropic does (``fakes/prompt_cache.py``).

What must hold: every turn reads the whole prefix the previous turn wrote; the conversation costs less
than with caching off; the ``cache_savings_usd`` the gateway reports per request adds up to exactly that
difference; a client's own breakpoints reach the upstream untouched; ``multi_turn`` and ``off`` (per
provider or route) do what they say; Bedrock gets ``cachePoint`` blocks with the same effect.
"""

from __future__ import annotations

import itertools
import json
from collections.abc import Iterator
from decimal import Decimal
from typing import Any

import anthropic
import openai
import pytest

from aimux_core.settings import Settings
from fakes import AnthropicUpstream, BedrockUpstream, Reply
from fakes.prompt_cache import CacheUsage, PromptCacheModel
from support.coding_session import anthropic_body, replay_openai, script_tool_loop
from support.config_gateway import ServedConfig, serve_config

pytestmark = pytest.mark.timeout(60)

KEY_ENV = {"SPEND_ANTHROPIC_KEY": "sk-" + "ant-spending-upstream-0001"}
PRICE = {"input": 3, "output": 15, "cache_read": 0.3, "cache_write": 3.75}  # Claude Sonnet 4.5, USD per million
TURNS = 6


def document(
    base_url: str,
    *,
    provider: dict[str, Any] | None = None,
    route: dict[str, Any] | None = None,
    dialect: str = "anthropic",
) -> dict[str, Any]:
    if dialect == "bedrock":
        upstream = {"preset": "bedrock", "region": "us-east-1", "endpoint_url": base_url}
        model = "us.anthropic.claude-sonnet-4-5-20250929-v1:0"
    else:
        upstream = {"preset": "anthropic", "base_url": base_url, "api_key_env": "SPEND_ANTHROPIC_KEY"}
        model = "claude-sonnet-4-5-20250929"
    return {
        "providers": {"up": {**upstream, **(provider or {})}},
        "models": {"claude-sonnet-4-5": {"provider": "up", "upstream_model": model, "context_window": 200_000,
                                         "max_output": 64_000, "price": PRICE}},
        "routes": {"default": {"tiers": [["claude-sonnet-4-5"]], **(route or {})}},
    }  # fmt: skip


@pytest.fixture
def cached_upstream() -> Iterator[AnthropicUpstream]:
    with AnthropicUpstream(prompt_cache=PromptCacheModel(min_tokens=1024)) as fake:
        yield fake
        fake.raise_for_errors()


def openai_client(served: ServedConfig) -> openai.OpenAI:
    return openai.OpenAI(base_url=f"{served.url}/v1", api_key="sk-client", max_retries=0, timeout=20)


def cost(history: list[CacheUsage], output_tokens: int) -> Decimal:
    """USD at ``PRICE`` of the billed input (per the fake) plus the output."""
    total = Decimal(0)
    for usage in history:
        total += (usage.input_tokens * Decimal(PRICE["input"]) + usage.cache_read_input_tokens
                  * Decimal(str(PRICE["cache_read"])) + usage.cache_creation_input_tokens
                  * Decimal(str(PRICE["cache_write"])))  # fmt: skip
    return (total + output_tokens * Decimal(PRICE["output"])) / 1_000_000


def request_lines(out: str) -> list[dict[str, Any]]:
    return [line for line in map(json.loads, (x for x in out.splitlines() if x.startswith("{")))
            if line.get("message") == "request"]  # fmt: skip


def markers(body: dict[str, Any]) -> int:
    return json.dumps(body).count('"cache_control"')


# --------------------------------------------------------------------------- the saving


def test_every_turn_reads_what_the_previous_turn_wrote(cached_upstream: AnthropicUpstream) -> None:
    script_tool_loop(cached_upstream, TURNS)
    with serve_config(document(cached_upstream.base_url), KEY_ENV) as served:
        usages = replay_openai(openai_client(served), TURNS)
    history = cached_upstream.prompt_cache.history  # type: ignore[union-attr]
    assert len(history) == TURNS + 1
    assert history[0].cache_read_input_tokens == 0 and history[0].cache_creation_input_tokens > 5_000
    for before, now in itertools.pairwise(history):
        assert now.cache_read_input_tokens == before.cache_read_input_tokens + before.cache_creation_input_tokens
        assert 0 < now.cache_creation_input_tokens < before.cache_read_input_tokens + before.cache_creation_input_tokens
    for usage, billed in zip(usages, history, strict=True):  # what the OpenAI client sees
        assert usage.prompt_tokens_details.cached_tokens == billed.cache_read_input_tokens
        assert (
            usage.prompt_tokens
            == billed.input_tokens + billed.cache_read_input_tokens + billed.cache_creation_input_tokens
        )
    bodies = [r.json for r in cached_upstream.message_requests]
    assert all(markers(b) == 4 for b in bodies[1:]) and markers(bodies[0]) == 3  # tools, system, (previous,) last


def test_caching_costs_less_and_the_reported_savings_are_the_difference(
    cached_upstream: AnthropicUpstream, capsys: pytest.CaptureFixture[str]
) -> None:
    outputs = 60 * TURNS + 200
    script_tool_loop(cached_upstream, TURNS)
    emf = Settings.from_env({"AIMUX_EMF": "1"})
    with serve_config(document(cached_upstream.base_url), KEY_ENV, settings=emf) as served:
        replay_openai(openai_client(served), TURNS)
    with_caching = cost(cached_upstream.prompt_cache.history, outputs)  # type: ignore[union-attr]
    out = capsys.readouterr().out
    lines = request_lines(out)
    emf = [doc for doc in map(json.loads, (x for x in out.splitlines() if x.startswith("{"))) if "_aws" in doc]
    assert [doc["CacheSavingsUSD"] for doc in emf] == [[line["cache_savings_usd"]] for line in lines]

    with AnthropicUpstream(prompt_cache=PromptCacheModel(min_tokens=1024)) as plain:
        script_tool_loop(plain, TURNS)
        with serve_config(document(plain.base_url, provider={"prompt_caching": "off"}), KEY_ENV) as served:
            replay_openai(openai_client(served), TURNS)
        without = cost(plain.prompt_cache.history, outputs)  # type: ignore[union-attr]
        assert all(markers(r.json) == 0 for r in plain.message_requests)
        assert all(u.cache_read_input_tokens == u.cache_creation_input_tokens == 0 for u in plain.prompt_cache.history)  # type: ignore[union-attr]
    assert with_caching < without * Decimal("0.5"), (with_caching, without)
    assert len(lines) == TURNS + 1
    reported = sum(Decimal(str(line["cache_savings_usd"])) for line in lines)
    assert abs(reported - (without - with_caching)) < Decimal("0.000001"), (reported, without - with_caching)
    assert Decimal(str(lines[0]["cache_savings_usd"])) < 0, "the first turn pays the write premium"
    assert abs(sum(Decimal(str(line["cost_usd"])) for line in lines) - with_caching) < Decimal("0.000001")


def test_a_clients_own_breakpoints_reach_the_upstream_untouched(cached_upstream: AnthropicUpstream) -> None:
    body = anthropic_body(2)
    body["system"] = [{"type": "text", "text": body["system"], "cache_control": {"type": "ephemeral"}}]
    with serve_config(document(cached_upstream.base_url), KEY_ENV) as served:
        client = anthropic.Anthropic(base_url=served.url, api_key="sk-client", max_retries=0, timeout=20)
        client.messages.create(**body)
    sent = cached_upstream.last_request.json
    assert markers(sent) == 1 and sent["system"] == body["system"]
    assert sent["messages"] == body["messages"] and sent["tools"] == body["tools"]


def test_multi_turn_mode_leaves_single_requests_alone(cached_upstream: AnthropicUpstream) -> None:
    cached_upstream.default = Reply(text="ok")
    with serve_config(document(cached_upstream.base_url, route={"prompt_caching": "multi_turn"}), KEY_ENV) as served:
        client = anthropic.Anthropic(base_url=served.url, api_key="sk-client", max_retries=0, timeout=20)
        client.messages.create(**anthropic_body(0))
        client.messages.create(**anthropic_body(2))
    first, second = (r.json for r in cached_upstream.message_requests)
    assert markers(first) == 0 and markers(second) == 4


def test_a_route_can_turn_caching_off_but_not_on(cached_upstream: AnthropicUpstream) -> None:
    cached_upstream.default = Reply(text="ok")
    with serve_config(document(cached_upstream.base_url, route={"prompt_caching": "off"}), KEY_ENV) as served:
        anthropic.Anthropic(base_url=served.url, api_key="sk-client", max_retries=0).messages.create(
            **anthropic_body(2)
        )
    forced = document(cached_upstream.base_url, provider={"prompt_caching": "off"}, route={"prompt_caching": "auto"})
    with serve_config(forced, KEY_ENV) as served:
        anthropic.Anthropic(base_url=served.url, api_key="sk-client", max_retries=0).messages.create(
            **anthropic_body(2)
        )
    assert [markers(r.json) for r in cached_upstream.message_requests] == [0, 0]


def test_one_hour_ttl_when_the_provider_asks_for_it(cached_upstream: AnthropicUpstream) -> None:
    cached_upstream.default = Reply(text="ok")
    with serve_config(document(cached_upstream.base_url, provider={"prompt_cache_ttl": "1h"}), KEY_ENV) as served:
        anthropic.Anthropic(base_url=served.url, api_key="sk-client", max_retries=0).messages.create(
            **anthropic_body(1)
        )
    sent = json.dumps(cached_upstream.last_request.json)
    assert sent.count('"ttl": "1h"') == 4


# --------------------------------------------------------------------------- Bedrock


def test_bedrock_turns_read_the_previous_prefix(monkeypatch: pytest.MonkeyPatch) -> None:
    for name, value in {"AWS_ACCESS_KEY_ID": "test", "AWS_SECRET_ACCESS_KEY": "test", "AWS_DEFAULT_REGION": "us-east-1",
                        "AWS_EC2_METADATA_DISABLED": "true"}.items():  # fmt: skip
        monkeypatch.setenv(name, value)
    with BedrockUpstream(prompt_cache=PromptCacheModel(min_tokens=1024)) as fake:
        script_tool_loop(fake, 3)
        with serve_config(document(fake.base_url, dialect="bedrock"), {}) as served:
            usages = replay_openai(openai_client(served), 3)
        fake.raise_for_errors()
        history = fake.prompt_cache.history  # type: ignore[union-attr]
        sent = [r.json for r in fake.requests]
    assert all(json.dumps(body).count('"cachePoint"') in (3, 4) for body in sent)
    for before, now in itertools.pairwise(history):
        assert now.cache_read_input_tokens == before.cache_read_input_tokens + before.cache_creation_input_tokens
    assert [u.prompt_tokens_details.cached_tokens for u in usages] == [h.cache_read_input_tokens for h in history]
