"""Reasoning-echo providers in tool loops, for clients that never asked for reasoning.

DeepSeek's thinking mode (on by default) returns reasoning with every answer and answers 400 when an
assistant turn that made tool calls comes back without its ``reasoning_content``. A client that did
not ask for reasoning (an OpenAI client without ``reasoning_effort``, an Anthropic client without
``thinking``) must not receive it, and its next turns must still work: aimux keeps the reasoning in
the state store and puts it back. The conformance ``deepseek`` fake refuses exactly as DeepSeek does.

Each turn after the first is served by a fresh gateway over the same store, as another Lambda
instance would serve it: nothing is held in one process.
"""

from __future__ import annotations

import json
from typing import Any

import anthropic
import openai
import pytest

from fakes import Reply, ToolCall, Usage
from support.gateway_builder import UPSTREAMS
from support.samples import BASH_TOOL
from support.scenario import openai_tool
from support.stream_checks import check_anthropic_sse, check_openai_sse
from support.wire_tap import WireTap

MODEL = UPSTREAMS["deepseek"].model
USAGE = Usage(input_tokens=50, output_tokens=20)
TURNS = [  # (reasoning, call id, command) of the two tool-call answers, then the final text
    ("I need the directory listing first.", "call_00_listFiles", "ls"),
    ("Now count the lines of the file it showed.", "call_01_countLines", "wc -l notes.md"),
]
FINAL = "notes.md has 12 lines."
MODES = ("non-stream", "stream")


def script(fake: Any) -> None:
    for reasoning, call_id, command in TURNS:
        fake.enqueue(
            Reply(
                text=None,
                reasoning=reasoning,
                usage=USAGE,
                tool_calls=[ToolCall("Bash", {"command": command}, id=call_id)],
            )
        )
    fake.enqueue(Reply(text=FINAL, reasoning="Done.", usage=USAGE))


def check_upstream_history(fake: Any) -> None:
    """Every request DeepSeek got carried the reasoning of each earlier tool-call turn."""
    assert len(fake.requests) == len(TURNS) + 1
    for n, request in enumerate(fake.requests):
        assistants = [m for m in request.json["messages"] if m["role"] == "assistant"]
        assert [m.get("reasoning_content") for m in assistants] == [r for r, _, _ in TURNS[:n]]
        assert "reasoning_effort" not in request.json


def anthropic_turn(client: anthropic.Anthropic, tap: WireTap, messages: list[Any], stream: bool) -> Any:
    kwargs = {"model": MODEL, "max_tokens": 1024, "tools": [BASH_TOOL], "messages": messages}
    if not stream:
        return client.messages.create(**kwargs)
    with client.messages.stream(**kwargs) as events:
        message = events.get_final_message()
    check_anthropic_sse(tap.last.raw, model=MODEL)
    return message


def openai_turn(client: openai.OpenAI, tap: WireTap, messages: list[Any], stream: bool) -> Any:
    kwargs = {"model": MODEL, "tools": [openai_tool(BASH_TOOL)], "messages": messages}
    if not stream:
        return client.chat.completions.create(**kwargs)
    with client.chat.completions.stream(**kwargs, stream_options={"include_usage": True}) as events:
        completion = events.get_final_completion()
    check_openai_sse(tap.last.raw, model=MODEL, include_usage=True)
    return completion


@pytest.mark.parametrize("mode", MODES)
def test_anthropic_client_without_thinking(
    mode: str, aimux: Any, tap: WireTap, anthropic_client: anthropic.Anthropic
) -> None:
    fake = aimux.fakes.deepseek
    script(fake)
    messages: list[Any] = [{"role": "user", "content": "How many lines has the file here?"}]
    for _ in TURNS:
        answer = anthropic_turn(anthropic_client, tap, messages, mode == "stream")
        assert [b.type for b in answer.content] == ["tool_use"], "no thinking block for a client without thinking"
        assert "thinking" not in tap.last.raw.decode(), "not even on the wire"
        (tool_use,) = answer.content
        messages += [
            {"role": "assistant", "content": [b.model_dump(exclude_none=True) for b in answer.content]},
            {"role": "user", "content": [{"type": "tool_result", "tool_use_id": tool_use.id, "content": "notes.md"}]},
        ]
        aimux.use()  # the next turn lands on another instance
    final = anthropic_turn(anthropic_client, tap, messages, mode == "stream")
    assert [(b.type, getattr(b, "text", None)) for b in final.content] == [("text", FINAL)]
    check_upstream_history(fake)


