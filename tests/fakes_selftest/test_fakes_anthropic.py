"""The fake Anthropic upstream, driven by the official anthropic SDK over loopback: replies
parse and fold, the stream obeys the grammar, faults surface as the SDK's own exceptions."""

from __future__ import annotations

import time
from typing import Any

import anthropic
import httpx2
import pytest

from fakes import AnthropicUpstream, Fault, Quirk, Reply, ToolCall, Usage
from support.anthropic_grammar import check_anthropic_stream, parse_anthropic_sse

MESSAGES: list[Any] = [{"role": "user", "content": "hi"}]
RAW_TYPES = {"message_start", "content_block_start", "content_block_delta", "content_block_stop", "message_delta",
             "message_stop", "ping"}


def client(fake: AnthropicUpstream, *, read: float = 5.0) -> anthropic.Anthropic:
    return anthropic.Anthropic(base_url=fake.base_url, api_key="x", max_retries=0,
                               timeout=httpx2.Timeout(5.0, read=read))


def raw_stream(fake: AnthropicUpstream, **body: Any) -> bytes:
    """The undecoded SSE body, to check framing the SDK would hide."""
    payload = {"model": "claude-fake", "max_tokens": 16, "messages": MESSAGES, "stream": True, **body}
    headers = {"x-api-key": "x", "anthropic-version": "2023-06-01"}
    return httpx2.post(f"{fake.base_url}/v1/messages", json=payload, headers=headers, timeout=5).content


def test_create_default_reply_and_request_recording(anthropic_upstream: AnthropicUpstream) -> None:
    message = client(anthropic_upstream).messages.create(
        model="claude-sonnet-4-5", max_tokens=64, messages=MESSAGES, extra_headers={"anthropic-beta": "a-1,b-2"})
    assert message.content[0].type == "text" and message.content[0].text == "Hello!"
    assert message.model == "claude-sonnet-4-5" and message.stop_reason == "end_turn"
    assert message.usage.input_tokens == 25 and message.usage.output_tokens == 15
    seen = anthropic_upstream.last_request
    assert seen.method == "POST" and seen.path == "/v1/messages"
    assert seen.headers["anthropic-beta"] == "a-1,b-2" and "anthropic-version" in seen.headers
    assert seen.json["model"] == "claude-sonnet-4-5" and seen.json["max_tokens"] == 64


def test_stream_folds_thinking_text_and_parallel_tools(anthropic_upstream: AnthropicUpstream) -> None:
    reply = Reply(
        reasoning="Let me think about this.", signature="EqQBsig", text="The answer is 42.", chunk_size=5,
        tool_calls=[ToolCall("get_weather", {"city": "Paris", "unit": "c"}), ToolCall("now", "")],
        usage=Usage(input_tokens=7, output_tokens=33, cache_read_input_tokens=100, cache_creation_input_tokens=20),
    )
    anthropic_upstream.enqueue(reply)
    with client(anthropic_upstream).messages.stream(model="claude-x", max_tokens=64, messages=MESSAGES) as stream:
        events = [event.model_dump() for event in stream]
        final = stream.get_final_message()
    check_anthropic_stream([e for e in events if e["type"] in RAW_TYPES])
    thinking, text, weather, now = final.content
    assert thinking.type == "thinking" and thinking.thinking == reply.full_reasoning
    assert thinking.signature == "EqQBsig"
    assert text.type == "text" and text.text == "The answer is 42."
    assert weather.type == "tool_use" and weather.input == {"city": "Paris", "unit": "c"}
    assert now.type == "tool_use" and now.name == "now" and now.input == {}
    assert weather.id != now.id and final.stop_reason == "tool_use"
    assert final.usage.cache_read_input_tokens == 100 and final.usage.cache_creation_input_tokens == 20
    assert final.usage.input_tokens == 7 and final.usage.output_tokens == 33


