"""The mock provider's answers: plain text, thinking, stop sequences and max_tokens, structured output,
and the recorded Claude Code requests."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from mock_helpers import BASH, WEATHER, answer, collect, conforms, deltas, make_call, without_id

from aimux_core.accounting.tokens import estimate_input_tokens
from aimux_core.providers.mock import MockProvider
from aimux_core.wire.anthropic import ContentBlockStartEvent, MessageDeltaEvent

pytestmark = pytest.mark.anyio

TITLE_FORMAT = {
    "type": "json_schema",
    "schema": {
        "type": "object",
        "properties": {"title": {"type": "string"}},
        "required": ["title"],
        "additionalProperties": False,
    },
}


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
