"""Loading a config file: the example loads, and every class of error names the path to the bad field."""

from __future__ import annotations

import textwrap
from collections.abc import Callable
from pathlib import Path

import pytest

from aimux_core.config import AimuxConfig, ConfigError, load_config, resolve_config
from aimux_core.config.schema import ResolvedTarget

EXAMPLE = Path(__file__).resolve().parents[2] / "aimux.example.yaml"

Write = Callable[..., Path]

BASE = """
providers:
  anthropic:
    preset: anthropic
  glm:
    preset: zai
models:
  sonnet:
    provider: anthropic
    upstream_model: claude-sonnet-4-5
    aliases: [claude-sonnet-4-5-20250929]
  glm-4.6:
    provider: glm
"""
BASE = textwrap.indent(BASE, " " * 8)  # the same indentation as the snippets appended to it


def errors_of(write: Write, text: str) -> str:
    path = write(text)
    with pytest.raises(ConfigError) as caught:
        load_config(path)
    message = str(caught.value)
    assert all(line.startswith("aimux.yaml: ") or line.startswith(f"{path}: ") for line in message.splitlines())
    return message


# --------------------------------------------------------------------------- the example


def test_example_file_loads_with_every_scenario_route() -> None:
    config = load_config(EXAMPLE)
    assert isinstance(config, AimuxConfig)
    assert config.source == str(EXAMPLE)
    assert {"default", "background", "thinking", "tools", "vision", "long_context"} <= set(config.routes)
    presets = {p.preset for p in config.providers.values()}
    assert {"anthropic", "zai", "openrouter", "deepseek", "bedrock", "ollama"} <= presets
    assert any(len(tier) > 1 for route in config.routes.values() for tier in route.tiers)  # a shared tier
    assert config.strategy == "weighted" or any(r.strategy == "weighted" for r in config.routes.values())
    assert any(p.limits.rpm for p in config.providers.values())
    assert all(m.price is not None for m in config.models.values())
    assert config.aliases["claude-sonnet-*"] == "default"
    assert config.providers["zai"].api_key_ssm
    assert config.breaker_for("zai").failure_threshold == 3
    assert config.breaker_for("anthropic").failure_threshold == config.breaker.failure_threshold


def test_example_targets_resolve() -> None:
    config = load_config(EXAMPLE)
    assert config.resolve_target("claude-sonnet-4-5-20250929") == ResolvedTarget(
        "anthropic", "claude-sonnet-4-5", "claude-sonnet-4-5"
    )
    assert config.resolve_target("openrouter/anthropic/claude-sonnet-4.5") == ResolvedTarget(
        "openrouter", "anthropic/claude-sonnet-4.5"
    )
    assert config.resolve_target("nowhere/x") is None
    assert config.route("vision") is config.routes["vision"]
    assert config.strategy_for("background") == "cheapest"
    assert config.strategy_for("default") == config.strategy
    assert config.budget_route_for("tools") == "budget"


def test_minimal_file_gets_a_default_route_and_documented_defaults(write_config: Write) -> None:
    config = load_config(write_config(BASE))
    assert config.routes["default"].tiers == (("sonnet",),)
    assert config.route("thinking") is config.routes["default"]  # a scenario without a route uses default
    assert config.strategy == "priority"
    assert config.session_pinning is True
    assert config.models["glm-4.6"].upstream("glm-4.6") == "glm-4.6"
    assert config.models["glm-4.6"].capabilities == ("tools",)


def test_route_forms_single_target_tier_list_and_mapping(write_config: Write) -> None:
    config = load_config(
        write_config(
            BASE
            + """
        routes:
          default: sonnet
          background: [glm-4.6, [sonnet, "glm/glm-4.5-air"]]
          thinking: {tiers: [sonnet], strategy: round_robin, budget_route: background}
        """
        )
    )
    assert config.routes["default"].tiers == (("sonnet",),)
    assert config.routes["background"].tiers == (("glm-4.6",), ("sonnet", "glm/glm-4.5-air"))
    assert config.routes["thinking"].strategy == "round_robin"


# --------------------------------------------------------------------------- errors name their path


def test_unknown_preset(write_config: Write) -> None:
    message = errors_of(
        write_config,
        """
        providers:
          anthropic:
            preset: antropic
        """,
    )
    assert "providers.anthropic.preset: unknown preset 'antropic'; did you mean 'anthropic'?" in message
    assert "(line 3)" in message


def test_unknown_model_in_a_route(write_config: Write) -> None:
    message = errors_of(
        write_config,
        BASE
        + """
        routes:
          default: [sonnet, x]
          thinking:
            tiers: [sonnet, [glm-4.6, "nope/model"]]
        """,
    )
    assert "aimux.yaml: routes.default[1]: unknown model 'x'" in message
    assert "routes.thinking.tiers[1][1]: unknown model 'nope/model'" in message
    assert "'nope' is not a configured provider" in message


