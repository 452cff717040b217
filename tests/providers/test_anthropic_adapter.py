"""The ``anthropic`` dialect adapter: request building, stream normalisation and every upstream
fault, against the fake Anthropic upstream over real loopback HTTP."""

from __future__ import annotations

import dataclasses
import json
import time
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import httpx
import pytest
from anthropic.lib.streaming._messages import accumulate_event

from aimux_core.errors import InvalidRequest, UpstreamError
from aimux_core.providers.anthropic import AnthropicProvider, build_body, build_headers, forwarded_betas
from aimux_core.providers.anthropic_stream import StreamNormaliser
from aimux_core.providers.base import RequestContext, UpstreamCall
from aimux_core.providers.presets import preset
from aimux_core.providers.transport import Timeouts
from aimux_core.translate.thinking import sign_reasoning
from aimux_core.translate.tool_names import encode_tool_id
from aimux_core.wire.accumulate import accumulate
from aimux_core.wire.anthropic import Message, MessagesRequest, StreamEvent, stream_event_adapter
from aimux_core.wire.sse import ServerSentEvent
from fakes.anthropic_upstream import AnthropicUpstream
from fakes.fixtures import anthropic_upstream, closed_port  # noqa: F401
from fakes.script import Fault, Quirk, Reply, ToolCall, Usage
from support.anthropic_grammar import check_anthropic_stream
from support.samples import BASH_TOOL, PNG_1X1

pytestmark = pytest.mark.anyio

KEY = "sk-" "ant-test-0123456789abcdef"
CLIENT_MODEL = "claude-sonnet-4-5"
GENUINE = "EqQBCkgIARABGAIiQL7tc+Zl5Q8bKTW1zJ2n3vX9Qw=="
FIXTURES = Path(__file__).parent.parent / "fixtures"
FAST = Timeouts(connect=2.0, first_byte=5.0, idle=5.0, total=10.0)


def request(**fields: Any) -> MessagesRequest:
    body = {"model": CLIENT_MODEL, "max_tokens": 1024, "messages": [{"role": "user", "content": "hi"}], **fields}
    return MessagesRequest.model_validate(body)


def call(req: MessagesRequest | None = None, *, model: str = "upstream-model", version: str | None = None,
         betas: tuple[str, ...] = ()) -> UpstreamCall:
    context = RequestContext("req_test", anthropic_version=version, betas=list(betas))
    return UpstreamCall(req or request(), model, context)


def thinking_turns(*signatures: str | None, text: str = "pondering") -> list[dict[str, Any]]:
    blocks = [{"type": "thinking", "thinking": text, **({} if s is None else {"signature": s})} for s in signatures]
    return [
        {"role": "user", "content": "run ls"},
        {"role": "assistant", "content": [*blocks, {"type": "tool_use", "id": "toolu_1", "name": "Bash",
                                                     "input": {"command": "ls"}}]},
        {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "toolu_1", "content": "a b"}]},
    ]


Make = Callable[..., AnthropicProvider]


@pytest.fixture
async def make() -> AsyncIterator[Make]:
    """Builds providers on a client of this test's own (each test has its own event loop)."""
    async with httpx.AsyncClient() as client:

        def build(fake: AnthropicUpstream | str, name: str = "anthropic", timeouts: Timeouts = FAST,
                  **changes: Any) -> AnthropicProvider:
            chosen = dataclasses.replace(preset(name), **changes) if changes else preset(name)
            base_url = fake if isinstance(fake, str) else fake.base_url
            return AnthropicProvider(name, chosen, KEY, base_url=base_url, timeouts=timeouts, client=client)

        yield build


async def collect(stream: AsyncIterator[StreamEvent]) -> list[StreamEvent]:
    return [event async for event in stream]


def without_id(message: Message) -> dict[str, Any]:
    return {k: v for k, v in message.dump().items() if k != "id"}


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


# --------------------------------------------------------------------------- stream normaliser (pure)


