"""Upstream answers that break their API's schema, from each dialect's fake over real HTTP, through the real
adapters: every one is ``malformed_answer`` (a retryable 502 ``api_error`` naming the provider), buffered
and streamed, never another exception (which the client would see as an internal 500) and never a clean
end. The JSON itself is valid: ``Fault.reshape`` edits the rendered reply (``malformed_json`` cuts it).

The gateway's side (failover to a healthy target, the breaker, the client's 502) is
``tests/security/test_malformed_failover.py``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import httpx
import pytest

from aimux_core.errors import UpstreamError
from aimux_core.presets import preset
from aimux_core.providers.anthropic import AnthropicProvider
from aimux_core.providers.base import RequestContext, UpstreamCall
from aimux_core.providers.bedrock import BedrockProvider
from aimux_core.providers.openai import OpenAIProvider
from aimux_core.providers.transport import Timeouts
from aimux_core.wire.anthropic import MessagesRequest, StreamEvent
from fakes import AnthropicUpstream, BedrockUpstream, Fault, OpenAIUpstream, Reply, ToolCall
from fakes.fixtures import anthropic_upstream, bedrock_upstream, openai_upstream  # noqa: F401
from support.gateway_builder import AWS_ENV, AWS_UNSET

pytestmark = pytest.mark.anyio

Edit = Callable[[Any], Any]
TIMEOUTS = Timeouts(connect=2, first_byte=5, idle=5, total=10)
TOOL_REPLY = Reply(text=None, tool_calls=[ToolCall("get_weather", {"city": "Paris"})])


def where(kind: str, change: Callable[[dict[str, Any]], dict[str, Any]]) -> Edit:
    """An edit of the payloads whose ``type`` is ``kind`` (Anthropic events and the message itself)."""
    return lambda payload: change(payload) if isinstance(payload, dict) and payload.get("type") == kind else payload


def chunks(change: Callable[[dict[str, Any]], dict[str, Any]]) -> Edit:
    """An edit of every OpenAI chunk (or body) that has choices."""
    return lambda payload: change(payload) if isinstance(payload, dict) and payload.get("choices") else payload


def first_choice(change: Callable[[dict[str, Any]], dict[str, Any]]) -> Edit:
    return chunks(lambda payload: {**payload, "choices": [change(payload["choices"][0])]})


def event(name: str, change: Callable[[dict[str, Any]], Any]) -> Edit:
    """An edit of Bedrock's ``{event_type: payload}`` (streams) for one event type."""
    return lambda payload: {name: change(payload[name])} if name in payload else payload


def converse(change: Callable[[dict[str, Any]], Any]) -> Edit:
    """An edit of a whole Converse response's ``output.message``."""
    return lambda body: {**body, "output": {**body["output"], "message": change(body["output"]["message"])}}