def test_unknown_provider_of_a_model_and_unknown_alias_target(write_config: Write) -> None:
    message = errors_of(
        write_config,
        BASE
        + """
          haiku:
            provider: anthropc
        aliases:
          "claude-opus-*": thinkin
        budget_route: cheap
        """,
    )
    assert "models.haiku.provider: unknown provider 'anthropc'; did you mean 'anthropic'?" in message
    assert "aliases[\"claude-opus-*\"]: unknown route or model 'thinkin'" in message
    assert "budget_route: unknown route 'cheap'" in message


def test_bad_type(write_config: Write) -> None:
    message = errors_of(
        write_config,
        BASE
        + """
        long_context_threshold: lots
        retry:
          max_attempts: -1
        """,
    )
    assert "long_context_threshold: input should be a valid integer" in message
    assert "retry.max_attempts: input should be greater than 0" in message
    assert "lots" not in message  # values are never echoed


def test_bad_literal_and_missing_field(write_config: Write) -> None:
    message = errors_of(
        write_config,
        BASE
        + """
          nowhere:
            context_window: 1000
        strategy: fastest
        """,
    )
    assert "models.nowhere.provider: required field is missing" in message
    assert "strategy: input should be 'priority'" in message


def test_unknown_field(write_config: Write) -> None:
    message = errors_of(
        write_config,
        BASE
        + """
        breaker:
          failure_treshold: 3
        """,
    )
    assert "breaker.failure_treshold: unknown field 'failure_treshold' (did you mean 'failure_threshold'?)" in message


def test_unknown_nested_field_in_provider(write_config: Write) -> None:
    message = errors_of(
        write_config,
        """
        providers:
          anthropic:
            preset: anthropic
            limits: {rpm: 10, max_concurency: 2}
        """,
    )
    assert "providers.anthropic.limits.max_concurency: unknown field" in message
    assert "did you mean 'max_concurrency'?" in message


# A fake key in a real key's shape, assembled so no key-shaped literal sits in the source.
INLINE_KEY = "sk-" + "ant-api03-abcdefghijklmnopqrstuvwxyz0123456789"


@pytest.mark.parametrize("field", ["api_key", "token", "key", "apiKey"])
def test_inline_key_field_is_rejected(write_config: Write, field: str) -> None:
    message = errors_of(
        write_config,
        f"""
        providers:
          anthropic:
            preset: anthropic
            {field}: {INLINE_KEY}
        """,
    )
    assert f"providers.anthropic.{field}: API keys may not be written in the config file" in message
    assert "api_key_env" in message and "api_key_ssm" in message
    assert "abcdefghij" not in message


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("api_key_env", INLINE_KEY),
        ("api_key_env", "gsk_a1b2c3d4e5f6g7h8i9j0k1l2m3n4o5p6"),
        ("api_key_ssm", "sk-or-v1-0123456789abcdef0123456789abcdef"),
        ("api_key_ssm", "3f9a1c2b7d8e4f6a9b0c1d2e3f4a5b6c.Xy7Zq9Wv"),
    ],
)
def test_a_key_pasted_where_a_name_belongs_is_rejected(write_config: Write, field: str, value: str) -> None:
    message = errors_of(
        write_config,
        f"""
        providers:
          anthropic:
            preset: anthropic
            {field}: "{value}"
        """,
    )
    assert f"providers.anthropic.{field}: this looks like an API key itself" in message
    assert value not in message and value[:12] not in message


def test_credentials_in_headers_are_rejected(write_config: Write) -> None:
    message = errors_of(
        write_config,
        """
        providers:
          proxy:
            dialect: openai
            base_url: https://llm.example.internal/v1
            api_key_env: PROXY_KEY
            headers:
              Authorization: Bearer abc
        """,
    )
    assert "providers.proxy.headers.Authorization: API keys may not be written" in message


def test_provider_rules(write_config: Write) -> None:
    message = errors_of(
        write_config,
        """
        providers:
          a:
            dialect: openai
          b:
            preset: ollama
            api_key_env: OLLAMA_KEY
          c:
            preset: anthropic
            dialect: openai
          d:
            preset: openai
            region: us-east-1
          e:
            preset: zai
            api_key_env: ZAI_KEY
            api_key_ssm: /aimux/zai
          f: {}
        """,
    )
    assert "providers.a.base_url: required for a openai-dialect provider without a preset" in message
    assert "providers.b.api_key_env: this provider authenticates with 'none' and takes no key" in message
    assert "providers.c.dialect: the dialect comes from preset 'anthropic'" in message
    assert "providers.d.region: only for bedrock providers" in message
    assert "providers.e.api_key_ssm: set api_key_env or api_key_ssm, not both" in message
    assert "providers.f: set a preset" in message


