"""Configuration of the spend-less features: prompt caching per provider and route, the catalog's
minimum cacheable length, and routes' token guards; each bad value is an error naming its path and line.
"""

from __future__ import annotations

import textwrap
from collections.abc import Callable
from pathlib import Path

import pytest

from aimux_core.assembly.parts import build_routing_table
from aimux_core.assembly.providers import build_catalog
from aimux_core.config import ConfigError, load_config

Write = Callable[[str], Path]

BASE = """
providers:
  anthropic: {preset: anthropic}
  oai: {preset: openai}
  local: {preset: vllm}
models:
  sonnet: {provider: anthropic, upstream_model: claude-sonnet-4-5}
  long: {provider: anthropic, upstream_model: claude-sonnet-4-5, context_window: 1000000}
  gpt: {provider: oai}
"""
BASE = textwrap.indent(BASE, " " * 8)  # the same indentation as the snippets appended to it


def errors_of(write: Write, text: str) -> str:
    with pytest.raises(ConfigError) as caught:
        load_config(write(text))
    return str(caught.value)


def test_the_options_reach_presets_catalog_and_routes(write_config: Write) -> None:
    text = BASE.replace("local: {preset: vllm}", "local: {preset: vllm, prompt_caching: auto, prompt_cache_key: true}")
    text = text.replace("claude-sonnet-4-5}", "claude-sonnet-4-5, cache_min_tokens: 2048}", 1)
    config = load_config(
        write_config(
            text
            + """
        routes:
          default:
            tiers: [sonnet]
            prompt_caching: multi_turn
            prompt_cache_ttl: 1h
            token_guards: {tool_result_max_tokens: 2000, max_images: 5, context_overflow: long_context}
          long_context: [long]
        """
        )
    )
    assert config.providers["anthropic"].effective_preset("anthropic").prompt_caching == "auto"
    local = config.providers["local"].effective_preset("local")
    assert (local.prompt_caching, local.prompt_cache_key) == ("auto", True)
    table = build_routing_table(config)
    route = table.routes["default"]
    assert (route.prompt_caching, route.prompt_cache_ttl) == ("multi_turn", "1h")
    guards = route.guards
    assert guards is not None
    assert (guards.tool_result_max_tokens, guards.max_images) == (2000, 5)
    assert (guards.overflow, guards.overflow_route) == (True, "long_context")
    assert table.routes["long_context"].guards is None
    assert build_catalog(config).get("sonnet").cache_min_tokens == 2048  # type: ignore[union-attr]


@pytest.mark.parametrize(
    ("snippet", "expected"),
    [
        ("providers.anthropic.prompt_caching: always", "prompt_caching"),
        ("providers.anthropic.prompt_cache_key: true", "only for openai-dialect providers"),
        ("providers.oai.prompt_cache_ttl: 1h", "only for anthropic and bedrock providers"),
        ("providers.anthropic.prompt_cache_ttl: 30m", "prompt_cache_ttl"),
        ("models.sonnet.cache_min_tokens: 0", "cache_min_tokens"),
    ],
)
def test_bad_caching_values_name_the_field(write_config: Write, snippet: str, expected: str) -> None:
    path, value = snippet.split(": ")
    section, name, field = path.split(".")
    text = BASE.replace(f"  {name}: {{", f"  {name}: {{{field}: {value}, ", 1)
    message = errors_of(write_config, text)
    assert expected in message and f"{section}.{name}" in message


@pytest.mark.parametrize(
    ("guards", "expected"),
    [
        ("{context_overflow: long_contxt}", "expected 'refuse' or a route name, got 'long_contxt'; did you mean"),
        ("{context_overflow: default}", "a route cannot send its overflow to itself"),
        ("{tool_result_max_tokens: 0}", "tool_result_max_tokens"),
        ("{max_images: -1}", "max_images"),
        ("{max_tokens: 5}", "max_tokens"),
    ],
)
def test_bad_token_guards_name_the_field(write_config: Write, guards: str, expected: str) -> None:
    message = errors_of(
        write_config,
        BASE
        + f"""
        routes:
          default: {{tiers: [sonnet], token_guards: {guards}}}
          long_context: [long]
        """,
    )
    assert expected in message and "routes.default.token_guards" in message


def test_refuse_is_a_valid_overflow_action(write_config: Write) -> None:
    config = load_config(
        write_config(
            BASE
            + """
        routes:
          default: {tiers: [sonnet], token_guards: {context_overflow: refuse}}
        """
        )
    )
    guards = build_routing_table(config).routes["default"].guards
    assert guards is not None and (guards.overflow, guards.overflow_route) == (True, None)