ANTHROPIC_WHOLE: dict[str, Edit] = {
    "block type is an object": where("message", lambda m: {**m, "content": [{"type": {"x": 1}, "text": "a"}]}),
    "block type is a list": where("message", lambda m: {**m, "content": [{"type": [], "text": "a"}]}),
    "block type is a number": where("message", lambda m: {**m, "content": [{"type": 1}]}),
    "content is text": where("message", lambda m: {**m, "content": "hello"}),
    "content is missing": where("message", lambda m: {k: v for k, v in m.items() if k != "content"}),
    "text is a number": where("message", lambda m: {**m, "content": [{"type": "text", "text": 5}]}),
    "usage is text": where("message", lambda m: {**m, "usage": "lots"}),
    "usage counts are text": where("message", lambda m: {**m, "usage": {"input_tokens": "many", "output_tokens": 1}}),
    "tool input is text": where(
        "message", lambda m: {**m, "content": [{"type": "tool_use", "id": "t1", "name": "f", "input": "x"}]}
    ),
}
ANTHROPIC_STREAM: dict[str, Edit] = {
    "event type is an object": where("content_block_delta", lambda e: {**e, "type": {"x": 1}}),
    "block type is an object": where(
        "content_block_start", lambda e: {**e, "content_block": {**e["content_block"], "type": {"x": 1}}}
    ),
    "delta type is a list": where("content_block_delta", lambda e: {**e, "delta": {**e["delta"], "type": []}}),
    "delta text is a number": where("content_block_delta", lambda e: {**e, "delta": {"type": "text_delta", "text": 5}}),
    "delta is text": where("content_block_delta", lambda e: {**e, "delta": "hello"}),
    "index is text": where("content_block_delta", lambda e: {**e, "index": "first"}),
    "message is text": where("message_start", lambda e: {**e, "message": "hello"}),
    "usage is text": where("message_delta", lambda e: {**e, "usage": "lots"}),
}
OPENAI_WHOLE: dict[str, tuple[Edit, Reply | None]] = {
    "choices is an object": (chunks(lambda c: {**c, "choices": {"0": c["choices"][0]}}), None),
    "choices is text": (chunks(lambda c: {**c, "choices": "hello"}), None),
    "choices is empty": (chunks(lambda c: {**c, "choices": []}), None),
    "choice is text": (chunks(lambda c: {**c, "choices": ["hello"]}), None),
    "message is missing": (first_choice(lambda ch: {k: v for k, v in ch.items() if k != "message"}), None),
    "message is text": (first_choice(lambda ch: {**ch, "message": "hello"}), None),
    "content is an object": (first_choice(lambda ch: {**ch, "message": {**ch["message"], "content": {"a": 1}}}), None),
    "usage is text": (chunks(lambda c: {**c, "usage": "lots"}), None),
    "usage counts are text": (
        chunks(lambda c: {**c, "usage": {"prompt_tokens": "many", "completion_tokens": 1}}), None
    ),
    "tool_calls is an object": (
        first_choice(lambda ch: {**ch, "message": {**ch["message"], "tool_calls": {"a": 1}}}), TOOL_REPLY
    ),
    "tool call without a function": (
        first_choice(lambda ch: {**ch, "message": {**ch["message"], "tool_calls": [{"id": "c", "type": "function"}]}}),
        TOOL_REPLY,
    ),
    "arguments are a number": (
        first_choice(lambda ch: {**ch, "message": {**ch["message"], "tool_calls": [
            {"id": "c", "type": "function", "function": {"name": "get_weather", "arguments": 5}}]}}),
        TOOL_REPLY,
    ),
    "nothing usable, no usage": (
        lambda c: {k: v for k, v in first_choice(
            lambda ch: {**ch, "message": {"role": "assistant", "content": None}})(c).items() if k != "usage"},
        None,
    ),
    "tool calls announced, none sent": (
        first_choice(lambda ch: {**ch, "message": {"role": "assistant", "content": None},
                                 "finish_reason": "tool_calls"}),
        None,
    ),
}
OPENAI_STREAM: dict[str, tuple[Edit, Reply | None]] = {
    "choices is an object": (chunks(lambda c: {**c, "choices": {"0": c["choices"][0]}}), None),
    "choices is text": (chunks(lambda c: {**c, "choices": "hello"}), None),
    "delta is text": (first_choice(lambda ch: {**ch, "delta": "hello"}), None),
    "content is an object": (
        first_choice(lambda ch: {**ch, "delta": {**ch["delta"], "content": {"a": 1}}} if ch["delta"].get("content")
                     else ch),
        None,
    ),
    "tool_calls is an object": (
        first_choice(lambda ch: {**ch, "delta": {"tool_calls": {"a": 1}}} if ch["delta"].get("tool_calls") else ch),
        TOOL_REPLY,
    ),
    "arguments are a number": (
        first_choice(lambda ch: {**ch, "delta": {"tool_calls": [
            {**ch["delta"]["tool_calls"][0], "function": {**ch["delta"]["tool_calls"][0]["function"], "arguments": 5}}
        ]}} if ch["delta"].get("tool_calls") else ch),
        TOOL_REPLY,
    ),
    "usage is text": (lambda c: {**c, "usage": "lots"} if c.get("usage") else c, None),
    "nothing usable, no usage": (
        lambda c: {k: v for k, v in c.items() if k != "usage"} | (
            {"choices": [{**c["choices"][0], "delta": {}}]} if c.get("choices") else {}),
        None,
    ),
}
BEDROCK_WHOLE: dict[str, Edit] = {
    "text is an object": converse(lambda m: {**m, "content": [{"text": {"a": 1}}]}),
    "content is text": converse(lambda m: {**m, "content": "hello"}),
    "message is text": converse(lambda m: "hello"),
    "usage is text": lambda body: {**body, "usage": "lots"},
}
BEDROCK_STREAM: dict[str, Edit] = {
    "delta text is an object": event("contentBlockDelta", lambda d: {**d, "delta": {"text": {"a": 1}}}),
    "delta is text": event("contentBlockDelta", lambda d: {**d, "delta": "hello"}),
    "delta is missing": event("contentBlockDelta", lambda d: {"contentBlockIndex": d["contentBlockIndex"]}),
    "usage is text": event("metadata", lambda m: {**m, "usage": "lots"}),
}


