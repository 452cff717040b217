"""Shared helpers of the mock provider tests: sample tools, calls, and the stream grammar and schema checks."""

from __future__ import annotations

from typing import Any

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
