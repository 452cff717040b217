"""Which requests the response cache may answer, and in whose namespace (``cache/policy.py``)."""

from __future__ import annotations

from typing import Any

import pytest

from aimux_core.cache.policy import ANONYMOUS, SHARED, Bypass, CachePlan, CachePolicy, parse_directive, samples
from aimux_core.config.response_cache import ResponseCacheConfig
from aimux_core.errors import InvalidRequest
from aimux_core.keys.record import ApiKeyRecord
from aimux_core.wire.anthropic import MessagesRequest

KEY_A = "key_0000000000aa"


def request(**fields: Any) -> MessagesRequest:
    return MessagesRequest.model_validate(
        {"model": "m", "max_tokens": 10, "messages": [{"role": "user", "content": "hi"}], **fields}
    )


def key(key_id: str = KEY_A, project: str | None = None) -> ApiKeyRecord:
    return ApiKeyRecord(id=key_id, name="t", key_hash="h", created_at=0.0, project=project)


def policy(**section: Any) -> CachePolicy:
    return CachePolicy(ResponseCacheConfig.model_validate(section))


DETERMINISTIC = request(temperature=0)


@pytest.mark.parametrize(
    ("fields", "sampling"),
    [
        ({}, True),  # Anthropic's and OpenAI's default temperature is 1
        ({"temperature": 0}, False),
        ({"temperature": 0.0, "top_p": 0.5}, False),
        ({"temperature": 0.2}, True),
        ({"top_k": 1}, False),  # greedy: always the most likely token
        ({"top_k": 5}, True),
        ({"thinking": {"type": "enabled", "budget_tokens": 1024}}, True),  # thinking requires temperature 1
    ],
)
def test_a_request_samples_unless_temperature_is_0_or_top_k_is_1(fields: dict[str, Any], sampling: bool) -> None:
    assert samples(request(**fields)) is sampling


def test_a_request_nobody_asked_to_cache_is_not_considered() -> None:
    assert policy().plan(DETERMINISTIC, "default", None, None) is None


def test_the_configured_mode_caches_deterministic_requests_and_bypasses_sampling_ones() -> None:
    cached = policy(mode="use", ttl_seconds=60)
    assert cached.plan(DETERMINISTIC, "default", None, None) == CachePlan(ANONYMOUS, 60, dedup=True)
    assert cached.plan(request(), "default", None, None) == Bypass("sampling")
    assert policy(mode="use", sampling=True).plan(request(), "default", None, None) == CachePlan(
        ANONYMOUS, 3600, dedup=True
    )


def test_the_client_header_opts_in_whatever_the_request_samples() -> None:
    """A client that asks for a cached answer accepts a repeated one (and Anthropic clients on 2026-10-21
    cannot send a temperature at all)."""
    assert policy().plan(request(), "default", None, "use") == CachePlan(ANONYMOUS, 3600, dedup=True)
    assert policy(mode="use").plan(request(), "default", None, "use") == CachePlan(ANONYMOUS, 3600, dedup=True)
    assert policy(client_opt_in=False).plan(DETERMINISTIC, "default", None, "use") == Bypass("opt_in_off")


def test_off_bypasses_and_refresh_stores_without_looking_up() -> None:
    configured = policy(mode="use")
    assert configured.plan(DETERMINISTIC, "default", None, "off") == Bypass("client_off")
    assert policy().plan(DETERMINISTIC, "default", None, "off") == Bypass("client_off")
    assert configured.plan(DETERMINISTIC, "default", None, "refresh") == CachePlan(
        ANONYMOUS, 3600, dedup=False, lookup=False
    )


def test_namespaces_keep_projects_and_keys_apart_unless_shared() -> None:
    configured = policy(mode="use")
    assert configured.plan(DETERMINISTIC, "default", key(project="ci"), None).namespace == "project:ci"  # type: ignore[union-attr]
    assert configured.plan(DETERMINISTIC, "default", key(), None).namespace == f"key:{KEY_A}"  # type: ignore[union-attr]
    shared = policy(mode="shared")
    assert shared.plan(DETERMINISTIC, "default", key(project="ci"), None).namespace == SHARED  # type: ignore[union-attr]


def test_the_most_specific_rule_wins_field_by_field() -> None:
    configured = policy(
        mode="off",
        ttl_seconds=100,
        routes={"evals": {"mode": "use", "ttl_seconds": 200}},
        projects={"ci": {"mode": "shared", "dedup": False}},
        keys={KEY_A: {"ttl_seconds": 400}},
    )
    assert configured.plan(DETERMINISTIC, "default", key(), None) is None
    assert configured.plan(DETERMINISTIC, "evals", key("key_0000000000bb"), None) == CachePlan(
        "key:key_0000000000bb", 200, dedup=True
    )
    assert configured.plan(DETERMINISTIC, "evals", key(project="ci"), None) == CachePlan(SHARED, 400, dedup=False)
    assert configured.plan(DETERMINISTIC, "default", key(project="ci"), None) == CachePlan(SHARED, 400, dedup=False)
    turned_off = policy(mode="use", keys={KEY_A: {"mode": "off"}})
    assert turned_off.plan(DETERMINISTIC, "default", key(), None) is None


@pytest.mark.parametrize("value", ["use", " USE ", "off", "refresh"])
def test_directives_are_read_case_insensitively(value: str) -> None:
    assert parse_directive(value) == value.strip().lower()


@pytest.mark.parametrize("value", ["", "yes", "no-store", "use,refresh"])
def test_an_unknown_directive_is_a_400_naming_the_header(value: str) -> None:
    with pytest.raises(InvalidRequest) as refused:
        parse_directive(value)
    assert refused.value.param == "x-aimux-cache"
    assert "use, off, refresh" in refused.value.message
