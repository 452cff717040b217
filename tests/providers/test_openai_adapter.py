"""The ``openai`` dialect adapter against the fake OpenAI-compatible upstream over real HTTP:
answers (streamed and not, folding to the same Message), the request each preset sends, the
DeepSeek reasoning echo across two turns, and every fault as the right ``UpstreamError``."""

from __future__ import annotations

import asyncio
import dataclasses
import json
import time
from pathlib import Path
from typing import Any

import httpx
import pytest

from aimux_core.errors import InvalidRequest, UpstreamError
from aimux_core.presets import preset
from aimux_core.providers.base import RequestContext, UpstreamCall
from aimux_core.providers.openai import OpenAIProvider
from aimux_core.providers.schema_cleaning import clean_schema
from aimux_core.providers.transport import Timeouts
from aimux_core.translate.thinking import aimux_signed_by
from aimux_core.translate.tool_names import shorten_tool_name
from aimux_core.wire.accumulate import accumulate
from aimux_core.wire.anthropic import Message, MessagesRequest, StreamEvent, ThinkingBlock, ToolUseBlock
from fakes import Fault, OpenAIUpstream, Quirk, Reply, StreamErrorStyle, ToolCall, Usage
from fakes.fixtures import closed_port, openai_upstream  # noqa: F401
from support.anthropic_grammar import check_anthropic_stream

pytestmark = pytest.mark.anyio

FIXTURE = Path(__file__).parent.parent / "fixtures" / "claude_code" / "request_tool_turn1.json"
CLAUDE_CODE_TOOLS: dict[str, dict[str, Any]] = {
    tool["name"]: tool["input_schema"] for tool in json.loads(FIXTURE.read_text())["body"]["tools"]
}
PNG = "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8BQDwAEhQGAhKmMIQAAAABJRU5ErkJggg=="
BASH = {"name": "Bash", "description": "Run a command", "input_schema": CLAUDE_CODE_TOOLS["Bash"]}
READ = {"name": "Read", "input_schema": CLAUDE_CODE_TOOLS["Read"]}
LONG_NAME = "mcp__very_long_server_name_for_testing__" + "tool_with_a_name_well_over_the_limit"


@pytest.fixture
def fake(openai_upstream: OpenAIUpstream) -> OpenAIUpstream:  # noqa: F811
    return openai_upstream


@pytest.fixture
def client(upstream_client: httpx.AsyncClient | None) -> httpx.AsyncClient | None:
    return upstream_client  # both transport paths (conftest)


def make(fake: OpenAIUpstream, http: httpx.AsyncClient, name: str = "openai", *, key: str | None = "sk-test-key",
         timeouts: Timeouts | None = None, **kwargs: Any) -> OpenAIProvider:  # fmt: skip
    timeouts = timeouts or Timeouts(connect=2, first_byte=5, idle=5, total=10)
    return OpenAIProvider(name, preset(name), key, base_url=fake.base_url, client=http, timeouts=timeouts, **kwargs)


def call(**body: Any) -> UpstreamCall:
    data = {"model": "claude-sonnet-4-5", "max_tokens": 1024, "messages": [{"role": "user", "content": "hi"}], **body}
    return UpstreamCall(MessagesRequest.model_validate(data), "upstream-model", RequestContext(request_id="req_t"))


async def collect(
    provider: OpenAIProvider, the_call: UpstreamCall, into: list[StreamEvent] | None = None
) -> list[StreamEvent]:
    events = into if into is not None else []
    async for event in provider.stream(the_call):
        events.append(event)
    return events


async def both(provider: OpenAIProvider, the_call: UpstreamCall) -> Message:
    """stream() and create() for the same scripted reply (enqueued twice); they must agree."""
    events = await collect(provider, the_call)
    check_anthropic_stream([e.dump() for e in events])
    message = await provider.create(the_call)
    assert shape(accumulate(events)) == shape(message)
    assert message.model == "claude-sonnet-4-5"
    return message


def shape(message: Message) -> dict[str, Any]:
    """The message without the ids the fake mints per response."""
    dumped = message.dump()
    dumped.pop("id")
    for block in dumped["content"]:
        if block["type"] == "tool_use":
            assert block.pop("id")
    return dumped