def test_raw_stream_matches_the_documented_event_sequence(anthropic_upstream: AnthropicUpstream) -> None:
    anthropic_upstream.enqueue(Reply(text=["Hello", "!"]))
    events = parse_anthropic_sse(raw_stream(anthropic_upstream))
    assert [e["type"] for e in events] == [  # as in fixtures/anthropic_stream_text.sse
        "message_start", "content_block_start", "ping", "content_block_delta", "content_block_delta",
        "content_block_stop", "message_delta", "message_stop"]
    check_anthropic_stream(events)
    assert events[0]["message"]["usage"]["output_tokens"] == 1
    assert events[1]["content_block"] == {"type": "text", "text": ""}
    assert events[-2]["delta"] == {"stop_reason": "end_turn", "stop_sequence": None}
    assert events[-2]["usage"]["output_tokens"] == 15


def test_tool_input_arrives_only_through_input_json_delta(anthropic_upstream: AnthropicUpstream) -> None:
    anthropic_upstream.enqueue(Reply(text=None, tool_calls=[ToolCall("f", fragments=('{"a"', ':', ' 1}'))]))
    events = parse_anthropic_sse(raw_stream(anthropic_upstream))
    start = next(e for e in events if e["type"] == "content_block_start")
    assert start["content_block"]["input"] == {}
    partials = [e["delta"]["partial_json"] for e in events if e["type"] == "content_block_delta"]
    assert partials == ["", '{"a"', ":", " 1}"]


@pytest.mark.parametrize(
    ("status", "exc", "error_type"),
    [
        (429, anthropic.RateLimitError, "rate_limit_error"),
        (500, anthropic.InternalServerError, "api_error"),
        (502, anthropic.InternalServerError, "api_error"),
        (503, anthropic.InternalServerError, "api_error"),
        (529, anthropic.InternalServerError, "overloaded_error"),
        (401, anthropic.AuthenticationError, "authentication_error"),
        (404, anthropic.NotFoundError, "not_found_error"),
    ],
)
def test_http_errors_use_the_anthropic_error_shape(
    anthropic_upstream: AnthropicUpstream, status: int, exc: type[Exception], error_type: str
) -> None:
    anthropic_upstream.enqueue(Fault.http(status, retry_after=7 if status == 429 else None))
    with pytest.raises(exc) as caught:
        client(anthropic_upstream).messages.create(model="m", max_tokens=8, messages=MESSAGES)
    error = caught.value
    assert isinstance(error, anthropic.APIStatusError) and error.status_code == status
    assert error.body["type"] == "error" and error.body["error"]["type"] == error_type
    assert error.body["request_id"].startswith("req_") and error.request_id == error.body["request_id"]
    if status == 429:
        assert error.response.headers["retry-after"] == "7"


def test_queue_is_fifo_then_default(anthropic_upstream: AnthropicUpstream) -> None:
    anthropic_upstream.enqueue(Fault.http(529), Reply(text="second"))
    sdk = client(anthropic_upstream)
    with pytest.raises(anthropic.InternalServerError):
        sdk.messages.create(model="m", max_tokens=8, messages=MESSAGES)
    assert sdk.messages.create(model="m", max_tokens=8, messages=MESSAGES).content[0].text == "second"
    assert sdk.messages.create(model="m", max_tokens=8, messages=MESSAGES).content[0].text == "Hello!"
    assert len(anthropic_upstream.message_requests) == 3


def test_mid_stream_error_event(anthropic_upstream: AnthropicUpstream) -> None:
    anthropic_upstream.enqueue(Fault.stream_error(3, error_type="overloaded_error"))
    with pytest.raises(anthropic.APIStatusError) as caught:
        for _ in client(anthropic_upstream).messages.create(model="m", max_tokens=8, messages=MESSAGES, stream=True):
            pass
    assert caught.value.body == {"type": "error", "error": {"type": "overloaded_error", "message": "Overloaded"}}
    anthropic_upstream.enqueue(Fault.stream_error(3))
    events = parse_anthropic_sse(raw_stream(anthropic_upstream))
    check_anthropic_stream(events, allow_error=True)
    assert events[-1]["type"] == "error" and len(events) == 4


