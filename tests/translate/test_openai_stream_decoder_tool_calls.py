"""ChatChunkDecoder, tool calls: fragments, indexes, ids, names, arguments, and a property test that any
fragmentation of the calls folds to the same calls.
"""

from __future__ import annotations

import itertools
import json
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from stream_decoder_helpers import call, chunk, run, tools, usage_chunk

from aimux_core.errors import UpstreamError
from aimux_core.translate.openai_stream_decode import ChatChunkDecoder
from aimux_core.translate.tool_names import decode_tool_id, shorten_tool_name

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
    with pytest.raises(UpstreamError, match="without a name"):
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


def test_call_cut_by_length_stays_partial_instead_of_failing(wire: Any) -> None:
    """``finish_reason: length`` mid-arguments is an answer cut by max_tokens, not a broken upstream:
    the tool block keeps its partial input (as Anthropic streams it) and the stop is ``max_tokens``."""
    body = [chunk(tools(call(0, id="c", name="Write", args='{"path":"/tmp/a","content":"hel'))),
            chunk({}, "length"), usage_chunk()]
    events = wire.decode(body)
    wire.check_grammar(events)
    partial = "".join(e.delta.partial_json for e in events
                      if e.type == "content_block_delta" and e.delta.type == "input_json_delta")
    assert partial == '{"path":"/tmp/a","content":"hel'
    assert [e.delta.stop_reason for e in events if e.type == "message_delta"] == ["max_tokens"]


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
