"""Reasoning kept for echo providers: DeepSeek's Anthropic endpoint, and what each request costs the store.

- DeepSeek's Anthropic-compatible endpoint wants the ``thinking`` block of every tool-call turn back
  (the fake ``AnthropicUpstream(require_thinking_echo=True)`` refuses otherwise); clients that did not
  ask for thinking never see one, and aimux restores it from the store.
- Store traffic, counted on the store itself: a request only reads when an echo target would miss
  reasoning (one ``Query`` for the whole history, however many turns); an answer with tool calls and
  reasoning from an echo provider costs one ``PutItem`` after the answer; everything else costs
  nothing.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Iterator, Mapping
from typing import Any

import anthropic
import openai
import pytest

from aimux_core.state import Item, MemoryStore
from fakes import Reply, ToolCall
from fakes.anthropic_upstream import AnthropicUpstream
from fakes.openai_upstream import OpenAIUpstream
from support.config_gateway import ServedConfig, serve_config
from support.samples import BASH_TOOL
from support.scenario import openai_tool

pytest_plugins = ["fakes.fixtures"]

TURNS = [("Listing first.", "call_00_ls", "ls"), ("Then count.", "call_01_wc", "wc -l a")]
FINAL = "a has 3 lines."


class CountingStore(MemoryStore):
    """Counts the reasoning items' reads and writes (``reasoning#`` partitions)."""

    def __init__(self) -> None:
        super().__init__()
        self.calls: Counter[str] = Counter()

    async def query(self, pk: str, sk_from: str, sk_to: str) -> list[Item]:
        if pk.startswith("reasoning#"):
            self.calls["query"] += 1
        return await super().query(pk, sk_from, sk_to)

    async def put(self, pk: str, sk: str, item: Mapping[str, Any], *, expect_version: Any) -> int:
        if pk.startswith("reasoning#"):
            self.calls["put"] += 1
        return await super().put(pk, sk, item, expect_version=expect_version)

    def settled(self, **expected: int) -> dict[str, int]:
        """The counts once the background writes landed (bounded wait; the answer comes first)."""
        deadline = time.monotonic() + 5
        while dict(self.calls) != expected and time.monotonic() < deadline:
            time.sleep(0.01)
        return dict(self.calls)


@pytest.fixture
def deepseek() -> Iterator[AnthropicUpstream]:
    with AnthropicUpstream(require_thinking_echo=True) as fake:
        yield fake
        fake.raise_for_errors()


@pytest.fixture
def store() -> CountingStore:
    return CountingStore()


@pytest.fixture
def served(deepseek: AnthropicUpstream, openai_upstream: OpenAIUpstream,
           store: CountingStore) -> Iterator[ServedConfig]:
    document = {
        "providers": {"deepseek": {"preset": "deepseek", "base_url": deepseek.base_url},
                      "openai": {"preset": "openai", "base_url": openai_upstream.base_url}},
        "models": {"deepseek-v4-pro": {"provider": "deepseek"}, "gpt-4.1": {"provider": "openai"}},
        "routes": {"default": ["deepseek-v4-pro"]},
    }
    with serve_config(document, {"DEEPSEEK_API_KEY": "ds-key", "OPENAI_API_KEY": "oa-key"}, store=store) as s:
        yield s


def script(fake: Any) -> None:
    for reasoning, call_id, command in TURNS:
        fake.enqueue(Reply(text=None, reasoning=reasoning,
                           tool_calls=[ToolCall("Bash", {"command": command}, id=call_id)]))
    fake.enqueue(Reply(text=FINAL, reasoning="Done."))


@pytest.mark.parametrize("stream", [False, True], ids=["non-stream", "stream"])
def test_anthropic_client_without_thinking_through_deepseeks_anthropic_endpoint(
    stream: bool, served: ServedConfig, deepseek: AnthropicUpstream, store: CountingStore
) -> None:
    client = anthropic.Anthropic(base_url=served.url, api_key="sk-client", max_retries=0, timeout=10)
    script(deepseek)
    messages: list[Any] = [{"role": "user", "content": "Count the lines."}]
    expected = [{}, {"put": 1}, {"put": 2, "query": 1}, {"put": 2, "query": 2}]
    for turn in range(len(TURNS) + 1):
        kwargs = {"model": "deepseek-v4-pro", "max_tokens": 512, "tools": [BASH_TOOL], "messages": messages}
        if stream:
            with client.messages.stream(**kwargs) as events:
                answer = events.get_final_message()
        else:
            answer = client.messages.create(**kwargs)
        assert "thinking" not in [b.type for b in answer.content]
        assert store.settled(**expected[turn + 1]) == expected[turn + 1], f"store calls after turn {turn + 1}"
        if turn < len(TURNS):
            (tool_use,) = answer.content
            messages += [{"role": "assistant", "content": [b.model_dump(exclude_none=True) for b in answer.content]},
                         {"role": "user", "content": [{"type": "tool_result", "tool_use_id": tool_use.id,
                                                       "content": "a"}]}]
    assert answer.content[0].text == FINAL
    last = deepseek.message_requests[-1].json["messages"]
    thinking = [[b for b in m["content"] if b["type"] == "thinking"] for m in last if m["role"] == "assistant"]
    assert thinking == [[{"type": "thinking", "thinking": r}] for r, _, _ in TURNS], "unsigned, as DeepSeek sent it"


