"""The Anthropic streaming grammar as an executable check.

    stream := message_start block* message_delta message_stop      (ping anywhere)
    block  := content_block_start content_block_delta* content_block_stop

Blocks are strictly sequential with indexes 0..n, deltas go only to the open block and match its
type, the ``event:`` line equals the JSON ``type``, and ``error`` ends the stream.
"""

from __future__ import annotations

import json
from typing import Any

from aimux_core.wire.sse import SSEParser

_DELTA_FOR_BLOCK = {
    "text": {"text_delta", "citations_delta"},
    "tool_use": {"input_json_delta"},
    "server_tool_use": {"input_json_delta"},
    "thinking": {"thinking_delta", "signature_delta"},
}


def parse_anthropic_sse(raw: bytes) -> list[dict[str, Any]]:
    """Parse SSE bytes; assert every ``event:`` line matches its payload's ``type``."""
    parser = SSEParser()
    events = [*parser.feed(raw), *parser.finish()]
    payloads = []
    for event in events:
        payload = json.loads(event.data)
        assert event.event == payload["type"], f"event line {event.event!r} != type {payload['type']!r}"
        payloads.append(payload)
    return payloads


def check_anthropic_stream(events: list[dict[str, Any]], *, allow_error: bool = False) -> None:
    """Assert ``events`` follow the grammar; a trailing ``error`` is accepted only if allowed."""
    kinds = [e["type"] for e in events if e["type"] != "ping"]
    assert kinds and kinds[0] == "message_start", f"stream must open with message_start: {kinds[:3]}"
    assert kinds.count("message_start") == 1, "exactly one message_start"
    start_usage = events[0]["message"]["usage"] if events[0]["type"] == "message_start" else None
    if start_usage is not None:
        assert start_usage["input_tokens"] > 0, "message_start must carry the real input token count"
    if kinds[-1] == "error":
        assert allow_error, "unexpected error event"
        assert "message_stop" not in kinds, "an errored stream must not also stop cleanly"
    else:
        assert kinds[-2:] == ["message_delta", "message_stop"], f"stream must end delta+stop: {kinds[-3:]}"
    open_index: int | None = None
    open_type: str | None = None
    next_index = 0
    for event in events:
        kind = event["type"]
        if kind == "content_block_start":
            assert open_index is None, "a block opened while another is open"
            assert event["index"] == next_index, f"block index {event['index']} != {next_index}"
            block = event["content_block"]
            if block["type"] == "tool_use":
                assert block["input"] == {}, "tool input must arrive via input_json_delta"
            open_index, open_type = event["index"], block["type"]
            next_index += 1
        elif kind == "content_block_delta":
            assert event["index"] == open_index, "delta for a block that is not open"
            allowed = _DELTA_FOR_BLOCK.get(open_type or "")
            if allowed is not None:
                assert event["delta"]["type"] in allowed, f"{event['delta']['type']} in a {open_type} block"
        elif kind == "content_block_stop":
            assert event["index"] == open_index, "stop for a block that is not open"
            open_index = open_type = None
        elif kind == "message_delta":
            assert open_index is None, "message_delta while a block is open"
            assert event["delta"]["stop_reason"], "message_delta must carry stop_reason"
            assert "output_tokens" in event["usage"]
