"""Non-streaming answers: canonical Message ⇄ OpenAI chat.completion."""

from __future__ import annotations

import json
from typing import Any

import pytest
from openai.types.chat import ChatCompletion

from aimux_core.errors import UpstreamError
from aimux_core.translate.openai_response import chat_completion_to_message, message_to_chat_completion
from aimux_core.translate.tool_names import decode_tool_id, encode_tool_id, shorten_tool_name
from aimux_core.wire.anthropic import Message


def message(content: list[dict[str, Any]], stop: str | None = "end_turn", **usage: int) -> Message:
    return Message.model_validate({"id": "msg_1", "model": "claude", "content": content, "stop_reason": stop,
                                   "stop_sequence": None,
                                   "usage": {"input_tokens": 10, "output_tokens": 4, **usage}})


def completion(msg: dict[str, Any], finish: str | None = "stop", usage: dict[str, Any] | None = None) -> dict[str, Any]:
    body: dict[str, Any] = {"id": "chatcmpl-1", "object": "chat.completion", "created": 1, "model": "up",
                            "choices": [{"index": 0, "message": {"role": "assistant", **msg}, "finish_reason": finish}]}
    if usage is not None:
        body["usage"] = usage
    return body


# --------------------------------------------------------------------------- canonical → OpenAI


def test_anthropic_fixture_to_chat_completion(wire: Any) -> None:
    msg = Message.model_validate(wire.json_fixture("anthropic_response_tool_use.json"))
    out = message_to_chat_completion(msg, model="gpt-4o", created=1700000000)
    assert out == {
        "id": "chatcmpl-msg_01Aq9w938a90dw8q",
        "object": "chat.completion",
        "created": 1700000000,
        "model": "gpt-4o",
        "choices": [{
            "index": 0,
            "message": {
                "role": "assistant",
                "content": "I'll check the current weather in San Francisco for you.",
                "refusal": None,
                "tool_calls": [{"id": "toolu_01A09q90qw90lq917835lq9", "type": "function",
                                "function": {"name": "get_weather",
                                             "arguments": '{"location":"San Francisco, CA","unit":"celsius"}'}}],
                "annotations": [],
            },
            "logprobs": None,
            "finish_reason": "tool_calls",
        }],
        "usage": {"prompt_tokens": 472, "completion_tokens": 89, "total_tokens": 561,
                  "prompt_tokens_details": {"cached_tokens": 0}},
    }
    ChatCompletion.model_validate(out)  # the SDK accepts the shape


@pytest.mark.parametrize(
    ("stop", "finish"),
    [("end_turn", "stop"), ("stop_sequence", "stop"), ("max_tokens", "length"), ("refusal", "content_filter"),
     ("pause_turn", "stop"), ("model_context_window_exceeded", "length"), (None, "stop")],
)
def test_stop_reason_to_finish_reason(stop: str | None, finish: str) -> None:
    out = message_to_chat_completion(message([{"type": "text", "text": "x"}], stop), model="m", created=0)
    assert out["choices"][0]["finish_reason"] == finish


def test_tool_use_stop_without_tool_blocks_is_stop() -> None:
    out = message_to_chat_completion(message([{"type": "text", "text": "x"}], "tool_use"), model="m", created=0)
    assert out["choices"][0]["finish_reason"] == "stop"


def test_no_text_gives_null_content_and_empty_input_gives_braces() -> None:
    msg = message([{"type": "tool_use", "id": "t", "name": "now", "input": {}}], "tool_use")
    out = message_to_chat_completion(msg, model="m", created=0)
    choice_msg = out["choices"][0]["message"]
    assert choice_msg["content"] is None
    assert choice_msg["tool_calls"][0]["function"]["arguments"] == "{}"


def test_usage_includes_cache_in_prompt_tokens() -> None:
    msg = message([{"type": "text", "text": "x"}], cache_read_input_tokens=100, cache_creation_input_tokens=20)
    usage = message_to_chat_completion(msg, model="m", created=0)["usage"]
    assert usage == {"prompt_tokens": 130, "completion_tokens": 4, "total_tokens": 134,
                     "prompt_tokens_details": {"cached_tokens": 100}}


