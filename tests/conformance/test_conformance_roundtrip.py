"""Tool round trips: turn 1 answers with reasoning + text + a tool call, the client runs the tool
and sends turn 2 with the result, and the upstream must receive turn 2 correctly in its dialect.

What turn 2 must look like upstream (each provider's tool-use documentation):

- the assistant turn carries the upstream's own tool-call id (decoded back if aimux rewrote it for
  an Anthropic client), the tool name and the exact input;
- OpenAI dialect: the tool result is a ``role: tool`` message right after the assistant turn and
  before the user's follow-up text; Anthropic/Bedrock: ``tool_result`` first in the next user turn;
- reasoning: Anthropic/Bedrock get their thinking back with the signature byte-exact (Anthropic
  clients only: an OpenAI client's ``reasoning_content`` has no signature and is dropped);
  DeepSeek gets its reasoning back as ``reasoning_content`` (it 400s without it in tool loops);
  plain OpenAI gets none.
"""

from __future__ import annotations

from typing import Any

import anthropic
import openai
import pytest

from fakes import Reply, ToolCall, Usage
from support.client_answers import anthropic_answer, is_valid_anthropic_id, openai_answer
from support.gateway_builder import UPSTREAMS
from support.samples import BASH_TOOL
from support.scenario import openai_tool
from support.stream_checks import check_anthropic_sse, check_openai_sse
from support.upstream_view import Turn, upstream_view
from support.wire_tap import WireTap

PROMPT = "Run `echo aimux` with the Bash tool, then tell me what it printed."
FOLLOW_UP = "Summarise the output in three words."
TOOL_OUTPUT = "aimux\n"
COMMAND = {"command": "echo aimux", "description": "Print a marker \u2713"}
PREAMBLE = "Running it now."
FINAL = "It printed aimux."
REASONING = ["I should run ", "the command \u2014 ", "it is harmless."]
SIGNATURE = "EpYBCkYIBRgCKkBroundTrip+signature/bytes==Zx"
# ``functions.Bash:0`` is how Kimi-style OpenAI-compatible servers name calls: Anthropic clients get a
# rewritten id, and the upstream must get this one back on turn 2.
TOOL_IDS = {"anthropic": "toolu_01RoundTripBash", "openai": "functions.Bash:0", "deepseek": "call_00_roundTripBash",
            "bedrock": "tooluse_RoundTripBash01"}
USAGE_1 = Usage(input_tokens=120, output_tokens=40)
USAGE_2 = Usage(input_tokens=180, output_tokens=9, cache_read_input_tokens=100)


def first_reply(upstream: str) -> Reply:
    reasoning = None if upstream == "openai" else REASONING
    signature = SIGNATURE if upstream in ("anthropic", "bedrock") else None
    return Reply(text=PREAMBLE, reasoning=reasoning, signature=signature,
                 tool_calls=[ToolCall("Bash", COMMAND, id=TOOL_IDS[upstream])], usage=USAGE_1, chunk_size=6)


def expected_assistant_turn(upstream: str, client: str) -> Turn:
    """Turn 2's assistant message as the upstream must receive it."""
    call = ("tool_call", TOOL_IDS[upstream], "Bash", COMMAND)
    text = ("text", PREAMBLE)
    reasoning = "".join(REASONING)
    if upstream in ("anthropic", "bedrock") and client == "anthropic":
        return Turn("assistant", (("thinking", reasoning, SIGNATURE), text, call))
    if upstream == "deepseek":
        return Turn("assistant", (("thinking", reasoning, None), text, call))
    return Turn("assistant", (text, call))


def expected_turns(upstream: str, client: str) -> tuple[Turn, ...]:
    user = Turn("user", (("text", PROMPT),))
    assistant = expected_assistant_turn(upstream, client)
    result = ("tool_result", TOOL_IDS[upstream], TOOL_OUTPUT, False)
    follow_up = ("text", FOLLOW_UP)
    if UPSTREAMS[upstream].dialect == "openai":
        return (user, assistant, Turn("tool", (result,)), Turn("user", (follow_up,)))
    return (user, assistant, Turn("user", (result, follow_up)))


def anthropic_turn(client: anthropic.Anthropic, tap: WireTap, kwargs: dict[str, Any], stream: bool) -> Any:
    if not stream:
        return client.messages.create(**kwargs)
    with client.messages.stream(**kwargs) as events:
        message = events.get_final_message()
    check_anthropic_sse(tap.last.raw, model=kwargs["model"])
    return message


