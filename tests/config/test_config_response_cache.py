"""The ``response_cache`` section: defaults, rules by route, project and key, and errors naming the field."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from aimux_core.config import ConfigError, load_config

Write = Callable[..., Path]

BASE = """
providers:
  anthropic:
    preset: anthropic
models:
  sonnet:
    provider: anthropic
routes:
  default: [sonnet]
  evals: [sonnet]
"""


def errors_of(write: Write, text: str) -> str:
    with pytest.raises(ConfigError) as caught:
        load_config(write(BASE + text))
    return str(caught.value)


def test_without_the_section_nothing_is_cached_but_clients_may_opt_in(write_config: Write) -> None:
    section = load_config(write_config(BASE)).response_cache
    assert (section.mode, section.ttl_seconds, section.sampling, section.dedup) == ("off", 3600, False, True)
    assert (section.client_opt_in, section.lease_seconds, section.max_wait_seconds) == (True, 10.0, 120.0)


def test_rules_by_route_project_and_key_load(write_config: Write) -> None:
    config = load_config(
        write_config(
            BASE
            + """
response_cache:
  mode: use
  ttl_seconds: 600
  routes:
    evals: {mode: shared, ttl_seconds: 86400}
    background: {mode: off}
  projects:
    ci: {sampling: true}
  keys:
    key_0123456789ab: {dedup: false}
"""
        )
    )
    section = config.response_cache
    assert section.routes["evals"].mode == "shared" and section.routes["evals"].ttl_seconds == 86400
    assert section.routes["background"].mode == "off"  # a scenario route, even without its own route
    assert section.projects["ci"].sampling is True and section.projects["ci"].mode is None
    assert section.keys["key_0123456789ab"].dedup is False


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("response_cache:\n  mode: always\n", "response_cache.mode"),
        ("response_cache:\n  ttl_seconds: 0\n", "response_cache.ttl_seconds"),
        ("response_cache:\n  ttl_seconds: 99999999\n", "response_cache.ttl_seconds"),
        ("response_cache:\n  lease_seconds: 0.5\n", "response_cache.lease_seconds"),
        ("response_cache:\n  max_wait: 10\n", "response_cache.max_wait"),
        ("response_cache:\n  routes:\n    evlas: {mode: use}\n", "unknown route 'evlas'; did you mean 'evals'?"),
        ("response_cache:\n  keys:\n    alice: {mode: use}\n", "response_cache.keys.alice: not a key id"),
        ("response_cache:\n  projects:\n    ci: {mode: use, ttl: 5}\n", "response_cache.projects.ci.ttl"),
    ],
)
def test_errors_name_the_field_and_its_line(write_config: Write, text: str, expected: str) -> None:
    message = errors_of(write_config, text)
    assert expected in message
    assert "line " in message
