"""chat_to_messages: an OpenAI client's request → the canonical Messages request (§6.3 rows)."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import ValidationError

from aimux_core.errors import InvalidRequest
from aimux_core.translate.openai_request import chat_to_messages
from aimux_core.translate.tool_names import decode_tool_id, shorten_tool_name
from aimux_core.wire.openai import ChatCompletionRequest

PNG = "iVBORw0KGgo="
TOOL = {"type": "function", "function": {"name": "get_weather", "description": "Weather",
                                         "parameters": {"type": "object", "properties": {"city": {"type": "string"}}}}}


def translate(default_max_tokens: int = 4096, thinking_mode: str = "adaptive", **body: Any) -> dict[str, Any]:
    body.setdefault("model", "gpt-4o")
    body.setdefault("messages", [{"role": "user", "content": "hi"}])
    req = ChatCompletionRequest.model_validate(body)
    return chat_to_messages(req, default_max_tokens=default_max_tokens, thinking_mode=thinking_mode).dump()  # type: ignore[arg-type]


def invalid(param: str, **body: Any) -> InvalidRequest:
    with pytest.raises(InvalidRequest) as info:
        translate(**body)
    assert info.value.param == param
    return info.value


def test_minimal_request_injects_nothing() -> None:
    assert translate() == {"model": "gpt-4o", "messages": [{"role": "user", "content": "hi"}], "max_tokens": 4096}


def test_system_and_developer_anywhere_become_system_blocks() -> None:
    out = translate(messages=[
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": "hi"},
        {"role": "developer", "content": [{"type": "text", "text": "Use metric."}, {"type": "text", "text": ""}]},
        {"role": "assistant", "content": "hello"},
        {"role": "system", "content": ""},
    ])
    assert out["system"] == [{"type": "text", "text": "Be brief."}, {"type": "text", "text": "Use metric."}]
    assert [m["role"] for m in out["messages"]] == ["user", "assistant"]


def test_system_with_image_part_is_rejected() -> None:
    invalid("messages[0].content[0].type",
            messages=[{"role": "system", "content": [{"type": "image_url", "image_url": {"url": "https://x/y.png"}}]}])


def test_user_parts_text_and_images() -> None:
    out = translate(messages=[{"role": "user", "content": [
        {"type": "text", "text": "What is this?"},
        {"type": "text", "text": ""},
        {"type": "image_url", "image_url": {"url": f"data:image/png;base64,{PNG}", "detail": "high"}},
        {"type": "image_url", "image_url": {"url": "https://example.com/cat.webp"}},
    ]}])
    assert out["messages"][0]["content"] == [
        {"type": "text", "text": "What is this?"},
        {"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": PNG}},
        {"type": "image", "source": {"type": "url", "url": "https://example.com/cat.webp"}},
    ]


@pytest.mark.parametrize(
    "url",
    ["data:image/bmp;base64,AAAA", "data:image/png,notbase64", "data:image/png;base64,", "ftp://x/y.png", "file:///etc"],
)
def test_bad_image_urls_are_rejected(url: str) -> None:
    invalid("messages[0].content[1].image_url.url", messages=[{"role": "user", "content": [
        {"type": "text", "text": "x"}, {"type": "image_url", "image_url": {"url": url}}]}])


def test_pdf_file_part_becomes_document() -> None:
    out = translate(messages=[{"role": "user", "content": [
        {"type": "file", "file": {"filename": "a.pdf", "file_data": "data:application/pdf;base64,JVBERi0="}}]}])
    assert out["messages"][0]["content"] == [{"type": "document", "title": "a.pdf", "source": {
        "type": "base64", "media_type": "application/pdf", "data": "JVBERi0="}}]


@pytest.mark.parametrize(
    ("part", "param"),
    [
        ({"type": "input_audio", "input_audio": {"data": "AAAA", "format": "wav"}}, "messages[0].content[0].type"),
        ({"type": "file", "file": {"file_id": "file-123"}}, "messages[0].content[0].file"),
        ({"type": "file", "file": {"file_data": "data:text/csv;base64,YQ=="}}, "messages[0].content[0].file"),
        ({"type": "video", "video": {}}, "messages[0].content[0].type"),
    ],
)
def test_unsupported_user_parts_are_rejected(part: dict[str, Any], param: str) -> None:
    invalid(param, messages=[{"role": "user", "content": [part]}])


def conversation() -> list[dict[str, Any]]:
    return [
        {"role": "user", "content": "Weather in Paris and Rome?"},
        {"role": "assistant", "content": "Let me check.", "tool_calls": [
            {"id": "call_1", "type": "function", "function": {"name": "get_weather", "arguments": '{"city": "Paris"}'}},
            {"id": "functions.get_weather:1", "type": "function", "function": {"name": "get_weather", "arguments": ""}},
        ]},
        {"role": "tool", "tool_call_id": "call_1", "content": "18C"},
        {"role": "tool", "tool_call_id": "functions.get_weather:1", "content": [{"type": "text", "text": "21C"}]},
        {"role": "user", "content": "Thanks! And tomorrow?"},
    ]


def test_tool_loop_mapping() -> None:
    out = translate(messages=conversation(), tools=[TOOL])
    user, assistant, results = out["messages"]
    assert user == {"role": "user", "content": "Weather in Paris and Rome?"}
    text, first, second = assistant["content"]
    assert text == {"type": "text", "text": "Let me check."}
    assert first == {"type": "tool_use", "id": "call_1", "name": "get_weather", "input": {"city": "Paris"}}
    assert second["input"] == {} and decode_tool_id(second["id"]) == "functions.get_weather:1"
    assert results == {"role": "user", "content": [
        {"type": "tool_result", "tool_use_id": "call_1", "content": "18C"},
        {"type": "tool_result", "tool_use_id": second["id"], "content": [{"type": "text", "text": "21C"}]},
        {"type": "text", "text": "Thanks! And tomorrow?"},
    ]}


def test_tool_results_without_following_user_and_empty_content() -> None:
    msgs = [*conversation()[:4], {"role": "assistant", "content": "Done."}]
    msgs[2]["content"] = ""
    out = translate(messages=msgs)
    assert out["messages"][2]["content"][0] == {"type": "tool_result", "tool_use_id": "call_1"}
    assert out["messages"][3] == {"role": "assistant", "content": [{"type": "text", "text": "Done."}]}


def test_tool_message_image_part_kept_inside_tool_result() -> None:
    msgs = conversation()[:3]
    msgs[2]["content"] = [{"type": "image_url", "image_url": {"url": "https://x/s.png"}}]
    out = translate(messages=msgs)
    assert out["messages"][2]["content"][0]["content"] == [{"type": "image", "source": {"type": "url", "url": "https://x/s.png"}}]


@pytest.mark.parametrize("arguments", ["{not json", "[1, 2]", '"text"', "42"])
def test_unparsable_arguments_name_the_field(arguments: str) -> None:
    msgs = conversation()[:2]
    msgs[1]["tool_calls"][1]["function"]["arguments"] = arguments
    invalid("messages[1].tool_calls[1].function.arguments", messages=msgs)


def test_null_arguments_become_empty_input() -> None:
    msgs = conversation()[:2]
    msgs[1]["tool_calls"][0]["function"]["arguments"] = "null"
    assert translate(messages=msgs)["messages"][1]["content"][1]["input"] == {}


def test_legacy_functions_and_function_messages() -> None:
    out = translate(
        messages=[{"role": "user", "content": "2+2?"},
                  {"role": "assistant", "content": None, "function_call": {"name": "calc", "arguments": '{"e":"2+2"}'}},
                  {"role": "function", "name": "calc", "content": "4"}],
        functions=[{"name": "calc", "parameters": {"type": "object", "properties": {"e": {"type": "string"}}}}],
        function_call={"name": "calc"},
    )
    tool_use = out["messages"][1]["content"][0]
    assert tool_use == {"type": "tool_use", "id": "toolu_legacy_1", "name": "calc", "input": {"e": "2+2"}}
    assert out["messages"][2]["content"] == [{"type": "tool_result", "tool_use_id": "toolu_legacy_1", "content": "4"}]
    assert out["tools"][0]["name"] == "calc" and out["tool_choice"] == {"type": "tool", "name": "calc"}


def test_function_message_without_call_is_rejected() -> None:
    msgs = [{"role": "user", "content": "x"}, {"role": "function", "name": "f", "content": "1"}]
    invalid("messages[1]", messages=msgs)


def test_assistant_empty_turn_dropped_and_refusal_kept() -> None:
    out = translate(messages=[{"role": "user", "content": "a"}, {"role": "assistant", "content": ""},
                              {"role": "assistant", "content": None, "refusal": "I can't."},
                              {"role": "assistant", "content": [{"type": "refusal", "refusal": "No."}]},
                              {"role": "user", "content": "b"}])
    assert out["messages"][1:3] == [{"role": "assistant", "content": [{"type": "text", "text": "I can't."}]},
                                    {"role": "assistant", "content": [{"type": "text", "text": "No."}]}]


def test_reasoning_content_in_history_becomes_aimux_signed_thinking() -> None:
    out = translate(messages=[{"role": "user", "content": "a"},
                              {"role": "assistant", "content": "b", "reasoning_content": "secret"},
                              {"role": "user", "content": "c"}])
    thinking, text = out["messages"][1]["content"]
    assert text == {"type": "text", "text": "b"}
    assert thinking["type"] == "thinking" and thinking["thinking"] == "secret"
    assert thinking["signature"].startswith("aimux1.client.")  # so only reasoning-echo upstreams get it


def test_prefill_trailing_whitespace_stripped() -> None:
    out = translate(messages=[{"role": "user", "content": "a"}, {"role": "assistant", "content": "Sure: \n"}])
    assert out["messages"][-1]["content"] == [{"type": "text", "text": "Sure:"}]
    out = translate(messages=[{"role": "user", "content": "a"}, {"role": "assistant", "content": "  "}])
    assert len(out["messages"]) == 1


@pytest.mark.parametrize("empty", ["", [], [{"type": "text", "text": ""}]], ids=["string", "no-parts", "empty-part"])
def test_empty_user_messages_are_dropped_and_a_prefill_left_last_is_stripped(empty: Any) -> None:
    """OpenAI accepts an empty user message, Anthropic answers 400: dropped, then the prefill rule applies."""
    messages = [{"role": "user", "content": "a"}, {"role": "user", "content": empty},
                {"role": "assistant", "content": "Sure: "}, {"role": "user", "content": empty}]
    assert translate(messages=messages)["messages"] == [
        {"role": "user", "content": "a"}, {"role": "assistant", "content": [{"type": "text", "text": "Sure:"}]}]


def test_a_conversation_of_one_empty_user_message_is_left_to_the_upstream() -> None:
    assert translate(messages=[{"role": "user", "content": ""}])["messages"] == [{"role": "user", "content": ""}]


# --------------------------------------------------------------------------- tools and tool_choice


def test_tools_mapping() -> None:
    long_name = "mcp__server__" + "t" * 60
    out = translate(tools=[
        TOOL,
        {"type": "function", "function": {"name": "noargs"}},
        {"type": "function", "function": {"name": long_name, "strict": True,
                                          "parameters": {"properties": {"a": {"type": "string"}}}}},
    ])
    assert out["tools"] == [
        {"name": "get_weather", "description": "Weather", "input_schema": TOOL["function"]["parameters"]},
        {"name": "noargs", "input_schema": {"type": "object", "properties": {}}},
        {"name": shorten_tool_name(long_name),
         "input_schema": {"type": "object", "properties": {"a": {"type": "string"}}}},
    ]


def test_custom_tools_are_rejected() -> None:
    invalid("tools[0].type", tools=[{"type": "custom", "custom": {"name": "x"}}])


@pytest.mark.parametrize(
    ("choice", "expected"),
    [
        ("auto", {"type": "auto"}),
        ("none", {"type": "none"}),
        ("required", {"type": "any"}),
        ({"type": "function", "function": {"name": "get_weather"}}, {"type": "tool", "name": "get_weather"}),
    ],
)
def test_tool_choice_mapping(choice: Any, expected: dict[str, Any]) -> None:
    assert translate(tools=[TOOL], tool_choice=choice)["tool_choice"] == expected


@pytest.mark.parametrize(
    ("choice", "expected"),
    [
        (None, {"type": "auto", "disable_parallel_tool_use": True}),
        ("required", {"type": "any", "disable_parallel_tool_use": True}),
        ({"type": "function", "function": {"name": "get_weather"}},
         {"type": "tool", "name": "get_weather", "disable_parallel_tool_use": True}),
        ("none", {"type": "none"}),
    ],
)
def test_parallel_tool_calls_false(choice: Any, expected: dict[str, Any]) -> None:
    body: dict[str, Any] = {"tools": [TOOL], "parallel_tool_calls": False}
    if choice is not None:
        body["tool_choice"] = choice
    assert translate(**body)["tool_choice"] == expected


def test_parallel_tool_calls_true_adds_nothing() -> None:
    assert "tool_choice" not in translate(tools=[TOOL], parallel_tool_calls=True)


def test_tool_choice_without_tools_is_dropped() -> None:
    out = translate(tool_choice="none", parallel_tool_calls=False)
    assert "tool_choice" not in out and "tools" not in out


def test_allowed_tools_restricts_the_list() -> None:
    other = {"type": "function", "function": {"name": "other"}}
    out = translate(tools=[TOOL, other], tool_choice={"type": "allowed_tools", "allowed_tools": {
        "mode": "required", "tools": [{"type": "function", "function": {"name": "other"}}]}})
    assert [t["name"] for t in out["tools"]] == ["other"] and out["tool_choice"] == {"type": "any"}


@pytest.mark.parametrize(
    ("body", "param"),
    [({"tool_choice": "sometimes"}, "tool_choice"), ({"tool_choice": {"type": "custom"}}, "tool_choice.type"),
     ({"function_call": "maybe"}, "function_call")],
)
def test_bad_tool_choice_rejected(body: dict[str, Any], param: str) -> None:
    invalid(param, tools=[TOOL], **body)


# --------------------------------------------------------------------------- generation settings


@pytest.mark.parametrize(
    ("body", "expected"),
    [({}, 777), ({"max_tokens": 100}, 100), ({"max_completion_tokens": 200}, 200),
     ({"max_tokens": 100, "max_completion_tokens": 200}, 200)],
)
def test_max_tokens_precedence(body: dict[str, Any], expected: int) -> None:
    assert translate(default_max_tokens=777, **body)["max_tokens"] == expected


def test_negative_max_tokens_rejected() -> None:
    invalid("max_completion_tokens", max_completion_tokens=-1)


@pytest.mark.parametrize(("stop", "expected"), [("END", ["END"]), (["a", "", "b"], ["a", "b"]), ([], None), ("", None)])
def test_stop(stop: Any, expected: list[str] | None) -> None:
    assert translate(stop=stop).get("stop_sequences") == expected


@pytest.mark.parametrize(("value", "expected"), [(1.5, 1.0), (-0.3, 0.0), (0.7, 0.7), (2, 1.0)])
def test_temperature_clamped(value: float, expected: float) -> None:
    assert translate(temperature=value)["temperature"] == expected


def test_top_p_user_stream_and_dropped_fields() -> None:
    out = translate(top_p=0.9, user="u-1", stream=True, stream_options={"include_usage": True}, seed=3,
                    presence_penalty=0.5, frequency_penalty=0.1, logprobs=True, logit_bias={"1": 2}, store=True,
                    metadata={"k": "v"}, n=1, unknown_field=1)
    assert out == {"model": "gpt-4o", "messages": [{"role": "user", "content": "hi"}], "max_tokens": 4096,
                   "top_p": 0.9, "metadata": {"user_id": "u-1"}, "stream": True}


def test_safety_identifier_is_user_id() -> None:
    assert translate(safety_identifier="s-9")["metadata"] == {"user_id": "s-9"}


def test_n_greater_than_one_rejected() -> None:
    invalid("n", n=2)


@pytest.mark.parametrize(
    ("effort", "anthropic"),
    [("minimal", "low"), ("low", "low"), ("medium", "medium"), ("high", "high"), ("xhigh", "xhigh"), ("max", "max")],
)
def test_reasoning_effort_adaptive(effort: str, anthropic: str) -> None:
    out = translate(reasoning_effort=effort, temperature=0.2, top_p=0.5)
    assert out["thinking"] == {"type": "adaptive"} and out["output_config"] == {"effort": anthropic}
    assert "temperature" not in out and "top_p" not in out


@pytest.mark.parametrize(("effort", "budget"), [("minimal", 1024), ("low", 2048), ("high", 16384), ("max", 19999)])
def test_reasoning_effort_budget_mode(effort: str, budget: int) -> None:
    out = translate(reasoning_effort=effort, max_tokens=20000, thinking_mode="budget")
    assert out["thinking"] == {"type": "enabled", "budget_tokens": budget} and "output_config" not in out


def test_budget_mode_without_room_sends_no_thinking() -> None:
    out = translate(reasoning_effort="high", max_tokens=1000, thinking_mode="budget", temperature=0.5)
    assert "thinking" not in out and out["temperature"] == 0.5


def test_reasoning_effort_none_disables_thinking() -> None:
    assert translate(reasoning_effort="none")["thinking"] == {"type": "disabled"}


def test_forced_tool_choice_suppresses_thinking() -> None:
    out = translate(reasoning_effort="high", tools=[TOOL], tool_choice="required", temperature=0.3)
    assert "thinking" not in out and "output_config" not in out and out["temperature"] == 0.3


def test_unknown_reasoning_effort_rejected() -> None:
    invalid("reasoning_effort", reasoning_effort="extreme")


def test_response_format_json_schema() -> None:
    schema = {"type": "object", "properties": {"a": {"type": "integer"}}, "required": ["a"],
              "additionalProperties": False}
    fmt = {"type": "json_schema", "json_schema": {"name": "x", "strict": True, "schema": schema}}
    out = translate(response_format=fmt, reasoning_effort="low")
    assert out["output_config"] == {"effort": "low", "format": {"type": "json_schema", "schema": schema}}


@pytest.mark.parametrize("kind", ["json_object", "text"])
def test_response_format_without_mapping(kind: str) -> None:
    assert "output_config" not in translate(response_format={"type": kind})


def test_unknown_response_format_rejected() -> None:
    invalid("response_format.type", response_format={"type": "xml"})


# --------------------------------------------------------------------------- wire model


def test_request_model_keeps_unknown_fields_and_parts() -> None:
    body = {"model": "m", "messages": [{"role": "user", "content": [
        {"type": "input_audio", "input_audio": {"data": "x", "format": "wav"}}], "x_extra": 1}], "vendor": {"a": 1}}
    assert ChatCompletionRequest.model_validate(body).dump() == body


@pytest.mark.parametrize(
    "body",
    [{"model": "m", "messages": []}, {"model": "", "messages": [{"role": "user", "content": "x"}]},
     {"model": "m", "messages": [{"role": "robot", "content": "x"}]},
     {"model": "m", "messages": [{"role": "tool", "content": "x"}]}],
)
def test_request_model_rejects_malformed(body: dict[str, Any]) -> None:
    with pytest.raises(ValidationError):
        ChatCompletionRequest.model_validate(body)


def test_usage_chunk_flag() -> None:
    req = ChatCompletionRequest.model_validate({"model": "m", "messages": [{"role": "user", "content": "x"}],
                                                "stream": True, "stream_options": {"include_usage": True}})
    assert req.wants_stream and req.wants_usage_chunk


def test_client_tool_names_restore_what_the_client_sent() -> None:
    from aimux_core.translate.openai_request import client_tool_names
    from aimux_core.translate.openai_response import message_to_chat_completion
    from aimux_core.wire.anthropic import Message

    long_name = "my.tools/" + "x" * 70
    req = ChatCompletionRequest.model_validate({
        "model": "m", "messages": [{"role": "user", "content": "x"}],
        "tools": [{"type": "function", "function": {"name": long_name}}], "functions": [{"name": "legacy"}]})
    canonical = chat_to_messages(req, default_max_tokens=10)
    assert client_tool_names(req) == [long_name, "legacy"]
    short = canonical.tools[0].name
    assert short != long_name
    answer = Message.model_validate({"id": "m1", "model": "c", "content": [
        {"type": "tool_use", "id": "t", "name": short, "input": {}}], "stop_reason": "tool_use",
        "usage": {"input_tokens": 1, "output_tokens": 1}})
    out = message_to_chat_completion(answer, model="m", created=0, tool_names=client_tool_names(req))
    assert out["choices"][0]["message"]["tool_calls"][0]["function"]["name"] == long_name
