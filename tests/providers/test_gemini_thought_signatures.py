"""Gemini's thought signatures survive the client's round trip, for both client dialects.

Gemini 3 (OpenAI-compatible endpoint) puts ``extra_content.google.thought_signature`` on the first
tool call of an answer and wants exactly that value back on that call next turn. aimux keeps it in
what each client echoes: inside the ``tool_use`` id for Anthropic clients, as ``extra_content`` on
the tool call for OpenAI clients. Google's ``skip_thought_signature_validator`` is sent only for a
call that did not come from Gemini. The fake Gemini (``OpenAIUpstream(thought_signatures=True)``)
answers 400 to a replayed call whose signature is missing or is not the one it issued.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import anthropic
import openai
import pytest

from fakes import Reply, ToolCall
from fakes.anthropic_upstream import AnthropicUpstream
from fakes.openai_upstream import OpenAIUpstream
from support.config_gateway import ServedConfig, serve_config
from support.samples import BASH_TOOL
from support.scenario import openai_tool

pytest_plugins = ["fakes.fixtures"]

SKIP = "skip_thought_signature_validator"
CALL_ID = "function-call-8731523518129312"
COMMAND = {"command": "ls -la"}
PROMPT = "List the files."
FINAL = "Two files."
MODES = ("non-stream", "stream")


@pytest.fixture
def gemini() -> Iterator[OpenAIUpstream]:
    with OpenAIUpstream(base_path="/v1beta/openai", thought_signatures=True) as fake:
        yield fake
        fake.raise_for_errors()


@pytest.fixture
def served(gemini: OpenAIUpstream, anthropic_upstream: AnthropicUpstream) -> Iterator[ServedConfig]:
    document = {
        "providers": {"gemini": {"preset": "gemini", "base_url": gemini.base_url},
                      "anthropic": {"preset": "anthropic", "base_url": anthropic_upstream.base_url}},
        "models": {"gemini-3-pro": {"provider": "gemini"}, "claude-sonnet-4-5": {"provider": "anthropic"}},
        "routes": {"default": ["gemini-3-pro"]},
    }
    with serve_config(document, {"GEMINI_API_KEY": "gem-upstream-key", "ANTHROPIC_API_KEY": "ant-upstream-key"}) as s:
        yield s


def first_turn(gemini: OpenAIUpstream) -> None:
    gemini.enqueue(Reply(text=None, tool_calls=[ToolCall("Bash", COMMAND, id=CALL_ID)]), Reply(text=FINAL))


def sent_signature(gemini: OpenAIUpstream) -> Any:
    assistant = next(m for m in gemini.requests[-1].json["messages"] if m["role"] == "assistant")
    (call,) = assistant["tool_calls"]
    assert call["id"] == CALL_ID, "Gemini gets its own call id back"
    return call["extra_content"]["google"]["thought_signature"]


def anthropic_turn(client: anthropic.Anthropic, messages: list[dict[str, Any]], stream: bool, **extra: Any) -> Any:
    kwargs = {"model": "gemini-3-pro", "max_tokens": 1024, "tools": [BASH_TOOL], "messages": messages, **extra}
    if not stream:
        return client.messages.create(**kwargs)
    with client.messages.stream(**kwargs) as events:
        return events.get_final_message()


def openai_turn(client: openai.OpenAI, messages: list[dict[str, Any]], stream: bool) -> Any:
    kwargs = {"model": "gemini-3-pro", "tools": [openai_tool(BASH_TOOL)], "messages": messages}
    if not stream:
        return client.chat.completions.create(**kwargs)
    with client.chat.completions.stream(**kwargs) as events:
        return events.get_final_completion()


@pytest.mark.parametrize("mode", MODES)
def test_anthropic_client_round_trip_keeps_the_real_signature(mode: str, served: ServedConfig,
                                                              gemini: OpenAIUpstream) -> None:
    client = anthropic.Anthropic(base_url=served.url, api_key="sk-client", max_retries=0, timeout=10)
    first_turn(gemini)
    question = {"role": "user", "content": PROMPT}
    first = anthropic_turn(client, [question], mode == "stream")
    (tool_use,) = [b for b in first.content if b.type == "tool_use"]
    assert tool_use.input == COMMAND and all(c.isalnum() or c in "_-" for c in tool_use.id)
    issued = gemini.issued_signatures[CALL_ID]
    history = [question, {"role": "assistant", "content": [b.model_dump(exclude_none=True) for b in first.content]},
               {"role": "user", "content": [{"type": "tool_result", "tool_use_id": tool_use.id, "content": "a\nb"}]}]
    second = anthropic_turn(client, history, mode == "stream")
    assert second.content[0].text == FINAL
    assert sent_signature(gemini) == issued
    tool = next(m for m in gemini.requests[-1].json["messages"] if m["role"] == "tool")
    assert tool["tool_call_id"] == CALL_ID


@pytest.mark.parametrize("mode", MODES)
def test_openai_client_round_trip_keeps_the_real_signature(mode: str, served: ServedConfig,
                                                           gemini: OpenAIUpstream) -> None:
    client = openai.OpenAI(base_url=f"{served.url}/v1", api_key="sk-client", max_retries=0, timeout=10)
    first_turn(gemini)
    messages: list[dict[str, Any]] = [{"role": "user", "content": PROMPT}]
    choice = openai_turn(client, messages, mode == "stream").choices[0]
    (call,) = choice.message.tool_calls
    issued = gemini.issued_signatures[CALL_ID]
    assert call.id == CALL_ID
    assert (call.model_extra or {}).get("extra_content") == {"google": {"thought_signature": issued}}
    messages += [choice.message.model_dump(exclude_none=True),
                 {"role": "tool", "tool_call_id": call.id, "content": "a\nb"}]
    second = openai_turn(client, messages, mode == "stream")
    assert second.choices[0].message.content == FINAL
    assert sent_signature(gemini) == issued


def test_a_call_from_elsewhere_gets_the_skip_value(served: ServedConfig, gemini: OpenAIUpstream) -> None:
    """A history whose tool call Gemini never made (another provider answered that turn)."""
    client = openai.OpenAI(base_url=f"{served.url}/v1", api_key="sk-client", max_retries=0, timeout=10)
    gemini.enqueue(Reply(text=FINAL))
    messages = [{"role": "user", "content": PROMPT},
                {"role": "assistant", "content": None, "tool_calls": [
                    {"id": CALL_ID, "type": "function",
                     "function": {"name": "Bash", "arguments": '{"command":"ls"}'}}]},
                {"role": "tool", "tool_call_id": CALL_ID, "content": "a\nb"}]
    assert openai_turn(client, messages, False).choices[0].message.content == FINAL
    assert sent_signature(gemini) == SKIP


def test_signed_ids_reach_other_upstreams_without_the_signature(served: ServedConfig, gemini: OpenAIUpstream,
                                                                anthropic_upstream: AnthropicUpstream) -> None:
    """A conversation that moves from Gemini to Anthropic: Anthropic gets a plain, matching pair of ids."""
    client = anthropic.Anthropic(base_url=served.url, api_key="sk-client", max_retries=0, timeout=10)
    first_turn(gemini)
    question = {"role": "user", "content": PROMPT}
    first = anthropic_turn(client, [question], False)
    (tool_use,) = [b for b in first.content if b.type == "tool_use"]
    anthropic_upstream.enqueue(Reply(text=FINAL))
    history = [question, {"role": "assistant", "content": [b.model_dump(exclude_none=True) for b in first.content]},
               {"role": "user", "content": [{"type": "tool_result", "tool_use_id": tool_use.id, "content": "a\nb"}]}]
    anthropic_turn(client, history, False, extra_headers={"x-aimux-provider": "anthropic"})
    turns = anthropic_upstream.last_request.json["messages"]
    assert turns[1]["content"][-1]["id"] == CALL_ID and turns[2]["content"][0]["tool_use_id"] == CALL_ID