def test_explicit_provider_needs_a_key_source(write_config: Write) -> None:
    message = errors_of(
        write_config,
        """
        providers:
          corp:
            dialect: anthropic
            base_url: https://corp.example/anthropic
        """,
    )
    assert "providers.corp.api_key_env: required: the provider sends its key as 'x-api-key'" in message


def test_model_rules(write_config: Write) -> None:
    message = errors_of(
        write_config,
        """
        providers:
          deepseek:
            preset: deepseek
          anthropic:
            preset: anthropic
        models:
          ds:
            provider: deepseek
            capabilities: [tools, vision]
            context_window: 1000
            max_output: 2000
          anthropic/foo:
            provider: deepseek
          a:
            provider: anthropic
            aliases: [ds, shared]
          b:
            provider: anthropic
            aliases: [shared]
        """,
    )
    assert "models.ds.max_output: cannot exceed context_window" in message
    # once the field errors are fixed, the cross-field ones show
    message = errors_of(
        write_config,
        """
        providers:
          deepseek:
            preset: deepseek
          anthropic:
            preset: anthropic
        models:
          ds:
            provider: deepseek
            capabilities: [tools, vision]
          anthropic/foo:
            provider: deepseek
          a:
            provider: anthropic
            aliases: [ds, shared]
          b:
            provider: anthropic
            aliases: [shared]
        """,
    )
    assert "models.ds.capabilities: provider 'deepseek' cannot send images" in message
    assert "models[\"anthropic/foo\"]: the id reads as provider 'anthropic'" in message
    assert "models.a.aliases[0]: 'ds' is already a model id" in message
    assert "models.b.aliases[0]: 'shared' is already an alias of 'a'" in message


def test_misspelt_scenario_route_and_self_budget(write_config: Write) -> None:
    message = errors_of(
        write_config,
        BASE
        + """
        routes:
          default: [sonnet]
          long-context: [sonnet]
          cheap: {tiers: [glm-4.6], budget_route: cheap}
        """,
    )
    assert "routes.long-context: 'long-context' looks like a misspelt scenario route 'long_context'" in message
    assert "routes.cheap.budget_route: a route cannot step down to itself" in message


def test_every_problem_is_reported_at_once(write_config: Write) -> None:
    message = errors_of(
        write_config,
        BASE
        + """
        routes:
          default: [a, b, c]
        """,
    )
    assert len(message.splitlines()) == 3


def test_empty_route_and_empty_tier(write_config: Write) -> None:
    message = errors_of(
        write_config,
        BASE
        + """
        routes:
          default: []
          thinking: [sonnet, []]
        """,
    )
    assert "routes.default: cannot be empty" in message
    assert "routes.thinking[1]: cannot be empty" in message


# --------------------------------------------------------------------------- file-level errors


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"nope\.yaml: file not found"):
        load_config(tmp_path / "nope.yaml")


def test_invalid_yaml_names_the_line(write_config: Write) -> None:
    message = errors_of(
        write_config,
        """
        providers:
          anthropic:
            preset: anthropic
           bad indent: [
        """,
    )
    assert "invalid YAML" in message and "(line " in message


def test_duplicate_key_is_an_error(write_config: Write) -> None:
    message = errors_of(
        write_config,
        """
        providers:
          anthropic:
            preset: anthropic
          anthropic:
            preset: zai
        """,
    )
    assert "duplicate key 'anthropic'" in message and "(line 4)" in message


def test_empty_file_and_non_mapping(write_config: Write) -> None:
    assert "providers: required field is missing" in errors_of(write_config, "")
    assert "must be a mapping" in errors_of(write_config, "- a\n- b\n")


def test_validation_outside_a_file_still_names_paths() -> None:
    with pytest.raises(ValueError, match=r"routes\.default\.tiers\[0\]\[0\]: unknown model 'x'"):
        AimuxConfig.model_validate({"providers": {"m": {"preset": "mock"}}, "routes": {"default": ["x"]}})


# --------------------------------------------------------------------------- choosing the source


def test_resolve_prefers_explicit_path_then_aimux_config_then_local_file(write_config: Write, tmp_path: Path) -> None:
    local = write_config(BASE)
    other = write_config(BASE.replace("sonnet", "other"), name="other.yaml")
    assert resolve_config({}, path=other).source == str(other)
    assert resolve_config({"AIMUX_CONFIG": str(other)}, cwd=tmp_path).source == str(other)
    assert resolve_config({}, cwd=tmp_path).source == str(local)
    empty = tmp_path / "empty"
    empty.mkdir()
    assert resolve_config({}, cwd=empty).source == "environment"


def test_a_named_file_that_does_not_exist_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="file not found"):
        resolve_config({"AIMUX_CONFIG": str(tmp_path / "missing.yaml")}, cwd=tmp_path)
