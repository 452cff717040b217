"""The built-in mock provider: every documented behaviour, the stream grammar, and SDK acceptance."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import anthropic
import httpx2
import pytest
from anthropic.lib.streaming._messages import accumulate_event

from aimux_core.accounting.tokens import estimate_input_tokens
from aimux_core.errors import UpstreamError
from aimux_core.providers.base import RequestContext, UpstreamCall
from aimux_core.providers.mock import MockProvider
from aimux_core.wire.accumulate import accumulate
from aimux_core.wire.anthropic import (
    ContentBlockDeltaEvent,
    ContentBlockStartEvent,
    ContentBlockStopEvent,
    Message,
    MessageDeltaEvent,
    MessagesRequest,
    MessageStartEvent,
    MessageStopEvent,
    PingEvent,
    StreamEvent,
    stream_event_adapter,
)
from aimux_core.wire.sse import anthropic_frame

pytestmark = pytest.mark.anyio

BASH = {
    "name": "Bash",
    "description": "Run a shell command",
    "input_schema": {
        "type": "object",
        "properties": {
            "command": {"type": "string"},
            "timeout": {"type": "number"},
            "description": {"type": "string"},
        },
        "required": ["command"],
    },
}
WEATHER = {
    "name": "get_weather",
    "input_schema": {
        "type": "object",
        "properties": {
            "location": {"type": "string"},
            "unit": {"type": "string", "enum": ["celsius", "fahrenheit"]},
            "days": {"type": "integer", "minimum": 1, "maximum": 7},
        },
        "required": ["location", "unit", "days"],
    },
}
TITLE_FORMAT = {
    "type": "json_schema",
    "schema": {
        "type": "object",
        "properties": {"title": {"type": "string"}},
        "required": ["title"],
        "additionalProperties": False,
    },
}


def make_call(content: Any = "Hello there, how are you today?", **body: Any) -> UpstreamCall:
    payload: dict[str, Any] = {"model": "claude-test-1", "max_tokens": 1024}
    payload["messages"] = body.pop("messages", None) or [{"role": "user", "content": content}]
    payload.update(body)
    request = MessagesRequest.model_validate(payload)
    return UpstreamCall(request=request, model="aimux-mock", context=RequestContext(request_id="req_test"))


def tool_result_call(content: Any, *, is_error: bool | None = None) -> UpstreamCall:
    result: dict[str, Any] = {"type": "tool_result", "tool_use_id": "toolu_1", "content": content}
    if is_error is not None:
        result["is_error"] = is_error
    messages = [
        {"role": "user", "content": "use the Bash tool to run `echo hi`"},
        {
            "role": "assistant",
            "content": [{"type": "tool_use", "id": "toolu_1", "name": "Bash", "input": {"command": "echo hi"}}],
        },
        {"role": "user", "content": [result]},
    ]
    return make_call(messages=messages, tools=[BASH])


async def collect(call: UpstreamCall, provider: MockProvider | None = None) -> list[StreamEvent]:
    return [event async for event in (provider or MockProvider()).stream(call)]


async def answer(call: UpstreamCall) -> tuple[Message, list[StreamEvent]]:
    """create() and stream() for one call, after checking the stream and that the two agree."""
    provider = MockProvider()
    message = await provider.create(call)
    events = await collect(call, provider)
    check_grammar(events)
    assert without_id(accumulate(events)) == without_id(message)
    assert message.id.startswith("msg_") and message.model == call.request.model
    return message, events


def without_id(message: Message) -> dict[str, Any]:
    dumped = message.dump()
    dumped.pop("id")
    return dumped


def deltas(events: list[StreamEvent], kind: str) -> list[dict[str, Any]]:
    return [e.delta.dump() for e in events if isinstance(e, ContentBlockDeltaEvent) and e.delta.type == kind]


# --------------------------------------------------------------------------- checkers

_DELTA_KINDS = {
    "text": {"text_delta"},
    "thinking": {"thinking_delta", "signature_delta"},
    "tool_use": {"input_json_delta"},
}
_OPENINGS = {
    "text": {"type": "text", "text": ""},
    "thinking": {"type": "thinking", "thinking": "", "signature": ""},
}


def check_grammar(events: list[StreamEvent]) -> None:
    """message_start, blocks 0..n strictly one at a time, message_delta, message_stop last."""
    for event in events:
        assert type(stream_event_adapter.validate_python(event.dump())) is type(event)
    kinds = [e.type for e in events if not isinstance(e, PingEvent)]
    assert kinds.count("message_start") == 1 and kinds[0] == "message_start"
    assert kinds[-2:] == ["message_delta", "message_stop"] and kinds.count("message_delta") == 1
    start = events[0]
    assert isinstance(start, MessageStartEvent)
    assert start.message.content == [] and start.message.stop_reason is None
    usage = start.message.usage.dump()
    assert usage["input_tokens"] >= 1 and usage["output_tokens"] == 1
    assert usage["cache_creation_input_tokens"] == 0 and usage["cache_read_input_tokens"] == 0
    assert isinstance(events[1], PingEvent)

    open_index: int | None = None
    open_kind = ""
    next_index = 0
    signed = False
    for event in events[1:]:
        if isinstance(event, ContentBlockStartEvent):
            assert open_index is None and event.index == next_index
            open_index, open_kind, next_index, signed = event.index, event.content_block.type, next_index + 1, False
            opening = event.content_block.dump()
            if open_kind == "tool_use":
                assert opening["input"] == {} and opening["id"].startswith("toolu_")
            else:
                assert opening == _OPENINGS[open_kind]
        elif isinstance(event, ContentBlockDeltaEvent):
            assert event.index == open_index and event.delta.type in _DELTA_KINDS[open_kind]
            assert not signed, "signature_delta must be the last delta of a thinking block"
            signed = event.delta.type == "signature_delta"
        elif isinstance(event, ContentBlockStopEvent):
            assert event.index == open_index
            assert signed or open_kind != "thinking", "thinking block closed without a signature"
            open_index = None
        elif isinstance(event, MessageDeltaEvent):
            assert open_index is None
            final = event.usage.dump()
            assert final["output_tokens"] >= 1 and final["input_tokens"] == usage["input_tokens"]
            assert final["cache_creation_input_tokens"] == 0 and final["cache_read_input_tokens"] == 0
        else:
            assert isinstance(event, PingEvent | MessageStopEvent)


def conforms(value: Any, schema: dict[str, Any]) -> bool:
    """A small JSON Schema check: the keywords the mock's schemas use, nothing more."""
    if "enum" in schema and value not in schema["enum"]:
        return False
    if "anyOf" in schema:
        return any(conforms(value, option) for option in schema["anyOf"])
    kind = schema.get("type")
    checks = {
        "object": lambda v: isinstance(v, dict),
        "array": lambda v: isinstance(v, list),
        "string": lambda v: isinstance(v, str),
        "integer": lambda v: isinstance(v, int) and not isinstance(v, bool),
        "number": lambda v: isinstance(v, int | float) and not isinstance(v, bool),
        "boolean": lambda v: isinstance(v, bool),
        "null": lambda v: v is None,
    }
    if kind is not None and not checks[kind](value):
        return False
    if isinstance(value, dict):
        properties = schema.get("properties", {})
        if any(key not in value for key in schema.get("required", [])):
            return False
        if schema.get("additionalProperties") is False and set(value) - set(properties):
            return False
        return all(conforms(v, properties.get(k, {})) for k, v in value.items())
    if isinstance(value, list):
        if len(value) < schema.get("minItems", 0):
            return False
        return all(conforms(item, schema.get("items", {})) for item in value)
    if isinstance(value, int | float) and not isinstance(value, bool):
        return schema.get("minimum", value) <= value <= schema.get("maximum", value)
    if isinstance(value, str):
        return schema.get("minLength", 0) <= len(value) <= schema.get("maxLength", len(value))
    return True


