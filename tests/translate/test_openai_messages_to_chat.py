"""messages_to_chat: the canonical request → an OpenAI-compatible upstream body (§6.1 rows)."""

from __future__ import annotations

from typing import Any

import pytest

from aimux_core.errors import InvalidRequest
from aimux_core.translate.openai_request import ChatDialectOptions, messages_to_chat
from aimux_core.translate.tool_names import encode_tool_id, shorten_tool_name
from aimux_core.wire.anthropic import MessagesRequest

PNG = "iVBORw0KGgo="
SCHEMA = {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}


def translate(options: ChatDialectOptions | None = None, **body: Any) -> dict[str, Any]:
    body.setdefault("model", "claude-sonnet-4-5")
    body.setdefault("max_tokens", 1024)
    body.setdefault("messages", [{"role": "user", "content": "hi"}])
    return messages_to_chat(MessagesRequest.model_validate(body), model="upstream-model", options=options)


def test_minimal_body() -> None:
    assert translate() == {"model": "upstream-model", "messages": [{"role": "user", "content": "hi"}],
                           "max_tokens": 1024}


def test_system_blocks_joined_and_cache_control_dropped() -> None:
    out = translate(system=[{"type": "text", "text": "You are Claude Code.", "cache_control": {"type": "ephemeral"}},
                            {"type": "text", "text": ""}, {"type": "text", "text": "Be terse."}])
    assert out["messages"][0] == {"role": "system", "content": "You are Claude Code.\n\nBe terse."}
    assert "cache_control" not in str(out)


def test_system_string_and_system_turn_in_messages() -> None:
    out = translate(system="S", messages=[{"role": "user", "content": "a"},
                                          {"role": "system", "content": [{"type": "text", "text": "mid"}]}])
    assert out["messages"] == [{"role": "system", "content": "S"}, {"role": "user", "content": "a"},
                               {"role": "system", "content": "mid"}]


def test_user_blocks() -> None:
    out = translate(messages=[
        {"role": "user", "content": [{"type": "text", "text": "only", "cache_control": {"type": "ephemeral"}}]},
        {"role": "user", "content": [
            {"type": "text", "text": "look"},
            {"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": PNG}},
            {"type": "image", "source": {"type": "url", "url": "https://x/y.jpg"}},
            {"type": "document", "source": {"type": "base64", "media_type": "application/pdf", "data": "JVBE"},
             "title": "spec.pdf"},
            {"type": "document", "source": {"type": "text", "media_type": "text/plain", "data": "notes"}},
        ]},
    ])
    assert out["messages"][0] == {"role": "user", "content": "only"}
    assert out["messages"][1]["content"] == [
        {"type": "text", "text": "look"},
        {"type": "image_url", "image_url": {"url": f"data:image/png;base64,{PNG}"}},
        {"type": "image_url", "image_url": {"url": "https://x/y.jpg"}},
        {"type": "file", "file": {"filename": "spec.pdf", "file_data": "data:application/pdf;base64,JVBE"}},
        {"type": "text", "text": "notes"},
    ]


@pytest.mark.parametrize(
    "block",
    [{"type": "image", "source": {"type": "file", "file_id": "file_1"}},
     {"type": "document", "source": {"type": "url", "url": "https://x/a.pdf"}}],
)
def test_unsendable_sources_are_rejected(block: dict[str, Any]) -> None:
    with pytest.raises(InvalidRequest) as info:
        translate(messages=[{"role": "user", "content": [{"type": "text", "text": "x"}, block]}])
    assert info.value.param == "messages[0].content[1].source"


