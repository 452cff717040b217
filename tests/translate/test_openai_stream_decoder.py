"""ChatChunkDecoder: upstream OpenAI chunks → canonical events (recorded and adversarial streams)."""

from __future__ import annotations

import itertools
import json
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from aimux_core.errors import UpstreamError
from aimux_core.translate.openai_stream import ChatChunkDecoder
from aimux_core.translate.tool_names import decode_tool_id, shorten_tool_name


def chunk(delta: dict[str, Any] | None = None, finish: str | None = None, **extra: Any) -> dict[str, Any]:
    body: dict[str, Any] = {"id": "chatcmpl-x1", "object": "chat.completion.chunk", "created": 1, "model": "up"}
    body["choices"] = [{"index": 0, "delta": delta or {}, "logprobs": None, "finish_reason": finish}]
    body.update(extra)
    return body


def usage_chunk(prompt: int = 10, completion: int = 5, **details: Any) -> dict[str, Any]:
    usage: dict[str, Any] = {"prompt_tokens": prompt, "completion_tokens": completion,
                             "total_tokens": prompt + completion}
    if details:
        usage["prompt_tokens_details"] = details
    return {"id": "chatcmpl-x1", "object": "chat.completion.chunk", "created": 1, "model": "up",
            "choices": [], "usage": usage}


def call(index: int | None, *, id: str | None = None, name: str | None = None, args: Any = None) -> dict[str, Any]:
    frag: dict[str, Any] = {}
    if index is not None:
        frag["index"] = index
    if id is not None:
        frag.update(id=id, type="function")
    fn: dict[str, Any] = {}
    if name is not None:
        fn["name"] = name
    if args is not None:
        fn["arguments"] = args
    frag["function"] = fn
    return frag


def tools(*frags: dict[str, Any]) -> dict[str, Any]:
    return {"tool_calls": list(frags)}


def run(wire: Any, chunks: list[dict[str, Any]], **kwargs: Any) -> tuple[list[Any], Any]:
    events = wire.decode(chunks, **kwargs)
    wire.check_grammar(events)
    message = wire.accumulate(events)
    sdk = wire.anthropic_sdk_message(events)
    assert [b.to_dict() for b in sdk.content] == [b.dump() for b in message.content]
    assert sdk.stop_reason == message.stop_reason
    return events, message


# --------------------------------------------------------------------------- recorded transcripts


def test_recorded_text_stream(wire: Any) -> None:
    events, message = run(wire, wire.openai_chunks("openai_stream_text.sse"), input_tokens=20)
    assert message.content[0].type == "text"
    assert message.content[0].text.startswith("I'm unable to provide real-time updates")
    assert len(message.content) == 1
    assert message.stop_reason == "end_turn"
    assert events[0].message.usage.input_tokens == 20
    assert message.model == "claude-sonnet-4-5"
    assert message.usage.input_tokens == 14 and message.usage.output_tokens == 47


def test_recorded_tool_call_stream(wire: Any) -> None:
    _, message = run(wire, wire.openai_chunks("openai_stream_tool_calls.sse"))
    assert wire.tool_inputs(message) == [("GetWeatherArgs", {"city": "Edinburgh", "country": "GB", "units": "c"})]
    assert message.content[0].id == "call_7PhhveOvvpPK53s1fV8TWhoV"
    assert message.stop_reason == "tool_use"
    assert message.usage.input_tokens == 76 and message.usage.output_tokens == 24


def test_message_start_shape(wire: Any) -> None:
    events = wire.decode([chunk({"content": "hi"}, "stop")], input_tokens=321, message_id="msg_fixed")
    start = events[0].dump()
    assert start == {
        "type": "message_start",
        "message": {"id": "msg_fixed", "type": "message", "role": "assistant", "model": "claude-sonnet-4-5",
                    "content": [], "stop_reason": None, "stop_sequence": None,
                    "usage": {"input_tokens": 321, "output_tokens": 1, "cache_creation_input_tokens": 0,
                              "cache_read_input_tokens": 0}},
    }
    assert sum(e.type == "message_start" for e in events) == 1


