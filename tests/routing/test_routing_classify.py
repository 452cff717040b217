"""Scenario classification: every scenario, their precedence, and Claude Code's real request shapes.

The documented precedence (``routing/classify.py``): long_context > vision > background > thinking
> tools > default. Capacity and capability first (a target that cannot hold or see the request is
useless), background before thinking (Claude Code's side requests carry its thinking settings).
"""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from routing_conftest import claude_code_record, make_request

from aimux_core.accounting.tokens import estimate_input_tokens
from aimux_core.routing.classify import SCENARIOS, Classification, classify
from aimux_core.translate.openai_request import chat_to_messages
from aimux_core.wire.anthropic import MessagesRequest
from aimux_core.wire.openai import ChatCompletionRequest
from support.samples import BASH_TOOL, PNG_1X1

IMAGE = {"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": PNG_1X1}}
PDF = {"type": "document", "source": {"type": "base64", "media_type": "application/pdf", "data": "JVBERi0xLjQK"}}
TITLE_FORMAT = {
    "format": {"type": "json_schema", "schema": {"type": "object", "properties": {"title": {"type": "string"}}}}
}
THRESHOLD = 100_000


def scenario_of(request: MessagesRequest, *, tokens: int = 50, threshold: int = THRESHOLD) -> Classification:
    return classify(request, estimated_tokens=tokens, long_context_threshold=threshold)


def user(*blocks: dict[str, Any]) -> list[dict[str, Any]]:
    return [{"role": "user", "content": list(blocks)}]


def tool_turns(result_content: Any) -> list[dict[str, Any]]:
    """A tool loop whose last user turn returns ``result_content`` from the tool."""
    return [
        {"role": "user", "content": "take a screenshot"},
        {"role": "assistant", "content": [{"type": "tool_use", "id": "toolu_1", "name": "Bash", "input": {}}]},
        {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "toolu_1", "content": result_content}]},
    ]


# --------------------------------------------------------------------------- each scenario


def test_plain_request_is_default() -> None:
    found = scenario_of(make_request("hello"))
    assert (found.scenario, found.reason) == ("default", "plain request")
    assert not (found.needs_vision or found.needs_tools or found.needs_thinking)


def test_tools_offered_is_tools() -> None:
    found = scenario_of(make_request("run ls", tools=[BASH_TOOL]))
    assert found.scenario == "tools" and found.needs_tools
    assert found.reason == "1 tools offered"


def test_empty_tool_list_is_not_tools() -> None:
    assert scenario_of(make_request("hi", tools=[])).scenario == "default"


@pytest.mark.parametrize("thinking", [{"type": "enabled", "budget_tokens": 2048}, {"type": "adaptive"}])
def test_thinking_enabled_or_adaptive_is_thinking(thinking: dict[str, Any]) -> None:
    found = scenario_of(make_request("think hard", max_tokens=8192, thinking=thinking))
    assert found.scenario == "thinking" and found.needs_thinking
    assert found.reason == f"thinking {thinking['type']}"


def test_thinking_disabled_is_not_thinking() -> None:
    found = scenario_of(make_request("hi", thinking={"type": "disabled"}))
    assert found.scenario == "default" and not found.needs_thinking


@pytest.mark.parametrize(
    ("effort", "scenario"), [("low", "thinking"), ("high", "thinking"), ("minimal", "thinking"), ("none", "default")]
)
def test_openai_reasoning_effort_arrives_as_thinking(effort: str, scenario: str) -> None:
    """OpenAI clients ask for reasoning with ``reasoning_effort``; the surface makes it adaptive thinking."""
    chat = ChatCompletionRequest.model_validate(
        {"model": "gpt-5", "messages": [{"role": "user", "content": "hi"}], "reasoning_effort": effort}
    )
    assert scenario_of(chat_to_messages(chat, default_max_tokens=4096)).scenario == scenario


def test_image_in_a_user_turn_is_vision() -> None:
    found = scenario_of(make_request(messages=user({"type": "text", "text": "what is this"}, IMAGE)))
    assert found.scenario == "vision" and found.needs_vision


def test_document_is_vision() -> None:
    assert scenario_of(make_request(messages=user({"type": "text", "text": "summarise"}, PDF))).scenario == "vision"


