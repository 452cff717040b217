"""ChatChunkEncoder: canonical events → OpenAI chunks, checked against the openai SDK's accumulator."""

from __future__ import annotations

import json
from typing import Any

import openai
import pytest

from aimux_core.errors import UpstreamError
from aimux_core.translate.openai_stream_encode import ChatChunkEncoder
from aimux_core.translate.tool_names import encode_tool_id, shorten_tool_name
from aimux_core.wire.anthropic import stream_event_adapter

CHUNK_KEYS = ["id", "object", "created", "model", "choices"]


def events(*payloads: dict[str, Any]) -> list[Any]:
    return [stream_event_adapter.validate_python(p) for p in payloads]


def start(msg_id: str = "msg_1", **usage: int) -> dict[str, Any]:
    return {"type": "message_start", "message": {
        "id": msg_id, "type": "message", "role": "assistant", "model": "claude", "content": [],
        "stop_reason": None, "stop_sequence": None, "usage": {"input_tokens": 10, "output_tokens": 1, **usage}}}


def block(index: int, content_block: dict[str, Any]) -> dict[str, Any]:
    return {"type": "content_block_start", "index": index, "content_block": content_block}


def delta(index: int, d: dict[str, Any]) -> dict[str, Any]:
    return {"type": "content_block_delta", "index": index, "delta": d}


def stop(index: int) -> dict[str, Any]:
    return {"type": "content_block_stop", "index": index}


def end(reason: str = "end_turn", output: int = 5, **usage: int) -> list[dict[str, Any]]:
    return [{"type": "message_delta", "delta": {"stop_reason": reason, "stop_sequence": None},
             "usage": {"output_tokens": output, **usage}}, {"type": "message_stop"}]


# --------------------------------------------------------------------------- recorded transcripts


def test_text_transcript_through_openai_sdk(wire: Any) -> None:
    chunks = wire.encode(wire.anthropic_events("anthropic_stream_text.sse"), include_usage=True)
    final = wire.openai_sdk_completion(chunks)
    choice = final.choices[0]
    assert choice.message.content == "Hello!"
    assert choice.finish_reason == "stop"
    assert final.id == "chatcmpl-msg_1nZdL29xx5MUA1yADyHTEsnR8uuvGzszyY"
    assert final.usage.prompt_tokens == 25 and final.usage.completion_tokens == 15
    assert final.usage.total_tokens == 40


def test_tool_use_transcript_through_openai_sdk(wire: Any) -> None:
    chunks = wire.encode(wire.anthropic_events("anthropic_stream_tool_use.sse"))
    final = wire.openai_sdk_completion(chunks)
    message = final.choices[0].message
    assert message.content == "Okay, let's check the weather for San Francisco, CA:"
    (tool_call,) = message.tool_calls
    assert tool_call.id == "toolu_01T1x1fJ34qAmk2tNTrN7Up6" and tool_call.type == "function"
    assert tool_call.function.name == "get_weather"
    assert json.loads(tool_call.function.arguments) == {"location": "San Francisco, CA", "unit": "fahrenheit"}
    assert final.choices[0].finish_reason == "tool_calls"
    calls = [c["choices"][0]["delta"]["tool_calls"][0] for c in chunks
             if c["choices"] and "tool_calls" in c["choices"][0]["delta"]]
    # the tool block is Anthropic index 1 but the first tool call: index 0
    assert {c["index"] for c in calls} == {0}
    # held until the block closes, then sent whole: one chunk with the id, the name and all 9 fragments
    (whole,) = calls
    assert whole["function"]["arguments"] == '{"location": "San Francisco, CA", "unit": "fahrenheit"}'


def test_thinking_transcript_dropped_by_default(wire: Any) -> None:
    chunks = wire.encode(wire.anthropic_events("anthropic_stream_thinking.sse"))
    final = wire.openai_sdk_completion(chunks)
    assert final.choices[0].message.content == "27 * 453 = 12,231"
    assert not any("reasoning_content" in c["choices"][0]["delta"] for c in chunks if c["choices"])


def test_thinking_transcript_as_reasoning_content_when_opted_in(wire: Any) -> None:
    chunks = wire.encode(wire.anthropic_events("anthropic_stream_thinking.sse"), include_reasoning=True)
    final = wire.openai_sdk_completion(chunks)
    reasoning = "".join(c["choices"][0]["delta"].get("reasoning_content", "") for c in chunks if c["choices"])
    assert reasoning.startswith("Let me solve this step by step") and reasoning.endswith("= 12,231")
    assert final.choices[0].message.content == "27 * 453 = 12,231"


# --------------------------------------------------------------------------- chunk shapes