def events(*payloads: dict[str, Any]) -> list[StreamEvent]:
    return [stream_event_adapter.validate_python(p) for p in payloads]


START = {"type": "message_start", "message": {"id": "msg_1", "type": "message", "role": "assistant",
                                              "model": "kimi-k2", "content": [], "usage": {"input_tokens": 9}}}
STOP = {"type": "message_stop"}


def normalise(payloads: list[dict[str, Any]], *, sign: bool = False) -> list[dict[str, Any]]:
    normaliser = StreamNormaliser("moonshot", CLIENT_MODEL, sign)
    out = [event.dump() for event in events(*payloads) for event in normaliser.feed(event)]
    normaliser.finish()
    return out


def test_kimi_complete_input_in_start_becomes_one_delta() -> None:
    out = normalise([
        START,
        {"type": "content_block_start", "index": 0, "content_block": {
            "type": "tool_use", "id": "functions.Bash:0", "name": "Bash", "input": {"command": "ls -la"}}},
        {"type": "content_block_stop", "index": 0},
        {"type": "message_delta", "delta": {"stop_reason": None}},
        STOP,
    ])
    check_anthropic_stream(out)
    assert out[-2]["delta"]["stop_reason"] == "tool_use"  # implied by the content when left out
    assert out[1]["content_block"]["input"] == {}
    assert out[2]["delta"] == {"type": "input_json_delta", "partial_json": '{"command":"ls -la"}'}
    assert out[0]["message"]["model"] == CLIENT_MODEL
    assert out[0]["message"]["usage"] == {"input_tokens": 9, "output_tokens": 0, "cache_creation_input_tokens": 0,
                                          "cache_read_input_tokens": 0}
    assert out[-2]["usage"] == {"output_tokens": 0}  # missing message_delta usage tolerated
    snapshot = None
    for event in out:
        snapshot = accumulate_event(event=event, current_snapshot=snapshot, json_bufs={})  # type: ignore[arg-type]
    assert snapshot is not None and snapshot.content[0].input == {"command": "ls -la"}  # type: ignore[union-attr]


def test_kimi_start_input_not_repeated_when_real_deltas_follow() -> None:
    out = normalise([
        START,
        {"type": "content_block_start", "index": 0, "content_block": {
            "type": "tool_use", "id": "t", "name": "Bash", "input": {"command": "ls"}}},
        *({"type": "content_block_delta", "index": 0, "delta": {"type": "input_json_delta", "partial_json": part}}
          for part in ('{"comm', 'and":"ls"}')),
        {"type": "content_block_stop", "index": 0},
        {"type": "message_delta", "delta": {"stop_reason": "tool_use"}, "usage": {"output_tokens": 4}},
        STOP,
    ])
    assert accumulate(events(*out)).content[0].input == {"command": "ls"}  # type: ignore[union-attr]


def test_blocks_reindexed_forgotten_stops_added_and_missing_message_delta_synthesised() -> None:
    out = normalise([
        START,
        {"type": "content_block_start", "index": 1, "content_block": {"type": "thinking", "thinking": ""}},
        {"type": "content_block_delta", "index": 1, "delta": {"type": "thinking_delta", "thinking": "hmm"}},
        {"type": "content_block_delta", "index": 1, "delta": {"type": "signature_delta", "signature": "glm-sig"}},
        {"type": "content_block_start", "index": 2, "content_block": {"type": "text", "text": ""}},
        {"type": "content_block_delta", "index": 2, "delta": {"type": "text_delta", "text": "hi"}},
        {"type": "content_block_stop", "index": 1},  # late stop for the block closed for it: ignored
        {"type": "future_event", "payload": 1},
        STOP,
    ], sign=True)
    check_anthropic_stream([e for e in out if e["type"] != "future_event"])
    signatures = [e["delta"]["signature"] for e in out if e.get("delta", {}).get("type") == "signature_delta"]
    assert signatures == [sign_reasoning("moonshot", "hmm")]  # upstream signature replaced by aimux's
    assert {"type": "future_event", "payload": 1} in out
    assert out[-2]["type"] == "message_delta" and out[-2]["delta"]["stop_reason"] == "end_turn"