def test_upstream_id_kept_only_when_valid(wire: Any) -> None:
    bad = chunk({"content": "x"}, "stop")
    bad["id"] = "gen/1:2"
    assert wire.decode([bad])[0].message.id.startswith("msg_")
    assert wire.decode([chunk({"content": "x"}, "stop")])[0].message.id == "chatcmpl-x1"


# --------------------------------------------------------------------------- held message_delta


def test_message_delta_held_until_usage_chunk() -> None:
    decoder = ChatChunkDecoder(model="m")
    decoder.feed(chunk({"role": "assistant", "content": ""}))
    decoder.feed(chunk({"content": "Hi"}))
    at_finish = decoder.feed(chunk({}, "stop"))
    assert [e.type for e in at_finish] == ["content_block_stop"]
    tail = decoder.feed(usage_chunk(30, 7, cached_tokens=12))
    assert [e.type for e in tail] == ["message_delta", "message_stop"]
    assert tail[0].usage.dump() == {"output_tokens": 7, "input_tokens": 18,
                                    "cache_creation_input_tokens": 0, "cache_read_input_tokens": 12}
    assert decoder.finish() == []
    assert decoder.feed(chunk({"content": "late"})) == []


def test_usage_chunk_with_choices_null(wire: Any) -> None:
    usage = usage_chunk(9, 3)
    usage["choices"] = None
    _, message = run(wire, [chunk({"content": "a"}), chunk({}, "stop"), usage])
    assert message.usage.input_tokens == 9 and message.usage.output_tokens == 3


def test_usage_without_choices_key(wire: Any) -> None:
    usage = usage_chunk(9, 3)
    del usage["choices"]
    _, message = run(wire, [chunk({"content": "a"}), chunk({}, "stop"), usage])
    assert message.usage.output_tokens == 3


def test_no_usage_chunk_estimates_output(wire: Any) -> None:
    events, message = run(wire, [chunk({"content": "x" * 40}), chunk({}, "stop")], input_tokens=50)
    assert message.usage.input_tokens == 50
    assert message.usage.output_tokens == 10
    assert events[-2].usage.input_tokens is None


def test_usage_on_finish_chunk_ends_immediately() -> None:
    decoder = ChatChunkDecoder(model="m")
    last = chunk({"content": "ok"}, "stop", usage={"prompt_tokens": 4, "completion_tokens": 1, "total_tokens": 5})
    events = decoder.feed(last)
    assert [e.type for e in events][-2:] == ["message_delta", "message_stop"]


def test_groq_x_groq_usage(wire: Any) -> None:
    last = chunk({}, "stop", x_groq={"usage": {"prompt_tokens": 8, "completion_tokens": 2}})
    _, message = run(wire, [chunk({"content": "a"}), last])
    assert message.usage.input_tokens == 8 and message.usage.output_tokens == 2


def test_cache_write_and_deepseek_cache_hits(wire: Any) -> None:
    _, m = run(wire, [chunk({"content": "a"}, "stop"), usage_chunk(100, 1, cached_tokens=60, cache_write_tokens=30)])
    assert (m.usage.input_tokens, m.usage.cache_read_input_tokens, m.usage.cache_creation_input_tokens) == (10, 60, 30)
    deepseek = usage_chunk(100, 1)
    deepseek["usage"]["prompt_cache_hit_tokens"] = 64
    _, m = run(wire, [chunk({"content": "a"}, "stop"), deepseek])
    assert (m.usage.input_tokens, m.usage.cache_read_input_tokens) == (36, 64)


# --------------------------------------------------------------------------- content and finish


def test_content_and_finish_in_one_chunk(wire: Any) -> None:
    _, message = run(wire, [chunk({"role": "assistant", "content": "All at once"}, "stop")])
    assert wire.text(message) == "All at once" and message.stop_reason == "end_turn"