def test_chunk_shapes_with_usage() -> None:
    encoder = ChatChunkEncoder(model="gpt-4o", created=123, include_usage=True)
    first = encoder.feed(events(start("msg_9", cache_read_input_tokens=30, cache_creation_input_tokens=5))[0])
    assert first == [{"id": "chatcmpl-msg_9", "object": "chat.completion.chunk", "created": 123, "model": "gpt-4o",
                      "choices": [{"index": 0, "delta": {"role": "assistant", "content": ""}, "logprobs": None,
                                   "finish_reason": None}], "usage": None}]
    out = []
    for e in events(block(0, {"type": "text", "text": ""}), delta(0, {"type": "text_delta", "text": "Hi"}), stop(0),
                    *end("max_tokens", 7)):
        out += encoder.feed(e)
    assert [list(c) for c in out] == [[*CHUNK_KEYS, "usage"]] * 3
    assert out[0]["choices"][0]["delta"] == {"content": "Hi"}
    assert out[1]["choices"][0] == {"index": 0, "delta": {}, "logprobs": None, "finish_reason": "length"}
    assert out[2]["choices"] == []
    assert out[2]["usage"] == {"prompt_tokens": 45, "completion_tokens": 7, "total_tokens": 52,
                               "prompt_tokens_details": {"cached_tokens": 30}}
    assert encoder.finish() == []


def test_no_usage_chunk_and_no_usage_key_without_include_usage(wire: Any) -> None:
    chunks = wire.encode(events(start(), block(0, {"type": "text", "text": ""}),
                                delta(0, {"type": "text_delta", "text": "a"}), stop(0), *end()))
    assert all(list(c) == CHUNK_KEYS for c in chunks)
    assert chunks[-1]["choices"][0]["finish_reason"] == "stop"


def test_usage_chunk_emitted_by_finish_when_message_stop_missing() -> None:
    encoder = ChatChunkEncoder(model="m", created=1, include_usage=True)
    for e in events(start(), *end()[:1]):
        encoder.feed(e)
    (last,) = encoder.finish()
    assert last["choices"] == [] and last["usage"]["completion_tokens"] == 5


def test_no_finish_chunk_means_no_usage_chunk() -> None:
    encoder = ChatChunkEncoder(model="m", created=1, include_usage=True)
    encoder.feed(events(start())[0])
    assert encoder.finish() == []


def test_later_message_delta_updates_usage_only() -> None:
    encoder = ChatChunkEncoder(model="m", created=1, include_usage=True)
    out = []
    for e in events(start(), *end("end_turn", 3)[:1], *end("end_turn", 9, input_tokens=12)):
        out += encoder.feed(e)
    assert [c["choices"][0]["finish_reason"] for c in out if c["choices"]] == [None, "stop"]
    assert out[-1]["usage"]["completion_tokens"] == 9 and out[-1]["usage"]["prompt_tokens"] == 12


@pytest.mark.parametrize(
    ("reason", "finish"),
    [("end_turn", "stop"), ("stop_sequence", "stop"), ("max_tokens", "length"), ("tool_use", "tool_calls"),
     ("refusal", "content_filter"), ("pause_turn", "stop"), ("model_context_window_exceeded", "length"),
     ("brand_new", "stop")],
)
def test_stop_reason_mapping(wire: Any, reason: str, finish: str) -> None:
    body = [start()]
    if reason == "tool_use":
        body += [block(0, {"type": "tool_use", "id": "t", "name": "f", "input": {}}), stop(0)]
    chunks = wire.encode(events(*body, *end(reason)))
    assert chunks[-1]["choices"][0]["finish_reason"] == finish


def test_tool_use_without_tool_blocks_finishes_stop(wire: Any) -> None:
    chunks = wire.encode(events(start(), *end("tool_use")))
    assert chunks[-1]["choices"][0]["finish_reason"] == "stop"


def test_two_tools_get_indexes_zero_and_one(wire: Any) -> None:
    body = events(
        start(), block(0, {"type": "thinking", "thinking": "", "signature": ""}),
        delta(0, {"type": "signature_delta", "signature": "sig"}), stop(0),
        block(1, {"type": "tool_use", "id": "t1", "name": "a", "input": {}}),
        delta(1, {"type": "input_json_delta", "partial_json": '{"x":1}'}), stop(1),
        block(2, {"type": "tool_use", "id": "t2", "name": "b", "input": {}}), stop(2), *end("tool_use"))
    final = wire.openai_sdk_completion(wire.encode(body))
    calls = final.choices[0].message.tool_calls
    assert [(c.id, c.function.name, c.function.arguments) for c in calls] == [("t1", "a", '{"x":1}'), ("t2", "b", "{}")]
    assert final.choices[0].message.content is None or final.choices[0].message.content == ""


def test_full_input_in_block_start_is_sent_once(wire: Any) -> None:
    body = events(start(), block(0, {"type": "tool_use", "id": "k", "name": "Bash", "input": {"cmd": "ls"}}), stop(0),
                  *end("tool_use"))
    final = wire.openai_sdk_completion(wire.encode(body))
    assert final.choices[0].message.tool_calls[0].function.arguments == '{"cmd":"ls"}'


def test_tool_ids_and_names_restored_for_the_client(wire: Any) -> None:
    long_name = "mcp__" + "x" * 80
    body = events(start(), block(0, {"type": "tool_use", "id": encode_tool_id("functions.Bash:0"),
                                     "name": shorten_tool_name(long_name), "input": {}}), stop(0), *end("tool_use"))
    chunks = wire.encode(body, tool_names=[long_name])
    call = chunks[1]["choices"][0]["delta"]["tool_calls"][0]
    assert call == {"index": 0, "id": "functions.Bash:0", "type": "function",
                    "function": {"name": long_name, "arguments": "{}"}}


