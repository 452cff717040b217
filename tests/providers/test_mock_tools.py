"""The mock provider's tool calls: which tool is called and when, schema-valid input, tool_choice,
and how tool results are answered."""

from __future__ import annotations

import json
from typing import Any

import pytest
from mock_helpers import BASH, WEATHER, answer, conforms, deltas, make_call, tool_result_call

pytestmark = pytest.mark.anyio


# --------------------------------------------------------------------------- tools


async def test_bash_tool_call_with_backticked_command() -> None:
    message, events = await answer(make_call("Please use the Bash tool to run `echo hi`", tools=[BASH, WEATHER]))
    assert [b.type for b in message.content] == ["text", "tool_use"]
    tool = message.content[1].dump()
    assert tool["name"] == "Bash" and tool["input"] == {"command": "echo hi"}
    assert tool["id"].startswith("toolu_") and len(tool["id"]) > 12
    assert message.stop_reason == "tool_use"
    fragments = [d["partial_json"] for d in deltas(events, "input_json_delta")]
    assert fragments[0] == "" and len(fragments) >= 3
    assert json.loads("".join(fragments)) == tool["input"]


async def test_tool_input_fills_the_schema_with_the_subject() -> None:
    message, _ = await answer(make_call("use the get_weather tool for Paris, please", tools=[BASH, WEATHER]))
    tool = message.content[-1].dump()
    assert tool["name"] == "get_weather" and tool["input"]["location"] == "Paris"
    assert conforms(tool["input"], WEATHER["input_schema"])


@pytest.mark.parametrize(
    "schema",
    [
        {"type": "object", "properties": {}},
        {
            "type": "object",
            "properties": {
                "todos": {
                    "type": "array",
                    "minItems": 1,
                    "items": {
                        "type": "object",
                        "properties": {
                            "content": {"type": "string", "minLength": 1},
                            "status": {"type": "string", "enum": ["pending", "in_progress", "completed"]},
                            "priority": {"type": "integer", "minimum": 3},
                        },
                        "required": ["content", "status", "priority"],
                    },
                },
                "flags": {"type": "object", "properties": {"force": {"type": "boolean"}}, "required": ["force"]},
                "ratio": {"type": "number", "maximum": 0.5},
                "code": {"type": "string", "maxLength": 2},
                "maybe": {"anyOf": [{"type": "null"}, {"type": "integer"}]},
            },
            "required": ["todos", "flags", "ratio", "code", "maybe"],
        },
        {
            "type": "object",
            "$defs": {"point": {"type": "object", "properties": {"x": {"type": "integer"}}, "required": ["x"]}},
            "properties": {"at": {"$ref": "#/$defs/point"}, "tags": {"type": "array", "items": {"type": "string"}}},
            "required": ["at", "tags"],
        },
    ],
)
async def test_tool_input_satisfies_varied_schemas(schema: dict[str, Any]) -> None:
    tools = [{"name": "do_it", "input_schema": schema}]
    message, events = await answer(make_call("call do_it now", tools=tools))
    tool = message.content[-1].dump()
    fragments = "".join(d["partial_json"] for d in deltas(events, "input_json_delta"))
    assert json.loads(fragments) == tool["input"]
    flat = {k: v for k, v in schema.items() if k != "$defs"}
    if "at" in flat.get("properties", {}):
        flat["properties"] = {**flat["properties"], "at": schema["$defs"]["point"]}
    assert conforms(tool["input"], flat)


async def test_backticked_command_goes_to_first_required_string_without_a_command_property() -> None:
    tools = [
        {
            "name": "sql",
            "input_schema": {"type": "object", "properties": {"query": {"type": "string"}}, "required": ["query"]},
        }
    ]
    message, _ = await answer(make_call("use sql to run `select 1`", tools=tools))
    assert message.content[-1].dump()["input"] == {"query": "select 1"}


@pytest.mark.parametrize(
    "prompt",
    ["what is the weather in Paris?", "tell me about bash scripting", "use a spreadsheet for this"],
)
async def test_no_tool_call_unless_asked(prompt: str) -> None:
    message, _ = await answer(make_call(prompt, tools=[BASH, WEATHER]))
    assert [b.type for b in message.content] == ["text"] and message.stop_reason == "end_turn"


async def test_tool_choice_controls_the_call() -> None:
    forced, _ = await answer(
        make_call("hello", tools=[BASH, WEATHER], tool_choice={"type": "tool", "name": "get_weather"})
    )
    assert [b.type for b in forced.content] == ["tool_use"] and forced.content[0].dump()["name"] == "get_weather"
    anything, _ = await answer(make_call("hello", tools=[BASH, WEATHER], tool_choice={"type": "any"}))
    assert anything.content[0].dump()["name"] == "Bash" and anything.stop_reason == "tool_use"
    none, _ = await answer(make_call("use the Bash tool", tools=[BASH], tool_choice={"type": "none"}))
    assert [b.type for b in none.content] == ["text"]


async def test_tools_without_a_schema_are_never_called() -> None:
    tools = [{"type": "web_search_20250305", "name": "web_search"}]
    message, _ = await answer(make_call("use web_search for cats", tools=tools))
    assert [b.type for b in message.content] == ["text"]


async def test_tool_result_is_reported() -> None:
    message, _ = await answer(tool_result_call("hi\n"))
    assert message.content[0].dump()["text"] == "The tool returned: hi" and message.stop_reason == "end_turn"
    listed, _ = await answer(tool_result_call([{"type": "text", "text": "line one"}]))
    assert "line one" in listed.content[0].dump()["text"]
    failed, _ = await answer(tool_result_call("command not found", is_error=True))
    assert failed.content[0].dump()["text"] == "The tool reported an error: command not found"
