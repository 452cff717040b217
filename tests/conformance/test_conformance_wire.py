"""Wire robustness end to end: what real providers put on the wire must not change what clients get.

- Quirks real servers exhibit (Gemini's index-less tool-call fragments, vLLM's parallel calls all at
  index 0, DeepSeek's finish_reason on the last content chunk, vLLM's ``choices: null`` usage chunk,
  ``usage: null`` on every chunk, OpenRouter's ``: comment`` lines, CRLF framing) go through the real
  adapters and must yield exactly the answer a well-behaved server would.
- A long streamed text full of multi-byte characters arrives across many socket reads; a read
  boundary inside a character must not corrupt it.
- An OpenAI client that did not ask for usage gets no usage chunk (the SDK would choke on
  ``choices: []`` in older versions, and the spec says it only comes on request).
"""

from __future__ import annotations

from typing import Any

import anthropic
import openai
import pytest

from fakes import Quirk, Reply, ToolCall, Usage
from support.client_answers import check_ids, expected_answer
from support.gateway_builder import UPSTREAMS
from support.samples import BASH_TOOL
from support.scenario import READ_TOOL, openai_tool
from support.sdk_calls import call_anthropic, call_openai
from support.stream_checks import check_openai_sse
from support.wire_tap import WireTap

USAGE = Usage(input_tokens=44, output_tokens=21, cache_read_input_tokens=300)
QUIRK_CELLS = [("openai", q) for q in Quirk] + [("anthropic", Quirk.SSE_COMMENTS), ("anthropic", Quirk.CRLF)]


def quirky_reply(upstream: str, quirk: Quirk) -> Reply:
    prefix = "toolu_" if upstream == "anthropic" else "call_"
    calls = [ToolCall("Bash", {"command": "ls -la", "description": "List \u2713"}, id=f"{prefix}QuirkBash01"),
             ToolCall("Read", {"file_path": "/etc/hosts", "limit": 5}, id=f"{prefix}QuirkRead02")]
    return Reply(text="Checking both.", tool_calls=calls, usage=USAGE, chunk_size=4, quirks=frozenset({quirk}))


@pytest.mark.parametrize(("upstream", "quirk"), QUIRK_CELLS, ids=[f"{u}-{q.value}" for u, q in QUIRK_CELLS])
@pytest.mark.parametrize("client_dialect", ["anthropic", "openai"])
def test_provider_stream_quirks_do_not_reach_the_client(client_dialect: str, upstream: str, quirk: Quirk,
                                                        aimux: Any, tap: WireTap,
                                                        request: pytest.FixtureRequest) -> None:
    aimux.require(upstream)
    model = UPSTREAMS[upstream].model
    reply = quirky_reply(upstream, quirk)
    aimux.fakes.of(upstream).enqueue(reply)
    prompt = [{"role": "user", "content": "List the directory and read /etc/hosts."}]
    if client_dialect == "anthropic":
        client: anthropic.Anthropic = request.getfixturevalue("anthropic_client")
        answer = call_anthropic(client, tap, {"model": model, "max_tokens": 512, "messages": prompt,
                                              "tools": [BASH_TOOL, READ_TOOL]}, stream=True)
    else:
        oclient: openai.OpenAI = request.getfixturevalue("openai_client")
        answer = call_openai(oclient, tap, {"model": model, "messages": prompt,
                                            "tools": [openai_tool(BASH_TOOL), openai_tool(READ_TOOL)]}, stream=True)
    assert answer.without_ids() == expected_answer(reply, client_dialect)
    check_ids(answer, [c.id for c in reply.tool_calls], client_dialect)


MULTIBYTE = "\u20ac\U0001f30d\u00fc\u4e2d" * 40_000  # ~480 KB of 2-, 3- and 4-byte characters
# A read boundary inside a character is certain at this size: a decoder that does not carry
# partial characters across reads fails these cells every time.


def _multibyte_cases() -> list[Any]:
    cases = []
    for client in ("anthropic", "openai"):
        for upstream in ("anthropic", "openai", "bedrock"):
            cases.append(pytest.param(client, upstream, id=f"{client}-{upstream}"))
    return cases


@pytest.mark.parametrize(("client_dialect", "upstream"), _multibyte_cases())
def test_multibyte_text_split_across_reads_is_intact(client_dialect: str, upstream: str, aimux: Any, tap: WireTap,
                                                     request: pytest.FixtureRequest) -> None:
    aimux.require(upstream)
    model = UPSTREAMS[upstream].model
    aimux.fakes.of(upstream).enqueue(Reply(text=[MULTIBYTE], usage=USAGE))
    prompt = [{"role": "user", "content": "Write a lot."}]
    if client_dialect == "anthropic":
        client: anthropic.Anthropic = request.getfixturevalue("anthropic_client")
        answer = call_anthropic(client, tap, {"model": model, "max_tokens": 64_000, "messages": prompt}, stream=True)
    else:
        oclient: openai.OpenAI = request.getfixturevalue("openai_client")
        answer = call_openai(oclient, tap, {"model": model, "messages": prompt}, stream=True)
    assert "\ufffd" not in answer.text, f"{answer.text.count(chr(0xFFFD))} characters were corrupted"
    assert answer.text == MULTIBYTE


@pytest.mark.parametrize("upstream", ["anthropic", "openai", "deepseek", "bedrock"])
def test_openai_stream_has_no_usage_chunk_unless_asked(upstream: str, aimux: Any, tap: WireTap,
                                                       openai_client: openai.OpenAI) -> None:
    aimux.require(upstream)
    model = UPSTREAMS[upstream].model
    reply = Reply(text=["No ", "usage ", "please."], usage=USAGE)
    aimux.fakes.of(upstream).enqueue(reply)
    with openai_client.chat.completions.stream(model=model, messages=[{"role": "user", "content": "hi"}]) as events:
        completion = events.get_final_completion()
    chunks = check_openai_sse(tap.last.raw, model=model, include_usage=False)
    assert all("usage" not in c or c["usage"] is None for c in chunks)
    assert completion.choices[0].message.content == reply.full_text
    assert completion.usage is None