def test_truncated_stream_lacks_the_final_events(anthropic_upstream: AnthropicUpstream) -> None:
    anthropic_upstream.enqueue(Fault.truncate(4, reply=Reply(text="a long answer", chunk_size=2)))
    events = parse_anthropic_sse(raw_stream(anthropic_upstream))
    assert [e["type"] for e in events] == ["message_start", "content_block_start", "ping", "content_block_delta"]


def test_reset_mid_stream_surfaces_as_a_transport_error(anthropic_upstream: AnthropicUpstream) -> None:
    anthropic_upstream.enqueue(Fault.reset(3))
    received = []
    # Older SDKs let the transport error out of the iterator; from 2.17 it arrives wrapped.
    with pytest.raises((httpx2.ReadError, anthropic.APIConnectionError)):
        for event in client(anthropic_upstream).messages.create(model="m", max_tokens=8, messages=MESSAGES,
                                                                 stream=True):
            received.append(event.type)
    assert received[:1] == ["message_start"]


@pytest.mark.parametrize("fault", [Fault.reset(None), Fault.disconnect(), Fault.reset(1)], ids=str)
def test_connection_faults_before_the_body_raise_api_connection_error(
    anthropic_upstream: AnthropicUpstream, fault: Fault
) -> None:
    anthropic_upstream.enqueue(fault)
    with pytest.raises(anthropic.APIConnectionError):
        client(anthropic_upstream).messages.create(model="m", max_tokens=8, messages=MESSAGES)


def test_disconnect_mid_stream_is_an_incomplete_body(anthropic_upstream: AnthropicUpstream) -> None:
    anthropic_upstream.enqueue(Fault.disconnect(3))
    with pytest.raises(httpx2.RemoteProtocolError):
        raw_stream(anthropic_upstream)


def test_stall_before_first_byte_is_bounded(anthropic_upstream: AnthropicUpstream) -> None:
    anthropic_upstream.enqueue(Fault.stall(30))
    started = time.monotonic()
    with pytest.raises(anthropic.APITimeoutError):
        client(anthropic_upstream, read=0.3).messages.create(model="m", max_tokens=8, messages=MESSAGES)
    assert time.monotonic() - started < 10  # the read timeout, not the 30 s stall
    anthropic_upstream.enqueue(Fault.stall(0.2, reply=Reply(text="late")))
    message = client(anthropic_upstream).messages.create(model="m", max_tokens=8, messages=MESSAGES)
    assert message.content[0].text == "late"


def test_stall_mid_stream_then_read_timeout(anthropic_upstream: AnthropicUpstream) -> None:
    anthropic_upstream.enqueue(Fault.stall(30, after_events=3))
    started = time.monotonic()
    slow_client = client(anthropic_upstream, read=0.3)
    timed_out = pytest.raises((httpx2.ReadTimeout, anthropic.APITimeoutError))  # wrapped from SDK 2.17
    with timed_out, slow_client.messages.stream(model="m", max_tokens=8, messages=MESSAGES) as stream:
        stream.get_final_message()
    assert time.monotonic() - started < 10  # the read timeout, not the 30 s stall


def test_malformed_json(anthropic_upstream: AnthropicUpstream) -> None:
    anthropic_upstream.enqueue(Fault.malformed_json())
    with pytest.raises(ValueError, match="line 1"):
        client(anthropic_upstream).messages.create(model="m", max_tokens=8, messages=MESSAGES)
    anthropic_upstream.enqueue(Fault.malformed_json(after_events=2))
    with pytest.raises(ValueError, match="line 1"):
        for _ in client(anthropic_upstream).messages.create(model="m", max_tokens=8, messages=MESSAGES, stream=True):
            pass