@pytest.fixture
def http(upstream_client: httpx.AsyncClient | None) -> httpx.AsyncClient | None:
    return upstream_client  # both transport paths (conftest)


@pytest.fixture
def aws(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in AWS_UNSET:
        monkeypatch.delenv(name, raising=False)
    for name, value in AWS_ENV.items():
        monkeypatch.setenv(name, value)


def call(**fields: Any) -> UpstreamCall:
    body = {"model": "client-model", "max_tokens": 64, "messages": [{"role": "user", "content": "hi"}], **fields}
    return UpstreamCall(MessagesRequest.model_validate(body), "upstream-model", RequestContext(request_id="req_t"))


async def attempt(provider: Any, streaming: bool) -> list[StreamEvent]:
    """The events a stream yielded before it raised (or the answer, for a buffered call)."""
    if not streaming:
        await provider.create(call())
        return []
    received: list[StreamEvent] = []
    async for item in provider.stream(call()):
        received.append(item)
    return received


async def assert_malformed(provider: Any, name: str, streaming: bool) -> None:
    received: list[StreamEvent] = []
    with pytest.raises(UpstreamError) as caught:
        received = await attempt(provider, streaming)
    error = caught.value
    assert (error.status, error.kind, error.retryable, error.provider) == (502, "api_error", True, name), error.message
    assert error.message.startswith(f"upstream {name} "), error.message
    assert "message_stop" not in [e.type for e in received]


def cases(whole: dict[str, Any], stream: dict[str, Any]) -> list[Any]:
    return [pytest.param(mode == "stream", edit, id=f"{mode}-{name}")
            for mode, table in (("whole", whole), ("stream", stream)) for name, edit in table.items()]


@pytest.mark.parametrize(("streaming", "edit"), cases(ANTHROPIC_WHOLE, ANTHROPIC_STREAM))
async def test_anthropic_dialect(
    anthropic_upstream: AnthropicUpstream, http: httpx.AsyncClient, streaming: bool, edit: Edit  # noqa: F811
) -> None:
    provider = AnthropicProvider("anthropic", preset("anthropic"), "key-0123456789",
                                 base_url=anthropic_upstream.base_url, timeouts=TIMEOUTS, client=http)
    anthropic_upstream.enqueue(Fault.reshape(edit))
    await assert_malformed(provider, "anthropic", streaming)


@pytest.mark.parametrize(("streaming", "scripted"), cases(OPENAI_WHOLE, OPENAI_STREAM))
async def test_openai_dialect(
    openai_upstream: OpenAIUpstream, http: httpx.AsyncClient, streaming: bool,  # noqa: F811
    scripted: tuple[Edit, Reply | None],
) -> None:
    provider = OpenAIProvider("openai", preset("openai"), "key-0123456789", base_url=openai_upstream.base_url,
                              timeouts=TIMEOUTS, client=http)
    edit, reply = scripted
    openai_upstream.enqueue(Fault.reshape(edit, reply=reply))
    await assert_malformed(provider, "openai", streaming)


@pytest.mark.parametrize(("streaming", "edit"), cases(BEDROCK_WHOLE, BEDROCK_STREAM))
async def test_bedrock_dialect(bedrock_upstream: BedrockUpstream, aws: None, streaming: bool, edit: Edit) -> None:  # noqa: F811
    provider = BedrockProvider("bedrock", preset("bedrock"), region="us-east-1", endpoint_url=bedrock_upstream.base_url,
                               timeouts=TIMEOUTS)
    bedrock_upstream.enqueue(Fault.reshape(edit))
    await assert_malformed(provider, "bedrock", streaming)


# --------------------------------------------------------------------------- honest empty answers


@pytest.mark.parametrize("streaming", [False, True], ids=["whole", "stream"])
async def test_an_empty_openai_answer_that_says_why_it_ended_is_an_answer(
    openai_upstream: OpenAIUpstream, http: httpx.AsyncClient, streaming: bool  # noqa: F811
) -> None:
    """``content: ""`` with ``finish_reason: stop`` and real usage: the model said nothing, legitimately."""
    provider = OpenAIProvider("openai", preset("openai"), "key-0123456789", base_url=openai_upstream.base_url,
                              timeouts=TIMEOUTS, client=http)
    openai_upstream.enqueue(Reply(text=""))
    if streaming:
        events = await attempt(provider, True)
        assert [e.type for e in events] == ["message_start", "message_delta", "message_stop"]
        assert events[1].usage is not None and events[1].usage.output_tokens == 15  # type: ignore[union-attr]
    else:
        message = await provider.create(call())
        assert message.content == [] and message.stop_reason == "end_turn" and message.usage.output_tokens == 15
