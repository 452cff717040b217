"""The ``anthropic`` adapter's requests: the body built for each preset (stripped fields, clamps, system
turns, images, thinking provenance), the headers, and what reaches the fake upstream over HTTP."""

from __future__ import annotations

import dataclasses
from typing import Any

import pytest
from anthropic_adapter_helpers import (
    GENUINE,
    KEY,
    Make,
    call,
    collect,
    make,  # noqa: F401
    request,
)

from aimux_core.errors import InvalidRequest
from aimux_core.presets import preset
from aimux_core.providers.anthropic import build_body, build_headers, forwarded_betas
from aimux_core.translate.thinking import sign_reasoning
from aimux_core.wire.accumulate import accumulate
from fakes.anthropic_upstream import AnthropicUpstream
from fakes.fixtures import anthropic_upstream  # noqa: F401
from fakes.script import Reply
from support.samples import BASH_TOOL, PNG_1X1

pytestmark = pytest.mark.anyio


def thinking_turns(*signatures: str | None, text: str = "pondering") -> list[dict[str, Any]]:
    blocks = [{"type": "thinking", "thinking": text, **({} if s is None else {"signature": s})} for s in signatures]
    return [
        {"role": "user", "content": "run ls"},
        {"role": "assistant", "content": [*blocks, {"type": "tool_use", "id": "toolu_1", "name": "Bash",
                                                     "input": {"command": "ls"}}]},
        {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "toolu_1", "content": "a b"}]},
    ]


# --------------------------------------------------------------------------- request building


def test_body_strips_clamps_and_sets_stream() -> None:
    req = request(max_tokens=200_000, container="c1", service_tier="auto", cache_control={"type": "ephemeral"},
                  thinking={"type": "enabled", "budget_tokens": 150_000}, metadata={"user_id": "u"}, stream=False)
    zai = preset("zai")
    body = build_body(req, "glm-4.6", zai, provider="zai", stream=True, version="2023-06-01")
    assert body["model"] == "glm-4.6" and body["stream"] is True
    assert body["max_tokens"] == zai.max_tokens_cap == 131_072
    assert body["thinking"]["budget_tokens"] < body["max_tokens"]
    assert not {"container", "service_tier", "cache_control"} & body.keys()
    assert body["metadata"] == {"user_id": "u"}
    body = build_body(req, "claude-x", preset("anthropic"), provider="anthropic", stream=False, version="2023-06-01")
    assert "stream" not in body and body["max_tokens"] == 200_000 and body["container"] == "c1"


def test_sampling_fields_dropped_only_under_2026_10_21() -> None:
    req = request(temperature=0.2, top_p=0.9, top_k=5)
    anthropic = preset("anthropic")
    old = build_body(req, "m", anthropic, provider="anthropic", stream=False, version="2023-06-01")
    new = build_body(req, "m", anthropic, provider="anthropic", stream=False, version="2026-10-21")
    assert (old["temperature"], old["top_p"], old["top_k"]) == (0.2, 0.9, 5)
    assert not {"temperature", "top_p", "top_k"} & new.keys()


def test_system_turns_kept_for_anthropic_folded_for_compatible_endpoints() -> None:
    messages = [
        {"role": "user", "content": "first"},
        {"role": "system", "content": "mid-conversation note"},
        {"role": "user", "content": [{"type": "text", "text": "second"}]},
        {"role": "assistant", "content": "ok"},
    ]
    req = request(system=[{"type": "text", "text": "You are helpful", "cache_control": {"type": "ephemeral"}}],
                  messages=messages)
    kept = build_body(req, "m", preset("anthropic"), provider="anthropic", stream=False, version="2023-06-01")
    assert [t["role"] for t in kept["messages"]] == ["user", "system", "user", "assistant"]
    folded = build_body(req, "m", preset("deepseek"), provider="deepseek", stream=False, version="2023-06-01")
    assert [t["role"] for t in folded["messages"]] == ["user", "assistant"]
    assert folded["messages"][0]["content"] == [{"type": "text", "text": "first"}, {"type": "text", "text": "second"}]
    assert [b["text"] for b in folded["system"]] == ["You are helpful", "mid-conversation note"]
    assert folded["system"][0]["cache_control"] == {"type": "ephemeral"}
    plain = build_body(request(system="Be brief", messages=messages[:2] + messages[3:]), "m", preset("zai"),
                       provider="zai", stream=False, version="2023-06-01")
    assert plain["system"] == [{"type": "text", "text": "Be brief"}, {"type": "text", "text": "mid-conversation note"}]