@pytest.mark.parametrize("mode", MODES)
def test_openai_client_without_reasoning_effort(
    mode: str, aimux: Any, tap: WireTap, openai_client: openai.OpenAI
) -> None:
    fake = aimux.fakes.deepseek
    script(fake)
    messages: list[Any] = [{"role": "user", "content": "How many lines has the file here?"}]
    for _, call_id, _ in TURNS:
        choice = openai_turn(openai_client, tap, messages, mode == "stream").choices[0]
        assert not (choice.message.model_extra or {}).get("reasoning_content")
        assert "reasoning" not in tap.last.raw.decode(), "no reasoning for a client that did not ask"
        (call,) = choice.message.tool_calls
        assert call.id == call_id
        # what most frameworks keep of an assistant turn: content and tool calls
        messages += [
            {
                "role": "assistant",
                "content": choice.message.content,
                "tool_calls": [call.model_dump(exclude_none=True)],
            },
            {"role": "tool", "tool_call_id": call.id, "content": "notes.md"},
        ]
        aimux.use()
    final = openai_turn(openai_client, tap, messages, mode == "stream")
    assert final.choices[0].message.content == FINAL
    check_upstream_history(fake)


def test_client_that_keeps_its_reasoning_needs_no_restore(
    aimux: Any, tap: WireTap, openai_client: openai.OpenAI
) -> None:
    """An OpenAI client with ``reasoning_effort`` echoes ``reasoning_content`` itself: sent as it is."""
    fake = aimux.fakes.deepseek
    reasoning, call_id, command = TURNS[0]
    fake.enqueue(
        Reply(text=None, reasoning=reasoning, tool_calls=[ToolCall("Bash", {"command": command}, id=call_id)]),
        Reply(text=FINAL),
    )
    kwargs: dict[str, Any] = {"model": MODEL, "tools": [openai_tool(BASH_TOOL)], "reasoning_effort": "high"}
    messages: list[Any] = [{"role": "user", "content": "List the files."}]
    choice = openai_client.chat.completions.create(messages=messages, **kwargs).choices[0]
    assert (choice.message.model_extra or {}).get("reasoning_content") == reasoning
    messages += [
        choice.message.model_dump(exclude_none=True),
        {"role": "tool", "tool_call_id": call_id, "content": "notes.md"},
    ]
    assert openai_client.chat.completions.create(messages=messages, **kwargs).choices[0].message.content == FINAL
    assert fake.requests[1].json["messages"][1]["reasoning_content"] == reasoning


def _stream_starts_with(raw: bytes) -> int:
    """The input tokens of a stream's ``message_start`` (the estimate a client sees before any usage)."""
    rest = raw.partition(b"event: message_start\ndata: ")[2]
    assert rest, "no message_start"
    return int(json.loads(rest.partition(b"\n")[0])["message"]["usage"]["input_tokens"])


def test_a_stream_starts_with_the_estimate_of_what_the_upstream_gets(
    aimux: Any, tap: WireTap, anthropic_client: anthropic.Anthropic, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An Anthropic client's stream from an OpenAI-dialect upstream starts with the gateway's input estimate
    (``RequestContext.input_estimate``), made once per request: the adapter makes none of its own. It is
    the estimate of what the upstream gets, so a turn whose history the reasoning echo restored is
    estimated again, after the restore."""
    import aimux_core.gateway as gateway_module
    import aimux_core.providers.openai as openai_module

    made: list[int] = []
    estimate = gateway_module.estimate_input_tokens

    def counted(request: Any) -> int:
        made.append(estimate(request))
        return made[-1]

    def refused(request: Any) -> int:
        raise AssertionError("the adapter estimated the request again")

    monkeypatch.setattr(gateway_module, "estimate_input_tokens", counted)
    monkeypatch.setattr(openai_module, "estimate_input_tokens", refused)
    script(aimux.fakes.deepseek)
    messages: list[Any] = [{"role": "user", "content": "How many lines has the file here?"}]
    answer = anthropic_turn(anthropic_client, tap, messages, True)
    assert len(made) == 1 and _stream_starts_with(tap.last.raw) == made[0]
    (tool_use,) = answer.content
    messages += [
        {"role": "assistant", "content": [b.model_dump(exclude_none=True) for b in answer.content]},
        {"role": "user", "content": [{"type": "tool_result", "tool_use_id": tool_use.id, "content": "notes.md"}]},
    ]
    aimux.use()
    made.clear()
    anthropic_turn(anthropic_client, tap, messages, True)
    assert len(made) == 2, "routed as the client sent it, then estimated again once its reasoning was restored"
    assert made[1] > made[0]
    assert _stream_starts_with(tap.last.raw) == made[1]
