"""Tool-call arguments an OpenAI client can always parse, whatever the upstream streamed.

- A tool call without input (Anthropic streams a start, at most an empty ``input_json_delta``, a
  stop; OpenAI-compatible servers may send ``arguments: ""``) reaches the client as ``"{}"``, streamed
  or not: the SDK's stream accumulator keeps ``""`` otherwise, which no JSON parser accepts.
- An answer cut by ``max_tokens`` in the middle of a tool call's input: the complete calls before it
  reach the client, the cut one does not (its arguments would not parse), and ``finish_reason``
  stays ``length``. Text before it still streams as it arrives.
"""

from __future__ import annotations

import json
from typing import Any

import openai
import pytest

from fakes import Reply, ToolCall, Usage
from support.gateway_builder import UPSTREAMS
from support.samples import BASH_TOOL
from support.scenario import openai_tool
from support.stream_checks import check_openai_sse
from support.wire_tap import WireTap

USAGE = Usage(input_tokens=30, output_tokens=12)
NOW_TOOL = {"type": "function", "function": {"name": "now", "description": "The current time.",
                                             "parameters": {"type": "object", "properties": {}}}}
WRITE_TOOL = {"type": "function", "function": {
    "name": "Write", "description": "Write a file.",
    "parameters": {"type": "object", "properties": {"path": {"type": "string"}, "content": {"type": "string"}},
                   "required": ["path", "content"]}}}
IDS = {"anthropic": ("toolu_01NowCall", "toolu_01WriteCut"), "openai": ("call_NowCall", "call_WriteCut"),
       "deepseek": ("call_00_NowCall", "call_01_WriteCut"), "bedrock": ("tooluse_NowCall", "tooluse_WriteCut")}
MODES = ("non-stream", "stream")


def _final(client: openai.OpenAI, tap: WireTap, kwargs: dict[str, Any], stream: bool) -> Any:
    if not stream:
        return client.chat.completions.create(**kwargs)
    with client.chat.completions.stream(**kwargs, stream_options={"include_usage": True}) as events:
        try:
            completion = events.get_final_completion()
        except openai.LengthFinishReasonError as cut:  # the helper refuses a truncated completion but keeps it
            completion = cut.completion
    check_openai_sse(tap.last.raw, model=kwargs["model"], include_usage=True)
    return completion


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("upstream", ["anthropic", "openai", "deepseek", "bedrock"])
def test_tool_call_without_input_has_empty_object_arguments(upstream: str, mode: str, aimux: Any, tap: WireTap,
                                                            openai_client: openai.OpenAI) -> None:
    aimux.require(upstream)
    call_id = IDS[upstream][0]
    aimux.fakes.of(upstream).enqueue(Reply(text=None, tool_calls=[ToolCall("now", "", id=call_id)], usage=USAGE))
    completion = _final(openai_client, tap, {"model": UPSTREAMS[upstream].model, "tools": [NOW_TOOL],
                                             "messages": [{"role": "user", "content": "What time is it?"}]},
                        mode == "stream")
    choice = completion.choices[0]
    assert choice.finish_reason == "tool_calls"
    (call,) = choice.message.tool_calls
    assert (call.id, call.function.name, call.function.arguments) == (call_id, "now", "{}")


@pytest.mark.parametrize("upstream", ["anthropic", "openai", "deepseek"])
def test_tool_call_cut_by_max_tokens_is_dropped(upstream: str, aimux: Any, tap: WireTap,
                                                openai_client: openai.OpenAI) -> None:
    aimux.require(upstream)
    whole_id, cut_id = IDS[upstream]
    calls = [ToolCall("Bash", {"command": "ls"}, id=whole_id),
             ToolCall("Write", id=cut_id, fragments=('{"path":"/tmp/notes.md",', '"content":"# Notes\\n\\nFirst'))]
    aimux.fakes.of(upstream).enqueue(Reply(text="Writing it.", tool_calls=calls, stop_reason="max_tokens",
                                           usage=USAGE, chunk_size=4))
    completion = _final(openai_client, tap, {
        "model": UPSTREAMS[upstream].model, "max_completion_tokens": 40,
        "tools": [openai_tool(BASH_TOOL), WRITE_TOOL],
        "messages": [{"role": "user", "content": "List the files, then write notes."}]}, stream=True)
    choice = completion.choices[0]
    assert choice.finish_reason == "length"
    assert choice.message.content == "Writing it."
    assert [(c.id, c.function.name) for c in choice.message.tool_calls] == [(whole_id, "Bash")]
    assert json.loads(choice.message.tool_calls[0].function.arguments) == {"command": "ls"}
    raw = tap.last.raw.decode()
    assert cut_id not in raw and '"Write"' not in raw, "no part of the cut call reaches the client"
