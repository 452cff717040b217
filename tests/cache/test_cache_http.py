"""The response cache over real HTTP: the official SDKs against the gateway, the gateway against a fake upstream.

The fake upstream's request count proves each hit; the raw bytes each SDK read (``WireTap``) are checked
against the client dialect's stream rules, so a hit replayed as a stream is exactly what an upstream
stream would have been.
"""

from __future__ import annotations

import asyncio
import json
import os
from typing import Any

import anthropic
import openai
import pytest
from cache_support import MODEL, OLD_VERSION, PROMPT, cached_gateway

from aimux_core.accounting.metrics import local_metrics
from aimux_core.limits.spend import SpendLedger
from fakes import Fault, Reply, ToolCall, Usage
from fakes.anthropic_upstream import AnthropicUpstream
from support.stream_checks import check_anthropic_sse, check_openai_sse

USE = {"x-aimux-cache": "use"}
RICH = Reply(
    text="Paris is the capital of France.",
    reasoning="The user asks about France.",
    signature="EqQBCkgIBxABGAIiQ",
    tool_calls=[ToolCall("lookup", {"city": "Paris", "fields": ["population"]})],
    usage=Usage(input_tokens=40, output_tokens=25),
    stop_reason="tool_use",
)
TOOLS = [{"name": "lookup", "description": "Look a city up", "input_schema": {"type": "object"}}]


def ask(client: anthropic.Anthropic, **extra: Any) -> Any:
    return client.messages.with_raw_response.create(model=MODEL, max_tokens=200, messages=PROMPT, **extra)


def chat(client: openai.OpenAI, **extra: Any) -> Any:
    return client.chat.completions.with_raw_response.create(model=MODEL, max_tokens=200, messages=PROMPT, **extra)


def counters() -> dict[str, float]:
    totals = local_metrics().snapshot()["aggregate"]
    return {name: totals.get(name, 0) for name in ("Requests", "CacheHits", "DedupSaved")}


# --------------------------------------------------------------------------- hits in both dialects


@pytest.mark.parametrize("second_stream", [False, True], ids=["then buffered", "then stream"])
def test_anthropic_client_gets_the_stored_answer_without_an_upstream_call(
    anthropic_upstream: AnthropicUpstream, second_stream: bool
) -> None:
    anthropic_upstream.default = RICH
    with cached_gateway(anthropic_upstream.base_url, {"mode": "off"}) as served:
        client, tap = served.anthropic(**USE)
        first = ask(client, tools=TOOLS, thinking={"type": "enabled", "budget_tokens": 1024})
        assert first.headers["x-aimux-cache"] == "stored" and first.headers["x-aimux-dedup"] == "leader"
        original = first.parse()
        kwargs = {"model": MODEL, "max_tokens": 200, "messages": PROMPT, "tools": TOOLS,
                  "thinking": {"type": "enabled", "budget_tokens": 1024}}  # fmt: skip
        if second_stream:
            with client.messages.stream(**kwargs) as events:
                again = events.get_final_message()
            check_anthropic_sse(tap.last.raw, model=MODEL)
            headers = tap.last.headers
        else:
            raw = client.messages.with_raw_response.create(**kwargs)
            again, headers = raw.parse(), raw.headers
            assert headers["x-aimux-cost-usd"] == "0.000000"
        assert len(anthropic_upstream.message_requests) == 1
        assert headers["x-aimux-cache"] == "hit" and headers["x-aimux-attempts"] == "0"
        assert (headers["x-aimux-provider"], headers["x-aimux-model"]) == ("up", MODEL)
        assert again.model_dump() == original.model_dump()
        assert [block.type for block in again.content] == ["thinking", "text", "tool_use"]