# --------------------------------------------------------------------------- plain text


async def test_plain_text_echoes_the_prompt_in_several_chunks() -> None:
    message, events = await answer(make_call("Hello there, how are you today?"))
    assert [b.type for b in message.content] == ["text"]
    assert message.content[0].dump()["text"] == 'Mock reply to: "Hello there, how are you today?"'
    assert 3 <= len(deltas(events, "text_delta")) <= 8
    assert message.stop_reason == "end_turn" and message.stop_sequence is None


async def test_long_prompt_is_clipped_and_reminders_are_dropped() -> None:
    prompt = [
        {"type": "text", "text": "<system-reminder>\nsecret context\n</system-reminder>"},
        {"type": "text", "text": "word " * 200},
    ]
    message, events = await answer(make_call(prompt))
    text = message.content[0].dump()["text"]
    assert "secret context" not in text and "system-reminder" not in text
    assert text.startswith('Mock reply to: "word word') and len(text) < 240
    assert 3 <= len(deltas(events, "text_delta")) <= 8


async def test_answers_are_deterministic_and_ignore_the_stream_flag() -> None:
    call = make_call("use the Bash tool to run `ls`", tools=[BASH], thinking={"type": "enabled", "budget_tokens": 2000})
    streamed = make_call(
        "use the Bash tool to run `ls`", tools=[BASH], thinking={"type": "enabled", "budget_tokens": 2000}, stream=True
    )
    first, second, third = [await MockProvider().create(c) for c in (call, call, streamed)]
    assert without_id(first) == without_id(second) == without_id(third)
    assert first.id != second.id
    runs = [[e.dump() for e in await collect(call)] for _ in range(2)]
    for run in runs:
        run[0]["message"].pop("id")
    assert runs[0] == runs[1]