def tool_loop(results: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [
        {"role": "user", "content": "go"},
        {"role": "assistant", "content": [
            {"type": "thinking", "thinking": "plan", "signature": "sig"},
            {"type": "text", "text": "Running."},
            {"type": "tool_use", "id": "toolu_1", "name": "Bash", "input": {"command": "ls"}},
            {"type": "tool_use", "id": encode_tool_id("functions.Read:1"), "name": "Read", "input": {}},
        ]},
        {"role": "user", "content": results},
    ]


def test_tool_results_follow_assistant_then_user_text() -> None:
    out = translate(messages=tool_loop([
        {"type": "text", "text": "note first"},  # clients should not, but order must still be valid
        {"type": "tool_result", "tool_use_id": "toolu_1", "content": "a.txt", "cache_control": {"type": "ephemeral"}},
        {"type": "tool_result", "tool_use_id": encode_tool_id("functions.Read:1"),
         "content": [{"type": "text", "text": "line1"}, {"type": "text", "text": "line2"}]},
        {"type": "text", "text": "continue"},
    ]))
    assert out["messages"][1] == {"role": "assistant", "content": "Running.", "tool_calls": [
        {"id": "toolu_1", "type": "function", "function": {"name": "Bash", "arguments": '{"command":"ls"}'}},
        {"id": "functions.Read:1", "type": "function", "function": {"name": "Read", "arguments": "{}"}},
    ]}
    assert out["messages"][2:] == [
        {"role": "tool", "tool_call_id": "toolu_1", "content": "a.txt"},
        {"role": "tool", "tool_call_id": "functions.Read:1", "content": "line1\nline2"},
        {"role": "user", "content": [{"type": "text", "text": "note first"}, {"type": "text", "text": "continue"}]},
    ]


def test_tool_result_images_move_to_following_user_message() -> None:
    out = translate(messages=tool_loop([
        {"type": "tool_result", "tool_use_id": "toolu_1", "content": [
            {"type": "text", "text": "screenshot:"},
            {"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": PNG}}]},
        {"type": "tool_result", "tool_use_id": encode_tool_id("functions.Read:1"), "is_error": True,
         "content": "not found"},
    ]))
    assert out["messages"][2:] == [
        {"role": "tool", "tool_call_id": "toolu_1", "content": "screenshot:\n[image attached in the next message]"},
        {"role": "tool", "tool_call_id": "functions.Read:1", "content": "Error: not found"},
        {"role": "user", "content": [{"type": "image_url", "image_url": {"url": f"data:image/png;base64,{PNG}"}}]},
    ]


def test_tool_result_without_content_and_custom_error_prefix() -> None:
    out = translate(ChatDialectOptions(tool_error_prefix="[tool error] "), messages=tool_loop([
        {"type": "tool_result", "tool_use_id": "toolu_1"},
        {"type": "tool_result", "tool_use_id": encode_tool_id("functions.Read:1"), "is_error": True, "content": "x"},
    ]))
    assert [m["content"] for m in out["messages"][2:]] == ["", "[tool error] x"]
    assert len(out["messages"]) == 4


def test_thinking_dropped_by_default() -> None:
    assistant = translate(messages=tool_loop([{"type": "tool_result", "tool_use_id": "toolu_1"}]))["messages"][1]
    assert "reasoning_content" not in assistant and "plan" not in str(assistant)


@pytest.mark.parametrize("field", ["reasoning_content", "reasoning"])
def test_thinking_echoed_when_the_upstream_needs_it(field: Any) -> None:
    out = translate(ChatDialectOptions(reasoning_echo_field=field),
                    messages=tool_loop([{"type": "tool_result", "tool_use_id": "toolu_1"}]))
    assert out["messages"][1][field] == "plan"


def test_assistant_with_nothing_sendable_is_dropped_or_echoes_reasoning() -> None:
    msgs = [{"role": "user", "content": "a"},
            {"role": "assistant", "content": [{"type": "redacted_thinking", "data": "x"},
                                              {"type": "thinking", "thinking": "t", "signature": "s"}]},
            {"role": "user", "content": "b"}]
    assert [m["role"] for m in translate(messages=msgs)["messages"]] == ["user", "user"]
    echoed = translate(ChatDialectOptions(reasoning_echo_field="reasoning_content"), messages=msgs)["messages"][1]
    assert echoed == {"role": "assistant", "content": "", "reasoning_content": "t"}


def test_server_tool_blocks_in_history_are_dropped() -> None:
    out = translate(messages=[{"role": "user", "content": "search"}, {"role": "assistant", "content": [
        {"type": "server_tool_use", "id": "srvtoolu_1", "name": "web_search", "input": {"query": "x"}},
        {"type": "web_search_tool_result", "tool_use_id": "srvtoolu_1", "content": []},
        {"type": "text", "text": "Found it."}]}])
    assert out["messages"][1] == {"role": "assistant", "content": "Found it."}


def test_tools_mapping_with_synthesised_and_dropped_tools() -> None:
    long_name = "mcp__github__" + "create_pull_request_review_comment_" * 2
    out = translate(tools=[
        {"name": "get_weather", "description": "Weather", "input_schema": SCHEMA,
         "cache_control": {"type": "ephemeral"}},
        {"name": long_name, "input_schema": SCHEMA, "strict": True},
        {"type": "bash_20250124", "name": "bash"},
        {"type": "text_editor_20250728", "name": "str_replace_based_edit_tool"},
        {"type": "web_search_20250305", "name": "web_search", "max_uses": 3},
        {"type": "custom", "name": "plain", "input_schema": SCHEMA},
    ], tool_choice={"type": "tool", "name": long_name})
    tools = out["tools"]
    assert [t["function"]["name"] for t in tools] == [
        "get_weather", shorten_tool_name(long_name), "bash", "str_replace_based_edit_tool", "plain"]
    assert tools[0] == {"type": "function", "function": {"name": "get_weather", "description": "Weather",
                                                         "parameters": SCHEMA}}
    assert tools[1]["function"]["strict"] is True and len(tools[1]["function"]["name"]) <= 64
    assert tools[2]["function"]["parameters"]["properties"]["command"]["type"] == "string"
    assert tools[3]["function"]["parameters"]["required"] == ["command", "path"]
    assert out["tool_choice"] == {"type": "function", "function": {"name": shorten_tool_name(long_name)}}