IMAGE = {"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": PNG_1X1}}


@pytest.mark.parametrize(
    ("content", "path"),
    [
        ([{"type": "text", "text": "look"}, IMAGE], "messages.0.content.1"),
        ([{"type": "tool_result", "tool_use_id": "t", "content": [{"type": "text", "text": "x"}, IMAGE]}],
         "messages.0.content.0.content.1"),
    ],
)
@pytest.mark.parametrize("name", ["minimax", "deepseek"])
def test_images_rejected_naming_the_block(name: str, content: list[dict[str, Any]], path: str) -> None:
    req = request(messages=[{"role": "user", "content": content}])
    with pytest.raises(InvalidRequest) as caught:
        build_body(req, "m", preset(name), provider=name, stream=False, version="2023-06-01")
    assert caught.value.status == 400 and caught.value.param == path and path in caught.value.message
    body = build_body(req, "m", preset("zai"), provider="zai", stream=False, version="2023-06-01")
    assert body["messages"][0]["content"] == content  # supported: forwarded untouched


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("anthropic", [GENUINE]),  # only the genuine signature, byte-exact
        ("deepseek", [None]),  # only the aimux-signed reasoning, sent back unsigned
        ("zai", [None]),
    ],
)
def test_thinking_provenance(name: str, expected: list[str | None]) -> None:
    aimux = sign_reasoning("deepseek", "pondering")
    req = request(messages=thinking_turns(GENUINE, aimux, "aimux-mock.abc", "", None))
    body = build_body(req, "m", preset(name), provider=name, stream=False, version="2023-06-01")
    thinking = [b for b in body["messages"][1]["content"] if b["type"] == "thinking"]
    assert [b.get("signature") for b in thinking] == expected


def test_headers_auth_version_and_betas() -> None:
    anthropic = preset("anthropic")
    betas = ["claude-code-20250219,interleaved-thinking-2025-05-14", "future-flag-2099-01-01", "claude-code-20250219"]
    headers = build_headers(anthropic, KEY, "2026-10-21", betas, stream=True)
    assert headers["x-api-key"] == KEY and "authorization" not in headers
    assert headers["anthropic-version"] == "2026-10-21"
    assert headers["anthropic-beta"] == "claude-code-20250219,interleaved-thinking-2025-05-14"
    zai = build_headers(preset("zai"), KEY, "2023-06-01", betas, stream=False)
    assert "anthropic-beta" not in zai and zai["x-api-key"] == KEY
    bearer = build_headers(dataclasses.replace(preset("moonshot"), auth="bearer"), KEY, "2023-06-01", [], stream=False)
    assert bearer["authorization"] == f"Bearer {KEY}" and "x-api-key" not in bearer
    assert "x-api-key" not in build_headers(anthropic, None, "2023-06-01", [], stream=False)
    forward = dataclasses.replace(anthropic, beta_policy="forward")
    assert forwarded_betas(forward, betas) == [
        "claude-code-20250219", "interleaved-thinking-2025-05-14", "future-flag-2099-01-01"]


# --------------------------------------------------------------------------- over HTTP: what reaches the upstream


async def test_thinking_signature_byte_exact_both_ways(make: Make, anthropic_upstream: AnthropicUpstream) -> None:  # noqa: F811
    odd = "Eq+/=\\u2028" + GENUINE  # characters JSON may escape: the value must survive unchanged
    anthropic_upstream.enqueue(Reply(reasoning="r", signature=odd, text="t"))
    upstream = make(anthropic_upstream)
    streamed = await collect(upstream.stream(call(request(messages=thinking_turns(odd)))))
    sent = anthropic_upstream.last_request.json["messages"][1]["content"][0]
    assert sent == {"type": "thinking", "thinking": "pondering", "signature": odd}
    assert accumulate(streamed).content[0].signature == odd  # type: ignore[union-attr]