def test_thinking_only_on_request_and_texts_concatenated() -> None:
    msg = message([{"type": "thinking", "thinking": "hmm", "signature": "s"}, {"type": "text", "text": "a"},
                   {"type": "redacted_thinking", "data": "zz"}, {"type": "text", "text": "b"}])
    plain = message_to_chat_completion(msg, model="m", created=0)["choices"][0]["message"]
    assert plain["content"] == "ab" and "reasoning_content" not in plain
    opted = message_to_chat_completion(msg, model="m", created=0, include_reasoning=True)["choices"][0]["message"]
    assert opted["reasoning_content"] == "hmm"


def test_names_and_ids_restored_to_client_originals() -> None:
    long_name = "a" * 70
    msg = message([{"type": "tool_use", "id": encode_tool_id("functions.Read:3"), "name": shorten_tool_name(long_name),
                    "input": {"p": "é"}}], "tool_use")
    out = message_to_chat_completion(msg, model="m", created=0, tool_names=[long_name])
    call = out["choices"][0]["message"]["tool_calls"][0]
    assert call["id"] == "functions.Read:3" and call["function"]["name"] == long_name
    assert call["function"]["arguments"] == '{"p":"é"}'


# --------------------------------------------------------------------------- OpenAI → canonical


def test_openai_fixture_to_message(wire: Any) -> None:
    msg = chat_completion_to_message(wire.json_fixture("openai_response_tool_calls.json"), model="claude-x")
    assert msg.dump() == {
        "id": "chatcmpl-abc123", "type": "message", "role": "assistant", "model": "claude-x",
        "content": [{"type": "tool_use", "id": "call_abc123", "name": "get_current_weather",
                     "input": {"location": "Boston, MA"}}],
        "stop_reason": "tool_use", "stop_sequence": None,
        "usage": {"input_tokens": 82, "output_tokens": 17, "cache_creation_input_tokens": 0,
                  "cache_read_input_tokens": 0},
    }


@pytest.mark.parametrize("upstream_id", ["gen/1:2", "", None, 42])
def test_unsafe_or_missing_upstream_id_gets_a_fresh_message_id(upstream_id: Any) -> None:
    body = completion({"content": "hi"})
    body["id"] = upstream_id
    first, second = (chat_completion_to_message(body, model="m").id for _ in range(2))
    assert first.startswith("msg_") and second.startswith("msg_") and first != second


@pytest.mark.parametrize("field", ["reasoning_content", "reasoning"])
def test_reasoning_fields_become_leading_thinking(field: str) -> None:
    msg = chat_completion_to_message(completion({"content": "42", field: "let me see"}), model="m")
    assert [b.dump() for b in msg.content] == [{"type": "thinking", "thinking": "let me see", "signature": ""},
                                               {"type": "text", "text": "42"}]


def test_reasoning_details_and_signer() -> None:
    body = completion({"content": "x", "reasoning_details": [{"type": "reasoning.text", "text": "a"},
                                                             {"type": "reasoning.encrypted", "data": "zzz"},
                                                             {"type": "reasoning.text", "text": "b"}]})
    msg = chat_completion_to_message(body, model="m", signer=lambda t: f"aimux1.{t}")
    assert msg.content[0].dump() == {"type": "thinking", "thinking": "ab", "signature": "aimux1.ab"}


@pytest.mark.parametrize(
    ("msg", "finish", "stop"),
    [
        ({"content": "x"}, "stop", "end_turn"),
        ({"content": None, "tool_calls": [{"id": "c", "type": "function", "function": {"name": "f", "arguments": ""}}]},
         "stop", "tool_use"),
        ({"content": "x"}, "tool_calls", "end_turn"),
        ({"content": "x"}, "length", "max_tokens"),
        ({"content": "x"}, "content_filter", "refusal"),
        ({"content": None, "refusal": "No."}, "stop", "refusal"),
        ({"content": "x"}, None, "end_turn"),
    ],
)
def test_finish_reason_to_stop_reason(msg: dict[str, Any], finish: str | None, stop: str) -> None:
    assert chat_completion_to_message(completion(msg, finish), model="m").stop_reason == stop