# --------------------------------------------------------------------------- answers


async def test_text_stream_and_create_agree_and_the_request_is_right(
    fake: OpenAIUpstream, client: httpx.AsyncClient
) -> None:
    usage = Usage(input_tokens=40, cache_read_input_tokens=60, output_tokens=9)
    reply = Reply(text="Hello there, this is a streamed answer.", chunk_size=7, usage=usage)
    fake.enqueue(reply, reply)
    message = await both(make(fake, client), call(system=[{"type": "text", "text": "Be brief."}]))
    assert message.content[0].text == reply.full_text  # type: ignore[union-attr]
    assert message.stop_reason == "end_turn"
    assert message.usage.dump() == {"input_tokens": 40, "output_tokens": 9, "cache_creation_input_tokens": 0,
                                    "cache_read_input_tokens": 60}  # fmt: skip
    streamed, plain = fake.requests
    assert streamed.path == "/v1/chat/completions" and streamed.headers["authorization"] == "Bearer sk-test-key"
    assert streamed.json["stream"] is True and streamed.json["stream_options"] == {"include_usage": True}
    assert "stream" not in plain.json and "stream_options" not in plain.json
    for recorded in (streamed, plain):
        body = recorded.json
        assert body["model"] == "upstream-model"
        assert body["messages"][0] == {"role": "system", "content": "Be brief."}
        assert body["max_completion_tokens"] == 1024 and "max_tokens" not in body
    events = await collect(make(fake, client), call())
    assert events[0].dump()["message"]["usage"]["input_tokens"] > 0  # an estimate until the usage chunk
    assert events[-2].dump()["usage"]["input_tokens"] == 25  # the upstream's own count


@pytest.mark.parametrize(
    "reply",
    [
        Reply(text=None, tool_calls=[ToolCall("Bash", {"command": "ls -la", "timeout": 5})], chunk_size=4),
        Reply(text="Two.", tool_calls=[ToolCall("Bash", {"command": "pwd"}), ToolCall("Read", {"file_path": "/a"})]),
        Reply(text=None, tool_calls=[ToolCall("Read", ""), ToolCall("Bash", "{}")]),
        Reply(text=None, tool_calls=[ToolCall("Bash", {"command": "x"})], stop_reason="end_turn"),  # Gemini: "stop"
    ],
    ids=["single", "parallel", "empty-arguments", "stop-with-tool-calls"],
)  # fmt: skip
async def test_tool_calls(fake: OpenAIUpstream, client: httpx.AsyncClient, reply: Reply) -> None:
    fake.enqueue(reply, reply)
    message = await both(make(fake, client), call(tools=[BASH, READ]))
    uses = [b for b in message.content if isinstance(b, ToolUseBlock)]
    assert [(u.name, u.input) for u in uses] == [(c.name, c.arguments_object) for c in reply.tool_calls]
    assert message.stop_reason == "tool_use"


async def test_shortened_tool_names_come_back_whole(fake: OpenAIUpstream, client: httpx.AsyncClient) -> None:
    short = shorten_tool_name(LONG_NAME)
    reply = Reply(text=None, tool_calls=[ToolCall(short, {"q": "x"})])
    fake.enqueue(reply, reply)
    tool = {"name": LONG_NAME, "input_schema": {"type": "object", "properties": {"q": {"type": "string"}}}}
    message = await both(make(fake, client), call(tools=[tool]))
    assert message.content[0].name == LONG_NAME  # type: ignore[union-attr]
    assert fake.last_request.json["tools"][0]["function"]["name"] == short


@pytest.mark.parametrize("field", ["reasoning_content", "reasoning"])
async def test_reasoning_becomes_signed_thinking(fake: OpenAIUpstream, client: httpx.AsyncClient, field: str) -> None:
    fake.reasoning_field = field
    reply = Reply(text="Answer.", reasoning="First, think about it. Then answer.", chunk_size=6)
    fake.enqueue(reply, reply)
    message = await both(make(fake, client, "vllm"), call())
    thinking, text = message.content
    assert isinstance(thinking, ThinkingBlock) and thinking.thinking == reply.full_reasoning
    assert aimux_signed_by(thinking) == "vllm" and text.text == "Answer."  # type: ignore[union-attr]