async def test_usage_is_estimated_and_at_least_one() -> None:
    call = make_call("hi")
    message, events = await answer(call)
    usage = message.usage.dump()
    assert usage["input_tokens"] == max(1, estimate_input_tokens(call.request))
    assert usage["output_tokens"] >= 1
    assert usage["cache_creation_input_tokens"] == usage["cache_read_input_tokens"] == 0
    final = events[-2]
    assert isinstance(final, MessageDeltaEvent) and final.usage.output_tokens == usage["output_tokens"]


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


# --------------------------------------------------------------------------- thinking


@pytest.mark.parametrize("thinking", [{"type": "enabled", "budget_tokens": 2048}, {"type": "adaptive"}])
async def test_thinking_comes_first_and_is_signed(thinking: dict[str, Any]) -> None:
    message, events = await answer(make_call("use the Bash tool to run `pwd`", tools=[BASH], thinking=thinking))
    assert [b.type for b in message.content] == ["thinking", "text", "tool_use"]
    block = message.content[0].dump()
    assert block["thinking"] and block["signature"].startswith("aimux-mock.")
    assert len(deltas(events, "thinking_delta")) >= 2 and len(deltas(events, "signature_delta")) == 1


async def test_omitted_thinking_sends_only_the_signature() -> None:
    message, events = await answer(make_call("hi", thinking={"type": "adaptive", "display": "omitted"}))
    assert message.content[0].dump()["thinking"] == ""
    assert deltas(events, "thinking_delta") == [] and len(deltas(events, "signature_delta")) == 1


async def test_no_thinking_unless_enabled() -> None:
    message, _ = await answer(make_call("hi", thinking={"type": "disabled"}))
    assert [b.type for b in message.content] == ["text"]


# --------------------------------------------------------------------------- limits


async def test_stop_sequence_truncates_and_is_reported() -> None:
    message, _ = await answer(make_call("tell me more", stop_sequences=["nope", "more"]))
    assert message.content[0].dump()["text"] == 'Mock reply to: "tell me '
    assert message.stop_reason == "stop_sequence" and message.stop_sequence == "more"
    tool, _ = await answer(make_call("use the Bash tool", tools=[BASH], stop_sequences=["Bash"]))
    assert [b.type for b in tool.content] == ["text"] and tool.stop_reason == "stop_sequence"


