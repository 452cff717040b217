"""No config file: presets whose key variables are set are enabled with default models, else the mock."""

from __future__ import annotations

import pytest

from aimux_core.config import config_from_environment, resolve_config
from aimux_core.config.environment import CLAUDE_CODE_ALIASES, MOCK_MODEL_ID
from aimux_core.presets import AUTODETECT, PRESETS

SCENARIOS = ("default", "background", "thinking", "tools", "long_context")


def test_no_keys_means_mock_only() -> None:
    config = config_from_environment({})
    assert config.source == "environment"
    assert list(config.providers) == ["mock"]
    assert list(config.models) == [MOCK_MODEL_ID]
    assert config.routes["default"].tiers == ((MOCK_MODEL_ID,),)
    assert config.aliases == {}


def test_blank_key_does_not_count() -> None:
    assert list(config_from_environment({"ANTHROPIC_API_KEY": "  "}).providers) == ["mock"]


def test_anthropic_key_enables_claude_models_and_routes() -> None:
    config = config_from_environment({"ANTHROPIC_API_KEY": "sk-ant-test"})
    assert list(config.providers) == ["anthropic"]
    assert config.providers["anthropic"].key_source().env == "ANTHROPIC_API_KEY"  # type: ignore[union-attr]
    assert {"claude-sonnet-4-5", "claude-haiku-4-5", "claude-opus-4-5"} == set(config.models)
    assert config.routes["default"].tiers == (("claude-sonnet-4-5",),)
    assert config.routes["background"].tiers == (("claude-haiku-4-5",),)
    assert config.routes["thinking"].tiers == (("claude-opus-4-5",),)
    assert config.routes["vision"].tiers == (("claude-sonnet-4-5",),)
    assert config.lookup_model("claude-sonnet-4-5-20250929") == "claude-sonnet-4-5"
    assert dict(CLAUDE_CODE_ALIASES) == config.aliases
    sonnet = config.models["claude-sonnet-4-5"]
    assert sonnet.price is not None and sonnet.price.input == 3.0 and sonnet.price.cache_read == 0.30
    assert set(sonnet.capabilities) == {"tools", "vision", "thinking"}


def test_several_keys_give_one_tier_per_provider_in_priority_order() -> None:
    env = {"OPENROUTER_API_KEY": "x", "ZAI_API_KEY": "y", "ANTHROPIC_API_KEY": "z", "DEEPSEEK_API_KEY": "w"}
    config = config_from_environment(env)
    assert list(config.providers) == ["anthropic", "zai", "deepseek", "openrouter"]
    default = config.routes["default"].tiers
    assert [config.models[t[0]].provider for t in default] == ["anthropic", "zai", "deepseek", "openrouter"]
    for scenario in SCENARIOS:
        assert len(config.routes[scenario].tiers) == 4, scenario
    # vision only lists models that can see images: neither GLM-4.6 nor DeepSeek can
    vision = [t[0] for t in config.routes["vision"].tiers]
    assert vision == ["claude-sonnet-4-5", "openrouter/anthropic/claude-sonnet-4.5"]
    # long context: the largest windows first
    windows = [config.models[t[0]].context_window for t in config.routes["long_context"].tiers]
    assert windows == sorted(windows, reverse=True)
    assert config.resolve_target("openrouter/anthropic/claude-sonnet-4.5").upstream_model == (  # type: ignore[union-attr]
        "anthropic/claude-sonnet-4.5"
    )


def test_without_anthropic_claude_names_still_route_by_alias() -> None:
    config = config_from_environment({"ZAI_API_KEY": "y"})
    assert config.aliases["claude-sonnet-*"] == "default"
    assert config.route("default").tiers == (("glm-4.6",),)  # type: ignore[union-attr]
    assert "vision" not in config.routes


@pytest.mark.parametrize("defaults", AUTODETECT, ids=lambda d: d.name)
def test_every_autodetected_preset_builds_a_valid_config(defaults) -> None:  # type: ignore[no-untyped-def]
    key_env = PRESETS[defaults.name].key_env
    config = config_from_environment({key_env: "k"})
    assert list(config.providers) == [defaults.name]
    for scenario in SCENARIOS:
        assert config.routes[scenario].tiers, scenario
    for model in config.models.values():
        assert model.price is not None and model.max_output <= model.context_window


def test_all_keys_at_once() -> None:
    env = {PRESETS[d.name].key_env: "k" for d in AUTODETECT}
    config = config_from_environment(env)  # type: ignore[arg-type]
    assert list(config.providers) == [d.name for d in AUTODETECT]


def test_resolve_without_file_uses_the_environment(tmp_path) -> None:  # type: ignore[no-untyped-def]
    config = resolve_config({"OPENAI_API_KEY": "k"}, cwd=tmp_path)
    assert config.source == "environment"
    assert config.routes["thinking"].tiers == (("o4-mini",),)