async def test_aimux_and_mock_signatures_never_reach_anthropic(
    make: Make, anthropic_upstream: AnthropicUpstream  # noqa: F811
) -> None:
    turns = thinking_turns(sign_reasoning("deepseek", "pondering"), "aimux-mock.x", GENUINE)
    await make(anthropic_upstream).create(call(request(messages=turns)))
    sent = anthropic_upstream.last_request.json["messages"][1]["content"]
    assert [b.get("signature") for b in sent if b["type"] == "thinking"] == [GENUINE]
    await make(anthropic_upstream, "zai").create(call(request(messages=turns)))
    sent = anthropic_upstream.last_request.json["messages"][1]["content"]
    assert [b for b in sent if b["type"] == "thinking"] == [{"type": "thinking", "thinking": "pondering"}]


async def test_images_forwarded_where_supported(make: Make, anthropic_upstream: AnthropicUpstream) -> None:  # noqa: F811
    content = [{"type": "text", "text": "what is this?"}, IMAGE]
    await make(anthropic_upstream).create(call(request(messages=[{"role": "user", "content": content}])))
    assert anthropic_upstream.last_request.json["messages"][0]["content"] == content
    with pytest.raises(InvalidRequest, match=r"messages\.0\.content\.1"):
        await collect(make(anthropic_upstream, "minimax").stream(call(request(messages=[
            {"role": "user", "content": content}]))))
    assert len(anthropic_upstream.requests) == 1  # rejected before any upstream call


@pytest.mark.parametrize(
    ("name", "auth_header", "betas_sent"),
    [("anthropic", "x-api-key", "claude-code-20250219,context-1m-2025-08-07"), ("zai", "x-api-key", None),
     ("moonshot", "authorization", None)],
)
async def test_recorded_request_headers_and_body(
    make: Make, anthropic_upstream: AnthropicUpstream, name: str, auth_header: str, betas_sent: str | None  # noqa: F811
) -> None:
    changes = {"auth": "bearer"} if auth_header == "authorization" else {}
    upstream = make(anthropic_upstream, name, **changes)
    req = request(max_tokens=128_000, service_tier="auto", top_k=3)
    betas = ("claude-code-20250219,brand-new-beta-2099-01-01", "context-1m-2025-08-07")
    await upstream.create(call(req, version="2023-06-01", betas=betas))
    recorded = anthropic_upstream.last_request
    assert recorded.headers["anthropic-version"] == "2023-06-01"
    assert recorded.headers.get("anthropic-beta") == betas_sent
    expected_auth = KEY if auth_header == "x-api-key" else f"Bearer {KEY}"
    assert recorded.headers[auth_header] == expected_auth
    cap = preset(name).max_tokens_cap
    assert recorded.json["max_tokens"] == (min(128_000, cap) if cap else 128_000)
    assert ("service_tier" in recorded.json) is (name == "anthropic")
    assert recorded.json["top_k"] == 3  # not in these presets' strip_fields
    await make(anthropic_upstream, "deepseek").create(call(req, version="2026-10-21"))
    recorded = anthropic_upstream.last_request
    assert recorded.headers["anthropic-version"] == "2026-10-21" and "top_k" not in recorded.json
    assert recorded.json["max_tokens"] == 65_536


async def test_count_tokens_first_party_only(make: Make, anthropic_upstream: AnthropicUpstream) -> None:  # noqa: F811
    anthropic_upstream.enqueue_count_tokens(4321)
    req = request(tools=[BASH_TOOL], stream=True, temperature=0.5)
    assert await make(anthropic_upstream).count_tokens(call(req, model="claude-x")) == 4321
    sent = anthropic_upstream.last_request
    assert sent.path == "/v1/messages/count_tokens" and sent.json["model"] == "claude-x"
    assert not {"max_tokens", "stream", "temperature"} & sent.json.keys() and sent.json["tools"]
    assert await make(anthropic_upstream, "zai").count_tokens(call(req)) is None
    assert len(anthropic_upstream.requests) == 1