@pytest.mark.parametrize(
    ("payloads", "message"),
    [
        ([START, START], "second message_start"),
        ([{"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": "x"}}], "not open"),
        ([START, {"type": "content_block_stop", "index": 3}], "not open"),
        ([START, {"type": "error", "error": {"type": "overloaded_error", "message": "Overloaded"}}], "Overloaded"),
        ([START], "stream ended before message_stop"),
    ],
)
def test_grammar_violations_raise(payloads: list[dict[str, Any]], message: str) -> None:
    with pytest.raises(UpstreamError, match=message):
        normalise(payloads)


def test_max_tokens_cut_tool_input_is_closed_not_rejected() -> None:
    out = normalise([
        START,
        {"type": "content_block_start", "index": 0, "content_block": {"type": "tool_use", "id": "t", "name": "B",
                                                                         "input": {}}},
        {"type": "content_block_delta", "index": 0, "delta": {"type": "input_json_delta", "partial_json": '{"a": "x'}},
        {"type": "message_delta", "delta": {"stop_reason": "max_tokens"}, "usage": {"output_tokens": 5}},
        STOP,
    ])
    assert [e["type"] for e in out][-3:] == ["content_block_stop", "message_delta", "message_stop"]


def test_repairs_null_usage_counts_and_untyped_error_events() -> None:
    normaliser = StreamNormaliser("zai", CLIENT_MODEL)
    data = json.dumps({**START, "message": {**START["message"], "usage": {"input_tokens": 3, "output_tokens": None,
                                                                          "cache_read_input_tokens": None}}})
    (start,) = normaliser.feed_sse(ServerSentEvent("message_start", data))
    assert start.dump()["message"]["usage"]["cache_read_input_tokens"] == 0
    assert normaliser.feed_sse(ServerSentEvent(None, "[DONE]")) == []
    with pytest.raises(UpstreamError) as caught:
        normaliser.feed_sse(ServerSentEvent("error", '{"error": {"type": "rate_limit_error", "message": "slow"}}'))
    assert (caught.value.status, caught.value.kind) == (429, "rate_limit_error")


# --------------------------------------------------------------------------- over HTTP: answers


REPLIES = {
    "text": Reply(text="Hello there, friend. How can I help today?", usage=Usage(30, 12, 5, 7)),
    "tool_use": Reply(text="Listing.", tool_calls=[ToolCall("Bash", {"command": "ls -la", "description": "list"},
                                                            id="toolu_01A")]),
    "parallel": Reply(text=None, tool_calls=[ToolCall("Bash", {"command": "ls"}, id="toolu_01B"),
                                             ToolCall("Read", {"path": "/a"}, id="toolu_01C")]),
    "thinking": Reply(reasoning="Step 1: think hard. Step 2: answer.", signature=GENUINE, text="42"),
    "unicode": Reply(text="naïve café — 日本語 ✓", chunk_size=3,
                     tool_calls=[ToolCall("Echo", {"text": "ünï"}, id="toolu_01D")]),
}