def test_long_names_shortened_in_history_too() -> None:
    long_name = "n" * 100
    out = translate(messages=[{"role": "user", "content": "x"}, {"role": "assistant", "content": [
        {"type": "tool_use", "id": "t", "name": long_name, "input": {}}]}])
    assert out["messages"][1]["tool_calls"][0]["function"]["name"] == shorten_tool_name(long_name)


def test_only_server_tools_means_no_tools_and_no_tool_choice() -> None:
    out = translate(tools=[{"type": "web_search_20250305", "name": "web_search"}], tool_choice={"type": "any"})
    assert "tools" not in out and "tool_choice" not in out


@pytest.mark.parametrize(
    ("choice", "expected"),
    [({"type": "auto"}, "auto"), ({"type": "any"}, "required"), ({"type": "none"}, "none"),
     ({"type": "tool", "name": "get_weather"}, {"type": "function", "function": {"name": "get_weather"}})],
)
def test_tool_choice(choice: dict[str, Any], expected: Any) -> None:
    out = translate(tools=[{"name": "get_weather", "input_schema": SCHEMA}], tool_choice=choice)
    assert out["tool_choice"] == expected and "parallel_tool_calls" not in out


def test_disable_parallel_tool_use() -> None:
    body = {"tools": [{"name": "f", "input_schema": SCHEMA}],
            "tool_choice": {"type": "auto", "disable_parallel_tool_use": True}}
    assert translate(**body)["parallel_tool_calls"] is False
    assert "parallel_tool_calls" not in translate(ChatDialectOptions(send_parallel_tool_calls=False), **body)


def test_max_tokens_field_and_clamp() -> None:
    opts = ChatDialectOptions(max_tokens_field="max_completion_tokens", max_tokens_limit=8192)
    out = translate(opts, max_tokens=32000)
    assert out["max_completion_tokens"] == 8192 and "max_tokens" not in out
    assert translate(opts, max_tokens=100)["max_completion_tokens"] == 100


def test_sampling_stop_user_and_dropped_fields() -> None:
    out = translate(temperature=0.5, top_p=0.9, top_k=40, stop_sequences=["\n\nHuman:"], metadata={"user_id": "u1"},
                    service_tier="auto", context_management={"edits": []}, container="c",
                    cache_control={"type": "ephemeral"})
    assert {k: out[k] for k in ("temperature", "top_p", "stop", "user")} == {
        "temperature": 0.5, "top_p": 0.9, "stop": ["\n\nHuman:"], "user": "u1"}
    assert not {"top_k", "service_tier", "context_management", "container", "cache_control", "metadata"} & set(out)


def test_stream_requests_usage() -> None:
    assert translate(stream=True)["stream_options"] == {"include_usage": True}
    out = translate(ChatDialectOptions(stream_usage=False), stream=True)
    assert out["stream"] is True and "stream_options" not in out
    assert "stream_options" not in translate(stream=False)


@pytest.mark.parametrize(
    ("body", "effort"),
    [
        ({"thinking": {"type": "adaptive"}, "output_config": {"effort": "high"}}, "high"),
        ({"thinking": {"type": "adaptive"}}, None),
        ({"thinking": {"type": "enabled", "budget_tokens": 1024}}, "low"),
        ({"thinking": {"type": "enabled", "budget_tokens": 8000}}, "medium"),
        ({"thinking": {"type": "enabled", "budget_tokens": 32000}, "max_tokens": 64000}, "high"),
        ({"thinking": {"type": "disabled"}, "output_config": {"effort": "low"}}, None),
        ({"output_config": {"effort": "medium"}}, "medium"),
    ],
)
def test_thinking_to_reasoning_effort(body: dict[str, Any], effort: str | None) -> None:
    assert translate(**body).get("reasoning_effort") == effort
    assert "reasoning_effort" not in translate(ChatDialectOptions(send_reasoning_effort=False), **body)


def test_output_format_to_response_format() -> None:
    out = translate(output_config={"format": {"type": "json_schema", "schema": SCHEMA}})
    assert out["response_format"] == {"type": "json_schema", "json_schema": {
        "name": "structured_output", "schema": SCHEMA, "strict": True}}


def test_options_are_frozen() -> None:
    opts = ChatDialectOptions()
    with pytest.raises(AttributeError):
        opts.stream_usage = False  # type: ignore[misc]
