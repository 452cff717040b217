"""Requests recorded from the real Claude Code CLI go through the Anthropic surface intact."""

from __future__ import annotations

import json
from pathlib import Path

import httpx
import pytest

from aimux_core.wire.anthropic import CountTokensRequest, MessagesRequest
from support.anthropic_grammar import check_anthropic_stream, parse_anthropic_sse

RECORDED = Path(__file__).parents[1] / "fixtures" / "claude_code"
MESSAGE_SHAPES = [
    "request_plain.json",
    "request_tool_turn1.json",
    "request_tool_turn2.json",
    "request_nonstream_fallback.json",
    "request_title_background.json",
]


def _load(name: str) -> dict:
    return json.loads((RECORDED / name).read_text())


def _send(url: str, recorded: dict) -> httpx.Response:
    headers = {k: v for k, v in recorded["headers"].items() if k.lower() not in {"connection", "accept-encoding"}}
    headers["x-api-key"] = "sk-test"
    target = f"{url}{recorded['path']}?{recorded['query']}"
    return httpx.post(target, content=json.dumps(recorded["body"]).encode(), headers=headers, timeout=15)


@pytest.mark.parametrize("name", MESSAGE_SHAPES)
def test_recorded_body_is_a_valid_canonical_request_that_round_trips(name: str) -> None:
    body = _load(name)["body"]
    parsed = MessagesRequest.model_validate(body)
    assert parsed.dump() == body  # nothing dropped, nothing invented


@pytest.mark.parametrize("name", MESSAGE_SHAPES)
def test_recorded_request_is_served(gateway_url: str, name: str) -> None:
    recorded = _load(name)
    response = _send(gateway_url, recorded)
    assert response.status_code == 200, response.text
    if recorded["body"].get("stream"):
        assert response.headers["content-type"].startswith("text/event-stream")
        check_anthropic_stream(parse_anthropic_sse(response.content))
    else:
        message = response.json()
        assert message["type"] == "message" and message["model"] == recorded["body"]["model"]
        assert message["usage"]["input_tokens"] > 0


def test_structured_title_request_gets_json_matching_its_schema(gateway_url: str) -> None:
    recorded = _load("request_title_background.json")
    recorded["body"]["stream"] = False
    message = _send(gateway_url, recorded).json()
    title = json.loads(message["content"][0]["text"])
    assert isinstance(title["title"], str)


def test_recorded_count_tokens_request(gateway_url: str) -> None:
    recorded = _load("request_count_tokens_tools.json")
    assert CountTokensRequest.model_validate(recorded["body"]).dump() == recorded["body"]
    response = _send(gateway_url, recorded)
    assert response.status_code == 200
    assert response.json()["input_tokens"] > 1000  # twelve tool schemas are not small