@pytest.mark.parametrize("inner", [IMAGE, PDF], ids=["image", "document"])
def test_media_inside_a_tool_result_is_vision(inner: dict[str, Any]) -> None:
    """Claude Code's Read tool returns screenshots and PDFs as tool results: still vision."""
    request = make_request(messages=tool_turns([{"type": "text", "text": "here it is"}, inner]), tools=[BASH_TOOL])
    found = scenario_of(request)
    assert found.scenario == "vision" and found.needs_vision and found.needs_tools


def test_text_only_tool_result_is_not_vision() -> None:
    assert scenario_of(make_request(messages=tool_turns("ok"), tools=[BASH_TOOL])).scenario == "tools"


@pytest.mark.parametrize(
    "model",
    ["claude-haiku-4-5", "claude-haiku-4-5-20251001", "claude-3-5-haiku-20241022", "claude-3-haiku-20240307",
     "CLAUDE-HAIKU-9", "anthropic/claude-haiku-4.5"],
)
def test_haiku_class_models_are_background(model: str) -> None:
    found = scenario_of(make_request("quick one", model=model))
    assert found.scenario == "background"
    assert found.reason == f"haiku-class model {model}"


@pytest.mark.parametrize("model", ["claude-sonnet-4-5", "claude-opus-4-1", "gpt-4.1", "glm-4.6"])
def test_other_models_are_not_background(model: str) -> None:
    assert scenario_of(make_request("hello", model=model)).scenario == "default"


def test_small_structured_side_request_is_background() -> None:
    found = scenario_of(make_request("Generate a title for: fix the bug", model="claude-opus-4-1",
                                     output_config=TITLE_FORMAT))
    assert (found.scenario, found.reason) == ("background", "small structured side request")


@pytest.mark.parametrize(
    "change",
    [
        {"tools": [BASH_TOOL]},
        {"messages": [{"role": "user", "content": "a"}, {"role": "assistant", "content": "b"},
                      {"role": "user", "content": "c"}]},
        {"messages": [{"role": "user", "content": "x" * 4_001}]},
        {"output_config": {"effort": "medium"}},
    ],
    ids=["with-tools", "two-user-turns", "long-user-turn", "no-format"],
)
def test_not_a_side_request(change: dict[str, Any]) -> None:
    """Structured output alone is not enough: tools, a conversation or a long turn make real work."""
    fields = {"output_config": TITLE_FORMAT, **change}
    assert scenario_of(make_request("title please", model="claude-opus-4-1", **fields)).scenario != "background"


def test_long_context_over_the_threshold() -> None:
    found = scenario_of(make_request("hello"), tokens=1_001, threshold=1_000)
    assert found.scenario == "long_context"
    assert found.reason == "~1001 input tokens > 1000"
    assert found.estimated_tokens == 1_001


def test_exactly_at_the_threshold_is_not_long_context() -> None:
    assert scenario_of(make_request("hello"), tokens=1_000, threshold=1_000).scenario == "default"


def test_long_context_from_the_token_estimate() -> None:
    """The gateway classifies with ``estimate_input_tokens``: a long prompt crosses a low threshold."""
    request = make_request("lorem ipsum dolor sit amet " * 400)
    tokens = estimate_input_tokens(request)
    assert scenario_of(request, tokens=tokens, threshold=tokens - 1).scenario == "long_context"
    assert scenario_of(request, tokens=tokens, threshold=tokens).scenario == "default"


# --------------------------------------------------------------------------- precedence


def test_long_context_outranks_everything() -> None:
    request = make_request(model="claude-haiku-4-5", messages=user({"type": "text", "text": "x"}, IMAGE),
                           tools=[BASH_TOOL], thinking={"type": "adaptive"})
    found = scenario_of(request, tokens=5_000, threshold=1_000)
    assert found.scenario == "long_context"
    assert found.needs_vision and found.needs_tools and found.needs_thinking, "capabilities still required"


def test_vision_outranks_background_thinking_and_tools() -> None:
    request = make_request(model="claude-haiku-4-5", messages=user({"type": "text", "text": "x"}, IMAGE),
                           tools=[BASH_TOOL], thinking={"type": "adaptive"})
    assert scenario_of(request).scenario == "vision"