def test_requests_that_need_nothing_cost_nothing(served: ServedConfig, deepseek: AnthropicUpstream,
                                                 openai_upstream: OpenAIUpstream, store: CountingStore) -> None:
    client = openai.OpenAI(base_url=f"{served.url}/v1", api_key="sk-client", max_retries=0, timeout=10)
    history = [{"role": "user", "content": "List."},
               {"role": "assistant", "content": None, "tool_calls": [
                   {"id": "call_x", "type": "function",
                    "function": {"name": "Bash", "arguments": '{"command":"ls"}'}}]},
               {"role": "tool", "tool_call_id": "call_x", "content": "a"}]
    openai_upstream.enqueue(Reply(text="ok"))
    # the first target needs no echo (deepseek is only the fallback): the history is not even looked at
    client.chat.completions.create(model="gpt-4.1", tools=[openai_tool(BASH_TOOL)], messages=history)
    # an echo target, but no tool-call turn in the history and no tool call in the answer
    deepseek.enqueue(Reply(text="hello", reasoning="A greeting."))
    client.chat.completions.create(model="deepseek-v4-pro", messages=[{"role": "user", "content": "hi"}])
    assert store.settled() == {}


def test_a_turn_the_store_does_not_know_is_sent_as_the_client_sent_it(served: ServedConfig,
                                                                      deepseek: AnthropicUpstream) -> None:
    """Reasoning that was never kept (another gateway, expired): one read, then the upstream decides."""
    client = anthropic.Anthropic(base_url=served.url, api_key="sk-client", max_retries=0, timeout=10)
    history = [{"role": "user", "content": "List."},
               {"role": "assistant", "content": [{"type": "tool_use", "id": "toolu_unknown", "name": "Bash",
                                                  "input": {"command": "ls"}}]},
               {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "toolu_unknown", "content": "a"}]}]
    with pytest.raises(anthropic.BadRequestError, match="thinking block"):
        client.messages.create(model="deepseek-v4-pro", max_tokens=64, tools=[BASH_TOOL], messages=history)


def test_kimi_or_glm_configured_over_the_openai_dialect() -> None:
    """A preset-less OpenAI-dialect provider with ``reasoning: echo`` gets ``reasoning_content`` back."""
    with OpenAIUpstream(require_reasoning_echo=True) as kimi:
        document = {"providers": {"kimi": {"dialect": "openai", "base_url": kimi.base_url, "api_key_env": "KIMI_KEY",
                                           "reasoning": "echo"}},
                    "models": {"kimi-k2-thinking": {"provider": "kimi"}}, "routes": {"default": ["kimi-k2-thinking"]}}
        with serve_config(document, {"KIMI_KEY": "kimi-key"}) as served:
            client = openai.OpenAI(base_url=f"{served.url}/v1", api_key="sk-client", max_retries=0, timeout=10)
            reasoning, call_id, command = TURNS[0]
            kimi.enqueue(Reply(text=None, reasoning=reasoning,
                               tool_calls=[ToolCall("Bash", {"command": command}, id=call_id)]), Reply(text=FINAL))
            messages: list[Any] = [{"role": "user", "content": "List."}]
            kwargs: dict[str, Any] = {"model": "kimi-k2-thinking", "tools": [openai_tool(BASH_TOOL)]}
            (call,) = client.chat.completions.create(messages=messages, **kwargs).choices[0].message.tool_calls
            messages += [{"role": "assistant", "content": None, "tool_calls": [call.model_dump(exclude_none=True)]},
                         {"role": "tool", "tool_call_id": call.id, "content": "a"}]
            assert client.chat.completions.create(messages=messages, **kwargs).choices[0].message.content == FINAL
        kimi.raise_for_errors()
    assert kimi.requests[1].json["messages"][1]["reasoning_content"] == reasoning