@pytest.mark.parametrize("scenario", REPLIES)
@pytest.mark.parametrize("name", ["anthropic", "deepseek"])
async def test_stream_and_create_fold_to_the_same_message(
    make: Make, anthropic_upstream: AnthropicUpstream, name: str, scenario: str  # noqa: F811
) -> None:
    reply = REPLIES[scenario]
    anthropic_upstream.enqueue(reply, reply)
    upstream = make(anthropic_upstream, name)
    the_call = call(request(tools=[BASH_TOOL]))
    streamed = await collect(upstream.stream(the_call))
    check_anthropic_stream([e.dump() for e in streamed])
    whole = await upstream.create(the_call)
    assert without_id(accumulate(streamed)) == without_id(whole)
    assert whole.model == CLIENT_MODEL
    assert all(r.json["model"] == "upstream-model" for r in anthropic_upstream.message_requests)
    assert [r.json.get("stream") for r in anthropic_upstream.message_requests] == [True, None]
    thinking = [b for b in whole.content if b.type == "thinking"]
    if thinking:  # genuine signatures pass byte-exact; echo upstreams' reasoning is aimux-signed
        expected = GENUINE if name == "anthropic" else sign_reasoning(name, reply.full_reasoning)
        assert thinking[0].signature == expected  # type: ignore[union-attr]


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


async def test_framing_quirks_tolerated(make: Make, anthropic_upstream: AnthropicUpstream) -> None:  # noqa: F811
    reply = REPLIES["tool_use"]
    anthropic_upstream.enqueue(reply, reply.with_(quirks=frozenset({Quirk.SSE_COMMENTS, Quirk.CRLF})))
    upstream = make(anthropic_upstream)
    plain = await collect(upstream.stream(call()))
    quirky = await collect(upstream.stream(call()))
    assert without_id(accumulate(quirky)) == without_id(accumulate(plain))


def raw_sse(*payloads: dict[str, Any]) -> bytes:
    return b"".join(f"event: {p['type']}\ndata: {json.dumps(p)}\n\n".encode() for p in payloads)


async def test_kimi_quirk_over_http(make: Make, anthropic_upstream: AnthropicUpstream) -> None:  # noqa: F811
    body = raw_sse(
        START,
        {"type": "content_block_start", "index": 0, "content_block": {
            "type": "tool_use", "id": "functions.Bash:0", "name": "Bash", "input": {"command": "pwd"}}},
        {"type": "content_block_stop", "index": 0},
        {"type": "message_delta", "delta": {"stop_reason": "tool_use"}, "usage": {"output_tokens": 7}},
        STOP,
    )
    anthropic_upstream.enqueue(Fault.http(200, body=body))
    kimi = make(anthropic_upstream, "moonshot")
    streamed = await collect(kimi.stream(call()))
    check_anthropic_stream([e.dump() for e in streamed])
    tool_use = accumulate(streamed).content[0]
    assert tool_use.input == {"command": "pwd"}  # type: ignore[union-attr]
    assert tool_use.id == encode_tool_id("functions.Bash:0") != "functions.Bash:0"  # type: ignore[union-attr]
    history = [
        {"role": "user", "content": "where am I?"},
        {"role": "assistant", "content": [tool_use.dump()]},
        {"role": "user", "content": [{"type": "tool_result", "tool_use_id": tool_use.id, "content": "/"}]},  # type: ignore[union-attr]
    ]
    await kimi.create(call(request(messages=history)))
    sent = anthropic_upstream.last_request.json["messages"]
    assert sent[1]["content"][0]["id"] == sent[2]["content"][0]["tool_use_id"] == "functions.Bash:0"
    await make(anthropic_upstream).create(call(request(messages=history)))
    assert anthropic_upstream.last_request.json["messages"][1]["content"][0]["id"] == tool_use.id  # type: ignore[union-attr]


async def test_docs_stream_without_usage_is_completed(make: Make, anthropic_upstream: AnthropicUpstream) -> None:  # noqa: F811
    anthropic_upstream.enqueue(Fault.http(200, body=(FIXTURES / "anthropic_stream_thinking.sse").read_bytes()))
    streamed = [e.dump() for e in await collect(make(anthropic_upstream).stream(call()))]
    assert streamed[0]["message"]["usage"]["cache_read_input_tokens"] == 0
    assert streamed[0]["message"]["model"] == CLIENT_MODEL
    assert [e["type"] for e in streamed][-2:] == ["message_delta", "message_stop"]


