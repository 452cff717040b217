"""The ``anthropic`` adapter's stream normalisation: the pure ``StreamNormaliser`` (Kimi and GLM quirks,
reindexing, repairs, grammar violations) and answers over HTTP, streamed and whole."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from anthropic.lib.streaming._messages import accumulate_event
from anthropic_adapter_helpers import (
    CLIENT_MODEL,
    GENUINE,
    REPLIES,
    Make,
    call,
    collect,
    make,  # noqa: F401
    request,
)

from aimux_core.errors import UpstreamError
from aimux_core.providers.anthropic_stream import StreamNormaliser
from aimux_core.translate.thinking import sign_reasoning
from aimux_core.translate.tool_names import encode_tool_id
from aimux_core.wire.accumulate import accumulate
from aimux_core.wire.anthropic import Message, StreamEvent, stream_event_adapter
from aimux_core.wire.sse import ServerSentEvent
from fakes.anthropic_upstream import AnthropicUpstream
from fakes.fixtures import anthropic_upstream  # noqa: F401
from fakes.script import Fault, Quirk, Reply, ToolCall
from support.anthropic_grammar import check_anthropic_stream
from support.samples import BASH_TOOL

pytestmark = pytest.mark.anyio

FIXTURES = Path(__file__).parent.parent / "fixtures"


def without_id(message: Message) -> dict[str, Any]:
    return {k: v for k, v in message.dump().items() if k != "id"}


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


def test_max_tokens_cut_after_the_tool_block_closed_is_not_rejected() -> None:
    """First-party Anthropic closes the cut block before saying ``max_tokens`` (and may ping between)."""
    tool = {"type": "content_block_start", "index": 0, "content_block": {"type": "tool_use", "id": "t", "name": "B",
                                                                          "input": {}}}
    partial = {"type": "content_block_delta", "index": 0, "delta": {"type": "input_json_delta", "partial_json": '{"a'}}
    cut = {"type": "message_delta", "delta": {"stop_reason": "max_tokens"}, "usage": {"output_tokens": 5}}
    out = normalise([START, tool, partial, {"type": "content_block_stop", "index": 0}, {"type": "ping"}, cut, STOP])
    assert [e["type"] for e in out][-4:] == ["content_block_stop", "ping", "message_delta", "message_stop"]
    ended = {"type": "message_delta", "delta": {"stop_reason": "tool_use"}, "usage": {"output_tokens": 5}}
    with pytest.raises(UpstreamError, match="not a JSON object"):
        normalise([START, tool, partial, {"type": "content_block_stop", "index": 0}, ended, STOP])


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
    assert caught.value.retryable and caught.value.status == 502