@pytest.mark.parametrize(
    ("finish", "with_tool", "expected"),
    [
        ("stop", False, "end_turn"),
        ("stop", True, "tool_use"),  # Gemini says stop after tool calls
        ("tool_calls", True, "tool_use"),
        ("tool_calls", False, "end_turn"),  # label without calls
        ("function_call", True, "tool_use"),
        ("length", False, "max_tokens"),
        ("length", True, "max_tokens"),
        ("content_filter", False, "refusal"),
        ("something_new", False, "end_turn"),
    ],
)
def test_finish_reason_mapping(wire: Any, finish: str, with_tool: bool, expected: str) -> None:
    body = [chunk({"content": "a"})]
    if with_tool:
        body.append(chunk(tools(call(0, id="c1", name="f", args="{}"))))
    body.append(chunk({}, finish))
    assert run(wire, body)[1].stop_reason == expected


def test_refusal_delta_becomes_text_and_refusal_stop(wire: Any) -> None:
    _, message = run(wire, [chunk({"refusal": "I can't help with that."}), chunk({}, "stop")])
    assert wire.text(message) == "I can't help with that." and message.stop_reason == "refusal"


def test_finish_without_finish_reason_raises() -> None:
    decoder = ChatChunkDecoder(model="m", provider="groq")
    decoder.feed(chunk({"content": "partial"}))
    with pytest.raises(UpstreamError, match="ended before finish") as info:
        decoder.finish()
    assert info.value.provider == "groq"


def test_empty_stream_raises() -> None:
    with pytest.raises(UpstreamError):
        ChatChunkDecoder(model="m").finish()


def test_vllm_empty_tool_calls_list_with_content(wire: Any) -> None:
    _, message = run(wire, [chunk({"content": "plain", "tool_calls": []}), chunk({}, "stop")])
    assert wire.text(message) == "plain" and message.stop_reason == "end_turn"


# --------------------------------------------------------------------------- errors mid-stream


@pytest.mark.parametrize(
    ("body", "status", "kind"),
    [
        ({"error": {"message": "boom", "type": "server_error", "param": None, "code": None}}, 500, "api_error"),
        ({"id": "x", "object": "chat.completion.chunk", "error": {"code": 502, "message": "Provider returned error"},
          "choices": [{"index": 0, "delta": {"content": ""}, "finish_reason": "error"}]}, 500, "api_error"),
        ({"error": {"code": 429, "message": "slow down"}}, 429, "rate_limit_error"),
        ({"object": "error", "message": "vllm died", "type": "InternalServerError", "code": 503},
         529, "overloaded_error"),
    ],
)
def test_error_chunk_mid_stream_raises(body: dict[str, Any], status: int, kind: str) -> None:
    decoder = ChatChunkDecoder(model="m", provider="openrouter")
    assert decoder.feed(chunk({"content": "Hel"}))
    with pytest.raises(UpstreamError) as info:
        decoder.feed(body)
    assert (info.value.status, info.value.kind, info.value.provider) == (status, kind, "openrouter")


def test_finish_reason_error_without_error_key_raises() -> None:
    decoder = ChatChunkDecoder(model="m")
    decoder.feed(chunk({"content": "a"}))
    with pytest.raises(UpstreamError):
        decoder.feed(chunk({}, "error"))


def test_error_as_first_chunk_emits_nothing() -> None:
    decoder = ChatChunkDecoder(model="m")
    with pytest.raises(UpstreamError, match="quota"):
        decoder.feed({"error": {"message": "quota", "code": 402}})
    # nothing was emitted (the caller may still fail over): a retry on the same decoder starts cleanly
    assert decoder.feed(chunk({"content": "x"}))[0].type == "message_start"


# --------------------------------------------------------------------------- reasoning


@pytest.mark.parametrize(
    "delta",
    [
        {"reasoning_content": "think"},
        {"reasoning": "think"},
        {"reasoning_details": [{"type": "reasoning.text", "text": "think"}]},
        {"reasoning": "think", "reasoning_details": [{"type": "reasoning.text", "text": "think"}]},  # OpenRouter
        {"reasoning_details": [{"type": "reasoning.summary", "summary": "think"}]},
    ],
)
def test_reasoning_fields_become_thinking_first(wire: Any, delta: dict[str, Any]) -> None:
    events, message = run(wire, [chunk(delta), chunk({"content": "answer"}), chunk({}, "stop")])
    assert [b.type for b in message.content] == ["thinking", "text"]
    assert message.content[0].thinking == "think" and message.content[0].signature == ""
    assert not any(e.type == "content_block_delta" and e.delta.type == "signature_delta" for e in events)
    assert events[1].content_block.dump() == {"type": "thinking", "thinking": "", "signature": ""}


