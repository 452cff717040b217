"""ChatChunkDecoder, message level: recorded transcripts, message_start, usage and the held message_delta,
finish reasons, mid-stream errors and reasoning (thinking) blocks.
"""

from __future__ import annotations

from typing import Any

import pytest
from stream_decoder_helpers import call, chunk, run, tools, usage_chunk

from aimux_core.errors import UpstreamError
from aimux_core.translate.openai_stream_decode import ChatChunkDecoder

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



def test_null_error_key_is_not_an_error(wire: Any) -> None:
    _, message = run(wire, [chunk({"content": "fine"}, error=None), chunk({}, "stop", error=None)])
    assert wire.text(message) == "fine"


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