async def test_glm_non_json_tool_input_is_an_upstream_error(make: Make, anthropic_upstream: AnthropicUpstream) -> None:  # noqa: F811
    broken = ToolCall("Bash", fragments=('{"command": ', "<arg_key>command</arg_key><arg_value>ls</arg_value>"))
    anthropic_upstream.enqueue(Reply(text=None, tool_calls=[broken]))
    with pytest.raises(UpstreamError, match="not a JSON object") as caught:
        await collect(make(anthropic_upstream, "zai").stream(call()))
    assert caught.value.retryable and caught.value.status == 500


async def test_count_tokens_first_party_only(make: Make, anthropic_upstream: AnthropicUpstream) -> None:  # noqa: F811
    anthropic_upstream.enqueue_count_tokens(4321)
    req = request(tools=[BASH_TOOL], stream=True, temperature=0.5)
    assert await make(anthropic_upstream).count_tokens(call(req, model="claude-x")) == 4321
    sent = anthropic_upstream.last_request
    assert sent.path == "/v1/messages/count_tokens" and sent.json["model"] == "claude-x"
    assert not {"max_tokens", "stream", "temperature"} & sent.json.keys() and sent.json["tools"]
    assert await make(anthropic_upstream, "zai").count_tokens(call(req)) is None
    assert len(anthropic_upstream.requests) == 1


# --------------------------------------------------------------------------- over HTTP: faults


@pytest.mark.parametrize(
    ("fault", "status", "kind"),
    [
        (Fault.http(429, retry_after=7), 429, "rate_limit_error"),
        (Fault.http(500), 500, "api_error"),
        (Fault.http(502, body="<html>bad gateway</html>"), 500, "api_error"),
        (Fault.http(503), 529, "overloaded_error"),
        (Fault.http(529), 529, "overloaded_error"),
        (Fault.http(400, message="messages.1.content.0: Invalid `signature` in `thinking` block"), 400,
         "invalid_request_error"),
        (Fault.http(401), 502, "api_error"),  # the gateway's key is wrong: never the client's 401
        (Fault.http(200, body={"type": "error", "error": {"type": "overloaded_error", "message": "Overloaded"}}),
         529, "overloaded_error"),
    ],
)
@pytest.mark.parametrize("streaming", [False, True])
async def test_http_errors(
    make: Make, anthropic_upstream: AnthropicUpstream, fault: Fault, status: int, kind: str, streaming: bool  # noqa: F811
) -> None:
    if streaming and fault.status == 200:
        fault = Fault.stream_error(after_events=0, error_type="overloaded_error")
    anthropic_upstream.enqueue(fault)
    upstream = make(anthropic_upstream)
    with pytest.raises(UpstreamError) as caught:
        await (collect(upstream.stream(call())) if streaming else upstream.create(call()))
    error = caught.value
    assert (error.status, error.kind, error.provider) == (status, kind, "anthropic")
    assert error.retry_after == (7.0 if fault.status == 429 else None)
    assert KEY not in error.message


STREAM_FAULTS = {
    "reset": (Fault.reset(after_events=3), 500, "connection"),
    "stall_mid_stream": (Fault.stall(2.0, after_events=3), 504, "no data"),
    "malformed": (Fault.malformed_json(after_events=3), 500, "not JSON"),
    "truncated": (Fault.truncate(after_events=4), 500, "stream ended before message_stop"),
    "event_error": (Fault.stream_error(after_events=4, error_type="overloaded_error"), 529, "Overloaded"),
    "event_rate_limit": (Fault.stream_error(after_events=3, error_type="rate_limit_error"), 429, "rate_limit"),
}