@pytest.mark.parametrize("second_stream", [False, True], ids=["then buffered", "then stream"])
def test_openai_client_gets_the_stored_answer_without_an_upstream_call(
    anthropic_upstream: AnthropicUpstream, second_stream: bool
) -> None:
    anthropic_upstream.default = RICH
    with cached_gateway(anthropic_upstream.base_url, {"mode": "use"}) as served:
        client, tap = served.openai()
        tools = [{"type": "function", "function": {"name": "lookup", "parameters": {"type": "object"}}}]
        first = chat(client, temperature=0, tools=tools)
        assert first.headers["x-aimux-cache"] == "stored"
        original = first.parse()
        kwargs = {"model": MODEL, "max_tokens": 200, "messages": PROMPT, "temperature": 0, "tools": tools}
        if second_stream:
            with client.chat.completions.stream(**kwargs, stream_options={"include_usage": True}) as events:
                again = events.get_final_completion()
            chunks = check_openai_sse(tap.last.raw, model=MODEL, include_usage=True)
            assert chunks[-1]["usage"]["completion_tokens"] == 25
            headers = tap.last.headers
        else:
            raw = client.chat.completions.with_raw_response.create(**kwargs)
            again, headers = raw.parse(), raw.headers
        assert len(anthropic_upstream.message_requests) == 1
        assert headers["x-aimux-cache"] == "hit"
        message, first_message = again.choices[0].message, original.choices[0].message
        assert message.content == first_message.content == "Paris is the capital of France."
        assert [c.function.name for c in message.tool_calls or []] == ["lookup"]
        arguments = json.loads((message.tool_calls or [])[0].function.arguments)
        assert arguments == {"city": "Paris", "fields": ["population"]}
        assert again.choices[0].finish_reason == "tool_calls"


def test_a_streamed_answer_is_stored_and_replayed_to_both_kinds_of_request(
    anthropic_upstream: AnthropicUpstream,
) -> None:
    anthropic_upstream.default = Reply(text=["Par", "is ", "is the ", "answer."], usage=Usage(30, 12))
    with cached_gateway(anthropic_upstream.base_url, {"mode": "off"}) as served:
        client, tap = served.anthropic(**USE)
        kwargs = {"model": MODEL, "max_tokens": 200, "messages": PROMPT}
        with client.messages.stream(**kwargs) as events:
            streamed = events.get_final_message()
        assert tap.last.headers["x-aimux-cache"] == "miss"  # headers leave before the answer is complete
        with client.messages.stream(**kwargs) as events:
            replayed = events.get_final_message()
        check_anthropic_sse(tap.last.raw, model=MODEL)
        buffered = ask(client)
        assert len(anthropic_upstream.message_requests) == 1
        assert tap.exchanges[-2].headers["x-aimux-cache"] == "hit" and buffered.headers["x-aimux-cache"] == "hit"
        assert replayed.model_dump() == streamed.model_dump() == buffered.parse().model_dump()
        assert streamed.content[0].text == "Paris is the answer."  # type: ignore[union-attr]


def test_a_stream_cut_short_is_not_stored(anthropic_upstream: AnthropicUpstream) -> None:
    anthropic_upstream.enqueue(Fault.stream_error(after_events=4))
    with cached_gateway(anthropic_upstream.base_url, {"mode": "off"}) as served:
        client, _ = served.anthropic(**USE)
        with (
            pytest.raises(anthropic.APIStatusError),
            client.messages.stream(model=MODEL, max_tokens=200, messages=PROMPT) as events,
        ):
            events.get_final_message()
        assert ask(client).headers["x-aimux-cache"] == "stored"
        assert len(anthropic_upstream.message_requests) == 2


# --------------------------------------------------------------------------- who is cached


def test_sampling_requests_are_cached_only_when_configured_or_asked(anthropic_upstream: AnthropicUpstream) -> None:
    with cached_gateway(anthropic_upstream.base_url, {"mode": "use"}) as served:
        client, _ = served.openai()
        assert chat(client).headers["x-aimux-cache"] == "bypass"
        assert chat(client).headers["x-aimux-cache-reason"] == "sampling"
        assert chat(client, temperature=0).headers["x-aimux-cache"] == "stored"
        assert chat(client, temperature=0).headers["x-aimux-cache"] == "hit"
        asked, _ = served.openai(**USE)
        assert chat(asked, temperature=0.7).headers["x-aimux-cache"] == "stored"  # the client asked for it
        assert chat(asked, temperature=0.7).headers["x-aimux-cache"] == "hit"
        anthropic_client, _ = served.anthropic(**OLD_VERSION)
        assert ask(anthropic_client, extra_body={"temperature": 0}).headers["x-aimux-cache"] == "stored"
        assert len(anthropic_upstream.message_requests) == 5
    with cached_gateway(anthropic_upstream.base_url, {"mode": "use", "sampling": True}) as served:
        client, _ = served.openai()
        assert [chat(client).headers["x-aimux-cache"] for _ in range(2)] == ["stored", "hit"]


