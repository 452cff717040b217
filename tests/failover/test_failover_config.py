"""The failover settings in the configuration file: what they accept, and errors that name the field."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from aimux_core.assembly.parts import build_retry_policy, cooldown_settings
from aimux_core.assembly.providers import timeouts
from aimux_core.config import AimuxConfig, ConfigError, load_config

BASE = """\
providers:
  anthropic: {preset: anthropic}
  glm: {preset: zai, limits: {max_concurrency: 8}}
models:
  sonnet: {provider: anthropic, upstream_model: claude-sonnet-4-5}
  glm-4.6: {provider: glm}
"""


def load(tmp_path: Path, extra: str) -> AimuxConfig:
    path = tmp_path / "aimux.yaml"
    path.write_text(BASE + textwrap.dedent(extra))
    return load_config(path)


def errors(tmp_path: Path, extra: str) -> str:
    with pytest.raises(ConfigError) as caught:
        load(tmp_path, extra)
    return str(caught.value)


def test_failover_settings_reach_the_runtime(tmp_path: Path) -> None:
    config = load(tmp_path, """\
        retry: {when_all_down: refuse}
        cooldown: {rate_limit: 2, overloaded: 0.5, auth_failure: 600}
    """)  # fmt: skip
    assert build_retry_policy(config).when_all_down == "refuse"
    settings = cooldown_settings(config)
    assert (settings.rate_limit, settings.overloaded, settings.auth_failure) == (2, 0.5, 600)


def test_defaults_try_and_rest_briefly(tmp_path: Path) -> None:
    config = load(tmp_path, "")
    assert build_retry_policy(config).when_all_down == "try"
    settings = cooldown_settings(config)
    assert (settings.rate_limit, settings.overloaded, settings.auth_failure) == (1.0, 0.25, 300.0)


def test_when_all_down_takes_try_or_refuse(tmp_path: Path) -> None:
    message = errors(tmp_path, "retry: {when_all_down: wait}\n")
    assert "retry.when_all_down" in message and "'try'" in message and "'refuse'" in message


def test_cooldowns_are_seconds(tmp_path: Path) -> None:
    message = errors(tmp_path, "cooldown: {auth_failure: -1, overloaded: soon}\n")
    assert "cooldown.auth_failure" in message and "cooldown.overloaded" in message
    assert "cooldown.typo" in errors(tmp_path, "cooldown: {typo: 3}\n")


def test_least_connections_needs_the_in_flight_counts(tmp_path: Path) -> None:
    """The counts come from provider concurrency leases: a provider without ``max_concurrency`` keeps
    none, and the error names the field to set and the setting that needs it."""
    message = errors(tmp_path, """\
        strategy: least_connections
        routes:
          default: [[sonnet, glm-4.6]]
    """)  # fmt: skip
    assert "providers.anthropic.limits.max_concurrency: required by strategy: least_connections" in message
    assert "glm" not in message
    own = errors(tmp_path, """\
        routes:
          default: {tiers: [[sonnet, glm-4.6]], strategy: least_connections}
    """)  # fmt: skip
    assert "providers.anthropic.limits.max_concurrency: required by routes.default.strategy" in own


def test_least_connections_over_counted_providers_loads(tmp_path: Path) -> None:
    config = load(tmp_path, """\
        strategy: least_connections
        routes:
          default: [[glm-4.6], [sonnet]]   # single-target tiers: nothing to order
    """)  # fmt: skip
    assert config.strategy == "least_connections"


def test_min_output_rate_sizes_the_header_wait_of_buffered_calls(tmp_path: Path) -> None:
    path = tmp_path / "aimux.yaml"
    path.write_text(textwrap.dedent("""\
        providers:
          slow: {preset: ollama, timeouts: {first_byte: 5, total: 600, min_output_rate: 20}}
          fast: {preset: ollama, timeouts: {first_byte: 5, min_output_rate: null}}
        models:
          local: {provider: slow}
    """))
    providers = load_config(path).providers
    slow, fast = timeouts(providers["slow"].timeouts), timeouts(providers["fast"].timeouts)
    assert slow.headers_within(1000) == 5 + 1000 / 20 and slow.headers_within(None) == 5
    assert fast.headers_within(1000) == 5
    assert slow.headers_within(100_000) == 600, "never beyond total"