def test_signer_adds_signature_before_thinking_stop(wire: Any) -> None:
    events, message = run(
        wire,
        [chunk({"reasoning_content": "a"}), chunk({"reasoning_content": "b"}), chunk({"content": "c"}),
         chunk({}, "stop")],
        signer=lambda text: f"aimux1.test.{text}",
    )
    kinds = [(e.type, getattr(getattr(e, "delta", None), "type", None)) for e in events]
    sig = kinds.index(("content_block_delta", "signature_delta"))
    assert kinds[sig + 1] == ("content_block_stop", None)
    assert message.content[0].signature == "aimux1.test.ab"


def test_thinking_interleaved_with_text_opens_new_blocks(wire: Any) -> None:
    _, message = run(wire, [chunk({"reasoning_content": "t1"}), chunk({"content": "x"}),
                            chunk({"reasoning_content": "t2"}), chunk({"content": "y"}), chunk({}, "stop")])
    assert [b.type for b in message.content] == ["thinking", "text", "thinking", "text"]


# --------------------------------------------------------------------------- tool calls


def test_text_then_parallel_sequential_calls(wire: Any) -> None:
    body = [
        chunk({"role": "assistant", "content": "Checking."}),
        chunk(tools(call(0, id="call_a", name="get_weather", args=""))),
        chunk(tools(call(0, args='{"city":'))),
        chunk(tools(call(0, args='"Paris"}'))),
        chunk(tools(call(1, id="call_b", name="get_time", args=""))),
        chunk(tools(call(1, args='{"tz":"CET"}'))),
        chunk({}, "tool_calls"),
        usage_chunk(),
    ]
    events, message = run(wire, body)
    assert [b.type for b in message.content] == ["text", "tool_use", "tool_use"]
    assert wire.tool_inputs(message) == [("get_weather", {"city": "Paris"}), ("get_time", {"tz": "CET"})]
    # the second call streamed live: its start came before its fragments, not at the end
    starts = [i for i, e in enumerate(events) if e.type == "content_block_start"]
    assert events[starts[2] + 1].delta.partial_json == '{"tz":"CET"}'


def test_missing_index_gemini_style(wire: Any) -> None:
    body = [
        chunk(tools(call(None, id="g1", name="read", args='{"path":"a"}'))),
        chunk(tools(call(None, id="g2", name="read", args='{"path":"b"}'))),
        chunk({}, "stop"),  # Gemini: stop although it called tools
    ]
    _, message = run(wire, body)
    assert wire.tool_inputs(message) == [("read", {"path": "a"}), ("read", {"path": "b"})]
    assert message.stop_reason == "tool_use"


def test_missing_index_fragments_without_id_append_to_last_call(wire: Any) -> None:
    body = [chunk(tools(call(None, id="g1", name="read", args='{"pa'))), chunk(tools(call(None, args='th":"a"}'))),
            chunk({}, "stop")]
    assert wire.tool_inputs(run(wire, body)[1]) == [("read", {"path": "a"})]


def test_reused_index_zero_with_new_id_is_new_call(wire: Any) -> None:
    body = [
        chunk(tools(call(0, id="c1", name="a", args='{"n":1}'))),
        chunk(tools(call(0, id="c2", name="b", args='{"n":2}'))),
        chunk(tools(call(0, id="c3", name="a", args="{"))),
        chunk(tools(call(0, args='"n":3}'))),
        chunk({}, "tool_calls"),
    ]
    _, message = run(wire, body)
    assert wire.tool_inputs(message) == [("a", {"n": 1}), ("b", {"n": 2}), ("a", {"n": 3})]
    assert [b.id for b in message.content] == ["c1", "c2", "c3"]