def test_comment_lines_and_crlf_framing_still_fold(anthropic_upstream: AnthropicUpstream) -> None:
    reply = Reply(text="framed text", chunk_size=3, quirks=frozenset({Quirk.SSE_COMMENTS, Quirk.CRLF}))
    anthropic_upstream.enqueue(reply, reply)
    raw = raw_stream(anthropic_upstream)
    assert raw.startswith(b": OPENROUTER PROCESSING\r\n\r\nevent: message_start\r\ndata: ")
    assert b"\n" not in raw.replace(b"\r\n", b"")
    with client(anthropic_upstream).messages.stream(model="m", max_tokens=8, messages=MESSAGES) as stream:
        assert stream.get_final_message().content[0].text == "framed text"


def test_count_tokens_and_beta_query(anthropic_upstream: AnthropicUpstream) -> None:
    sdk = client(anthropic_upstream)
    assert sdk.messages.count_tokens(model="m", messages=MESSAGES).input_tokens == 2095
    anthropic_upstream.enqueue_count_tokens(42, Fault.http(529))
    counted = sdk.messages.count_tokens(model="m", messages=MESSAGES, extra_query={"beta": "true"},
                                        extra_headers={"anthropic-beta": "x-1"})  # as Claude Code calls it
    assert counted.input_tokens == 42
    assert anthropic_upstream.last_request.query == {"beta": ["true"]}
    assert anthropic_upstream.last_request.headers["anthropic-beta"] == "x-1"
    assert anthropic_upstream.last_request.path == "/v1/messages/count_tokens"
    with pytest.raises(anthropic.InternalServerError):
        sdk.messages.count_tokens(model="m", messages=MESSAGES)
    assert anthropic_upstream.message_requests == []


def test_strict_mode_rejects_like_the_real_api_without_consuming_the_script(
    anthropic_upstream: AnthropicUpstream,
) -> None:
    anthropic_upstream.enqueue(Reply(text="kept"))
    url = f"{anthropic_upstream.base_url}/v1/messages"
    body = {"model": "m", "max_tokens": 8, "messages": MESSAGES}
    no_version = httpx2.post(url, json=body, headers={"x-api-key": "x"})
    assert no_version.status_code == 400 and no_version.json()["error"]["type"] == "invalid_request_error"
    no_auth = httpx2.post(url, json=body, headers={"anthropic-version": "2023-06-01"})
    assert no_auth.status_code == 401
    no_model = httpx2.post(url, json={"max_tokens": 8, "messages": MESSAGES},
                           headers={"x-api-key": "x", "anthropic-version": "2023-06-01"})
    assert no_model.status_code == 400 and "model" in no_model.json()["error"]["message"]
    unknown = httpx2.get(f"{anthropic_upstream.base_url}/v1/nothing")
    assert unknown.status_code == 404 and unknown.json()["error"]["type"] == "not_found_error"
    assert client(anthropic_upstream).messages.create(model="m", max_tokens=8, messages=MESSAGES).content[0].text \
        == "kept"


def test_connection_refused(anthropic_upstream: AnthropicUpstream, closed_port: int) -> None:
    dead = anthropic.Anthropic(base_url=f"http://127.0.0.1:{closed_port}", api_key="x", max_retries=0)
    with pytest.raises(anthropic.APIConnectionError):
        dead.messages.create(model="m", max_tokens=8, messages=MESSAGES)
    sdk = client(anthropic_upstream)
    sdk.messages.create(model="m", max_tokens=8, messages=MESSAGES)  # leaves a pooled keep-alive connection
    anthropic_upstream.go_offline()
    with pytest.raises(anthropic.APIConnectionError):
        sdk.messages.create(model="m", max_tokens=8, messages=MESSAGES)
    anthropic_upstream.go_online()
    assert sdk.messages.create(model="m", max_tokens=8, messages=MESSAGES).content[0].text == "Hello!"