async def test_images_go_as_data_urls(fake: OpenAIUpstream, client: httpx.AsyncClient) -> None:
    image = {"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": PNG}}
    content = [{"type": "text", "text": "What is this?"}, image]
    await make(fake, client).create(call(messages=[{"role": "user", "content": content}]))
    parts = fake.last_request.json["messages"][0]["content"]
    assert parts[1] == {"type": "image_url", "image_url": {"url": f"data:image/png;base64,{PNG}"}}


@pytest.mark.parametrize("where", ["message", "tool_result"])
async def test_images_refused_when_the_upstream_cannot_see(
    fake: OpenAIUpstream, client: httpx.AsyncClient, where: str
) -> None:
    image = {"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": PNG}}
    use = {"type": "tool_use", "id": "toolu_1", "name": "Read", "input": {"file_path": "/a.png"}}
    if where == "message":
        messages = [{"role": "user", "content": [{"type": "text", "text": "look"}, image]}]
        expected = "messages[0].content[1]"
    else:
        result = {"type": "tool_result", "tool_use_id": "toolu_1", "content": [{"type": "text", "text": "ok"}, image]}
        messages = [{"role": "user", "content": "read it"}, {"role": "assistant", "content": [use]},
                    {"role": "user", "content": [result]}]  # fmt: skip
        expected = "messages[2].content[0].content[1]"
    provider = make(fake, client, "deepseek-openai")
    for attempt in (provider.create(call(messages=messages, tools=[READ])),
                    collect(provider, call(messages=messages, tools=[READ]))):  # fmt: skip
        with pytest.raises(InvalidRequest) as info:
            await attempt
        assert info.value.status == 400 and info.value.param == expected and expected in info.value.message
    assert fake.requests == []


# --------------------------------------------------------------------------- request details


async def test_tool_turn_layout_and_clamped_max_tokens(fake: OpenAIUpstream, client: httpx.AsyncClient) -> None:
    use = {"type": "tool_use", "id": "toolu_1", "name": "Bash", "input": {"command": "ls"}}
    messages = [
        {"role": "user", "content": "list files"},
        {"role": "assistant", "content": [{"type": "text", "text": "Sure."}, use]},
        {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "toolu_1", "content": "a.txt"},
                                     {"type": "text", "text": "and now?"}]},
    ]  # fmt: skip
    provider = make(fake, client, "groq", max_tokens_limit=8192, model_limits={"small-model": 4000})
    await provider.create(call(messages=messages, tools=[BASH], max_tokens=64000, system="sys"))
    body = fake.last_request.json
    assert [m["role"] for m in body["messages"]] == ["system", "user", "assistant", "tool", "user"]
    assert body["messages"][2]["tool_calls"][0]["function"] == {"name": "Bash", "arguments": '{"command":"ls"}'}
    assert body["messages"][3] == {"role": "tool", "tool_call_id": "toolu_1", "content": "a.txt"}
    assert body["max_tokens"] == 8192 and "max_completion_tokens" not in body
    small, _ = provider.build_body(call(max_tokens=9000).request, "small-model", stream=True)
    assert json.loads(small)["max_tokens"] == 4000  # that model's own output limit
    await provider.create(call(max_tokens=0))  # Claude Code's cache pre-warm
    assert fake.last_request.json["max_tokens"] == 1


def test_gemini_replayed_tool_calls_skip_the_thought_signature_check() -> None:
    use = {"type": "tool_use", "id": "call_1", "name": "Bash", "input": {"command": "ls"}}
    messages = [{"role": "user", "content": "ls"}, {"role": "assistant", "content": [use]},
                {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "call_1", "content": "a"}]}]
    for name, expected in (("gemini", {"google": {"thought_signature": "skip_thought_signature_validator"}}),
                           ("openai", None)):  # fmt: skip
        body, _ = OpenAIProvider(name, preset(name), "k").build_body(call(messages=messages).request, "m", stream=True)
        assert json.loads(body)["messages"][1]["tool_calls"][0].get("extra_content") == expected


