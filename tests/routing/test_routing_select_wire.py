"""Selection on the wire: explicit choices through HTTP (path, ``x-aimux-provider`` header, the
``backend`` body field and their precedence), the routing headers on both surfaces, Claude Code's
recorded requests routed by scenario, and escaping of client model names in the route header.

These drive the real surfaces (the official SDKs over loopback, real adapters on the fake upstreams)
because the explicit-choice inputs only exist there, and because ``backend`` is an aimux-only field
that must never reach an upstream.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import anthropic
import httpx
import openai
import pytest
from routing_conftest import Stage, Upstreams, claude_code_record, make_entry, make_table

from aimux_core.gateway import Gateway
from aimux_core.providers.mock import MockProvider
from fakes import Reply
from fakes.anthropic_upstream import AnthropicUpstream
from fakes.openai_upstream import OpenAIUpstream

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
    assert_served(response.headers, "openai", "gpt-4.1", "explicit; route=explicit; provider openai")
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
    assert_served(raw.headers, "anthropic", "claude-sonnet-4-5", "explicit; route=explicit; provider anthropic")
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
    assert_served(headers, "openai", "gpt-4.1", "explicit; route=explicit; provider openai")


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
    assert_served(raw.headers, "openai", "gpt-4.1-mini", "explicit; route=explicit; model openai/gpt-4.1-mini")
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