def test_interleaved_fragments_of_two_calls(wire: Any) -> None:
    body = [
        chunk(tools(call(0, id="c0", name="a", args='{"x":'), call(1, id="c1", name="b", args='{"y":'))),
        chunk(tools(call(1, args='"later"'))),
        chunk(tools(call(0, args='"first"'))),
        chunk(tools(call(1, args="}"))),
        chunk(tools(call(0, args="}"))),
        chunk({}, "tool_calls"),
    ]
    _, message = run(wire, body)
    assert wire.tool_inputs(message) == [("a", {"x": "first"}), ("b", {"y": "later"})]


def test_all_arguments_in_one_chunk(wire: Any) -> None:
    body = [chunk({"role": "assistant", "content": None,
                   "tool_calls": [{"index": 0, "id": "c", "type": "function",
                                   "function": {"name": "f", "arguments": '{"a":[1,2,{"b":null}]}'}}]}, "tool_calls")]
    events, message = run(wire, body)
    deltas = [e for e in events if e.type == "content_block_delta"]
    assert len(deltas) == 1
    assert wire.tool_inputs(message) == [("f", {"a": [1, 2, {"b": None}]})]


@pytest.mark.parametrize("args", ["", None])
def test_empty_arguments_become_empty_object(wire: Any, args: str | None) -> None:
    _, message = run(wire, [chunk(tools(call(0, id="c", name="ping", args=args))), chunk({}, "tool_calls")])
    assert wire.tool_inputs(message) == [("ping", {})]


def test_arguments_sent_as_object_are_serialised(wire: Any) -> None:
    _, message = run(wire, [chunk(tools(call(0, id="c", name="f", args={"k": "v"}))), chunk({}, "tool_calls")])
    assert wire.tool_inputs(message) == [("f", {"k": "v"})]


def test_name_arriving_after_first_fragment(wire: Any) -> None:
    body = [chunk(tools(call(0, id="c", args='{"a"'))), chunk(tools(call(0, name="late", args=":1}"))),
            chunk({}, "tool_calls")]
    assert wire.tool_inputs(run(wire, body)[1]) == [("late", {"a": 1})]


def test_call_without_name_raises() -> None:
    decoder = ChatChunkDecoder(model="m")
    decoder.feed(chunk(tools(call(0, id="c", args="{}"))))
    with pytest.raises(UpstreamError, match="no name"):
        decoder.feed(chunk({}, "tool_calls"))


def test_missing_id_gets_generated_valid_id(wire: Any) -> None:
    _, message = run(wire, [chunk(tools(call(0, name="f", args="{}"))), chunk({}, "tool_calls")],
                     message_id="msg_abc")
    assert message.content[0].id == "toolu_msg_abc_0"


def test_kimi_ids_are_normalised_reversibly(wire: Any) -> None:
    body = [chunk(tools(call(0, id="functions.Bash:0", name="Bash", args="{}"))), chunk({}, "tool_calls")]
    _, message = run(wire, body)
    tool_id = message.content[0].id
    assert tool_id != "functions.Bash:0" and decode_tool_id(tool_id) == "functions.Bash:0"


def test_shortened_tool_names_are_restored(wire: Any) -> None:
    original = "mcp__" + "very_long_server_name__" * 4 + "tool"
    short = shorten_tool_name(original)
    _, message = run(wire, [chunk(tools(call(0, id="c", name=short, args="{}"))), chunk({}, "tool_calls")],
                     tool_names=[original, "other"])
    assert message.content[0].name == original


def test_invalid_arguments_raise_at_block_close() -> None:
    decoder = ChatChunkDecoder(model="m")
    decoder.feed(chunk(tools(call(0, id="c", name="f", args='{"a": <arg_key>'))))
    with pytest.raises(UpstreamError, match="not a JSON object"):
        decoder.feed(chunk({}, "tool_calls"))


def test_fragment_for_completed_closed_call_raises() -> None:
    decoder = ChatChunkDecoder(model="m")
    decoder.feed(chunk(tools(call(0, id="a", name="f", args="{}"))))
    decoder.feed(chunk(tools(call(1, id="b", name="g", args="{}"))))  # closes call 0 (complete)
    with pytest.raises(UpstreamError):
        decoder.feed(chunk(tools(call(0, args='{"more":1}'))))