@pytest.mark.parametrize("scenario", STREAM_FAULTS)
async def test_midstream_faults(make: Make, anthropic_upstream: AnthropicUpstream, scenario: str) -> None:  # noqa: F811
    fault, status, message = STREAM_FAULTS[scenario]
    anthropic_upstream.enqueue(dataclasses.replace(fault, reply=REPLIES["text"].with_(chunk_size=4)))
    timeouts = dataclasses.replace(FAST, idle=0.3)
    received: list[StreamEvent] = []
    with pytest.raises(UpstreamError, match=message) as caught:
        async for event in make(anthropic_upstream, timeouts=timeouts).stream(call()):
            received.append(event)
    assert caught.value.status == status and caught.value.retryable
    assert received and received[0].type == "message_start"  # failed after the answer began
    assert "message_stop" not in [e.type for e in received]


@pytest.mark.parametrize("streaming", [False, True])
async def test_faults_before_the_answer(
    make: Make, anthropic_upstream: AnthropicUpstream, closed_port: int, streaming: bool  # noqa: F811
) -> None:
    timeouts = Timeouts(connect=2.0, first_byte=0.3, idle=5.0, total=0.3 if not streaming else 10.0)
    cases = [
        (Fault.stall(2.0), 504, "timeout_error"),
        (Fault.reset(after_events=None), 500, "api_error"),
        (Fault.malformed_json(), 500, "api_error"),
    ]
    for fault, status, kind in cases:
        if not streaming and fault.kind == "reset":
            fault = Fault.reset(after_events=1)  # half the JSON body, then RST
        anthropic_upstream.enqueue(fault)
        upstream = make(anthropic_upstream, timeouts=timeouts)
        with pytest.raises(UpstreamError) as caught:
            await (collect(upstream.stream(call())) if streaming else upstream.create(call()))
        assert (caught.value.status, caught.value.kind) == (status, kind), fault
    refused = make(f"http://127.0.0.1:{closed_port}")
    with pytest.raises(UpstreamError, match="connection failed") as caught:
        await (collect(refused.stream(call())) if streaming else refused.create(call()))
    assert caught.value.retryable and KEY not in caught.value.message


class ClosingTransport(httpx.AsyncHTTPTransport):
    """Counts response bodies closed, so a test can see *when* the upstream response was closed."""

    def __init__(self) -> None:
        super().__init__()
        self.closed = 0

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        response = await super().handle_async_request(request)
        response.stream = _CountedStream(response.stream, self)  # type: ignore[arg-type]
        return response


class _CountedStream(httpx.AsyncByteStream):
    def __init__(self, inner: Any, owner: ClosingTransport) -> None:
        self.inner, self.owner = inner, owner

    async def __aiter__(self) -> AsyncIterator[bytes]:
        async for chunk in self.inner:
            yield chunk

    async def aclose(self) -> None:
        self.owner.closed += 1
        await self.inner.aclose()


async def test_early_aclose_closes_the_upstream_connection(anthropic_upstream: AnthropicUpstream) -> None:  # noqa: F811
    slow = Reply(text="x" * 200, chunk_size=1, chunk_delay=0.1)  # 20 s if read to the end
    anthropic_upstream.enqueue(Reply(), Reply(), slow, Reply())
    transport = ClosingTransport()
    async with httpx.AsyncClient(transport=transport) as client:
        upstream = AnthropicProvider("anthropic", preset("anthropic"), KEY, base_url=anthropic_upstream.base_url,
                                     timeouts=FAST, client=client)
        await upstream.create(call())
        await collect(upstream.stream(call()))
        stream = upstream.stream(call())
        started = time.monotonic()
        first = [await anext(stream) for _ in range(3)]
        closed_before = transport.closed
        await stream.aclose()  # type: ignore[attr-defined]
        assert transport.closed == closed_before + 1  # closed by aclose itself, not later by the GC
        assert time.monotonic() - started < 10 and first[0].type == "message_start"
        await upstream.create(call())
    peers = [r.peer for r in anthropic_upstream.message_requests]
    assert peers[0] == peers[1] == peers[2]  # finished answers (streamed too) leave the connection reusable...
    assert peers[3] != peers[2]  # ...an abandoned stream closed it instead of draining it