async def test_max_tokens_truncates_the_answer() -> None:
    full, _ = await answer(make_call("word " * 50))
    short, _ = await answer(make_call("word " * 50, max_tokens=5))
    text = short.content[0].dump()["text"]
    assert short.stop_reason == "max_tokens" and text and full.content[0].dump()["text"].startswith(text)
    assert 1 <= short.usage.output_tokens <= 5
    tool, _ = await answer(make_call("use the Bash tool to run `echo hi`", tools=[BASH], max_tokens=6))
    assert "tool_use" not in [b.type for b in tool.content] and tool.stop_reason == "max_tokens"


async def test_max_tokens_zero_answers_no_content() -> None:
    message, events = await answer(make_call("warm the cache", max_tokens=0, thinking={"type": "adaptive"}))
    assert message.content == [] and message.stop_reason == "max_tokens"
    assert message.usage.output_tokens == 1
    assert not any(isinstance(e, ContentBlockStartEvent) for e in events)


# --------------------------------------------------------------------------- structured output


async def test_structured_output_is_valid_json() -> None:
    message, _ = await answer(make_call("Fix the login bug", output_config={"format": TITLE_FORMAT}))
    document = json.loads(message.content[0].dump()["text"])
    assert conforms(document, TITLE_FORMAT["schema"]) and "Fix the login bug" in document["title"]
    nested = {"type": "json_schema", "schema": WEATHER["input_schema"]}
    legacy, _ = await answer(make_call("weather", output_format=nested))
    assert conforms(json.loads(legacy.content[0].dump()["text"]), WEATHER["input_schema"])


# --------------------------------------------------------------------------- faults


@pytest.mark.parametrize(
    ("status", "kind", "retryable"),
    [
        (429, "rate_limit_error", True),
        (500, "api_error", True),
        (529, "overloaded_error", True),
        (400, "invalid_request_error", False),
        (504, "timeout_error", True),
    ],
)
async def test_error_marker_fails_before_the_first_event(status: int, kind: str, retryable: bool) -> None:
    call = make_call(f"please fail [[mock:error:{status}]]")
    received: list[StreamEvent] = []
    with pytest.raises(UpstreamError) as caught:
        async for event in MockProvider().stream(call):
            received.append(event)
    assert received == []
    error = caught.value
    assert (error.provider, error.upstream_status, error.status, error.kind, error.retryable) == (
        "mock",
        status,
        status,
        kind,
        retryable,
    )
    assert "please fail" not in error.message
    assert (error.retry_after is not None) == (status == 429)
    with pytest.raises(UpstreamError):
        await MockProvider().create(call)


@pytest.mark.parametrize(
    ("marker", "status"), [("[[mock:midstream-error]]", 529), ("[[mock:midstream-error:500]]", 500)]
)
async def test_midstream_marker_fails_after_some_text(marker: str, status: int) -> None:
    call = make_call(f"start streaming then break {marker}")
    received: list[StreamEvent] = []
    with pytest.raises(UpstreamError) as caught:
        async for event in MockProvider().stream(call):
            received.append(event)
    assert caught.value.upstream_status == status
    assert isinstance(received[0], MessageStartEvent) and deltas(received, "text_delta")
    assert not any(isinstance(e, MessageDeltaEvent | MessageStopEvent) for e in received)
    with pytest.raises(UpstreamError):
        await MockProvider().create(call)


# --------------------------------------------------------------------------- streaming mechanics


async def test_chunk_delay_paces_the_stream() -> None:
    call = make_call("one two three four five six")
    started = time.perf_counter()
    events = await collect(call, MockProvider(chunk_delay=0.02))
    count = sum(isinstance(e, ContentBlockDeltaEvent) for e in events)
    assert time.perf_counter() - started >= count * 0.02 * 0.9


async def test_zero_delay_still_yields_to_the_event_loop() -> None:
    ticks = 0

    async def ticker() -> None:
        nonlocal ticks
        while True:
            ticks += 1
            await asyncio.sleep(0)

    task = asyncio.create_task(ticker())
    await asyncio.sleep(0)
    before = ticks
    await collect(make_call("one two three four five six"))
    task.cancel()
    assert ticks - before >= 3