def test_tool_call_without_input_gets_empty_object_arguments(wire: Any) -> None:
    """Anthropic streams a call without input as a start, maybe an empty ``input_json_delta``, a stop;
    the SDK accumulator must end with ``"{}"`` (as the non-streaming path sends), never ``""``."""
    body = events(start(), block(0, {"type": "tool_use", "id": "toolu_now", "name": "now", "input": {}}),
                  delta(0, {"type": "input_json_delta", "partial_json": ""}), stop(0), *end("tool_use"))
    final = wire.openai_sdk_completion(wire.encode(body))
    (call,) = final.choices[0].message.tool_calls
    assert (call.id, call.function.name, call.function.arguments) == ("toolu_now", "now", "{}")


def test_tool_call_cut_by_max_tokens_is_dropped_and_finish_stays_length(wire: Any) -> None:
    body = events(start(), block(0, {"type": "text", "text": ""}), delta(0, {"type": "text_delta", "text": "Ok."}),
                  stop(0), block(1, {"type": "tool_use", "id": "t1", "name": "a", "input": {}}),
                  delta(1, {"type": "input_json_delta", "partial_json": '{"x":1}'}), stop(1),
                  block(2, {"type": "tool_use", "id": "t2", "name": "Write", "input": {}}),
                  delta(2, {"type": "input_json_delta", "partial_json": '{"path":"/tmp/a","content":"hel'}),
                  stop(2), *end("max_tokens"))
    chunks = wire.encode(body)
    with pytest.raises(openai.LengthFinishReasonError) as raised:  # the SDK's helper attaches the completion
        wire.openai_sdk_completion(chunks)
    choice = raised.value.completion.choices[0]
    assert choice.finish_reason == "length"
    assert [(c.id, c.function.arguments) for c in choice.message.tool_calls] == [("t1", '{"x":1}')]
    sent = [c for c in chunks if c["choices"] and "tool_calls" in c["choices"][0]["delta"]]
    assert len(sent) == 1, "nothing of the cut call reaches the client, not even its name"


def test_text_streams_while_a_later_tool_call_is_held(wire: Any) -> None:
    encoder = ChatChunkEncoder(model="m", created=1)
    out = [encoder.feed(e) for e in events(
        start(), block(0, {"type": "text", "text": ""}), delta(0, {"type": "text_delta", "text": "a"}),
        stop(0), block(1, {"type": "tool_use", "id": "t", "name": "f", "input": {}}),
        delta(1, {"type": "input_json_delta", "partial_json": '{"k":'}),
        delta(1, {"type": "input_json_delta", "partial_json": '"v"}'}), stop(1))]
    assert [len(chunks) for chunks in out] == [1, 0, 1, 0, 0, 0, 0, 1]
    assert out[-1][0]["choices"][0]["delta"]["tool_calls"][0]["function"]["arguments"] == '{"k":"v"}'


def test_server_tool_and_redacted_blocks_are_skipped(wire: Any) -> None:
    body = events(start(), block(0, {"type": "redacted_thinking", "data": "xx"}), stop(0),
                  block(1, {"type": "server_tool_use", "id": "srvtoolu_1", "name": "web_search", "input": {}}),
                  delta(1, {"type": "input_json_delta", "partial_json": '{"q":"a"}'}), stop(1),
                  block(2, {"type": "text", "text": ""}), delta(2, {"type": "citations_delta", "citation": {}}),
                  delta(2, {"type": "text_delta", "text": "ok"}), stop(2), {"type": "ping"}, *end())
    chunks = wire.encode(body)
    assert [c["choices"][0]["delta"] for c in chunks] == [{"role": "assistant", "content": ""}, {"content": "ok"}, {}]


def test_error_event_is_raised_for_the_surface() -> None:
    encoder = ChatChunkEncoder(model="m", created=1)
    encoder.feed(events(start())[0])
    err = events({"type": "error", "error": {"type": "overloaded_error", "message": "Overloaded"}})[0]
    with pytest.raises(UpstreamError, match="Overloaded") as info:
        encoder.feed(err)
    assert info.value.status == 529 and info.value.kind == "overloaded_error"


def test_decoder_output_reencodes_to_the_same_answer(wire: Any) -> None:
    """OpenAI upstream → canonical → OpenAI client keeps text, calls and usage."""
    canonical = wire.decode(wire.openai_chunks("openai_stream_tool_calls.sse"))
    final = wire.openai_sdk_completion(wire.encode(canonical, include_usage=True))
    (call,) = final.choices[0].message.tool_calls
    assert (call.id, call.function.name) == ("call_7PhhveOvvpPK53s1fV8TWhoV", "GetWeatherArgs")
    assert json.loads(call.function.arguments) == {"city": "Edinburgh", "country": "GB", "units": "c"}
    assert final.usage.prompt_tokens == 76 and final.usage.completion_tokens == 24