def test_strip_fields_apply_to_the_canonical_request() -> None:
    stripping = dataclasses.replace(preset("gemini"), strip_fields=frozenset({"metadata", "temperature"}))
    provider = OpenAIProvider("gemini", stripping, "k")
    the_call = call(metadata={"user_id": "u1"}, temperature=0.2, top_p=0.9)
    body = json.loads(provider.build_body(the_call.request, "m", stream=False)[0])
    assert "user" not in body and "temperature" not in body and body["top_p"] == 0.9


@pytest.mark.parametrize("name", ["gemini", "cerebras", "openai"])
async def test_tool_schemas_are_cleaned_per_preset(fake: OpenAIUpstream, client: httpx.AsyncClient, name: str) -> None:
    tools = [{"name": tool, "input_schema": schema} for tool, schema in CLAUDE_CODE_TOOLS.items()]
    await make(fake, client, name).create(call(tools=tools))
    sent = {t["function"]["name"]: t["function"]["parameters"] for t in fake.last_request.json["tools"]}
    profile = preset(name).schema_profile
    assert sent == {tool: clean_schema(schema, profile) for tool, schema in CLAUDE_CODE_TOOLS.items()}
    raw = fake.last_request.body.decode()
    assert "$schema" not in raw
    if name != "openai":
        assert "exclusiveMinimum" not in raw and '"default"' not in raw
    if name == "cerebras":
        assert '"maxLength"' not in raw and "(maxLength: 256)" in raw  # kept as a hint in the description
    if name == "gemini":
        assert "additionalProperties" not in raw and '"maxLength":256' in raw


async def test_openrouter_attribution_and_auth_styles(fake: OpenAIUpstream, client: httpx.AsyncClient) -> None:
    await make(fake, client, "openrouter").create(call())
    headers = fake.last_request.headers
    assert headers["http-referer"] and headers["x-openrouter-title"] == "aimux" and headers["x-title"] == "aimux"
    assert headers["authorization"] == "Bearer sk-test-key" and headers["content-type"] == "application/json"
    await collect(make(fake, client, "ollama", key=None), call())
    assert "authorization" not in fake.last_request.headers


async def test_deepseek_reasoning_is_echoed_on_the_next_tool_turn(
    fake: OpenAIUpstream, client: httpx.AsyncClient
) -> None:
    provider = make(fake, client, "deepseek-openai")
    reasoning = "The user wants the files; call Bash with ls."
    fake.enqueue(Reply(text=None, reasoning=reasoning, tool_calls=[ToolCall("Bash", {"command": "ls"})]))
    turn1 = call(tools=[BASH], messages=[{"role": "user", "content": "list files"}])
    first = accumulate(await collect(provider, turn1))
    thinking, use = first.content
    assert isinstance(thinking, ThinkingBlock) and aimux_signed_by(thinking) == "deepseek-openai"
    assert isinstance(use, ToolUseBlock)

    history = [
        {"role": "user", "content": "list files"},
        {"role": "assistant", "content": [b.dump() for b in first.content]},  # what Claude Code sends back
        {"role": "user", "content": [{"type": "tool_result", "tool_use_id": use.id, "content": "a.txt"}]},
    ]
    await provider.create(call(tools=[BASH], messages=history))
    sent = fake.last_request.json["messages"]
    assert sent[1]["role"] == "assistant" and sent[1]["reasoning_content"] == reasoning
    assert sent[1]["tool_calls"][0]["id"] == use.id and sent[2]["role"] == "tool"

    forged = [dict(history[1], content=[{**thinking.dump(), "signature": "aimux1.deepseek-openai.forged"}, use.dump()])]
    await provider.create(call(tools=[BASH], messages=[history[0], *forged, history[2]]))
    assert "reasoning_content" not in fake.last_request.json["messages"][1]


# --------------------------------------------------------------------------- quirks


