"""OpenAI targets cache on their own; aimux adds ``prompt_cache_key`` so a session's turns reach the
machine holding its prefix. Over real HTTP with both SDKs against the fake OpenAI upstream: the key is
the same for every turn of a session, differs between sessions, carries no session id, and is sent only
to presets that accept it (OpenAI), never to others (Groq here) or with ``prompt_caching: off``.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import anthropic
import openai
import pytest

from fakes import OpenAIUpstream, Reply
from support.config_gateway import ServedConfig, serve_config

pytestmark = pytest.mark.timeout(30)

KEYS = {"SPEND_OPENAI_KEY": "sk-openai-spending-0001"}
MESSAGES = [{"role": "user", "content": "hello"}]


def document(base_url: str, preset: str = "openai", **provider: Any) -> dict[str, Any]:
    return {
        "providers": {"up": {"preset": preset, "base_url": base_url, "api_key_env": "SPEND_OPENAI_KEY", **provider}},
        "models": {"gpt-4.1": {"provider": "up"}},
    }


@pytest.fixture
def fake() -> Iterator[OpenAIUpstream]:
    with OpenAIUpstream(default=Reply(text="ok")) as upstream:
        yield upstream
        upstream.raise_for_errors()


def keys_sent(fake: OpenAIUpstream) -> list[Any]:
    return [request.json.get("prompt_cache_key") for request in fake.requests]


def oai(served: ServedConfig) -> openai.OpenAI:
    return openai.OpenAI(base_url=f"{served.url}/v1", api_key="sk-client", max_retries=0, timeout=10)


def test_one_key_per_session_across_turns(fake: OpenAIUpstream) -> None:
    with serve_config(document(fake.base_url), KEYS) as served:
        client = oai(served)
        for user in ("alice-session", "alice-session", "bob-session", "alice-session"):
            client.chat.completions.create(model="gpt-4.1", messages=MESSAGES, user=user)
        claude = anthropic.Anthropic(base_url=served.url, api_key="sk-client", max_retries=0, timeout=10)
        for _ in range(2):
            claude.messages.create(
                model="gpt-4.1", max_tokens=32, messages=MESSAGES, extra_headers={"x-claude-code-session-id": "cc-1"}
            )
    alice, again, bob, third, cc1, cc2 = keys_sent(fake)
    assert alice == again == third and bob != alice and cc1 == cc2 and cc1 not in (alice, bob)
    assert all(k.startswith("aimux-") and len(k) == 38 for k in (alice, bob, cc1))


def test_without_a_session_the_system_prompt_keys_the_cache(fake: OpenAIUpstream) -> None:
    with serve_config(document(fake.base_url), KEYS) as served:
        client = oai(served)
        for system in ("You review Python.", "You review Python.", "You write Rust."):
            client.chat.completions.create(model="gpt-4.1", messages=[{"role": "system", "content": system}, *MESSAGES])
    first, second, other = keys_sent(fake)
    assert first == second != other


@pytest.mark.parametrize(
    ("preset", "provider"),
    [("groq", {}), ("openai", {"prompt_caching": "off"}), ("openai", {"prompt_cache_key": False})],
)
def test_no_key_where_the_upstream_may_reject_it_or_caching_is_off(
    fake: OpenAIUpstream, preset: str, provider: dict[str, Any]
) -> None:
    with serve_config(document(fake.base_url, preset, **provider), KEYS) as served:
        oai(served).chat.completions.create(model="gpt-4.1", messages=MESSAGES, user="alice-session")
    assert keys_sent(fake) == [None]


def test_a_provider_can_opt_in_to_the_key(fake: OpenAIUpstream) -> None:
    with serve_config(document(fake.base_url, "vllm", prompt_caching="auto", prompt_cache_key=True), KEYS) as served:
        oai(served).chat.completions.create(model="gpt-4.1", messages=MESSAGES, user="alice-session")
    assert keys_sent(fake)[0].startswith("aimux-")