def test_the_client_header_opts_in_opts_out_and_refreshes(anthropic_upstream: AnthropicUpstream) -> None:
    with cached_gateway(anthropic_upstream.base_url, {"mode": "off"}) as served:
        plain, _ = served.anthropic()
        assert "x-aimux-cache" not in ask(plain).headers  # nobody asked: the cache is not involved
        asked, _ = served.anthropic(**USE)
        assert [ask(asked).headers["x-aimux-cache"] for _ in range(2)] == ["stored", "hit"]
        off, _ = served.anthropic(**{"x-aimux-cache": "off"})
        answer = ask(off)
        assert (answer.headers["x-aimux-cache"], answer.headers["x-aimux-cache-reason"]) == ("bypass", "client_off")
        anthropic_upstream.default = Reply(text="A fresher answer.")
        refresh, _ = served.anthropic(**{"x-aimux-cache": "refresh"})
        answer = ask(refresh)
        assert (answer.headers["x-aimux-cache"], answer.headers["x-aimux-cache-reason"]) == ("stored", "refresh")
        replaced = ask(asked)
        assert replaced.headers["x-aimux-cache"] == "hit"
        assert replaced.parse().content[0].text == "A fresher answer."  # type: ignore[union-attr]
        assert len(anthropic_upstream.message_requests) == 4  # plain, first use, off, refresh
    with cached_gateway(anthropic_upstream.base_url, {"client_opt_in": False}) as served:
        asked, _ = served.anthropic(**USE)
        answer = ask(asked)
        assert (answer.headers["x-aimux-cache"], answer.headers["x-aimux-cache-reason"]) == ("bypass", "opt_in_off")


def test_an_unknown_header_value_is_a_400_in_each_dialect(anthropic_upstream: AnthropicUpstream) -> None:
    with cached_gateway(anthropic_upstream.base_url, {"mode": "use"}) as served:
        client, _ = served.anthropic(**{"x-aimux-cache": "forever"})
        with pytest.raises(anthropic.BadRequestError) as refused:
            ask(client)
        assert refused.value.body["error"]["message"] == "x-aimux-cache: must be one of use, off, refresh"  # type: ignore[index]
        chat_client, _ = served.openai(**{"x-aimux-cache": "forever"})
        with pytest.raises(openai.BadRequestError) as chat_refused:
            chat(chat_client, temperature=0)
        assert chat_refused.value.body["param"] == "x-aimux-cache"  # type: ignore[index]
        assert anthropic_upstream.message_requests == []


def test_keys_see_only_their_own_projects_entries_unless_shared(anthropic_upstream: AnthropicUpstream) -> None:
    section = {"mode": "use", "sampling": True, "projects": {"evals": {"mode": "shared"}, "ci": {"mode": "shared"}}}
    with cached_gateway(anthropic_upstream.base_url, section, auth=True) as served:
        web_a, web_b = served.key(project="web"), served.key(project="web")
        mobile, lone, other_lone = served.key(project="mobile"), served.key(), served.key()
        evals, ci = served.key(project="evals"), served.key(project="ci")

        def state(api_key: str) -> str:
            client, _ = served.anthropic(api_key=api_key)
            return str(ask(client).headers["x-aimux-cache"])

        assert [state(web_a), state(web_b)] == ["stored", "hit"]  # one project: one namespace
        assert state(mobile) == "stored"  # another project never reads web's entries
        assert [state(lone), state(lone), state(other_lone)] == ["stored", "hit", "stored"]  # a key alone: its own
        assert [state(evals), state(ci)] == ["stored", "hit"]  # shared: one namespace across projects
        assert len(anthropic_upstream.message_requests) == 5


# --------------------------------------------------------------------------- what a hit costs and counts