@pytest.mark.parametrize(
    "quirks",
    [{Quirk.SSE_COMMENTS, Quirk.CRLF}, {Quirk.TOOL_CALL_NO_INDEX}, {Quirk.TOOL_CALLS_SAME_INDEX},
     {Quirk.USAGE_CHOICES_NULL}, {Quirk.FINISH_WITH_CONTENT, Quirk.CHUNK_USAGE_NULL}],
    ids=["comments-crlf", "gemini-no-index", "vllm-same-index", "usage-choices-null", "finish-inline"],
)  # fmt: skip
async def test_stream_quirks_fold_to_the_same_message(
    fake: OpenAIUpstream, client: httpx.AsyncClient, quirks: set[Quirk]
) -> None:
    calls = [ToolCall("Bash", {"command": "echo hi"}), ToolCall("Read", {"file_path": "/etc/hosts", "limit": 3})]
    reply = Reply(text="Running both.", tool_calls=calls, chunk_size=5, usage=Usage(output_tokens=33))
    fake.enqueue(reply.with_(quirks=frozenset(quirks)), reply)
    message = await both(make(fake, client), call(tools=[BASH, READ]))
    uses = [(b.name, b.input) for b in message.content if isinstance(b, ToolUseBlock)]
    assert uses == [("Bash", {"command": "echo hi"}), ("Read", {"file_path": "/etc/hosts", "limit": 3})]
    assert message.usage.output_tokens == 33 and message.stop_reason == "tool_use"


# --------------------------------------------------------------------------- faults


async def expect_error(
    provider: OpenAIProvider, *, stream: bool, **body: Any
) -> tuple[UpstreamError, list[StreamEvent]]:
    events: list[StreamEvent] = []
    with pytest.raises(UpstreamError) as info:
        if stream:
            await collect(provider, call(**body), events)
        else:
            await provider.create(call(**body))
    assert not any(e.type == "message_stop" for e in events), "a failed stream must not stop cleanly"
    assert info.value.provider == provider.name
    return info.value, events


@pytest.mark.parametrize("stream", [False, True], ids=["create", "stream"])
@pytest.mark.parametrize(
    ("fault", "status", "kind", "retryable"),
    [
        (Fault.http(429, retry_after=7), 429, "rate_limit_error", True),
        (Fault.http(500), 500, "api_error", True),
        (Fault.http(502), 500, "api_error", True),
        (Fault.http(503), 529, "overloaded_error", True),
        (Fault.http(401), 502, "api_error", True),
        (Fault.http(400, message="Invalid 'tools[0]': bad schema"), 400, "invalid_request_error", False),
        (Fault.http(200, body={"error": {"code": 429, "message": "Rate limited upstream"}}), 429,
         "rate_limit_error", True),
    ],
    ids=["429", "500", "502", "503", "401", "400", "200-error-body"],
)  # fmt: skip
async def test_http_errors(fake: OpenAIUpstream, client: httpx.AsyncClient, fault: Fault, status: int,
                           kind: str, retryable: bool, stream: bool) -> None:  # fmt: skip
    fake.enqueue(fault)
    error, events = await expect_error(make(fake, client), stream=stream)
    assert (error.status, error.kind, error.retryable) == (status, kind, retryable)
    assert events == []
    if fault.status == 429:
        assert error.retry_after == 7 and error.upstream_status == 429
    if fault.status == 400:
        assert "bad schema" in error.message
    assert "sk-test-key" not in error.message


async def test_connection_refused(closed_port: int, client: httpx.AsyncClient) -> None:  # noqa: F811
    provider = OpenAIProvider("openai", preset("openai"), "k", base_url=f"http://127.0.0.1:{closed_port}/v1",
                              client=client, timeouts=Timeouts(connect=2))  # fmt: skip
    for stream in (False, True):
        error, _ = await expect_error(provider, stream=stream)
        assert error.retryable and error.status == 500