async def test_closing_the_stream_early_is_clean() -> None:
    stream = MockProvider().stream(make_call("one two three four five six"))
    first = [await anext(stream) for _ in range(3)]
    await stream.aclose()
    assert isinstance(first[0], MessageStartEvent)


# --------------------------------------------------------------------------- recorded Claude Code requests

CLAUDE_CODE = sorted((Path(__file__).parent.parent / "fixtures" / "claude_code").glob("request_*.json"))


def claude_code_body(path: Path) -> dict[str, Any]:
    recorded = json.loads(path.read_text())
    return recorded.get("body", recorded)


@pytest.mark.parametrize("path", [p for p in CLAUDE_CODE if "max_tokens" in claude_code_body(p)], ids=lambda p: p.stem)
async def test_recorded_claude_code_requests(path: Path) -> None:
    body = claude_code_body(path)
    message, _ = await answer(make_call(**body))
    assert message.content and message.content[-1].type == "text"
    if body.get("output_config", {}).get("format"):
        assert conforms(json.loads(message.content[-1].dump()["text"]), body["output_config"]["format"]["schema"])


async def test_every_claude_code_tool_gets_schema_valid_input() -> None:
    body = claude_code_body(next(p for p in CLAUDE_CODE if p.stem == "request_tool_turn1"))
    for tool in body["tools"]:
        call = make_call(**{**body, "tool_choice": {"type": "tool", "name": tool["name"]}, "thinking": None})
        message, _ = await answer(call)
        block = message.content[-1].dump()
        assert block["name"] == tool["name"] and conforms(block["input"], tool["input_schema"]), tool["name"]


# --------------------------------------------------------------------------- official client


def sdk_cases() -> Iterator[UpstreamCall]:
    yield make_call("Hello there, how are you today?")
    yield make_call(
        "use the Bash tool to run `echo hi`", tools=[BASH], thinking={"type": "enabled", "budget_tokens": 2000}
    )
    yield make_call("hi", thinking={"type": "adaptive", "display": "omitted"})
    yield tool_result_call("hi")
    yield make_call("tell me more", stop_sequences=["more"])


@pytest.mark.parametrize("call", list(sdk_cases()))
async def test_sdk_accumulator_accepts_the_stream(call: UpstreamCall) -> None:
    message, events = await answer(call)
    snapshot = None
    buffers: dict[int, bytes] = {}
    for event in events:
        snapshot = accumulate_event(event=event.dump(), current_snapshot=snapshot, json_bufs=buffers)  # type: ignore[arg-type]
    assert snapshot is not None
    sdk = snapshot.to_dict()
    ours = message.dump()
    assert sdk["content"] == ours["content"]
    assert (sdk["stop_reason"], sdk["stop_sequence"], sdk["usage"]) == (
        ours["stop_reason"],
        ours["stop_sequence"],
        ours["usage"],
    )


async def test_sdk_client_reads_the_mock_over_sse() -> None:
    call = make_call("use the Bash tool to run `echo hi`", tools=[BASH], thinking={"type": "adaptive"})
    message, events = await answer(call)
    body = b"".join(anthropic_frame(e.type, e.dump_json()) for e in events)

    def respond(request: httpx2.Request) -> httpx2.Response:
        return httpx2.Response(200, headers={"content-type": "text/event-stream"}, content=body)

    client = anthropic.AsyncAnthropic(
        api_key="test",
        base_url="http://mock.invalid",
        http_client=httpx2.AsyncClient(transport=httpx2.MockTransport(respond)),
    )
    async with client.messages.stream(
        model="claude-test-1", max_tokens=1024, messages=[{"role": "user", "content": "x"}]
    ) as stream:
        final = await stream.get_final_message()
    assert [b.type for b in final.content] == ["thinking", "text", "tool_use"]
    assert final.content[2].input == {"command": "echo hi"}  # type: ignore[union-attr]
    assert final.stop_reason == "tool_use" and final.usage.output_tokens == message.usage.output_tokens