def test_background_outranks_thinking_and_tools() -> None:
    request = make_request(model="claude-haiku-4-5", tools=[BASH_TOOL], thinking={"type": "enabled",
                                                                                   "budget_tokens": 1024})
    found = scenario_of(request)
    assert found.scenario == "background" and found.needs_thinking and found.needs_tools


def test_thinking_outranks_tools() -> None:
    found = scenario_of(make_request("go", tools=[BASH_TOOL], thinking={"type": "adaptive"}))
    assert found.scenario == "thinking" and found.needs_tools


@given(
    long=st.booleans(),
    vision=st.booleans(),
    haiku=st.booleans(),
    side=st.booleans(),
    thinking=st.sampled_from([None, "enabled", "adaptive", "disabled"]),
    tools=st.booleans(),
)
def test_precedence_is_the_first_applicable_scenario(
    long: bool, vision: bool, haiku: bool, side: bool, thinking: str | None, tools: bool
) -> None:
    """Any mix of features: the scenario is the first applicable one in ``SCENARIOS`` order."""
    blocks: list[dict[str, Any]] = [{"type": "text", "text": "describe"}]
    if vision:
        blocks.append(IMAGE)
    fields: dict[str, Any] = {"model": "claude-haiku-4-5" if haiku else "claude-sonnet-4-5", "messages": user(*blocks)}
    if side:
        fields["output_config"] = TITLE_FORMAT
    if thinking is not None:
        fields["thinking"] = {"type": thinking, **({"budget_tokens": 1024} if thinking == "enabled" else {})}
    if tools:
        fields["tools"] = [BASH_TOOL]
    applicable = {
        "long_context": long,
        "vision": vision,
        "background": haiku or (side and not tools),
        "thinking": thinking in ("enabled", "adaptive"),
        "tools": tools,
        "default": True,
    }
    expected = next(name for name in SCENARIOS if applicable[name])
    found = scenario_of(make_request(**fields), tokens=2_000 if long else 10, threshold=1_000)
    assert found.scenario == expected
    assert (found.needs_vision, found.needs_tools) == (vision, tools)


# --------------------------------------------------------------------------- Claude Code's requests


def claude_code_request(name: str) -> MessagesRequest:
    return MessagesRequest.model_validate(claude_code_record(name)["body"])


def classify_as_gateway(request: MessagesRequest, threshold: int = THRESHOLD) -> Classification:
    return scenario_of(request, tokens=estimate_input_tokens(request), threshold=threshold)


def test_claude_code_title_request_is_background() -> None:
    """The session-title request: no tools, a JSON-schema output format, one short user turn."""
    request = claude_code_request("request_title_background")
    assert not request.tools and request.output_config is not None and request.output_config.format
    assert request.thinking is None
    found = classify_as_gateway(request)
    assert (found.scenario, found.reason) == ("background", "small structured side request")


@pytest.mark.parametrize(
    "name", ["request_tool_turn1", "request_tool_turn2", "request_plain", "request_nonstream_fallback"]
)
def test_claude_code_main_loop_requests_are_thinking(name: str) -> None:
    """The main loop offers tools and asks for adaptive thinking: thinking outranks tools."""
    request = claude_code_request(name)
    assert request.tools and request.thinking is not None and request.thinking.type == "adaptive"
    found = classify_as_gateway(request)
    assert found.scenario == "thinking"
    assert found.needs_tools and found.needs_thinking and not found.needs_vision


def test_claude_code_tool_result_turn_is_thinking() -> None:
    """Turn 2 returns a (text) tool result inside a system-role turn conversation: still thinking."""
    request = claude_code_request("request_tool_turn2")
    roles = [m.role for m in request.messages]
    assert roles[-1] == "user" and "system" in roles
    assert classify_as_gateway(request).scenario == "thinking"


@pytest.mark.parametrize("name", ["request_tool_turn1", "request_title_background"])
def test_claude_code_requests_over_a_low_threshold_are_long_context(name: str) -> None:
    request = claude_code_request(name)
    tokens = estimate_input_tokens(request)
    assert tokens < THRESHOLD, "the real requests are far from the default threshold"
    assert classify_as_gateway(request, threshold=tokens // 2).scenario == "long_context"