@pytest.mark.parametrize(
    ("fault", "kind", "fragment"),
    [
        (Fault.reset(after_events=3), "api_error", "connection"),
        (Fault.stall(3, after_events=3), "timeout_error", "no data"),
        (Fault.malformed_json(after_events=3), "api_error", "not a JSON object"),
        (Fault.truncate(after_events=2), "api_error", "ended before finish"),
        (Fault.stream_error(3, message="Internal error mid-stream"), "api_error", "mid-stream"),
        (Fault.stream_error(3, style=StreamErrorStyle.OPENROUTER, message="Provider disconnected"), "api_error",
         "Provider disconnected"),
        (Fault.stream_error(3, style=StreamErrorStyle.VLLM, status=503, message="engine overloaded"),
         "overloaded_error", "engine overloaded"),
    ],
    ids=["reset", "idle-stall", "malformed", "truncated", "openai-error", "openrouter-error", "vllm-error"],
)  # fmt: skip
async def test_mid_stream_faults(fake: OpenAIUpstream, client: httpx.AsyncClient, fault: Fault, kind: str,
                                 fragment: str) -> None:  # fmt: skip
    fake.enqueue(fault)
    provider = make(fake, client, timeouts=Timeouts(connect=2, first_byte=5, idle=0.4, total=10))
    error, events = await expect_error(provider, stream=True)
    assert error.kind == kind and error.retryable and fragment in error.message
    assert events and events[0].type == "message_start"


@pytest.mark.parametrize("style", list(StreamErrorStyle))
async def test_error_as_the_first_chunk_yields_nothing(
    fake: OpenAIUpstream, client: httpx.AsyncClient, style: StreamErrorStyle
) -> None:
    fake.enqueue(Fault.stream_error(0, style=style))
    _, events = await expect_error(make(fake, client), stream=True)
    assert events == []  # nothing was sent: the caller can still fail over


async def test_stall_before_the_first_byte(fake: OpenAIUpstream, client: httpx.AsyncClient) -> None:
    provider = make(fake, client, timeouts=Timeouts(connect=2, first_byte=0.4, idle=5, total=10))
    fake.enqueue(Fault.stall(30))
    started = time.monotonic()
    error, _ = await expect_error(provider, stream=True)
    assert error.kind == "timeout_error" and error.status == 504 and time.monotonic() - started < 10


@pytest.mark.parametrize(
    ("fault", "fragment"),
    [(Fault.malformed_json(), "not a JSON object"), (Fault.reset(after_events=1), "connection"),
     (Fault.stream_error(0, style=StreamErrorStyle.VLLM, status=500), "answered 500")],
    ids=["malformed", "reset", "error"],
)  # fmt: skip
async def test_non_streaming_faults(fake: OpenAIUpstream, client: httpx.AsyncClient, fault: Fault,
                                    fragment: str) -> None:  # fmt: skip
    fake.enqueue(fault)
    error, _ = await expect_error(make(fake, client), stream=False)
    assert error.retryable and fragment in error.message


@pytest.mark.parametrize(
    ("body", "fragment"),
    [
        (b'data: {"id":"c","choices":[{"index":0,"delta":{"content":"Hi"}}]}\n\ndata: [DONE]\n\n',
         "ended before finish"),
        (b'{"error":{"message":"Model is warming up","code":503}}', "warming up"),
        (b"<html>Bad gateway</html>", "without an event stream"),
    ],
    ids=["done-without-finish", "json-error-instead-of-stream", "html"],
)  # fmt: skip
async def test_bodies_that_are_not_a_finished_stream(
    fake: OpenAIUpstream, client: httpx.AsyncClient, body: bytes, fragment: str
) -> None:
    fake.enqueue(Fault.http(200, body=body))
    error, _ = await expect_error(make(fake, client), stream=True)
    assert fragment in error.message


async def test_closing_the_stream_early_cancels_the_upstream(fake: OpenAIUpstream, client: httpx.AsyncClient) -> None:
    fake.enqueue(Reply(text="word " * 200, chunk_size=5, chunk_delay=0.1))  # 20 s if read to the end
    stream = make(fake, client).stream(call())
    started = time.monotonic()
    first = [await anext(stream), await anext(stream)]
    await stream.aclose()  # type: ignore[attr-defined]
    assert first[0].type == "message_start" and time.monotonic() - started < 10
    await asyncio.sleep(0.05)
    assert (await make(fake, client).create(call())).content[0].text == "Hello!"  # type: ignore[union-attr]
    assert fake.requests[1].peer != fake.requests[0].peer  # the aborted connection was closed, not reused