def test_tool_calls_ids_normalised_and_empty_arguments() -> None:
    body = completion({"content": "Let me look.", "tool_calls": [
        {"id": "functions.Bash:0", "type": "function", "function": {"name": "Bash", "arguments": ""}},
        {"type": "function", "function": {"name": "Read", "arguments": '{"path": "/x"}'}},
    ]}, "tool_calls")
    msg = chat_completion_to_message(body, model="m", message_id="msg_7")
    text, bash, read = msg.content
    assert text.text == "Let me look."
    assert decode_tool_id(bash.id) == "functions.Bash:0" and bash.input == {}
    assert read.id == "toolu_msg_7_1" and read.input == {"path": "/x"}


def test_legacy_function_call_in_response() -> None:
    body = completion({"content": None, "function_call": {"name": "f", "arguments": '{"a":1}'}}, "function_call")
    msg = chat_completion_to_message(body, model="m")
    assert msg.content[0].input == {"a": 1} and msg.stop_reason == "tool_use"


def test_shortened_names_restored() -> None:
    original = "x." * 40
    body = completion({"tool_calls": [{"id": "c", "type": "function",
                                       "function": {"name": shorten_tool_name(original), "arguments": "{}"}}]})
    assert chat_completion_to_message(body, model="m", tool_names=[original]).content[0].name == original


def test_usage_subtracts_cached_and_cache_write() -> None:
    usage = {"prompt_tokens": 1000, "completion_tokens": 50, "total_tokens": 1050,
             "prompt_tokens_details": {"cached_tokens": 600, "cache_write_tokens": 100}}
    msg = chat_completion_to_message(completion({"content": "x"}, usage=usage), model="m")
    assert msg.usage.dump() == {"input_tokens": 300, "output_tokens": 50, "cache_creation_input_tokens": 100,
                                "cache_read_input_tokens": 600}


def test_invalid_arguments_raise_upstream_error() -> None:
    bad = {"id": "c", "type": "function", "function": {"name": "f", "arguments": "{oops"}}
    body = completion({"tool_calls": [bad]})
    with pytest.raises(UpstreamError, match="invalid tool arguments"):
        chat_completion_to_message(body, model="m", provider="glm")


def test_call_cut_by_length_is_dropped_and_the_stop_stays_max_tokens() -> None:
    cut = {"id": "c2", "type": "function", "function": {"name": "Write", "arguments": '{"path":"/a","con'}}
    whole = {"id": "c1", "type": "function", "function": {"name": "f", "arguments": '{"x":1}'}}
    body = completion({"content": "Ok.", "tool_calls": [whole, cut]}, finish="length")
    msg = chat_completion_to_message(body, model="m", provider="glm")
    assert [(b.type, getattr(b, "id", None)) for b in msg.content] == [("text", None), ("tool_use", "c1")]
    assert msg.stop_reason == "max_tokens"


@pytest.mark.parametrize(
    "body",
    [{"error": {"message": "bad", "type": "x", "code": 500}}, {"object": "error", "message": "vllm"},
     {"id": "x", "choices": []},
     {"id": "x", "choices": [{"index": 0, "message": {"content": ""}, "finish_reason": "error",
                              "error": {"message": "provider died", "code": 502}}]}],
)
def test_error_bodies_raise(body: dict[str, Any]) -> None:
    with pytest.raises(UpstreamError):
        chat_completion_to_message(body, model="m")


def test_non_stream_and_stream_agree(wire: Any) -> None:
    """The recorded stream folds into what the non-streaming translator makes of the same answer."""
    events = wire.decode(wire.openai_chunks("openai_stream_tool_calls.sse"))
    streamed = wire.accumulate(events)
    args = "".join(tc["function"].get("arguments", "") for c in wire.openai_chunks("openai_stream_tool_calls.sse")
                   if c["choices"] for tc in c["choices"][0]["delta"].get("tool_calls") or [])
    body = completion({"content": None, "tool_calls": [{"id": "call_7PhhveOvvpPK53s1fV8TWhoV", "type": "function",
                                                        "function": {"name": "GetWeatherArgs", "arguments": args}}]},
                      "tool_calls", {"prompt_tokens": 76, "completion_tokens": 24, "total_tokens": 100})
    body["id"] = "chatcmpl-9tXjnXkjzholyB3ceNegQC7g5zP57"
    assert chat_completion_to_message(body, model="claude-sonnet-4-5").dump() == streamed.dump()
    assert json.loads(args) == streamed.content[0].input
