"""A stored ``Message`` replayed as a stream: Anthropic's grammar exactly, and it folds back to the message."""

from __future__ import annotations

import json
from typing import Any

import pytest

from aimux_core.wire.accumulate import accumulate
from aimux_core.wire.anthropic import Message
from aimux_core.wire.replay import message_events
from support.anthropic_grammar import check_anthropic_stream

THINKING = {"type": "thinking", "thinking": "Let me check.", "signature": "EqQBCkgIBxABGAIiQ"}
TEXT = {"type": "text", "text": "Paris."}
CITED = {"type": "text", "text": "It rains.", "citations": [{"type": "char_location", "cited_text": "rain"}]}
TOOL = {"type": "tool_use", "id": "toolu_01A", "name": "get_weather", "input": {"city": "Paris", "units": ["c"]}}
EMPTY_TOOL = {"type": "tool_use", "id": "toolu_01B", "name": "now", "input": {}}
REDACTED = {"type": "redacted_thinking", "data": "EmwKAhgBEgy3va3pzix"}
SERVER_TOOL = {"type": "server_tool_use", "id": "srvtoolu_01", "name": "web_search", "input": {"query": "weather"}}
SEARCH_RESULT = {"type": "web_search_tool_result", "tool_use_id": "srvtoolu_01", "content": []}


def message(content: list[dict[str, Any]], **fields: Any) -> Message:
    return Message.model_validate(
        {
            "id": "msg_01", "type": "message", "role": "assistant", "model": "claude-test", "content": content,
            "stop_reason": "end_turn", "stop_sequence": None,
            "usage": {"input_tokens": 12, "output_tokens": 34, "cache_read_input_tokens": 5,
                      "cache_creation_input_tokens": 0},
            **fields,
        }
    )  # fmt: skip


ANSWERS = {
    "text": message([TEXT]),
    "thinking, text, tool": message([THINKING, TEXT, TOOL], stop_reason="tool_use"),
    "citations": message([CITED]),
    "empty tool input": message([EMPTY_TOOL], stop_reason="tool_use"),
    "redacted thinking": message([REDACTED, TEXT]),
    "server tools": message([SERVER_TOOL, SEARCH_RESULT, TEXT]),
    "no content": message([], stop_reason="max_tokens"),
    "stop sequence": message([TEXT], stop_reason="stop_sequence", stop_sequence="\n\nHuman:"),
}


@pytest.mark.parametrize("answer", ANSWERS.values(), ids=ANSWERS.keys())
def test_replay_follows_the_grammar_and_folds_back_to_the_message(answer: Message) -> None:
    events = list(message_events(answer))
    payloads = [json.loads(event.dump_json()) for event in events]
    check_anthropic_stream(payloads)
    assert accumulate(events).dump() == answer.dump()


def test_message_start_opens_empty_with_the_input_usage() -> None:
    start = json.loads(next(message_events(ANSWERS["text"])).dump_json())
    assert start["message"]["content"] == [] and start["message"]["stop_reason"] is None
    assert "stop_sequence" in start["message"] and start["message"]["stop_sequence"] is None
    assert start["message"]["usage"] == {
        "input_tokens": 12, "output_tokens": 1, "cache_read_input_tokens": 5, "cache_creation_input_tokens": 0,
    }  # fmt: skip


def test_tool_input_arrives_as_json_after_an_empty_start() -> None:
    events = [json.loads(e.dump_json()) for e in message_events(ANSWERS["thinking, text, tool"])]
    start = next(e for e in events if e["type"] == "content_block_start" and e["index"] == 2)
    assert start["content_block"] == {**TOOL, "input": {}}
    (delta,) = [e for e in events if e["type"] == "content_block_delta" and e["index"] == 2]
    assert json.loads(delta["delta"]["partial_json"]) == TOOL["input"]
    end = events[-2]
    assert end["type"] == "message_delta" and end["delta"]["stop_reason"] == "tool_use"
    assert end["usage"]["output_tokens"] == 34