def openai_turn(client: openai.OpenAI, tap: WireTap, kwargs: dict[str, Any], stream: bool) -> Any:
    if not stream:
        return client.chat.completions.create(**kwargs)
    with client.chat.completions.stream(**kwargs, stream_options={"include_usage": True}) as events:
        completion = events.get_final_completion()
    check_openai_sse(tap.last.raw, model=kwargs["model"], include_usage=True)
    return completion


def _cases() -> list[Any]:
    cases = []
    for client in ("anthropic", "openai"):
        for upstream in ("anthropic", "openai", "deepseek", "bedrock"):
            for mode in ("non-stream", "stream"):
                cases.append(pytest.param(client, upstream, mode, id=f"{client}-{upstream}-{mode}"))
    return cases


@pytest.mark.parametrize(("client_dialect", "upstream", "mode"), _cases())
def test_tool_round_trip(client_dialect: str, upstream: str, mode: str, aimux: Any, tap: WireTap,
                         request: pytest.FixtureRequest) -> None:
    aimux.require(upstream)
    target = UPSTREAMS[upstream]
    fake = aimux.fakes.of(upstream)
    stream = mode == "stream"
    fake.enqueue(first_reply(upstream), Reply(text=FINAL, usage=USAGE_2))

    if client_dialect == "anthropic":
        client: anthropic.Anthropic = request.getfixturevalue("anthropic_client")
        base = {"model": target.model, "max_tokens": 4096, "tools": [BASH_TOOL],
                "thinking": {"type": "enabled", "budget_tokens": 2048}}
        question = {"role": "user", "content": PROMPT}
        first = anthropic_turn(client, tap, {**base, "messages": [question]}, stream)
        assert first.stop_reason == "tool_use"
        tool_use = next(block for block in first.content if block.type == "tool_use")
        assert (tool_use.name, tool_use.input) == ("Bash", COMMAND)
        assert is_valid_anthropic_id(tool_use.id)
        history = [
            question,
            {"role": "assistant", "content": [block.model_dump(exclude_none=True) for block in first.content]},
            {"role": "user", "content": [
                {"type": "tool_result", "tool_use_id": tool_use.id, "content": TOOL_OUTPUT},
                {"type": "text", "text": FOLLOW_UP},
            ]},
        ]
        second = anthropic_answer(anthropic_turn(client, tap, {**base, "messages": history}, stream))
        assert (second.text, second.stop, second.calls) == (FINAL, "end_turn", ())
        assert second.usage["input_tokens"] == USAGE_2.input_tokens
    else:
        oclient: openai.OpenAI = request.getfixturevalue("openai_client")
        base = {"model": target.model, "tools": [openai_tool(BASH_TOOL)], "reasoning_effort": "high"}
        messages: list[dict[str, Any]] = [{"role": "user", "content": PROMPT}]
        first = openai_turn(oclient, tap, {**base, "messages": messages}, stream)
        choice = first.choices[0]
        assert choice.finish_reason == "tool_calls"
        call = choice.message.tool_calls[0]
        assert call.id == TOOL_IDS[upstream], "OpenAI clients see the upstream's own call id"
        messages += [
            choice.message.model_dump(exclude_none=True),
            {"role": "tool", "tool_call_id": call.id, "content": TOOL_OUTPUT},
            {"role": "user", "content": FOLLOW_UP},
        ]
        second = openai_answer(openai_turn(oclient, tap, {**base, "messages": messages}, stream))
        assert (second.text, second.stop, second.calls) == (FINAL, "stop", ())
        assert second.usage["prompt_tokens"] == USAGE_2.total_input

    sent = fake.message_requests if target.dialect == "anthropic" else fake.requests
    assert len(sent) == 2, "one upstream request per turn"
    view = upstream_view(target.dialect, sent[1],
                         max_tokens_field="max_completion_tokens" if upstream == "openai" else "max_tokens")
    assert view.turns == expected_turns(upstream, client_dialect)
    assert [name for name, _, _ in view.tools] == ["Bash"], "turn 2 still offers the tools"
    if target.dialect == "bedrock":
        assert view.body.get("toolConfig", {}).get("tools"), "Converse needs toolConfig when history has tool blocks"