def test_whitespace_content_between_tool_fragments_is_ignored(wire: Any) -> None:
    body = [chunk(tools(call(0, id="c", name="f", args='{"a":'))), chunk({"content": "\n"}),
            chunk(tools(call(0, args="1}"))), chunk({}, "tool_calls")]
    _, message = run(wire, body)
    assert [b.type for b in message.content] == ["tool_use"]


def test_text_after_tool_call_opens_new_text_block(wire: Any) -> None:
    body = [chunk(tools(call(0, id="c", name="f", args="{}"))), chunk({"content": "done"}), chunk({}, "stop")]
    _, message = run(wire, body)
    assert [b.type for b in message.content] == ["tool_use", "text"]
    assert message.stop_reason == "tool_use"


def test_legacy_function_call_delta(wire: Any) -> None:
    body = [chunk({"function_call": {"name": "lookup", "arguments": ""}}),
            chunk({"function_call": {"arguments": '{"q":"x"}'}}), chunk({}, "function_call")]
    _, message = run(wire, body)
    assert wire.tool_inputs(message) == [("lookup", {"q": "x"})] and message.stop_reason == "tool_use"


# --------------------------------------------------------------------------- property: any chunking


@st.composite
def tool_streams(draw: st.DrawFn) -> tuple[list[dict[str, Any]], list[tuple[str, dict[str, Any]]]]:
    """Tool calls cut into random fragments, delivered sequentially, interleaved or at once."""
    n = draw(st.integers(1, 4))
    values = st.recursive(st.none() | st.booleans() | st.integers() | st.text(max_size=8),
                          lambda c: st.lists(c, max_size=3) | st.dictionaries(st.text(max_size=5), c, max_size=3),
                          max_leaves=6)
    calls = [(draw(st.sampled_from(["read", "write", "Bash", "mcp__x__y"])),
              draw(st.dictionaries(st.text(min_size=1, max_size=6), values, max_size=4))) for _ in range(n)]
    pieces: list[list[str]] = []
    for _, args in calls:
        raw = json.dumps(args, indent=draw(st.sampled_from([None, 1])))
        cuts = sorted(draw(st.sets(st.integers(1, max(1, len(raw) - 1)), max_size=6)))
        bounds = [0, *cuts, len(raw)]
        pieces.append([raw[a:b] for a, b in itertools.pairwise(bounds) if raw[a:b]])
    mode = draw(st.sampled_from(["sequential", "interleaved", "one_chunk", "no_index"]))
    frags: list[dict[str, Any]] = []
    if mode == "interleaved":
        cursors = [0] * n
        for k in range(n):
            frags.append(call(k, id=f"c{k}", name=calls[k][0], args=""))
        while any(cursors[k] < len(pieces[k]) for k in range(n)):
            k = draw(st.sampled_from([k for k in range(n) if cursors[k] < len(pieces[k])]))
            frags.append(call(k, args=pieces[k][cursors[k]]))
            cursors[k] += 1
    else:
        for k in range(n):
            index = None if mode == "no_index" else k
            frags.append(call(index, id=f"c{k}", name=calls[k][0], args=""))
            frags.extend(call(index, args=p) for p in pieces[k])
    if mode == "one_chunk":
        chunks = [chunk(tools(*frags), "tool_calls")]
    else:
        chunks = [chunk(tools(f)) for f in frags] + [chunk({}, "tool_calls")]
    if draw(st.booleans()):
        chunks.insert(0, chunk({"role": "assistant", "content": draw(st.text(min_size=1, max_size=5))}))
    if draw(st.booleans()):
        chunks.append(usage_chunk())
    return chunks, calls


@settings(max_examples=150, deadline=None)
@given(tool_streams())
def test_any_fragmentation_folds_to_the_same_calls(wire: Any, case: Any) -> None:
    chunks, calls = case
    events = wire.decode(chunks)
    wire.check_grammar(events)
    message = wire.accumulate(events)
    assert sorted(wire.tool_inputs(message), key=repr) == sorted(calls, key=repr)
    assert message.stop_reason == "tool_use"


def test_null_error_key_is_not_an_error(wire: Any) -> None:
    _, message = run(wire, [chunk({"content": "fine"}, error=None), chunk({}, "stop", error=None)])
    assert wire.text(message) == "fine"