def test_a_hit_costs_nothing_holds_no_budget_and_is_counted(
    anthropic_upstream: AnthropicUpstream, capsys: pytest.CaptureFixture[str]
) -> None:
    anthropic_upstream.default = Reply(text="Paris.", usage=Usage(input_tokens=100, output_tokens=20))
    with cached_gateway(anthropic_upstream.base_url, {"mode": "use", "sampling": True}, auth=True) as served:
        plaintext = served.key(budget_daily_usd=5.0, rpm=100)
        client, _ = served.anthropic(api_key=plaintext)
        before = counters()
        answers = [ask(client) for _ in range(4)]
        assert [a.headers["x-aimux-cache"] for a in answers] == ["stored", "hit", "hit", "hit"]
        assert [a.headers["x-aimux-cost-usd"] for a in answers] == ["0.000600", "0.000000", "0.000000", "0.000000"]
        assert "anthropic-ratelimit-requests-remaining" in answers[0].headers
        assert "anthropic-ratelimit-requests-remaining" not in answers[1].headers  # never admitted: no window
        after = counters()
        assert after["Requests"] - before["Requests"] == 4
        assert (after["CacheHits"] - before["CacheHits"], after["DedupSaved"] - before["DedupSaved"]) == (3, 0)

        totals = asyncio.run(_totals(served.store, plaintext, served.keys))
        assert totals.day_micro == 600 and totals.held_month_micro == 0  # one answer paid, nothing held

    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines() if '"message":"request"' in line]
    hits = [line for line in lines if line["cache"] == "hit"]
    assert len(hits) == 3
    assert all(h["cost_usd"] == 0 and h["input_tokens"] == 0 and h["output_tokens"] == 0 for h in hits)
    assert all(h["cache_saved_usd"] == pytest.approx(0.0006) and h["attempts"] == 0 for h in hits)
    assert [line["cache"] for line in lines if line["cache"] != "hit"] == ["stored"]


async def _totals(store: Any, plaintext: str, keys: Any) -> Any:
    record = await keys.authenticate(plaintext)
    return await SpendLedger(store, keys.clock).totals(record.id)


def test_an_answer_too_large_for_an_item_is_not_cached_and_says_so(anthropic_upstream: AnthropicUpstream) -> None:
    anthropic_upstream.default = Reply(text=os.urandom(400_000).hex(), usage=Usage(10, 60_000))
    with cached_gateway(anthropic_upstream.base_url, {"mode": "use", "sampling": True}) as served:
        client, _ = served.anthropic()
        answers = [ask(client) for _ in range(2)]
        assert [(a.headers["x-aimux-cache"], a.headers["x-aimux-cache-reason"]) for a in answers] == [
            ("bypass", "too_large"), ("bypass", "too_large")
        ]  # fmt: skip
        with client.messages.stream(model=MODEL, max_tokens=200, messages=PROMPT) as events:
            assert len(events.get_final_message().content[0].text) == 800_000  # type: ignore[union-attr]
        assert len(anthropic_upstream.message_requests) == 3


def test_an_upstream_error_is_never_stored(anthropic_upstream: AnthropicUpstream) -> None:
    anthropic_upstream.enqueue(Fault.http(400, message="bad request"))
    with cached_gateway(anthropic_upstream.base_url, {"mode": "use", "sampling": True}) as served:
        client, _ = served.anthropic()
        with pytest.raises(anthropic.BadRequestError):
            ask(client)
        assert [ask(client).headers["x-aimux-cache"] for _ in range(2)] == ["stored", "hit"]
        assert len(anthropic_upstream.message_requests) == 2


def test_an_entry_whose_target_left_the_route_is_replaced(anthropic_upstream: AnthropicUpstream) -> None:
    """The same request on a reconfigured route: the old target's answer is not served, the new one is stored."""
    from aimux_core.state import MemoryStore

    store = MemoryStore()
    with AnthropicUpstream() as moved:
        moved.default = Reply(text="From the new provider.")
        with cached_gateway(anthropic_upstream.base_url, {"mode": "use", "sampling": True}, store=store) as served:
            assert ask(served.anthropic()[0]).headers["x-aimux-cache"] == "stored"
        with cached_gateway(
            anthropic_upstream.base_url, {"mode": "use", "sampling": True}, store=store,
            providers={"moved": {"preset": "anthropic", "base_url": moved.base_url}},
            models={MODEL: {"provider": "moved", "max_output": 4096}},
        ) as served:  # fmt: skip
            client, _ = served.anthropic()
            answer = ask(client)
            assert (answer.headers["x-aimux-cache"], answer.headers.get("x-aimux-cache-reason")) == (
                "stored", "stale_target"
            )  # fmt: skip
            assert ask(client).parse().content[0].text == "From the new provider."  # type: ignore[union-attr]
        assert len(moved.message_requests) == 1 and len(anthropic_upstream.message_requests) == 1
