"""Configuration → adapters, catalog and gateway: the right adapter per dialect, keys read at build time."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import boto3
import pytest
from moto import mock_aws

from aimux_core.accounting.pricing import Price
from aimux_core.assembly.providers import build_catalog, build_provider, build_providers
from aimux_core.config import AimuxConfig, ConfigError, load_config
from aimux_core.config.validate import validate_config
from aimux_core.providers.mock import MockProvider

EXAMPLE = Path(__file__).resolve().parents[2] / "aimux.example.yaml"
SECRET = "sk-SECRET-never-printed-0123456789abcdef"
EXAMPLE_ENV = {"ANTHROPIC_API_KEY": SECRET, "OPENROUTER_API_KEY": SECRET, "DEEPSEEK_API_KEY": SECRET}

PROVIDERS = {
    "anthropic": {"preset": "anthropic"},
    "zai": {"preset": "zai", "api_key_env": "MY_ZAI_KEY"},
    "openai": {"preset": "openai"},
    "local": {"preset": "ollama", "base_url": "http://127.0.0.1:9999/v1"},
    "corp": {"dialect": "anthropic", "base_url": "https://corp.example/anthropic", "api_key_env": "CORP_KEY",
             "headers": {"X-Team": "infra"}, "max_tokens_cap": 4096, "supports_images": False},
    "bedrock": {"preset": "bedrock", "region": "eu-central-1"},
    "mock": {"preset": "mock"},
}  # fmt: skip
ENV = {"ANTHROPIC_API_KEY": SECRET, "MY_ZAI_KEY": SECRET, "OPENAI_API_KEY": SECRET, "CORP_KEY": SECRET}

ADAPTERS = {
    "anthropic": ("aimux_core.providers.anthropic", "AnthropicProvider"),
    "zai": ("aimux_core.providers.anthropic", "AnthropicProvider"),
    "corp": ("aimux_core.providers.anthropic", "AnthropicProvider"),
    "openai": ("aimux_core.providers.openai", "OpenAIProvider"),
    "local": ("aimux_core.providers.openai", "OpenAIProvider"),
    "bedrock": ("aimux_core.providers.bedrock", "BedrockProvider"),
}


def config_with(providers: dict[str, dict[str, object]]) -> AimuxConfig:
    """A configuration of just these providers (its default route names the first one's model ``x``)."""
    first = next(iter(providers))
    return validate_config({"providers": providers, "routes": {"default": [f"{first}/x"]}}, "test.yaml")


@pytest.mark.parametrize("name", list(ADAPTERS))
def test_each_dialect_gets_its_adapter(name: str) -> None:
    module_name, class_name = ADAPTERS[name]
    module = pytest.importorskip(module_name, reason=f"{module_name} is not written yet")
    config = config_with(PROVIDERS)
    provider = build_provider(name, config.providers[name], env=ENV)
    assert type(provider) is getattr(module, class_name)
    assert provider.name == name
    assert provider.preset.name == (config.providers[name].preset or name)  # type: ignore[attr-defined]


def test_mock_preset_builds_the_mock() -> None:
    config = config_with({"mock": {"preset": "mock"}})
    assert isinstance(build_providers(config, env={})["mock"], MockProvider)


def test_overrides_reach_the_adapter_preset() -> None:
    pytest.importorskip("aimux_core.providers.anthropic")
    config = config_with(PROVIDERS)
    corp = build_provider("corp", config.providers["corp"], env=ENV)
    preset = corp.preset  # type: ignore[attr-defined]
    assert (preset.dialect, preset.base_url, preset.auth, preset.key_env) == (
        "anthropic",
        "https://corp.example/anthropic",
        "x-api-key",
        "CORP_KEY",
    )
    assert preset.max_tokens_cap == 4096 and preset.supports_images is False
    assert preset.extra_headers["X-Team"] == "infra"
    zai = config.providers["zai"].effective_preset("zai")
    assert zai.key_env == "MY_ZAI_KEY" and zai.reasoning == "echo"  # the preset's quirks are kept


def test_missing_key_env_var_stops_the_start_naming_provider_and_variable() -> None:
    config = config_with(PROVIDERS)
    env = {k: v for k, v in ENV.items() if k not in ("MY_ZAI_KEY", "CORP_KEY")}
    with pytest.raises(ConfigError) as caught:
        build_providers(config, env=env)
    message = str(caught.value)
    assert "test.yaml: providers.zai: API key environment variable MY_ZAI_KEY is not set" in message
    assert "test.yaml: providers.corp: API key environment variable CORP_KEY is not set" in message
    assert len(caught.value.problems) == 2
    assert SECRET not in message


def test_missing_key_of_the_example_file() -> None:
    config = load_config(EXAMPLE)
    with pytest.raises(ConfigError, match=r"providers\.anthropic: API key environment variable ANTHROPIC_API_KEY"):
        build_providers(config, env={})


@pytest.mark.usefixtures("fake_aws")
def test_ssm_key_source_end_to_end(monkeypatch: pytest.MonkeyPatch) -> None:
    pytest.importorskip("aimux_core.providers.anthropic")
    config = config_with({"zai": {"preset": "zai", "api_key_ssm": "/aimux/zai"}})
    with mock_aws():
        with pytest.raises(ConfigError, match=r"providers\.zai: API key SSM parameter /aimux/zai does not exist"):
            build_providers(config, env={"AWS_REGION": "us-east-1"})
        boto3.client("ssm", region_name="us-east-1").put_parameter(Name="/aimux/zai", Value=SECRET, Type="SecureString")
        providers = build_providers(config, env={"AWS_REGION": "us-east-1"})
    assert type(providers["zai"]).__name__ == "AnthropicProvider"


def test_catalog_carries_prices_aliases_weights_and_capabilities() -> None:
    catalog = build_catalog(load_config(EXAMPLE))
    glm = catalog.get("glm-4.6")
    assert glm is not None and glm.weight == 3 and glm.capabilities == frozenset({"tools", "thinking"})
    assert glm.price == Price(input=0.60, output=2.20, cache_read=0.11, cache_write=0.60)  # cache_write defaults
    sonnet = catalog.get("claude-sonnet-4-5-20250929")
    assert sonnet is not None and sonnet.id == "claude-sonnet-4-5"
    assert next(e.id for e in catalog) == "claude-sonnet-4-5"  # listings show ids, in file order
    bedrock = catalog.get("bedrock-sonnet-4-5")
    assert bedrock is not None and bedrock.upstream_model.startswith("us.anthropic.")


def test_gateway_from_the_example_file() -> None:
    pytest.importorskip("aimux_core.providers.anthropic")
    pytest.importorskip("aimux_core.providers.openai")
    pytest.importorskip("aimux_core.providers.bedrock")
    from aimux_core.assembly import build_gateway

    config = load_config(EXAMPLE)
    with mock_aws():
        boto3.client("ssm", region_name="us-east-1").put_parameter(
            Name="/aimux/providers/zai", Value=SECRET, Type="SecureString"
        )
        gateway = build_gateway(config, env={**EXAMPLE_ENV, "AWS_REGION": "us-east-1"})
    assert set(gateway.providers) == set(config.providers)
    table = gateway.table
    default = table.routes["default"]
    assert [[t.label for t in tier] for tier in default.tiers] == [
        ["claude-sonnet-4-5"], ["glm-4.6", "deepseek-chat"], ["bedrock-sonnet-4-5"],
        ["openrouter/anthropic/claude-sonnet-4.5"],
    ]  # fmt: skip
    assert table.routes["background"].strategy == "cheapest"
    assert table.strategy == "weighted" and table.long_context_threshold == 150_000
    assert ("claude-sonnet-*", "default") in table.aliases
    assert gateway.dispatcher.policy.max_attempts == 4  # type: ignore[attr-defined]


def test_openai_only_config_never_imports_boto3(write_config: Callable[..., Path]) -> None:
    path = write_config("""
        providers:
          openai: {preset: openai}
          groq: {preset: groq}
        models:
          gpt-4.1: {provider: openai}
        """)
    code = (
        "import sys\n"
        "from aimux_core.config import load_config\n"
        "from aimux_core.assembly import build_gateway\n"
        f"build_gateway(load_config({str(path)!r}), env={{'OPENAI_API_KEY': 'k', 'GROQ_API_KEY': 'k'}})\n"
        "print(sorted(m for m in ('boto3', 'botocore') if m in sys.modules))\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[]"


def test_breaker_settings_per_provider() -> None:
    pytest.importorskip("aimux_core.state.breaker_model")
    from aimux_core.assembly.parts import breaker_settings

    config = validate_config(
        {
            "providers": {
                "a": {"preset": "mock"},
                "b": {"preset": "mock", "breaker": {"cooldown": 90, "failure_ratio": None}},
            },
            "routes": {"default": ["a/x"]},
            "breaker": {"failure_threshold": 7, "window": 120},
        },
        "test.yaml",
    )
    a, b = breaker_settings(config, "a"), breaker_settings(config, "b")
    assert (a.failure_threshold, a.failure_ratio, a.window_seconds, a.cooldown_seconds) == (7, 0.5, 120, 30)
    assert (b.failure_threshold, b.failure_ratio, b.window_seconds, b.cooldown_seconds) == (7, None, 120, 90)
