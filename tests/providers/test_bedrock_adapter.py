"""The Bedrock adapter over real HTTP: a real boto3 client (``endpoint_url``) against the fake
Bedrock Runtime, streaming (AWS binary event-stream) and not, with scripted faults."""

from __future__ import annotations

import asyncio
import base64
import dataclasses
import subprocess
import sys
import threading
import time
from typing import Any

import pytest

from aimux_core.errors import InvalidRequest, UpstreamError
from aimux_core.presets import BEDROCK_BETAS, preset
from aimux_core.providers.base import RequestContext, UpstreamCall
from aimux_core.providers.bedrock import BedrockProvider
from aimux_core.providers.transport import Timeouts
from aimux_core.wire.accumulate import accumulate
from aimux_core.wire.anthropic import Message, MessagesRequest, StreamEvent
from fakes import BedrockUpstream, Fault, Reply, ToolCall, Usage
from fakes.fixtures import bedrock_upstream, closed_port  # noqa: F401
from support.anthropic_grammar import check_anthropic_stream

pytestmark = pytest.mark.anyio

MODEL_ID = "us.anthropic.claude-sonnet-4-5-20250929-v1:0"
SECRET = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYSECRETKEY"
SIGNATURE = "EqQBCkYIBRgCIkB/+QmZ3k9fYh0=" + "Zz+/" * 30 + "=="
WEATHER = {
    "name": "get_weather",
    "description": "Get the weather",
    "input_schema": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
}
FAST = Timeouts(connect=2, first_byte=5, idle=5, total=20)


@pytest.fixture
def fake(bedrock_upstream: BedrockUpstream) -> BedrockUpstream:  # noqa: F811
    return bedrock_upstream


@pytest.fixture(autouse=True)
def aws_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Any) -> None:
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "test")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", SECRET)
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "none"))


def provider(upstream: BedrockUpstream | None = None, *, url: str | None = None, timeouts: Timeouts = FAST) -> Any:
    endpoint = url or (upstream.base_url if upstream is not None else None)
    return BedrockProvider("bedrock", preset("bedrock"), region="us-east-1", endpoint_url=endpoint, timeouts=timeouts)


def call(content: Any = "Hello", **body: Any) -> UpstreamCall:
    messages = body.pop("messages", None) or [{"role": "user", "content": content}]
    request = MessagesRequest.model_validate({"model": "claude-sonnet-4-5", "max_tokens": 512, "messages": messages,
                                              **body})  # fmt: skip
    return UpstreamCall(request=request, model=MODEL_ID, context=RequestContext(request_id="req_1"))


async def collect(p: Any, c: UpstreamCall) -> list[StreamEvent]:
    return [event async for event in p.stream(c)]


async def both(p: Any, c: UpstreamCall) -> tuple[Message, list[StreamEvent]]:
    """The non-streaming answer and the stream for the same (scripted) reply."""
    message = await p.create(c)
    events = await collect(p, c)
    check_anthropic_stream([e.dump() for e in events])
    folded = accumulate(events)
    assert folded.model_dump(exclude={"id"}) == message.model_dump(exclude={"id"})
    assert message.id.startswith("msg_") and folded.id.startswith("msg_")
    return message, events


async def test_text_stream_and_non_stream(fake: BedrockUpstream) -> None:
    reply = Reply(text="Hello from Bedrock!", chunk_size=5, usage=Usage(input_tokens=12, output_tokens=6))
    fake.enqueue(reply, reply)
    message, events = await both(provider(fake), call("Hi", system="Be brief.", temperature=0.5))
    assert message.model == "claude-sonnet-4-5"
    assert [b.dump() for b in message.content] == [{"type": "text", "text": "Hello from Bedrock!"}]
    assert (message.stop_reason, message.usage.input_tokens, message.usage.output_tokens) == ("end_turn", 12, 6)
    start = events[0].dump()["message"]
    assert start["usage"]["input_tokens"] > 0 and start["model"] == "claude-sonnet-4-5"
    assert sum(e.type == "content_block_delta" for e in events) == 4
    seen = fake.requests
    assert [r.path.rsplit("/", 1)[1] for r in seen] == ["converse", "converse-stream"]
    assert {BedrockUpstream.model_id(r) for r in seen} == {MODEL_ID}
    body = seen[0].json
    assert body["system"] == [{"text": "Be brief."}] and body["inferenceConfig"] == {
        "maxTokens": 512,
        "temperature": 0.5,
    }
    assert seen[0].headers["authorization"].startswith("AWS4-HMAC-SHA256 Credential=test/")


async def test_tool_use_and_parallel_tool_use(fake: BedrockUpstream) -> None:
    one = Reply(text="Let me check.", tool_calls=[ToolCall("get_weather", {"city": "Paris"}, id="tooluse_a")])
    paris = ToolCall("get_weather", {"city": "Paris"}, id="tooluse_a")
    calls = [paris, ToolCall("get_weather", {"city": "Rome"}, id="tooluse_b")]
    two = Reply(text=None, tool_calls=calls, chunk_size=4)
    fake.enqueue(one, one, two, two)
    p = provider(fake)
    c = call("Weather in Paris?", tools=[WEATHER], tool_choice={"type": "any"})
    message, events = await both(p, c)
    assert [b.type for b in message.content] == ["text", "tool_use"]
    assert message.content[1].dump() == {"type": "tool_use", "id": "tooluse_a", "name": "get_weather",
                                         "input": {"city": "Paris"}}  # fmt: skip
    assert message.stop_reason == "tool_use"
    assert any(e.type == "content_block_delta" and e.delta.type == "input_json_delta" for e in events)
    assert fake.last_request.json["toolConfig"] == {
        "tools": [{"toolSpec": {"name": "get_weather", "inputSchema": {"json": WEATHER["input_schema"]},
                                "description": "Get the weather"}}],
        "toolChoice": {"any": {}},
    }  # fmt: skip
    message, events = await both(p, c)
    assert [(b.id, b.input) for b in message.content] == [
        ("tooluse_a", {"city": "Paris"}),
        ("tooluse_b", {"city": "Rome"}),
    ]
    assert [e.index for e in events if e.type == "content_block_start"] == [0, 1]


async def test_reasoning_signature_is_byte_exact_both_ways(fake: BedrockUpstream) -> None:
    reply = Reply(reasoning=["Weighing ", "options."], signature=SIGNATURE, text="Done.")
    fake.enqueue(reply, reply)
    p = provider(fake)
    message, events = await both(p, call("Think.", thinking={"type": "enabled", "budget_tokens": 2048}))
    assert message.content[0].dump() == {"type": "thinking", "thinking": "Weighing options.", "signature": SIGNATURE}
    deltas = [e.delta.type for e in events if e.type == "content_block_delta" and e.index == 0]
    assert deltas == ["thinking_delta", "thinking_delta", "signature_delta"]
    assert fake.last_request.json["additionalModelRequestFields"] == {
        "thinking": {"type": "enabled", "budget_tokens": 2048}
    }
    redacted = base64.b64encode(b"\x00\x10opaque\xff").decode()
    history = [
        {"role": "user", "content": "Think."},
        {"role": "assistant", "content": [
            message.content[0].dump(),
            {"type": "thinking", "thinking": "foreign", "signature": "aimux1.deepseek.abc"},  # never reaches Bedrock
            {"type": "redacted_thinking", "data": redacted},
            {"type": "text", "text": "Done."},
        ]},
        {"role": "user", "content": "Again."},
    ]  # fmt: skip
    await p.create(call(messages=history))
    sent = fake.last_request.json["messages"][1]["content"]
    assert sent[0] == {"reasoningContent": {"reasoningText": {"text": "Weighing options.", "signature": SIGNATURE}}}
    assert sent[1] == {"reasoningContent": {"redactedContent": redacted}}  # boto3 re-encodes the same bytes
    assert sent[2] == {"text": "Done."} and len(sent) == 3


async def test_images_and_cache_tokens(fake: BedrockUpstream) -> None:
    png = base64.b64encode(b"\x89PNG\r\n\x1a\n" + bytes(range(200))).decode()
    usage = Usage(input_tokens=7, output_tokens=3, cache_read_input_tokens=1200, cache_creation_input_tokens=40)
    fake.enqueue(Reply(text="A picture.", usage=usage), Reply(text="A picture.", usage=usage))
    content = [
        {"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": png}},
        {"type": "text", "text": "What is this?", "cache_control": {"type": "ephemeral"}},
    ]
    message, events = await both(provider(fake), call(content))
    assert message.usage.model_dump() == {
        "input_tokens": 7, "output_tokens": 3, "cache_creation_input_tokens": 40, "cache_read_input_tokens": 1200
    }  # fmt: skip
    final = next(e for e in events if e.type == "message_delta").dump()["usage"]
    assert final["cache_read_input_tokens"] == 1200 and final["cache_creation_input_tokens"] == 40
    sent = fake.last_request.json["messages"][0]["content"]
    assert sent == [
        {"image": {"format": "png", "source": {"bytes": png}}},
        {"text": "What is this?"},
        {"cachePoint": {"type": "default"}},
    ]
    with pytest.raises(InvalidRequest):
        await provider(fake).create(
            call([{"type": "image", "source": {"type": "url", "url": "https://example.com/x.png"}}])
        )


@pytest.mark.parametrize(
    ("status", "client_status", "kind", "retryable", "cooldown"),
    [
        (429, 429, "rate_limit_error", True, "rate_limit"),
        (503, 529, "overloaded_error", True, "overloaded"),
        (400, 400, "invalid_request_error", False, None),
        (403, 502, "api_error", True, "auth_failure"),  # AccessDenied: another target may serve
        (404, 404, "not_found_error", False, None),
        (500, 500, "api_error", True, None),
        (408, 504, "timeout_error", True, None),
    ],
)
async def test_http_errors(
    fake: BedrockUpstream, status: int, client_status: int, kind: str, retryable: bool, cooldown: str | None
) -> None:
    fake.enqueue(Fault.http(status), Fault.http(status))
    p = provider(fake)
    for attempt in (p.create(call()), collect(p, call())):
        with pytest.raises(UpstreamError) as caught:
            await attempt
        error = caught.value
        assert (error.status, error.kind, error.retryable, error.upstream_status, error.cooldown) == (
            client_status, kind, retryable, status, cooldown
        )  # fmt: skip
        assert SECRET not in error.message
    assert len(fake.requests) == 2  # botocore did not retry


async def test_exception_event_mid_stream(fake: BedrockUpstream) -> None:
    reply = Reply(text="one two three four five six", chunk_size=4)
    fake.enqueue(Fault.stream_error(3, error_type="throttlingException", message="Too many tokens", reply=reply))
    received: list[StreamEvent] = []
    with pytest.raises(UpstreamError) as caught:
        async for event in provider(fake).stream(call()):
            received.append(event)
    assert (caught.value.status, caught.value.kind, caught.value.retryable) == (429, "rate_limit_error", True)
    assert "Too many tokens" in caught.value.message
    assert [e.type for e in received][:2] == ["message_start", "content_block_start"]
    assert "message_stop" not in [e.type for e in received]


async def test_cut_and_reset_streams_are_errors(fake: BedrockUpstream) -> None:
    fake.enqueue(Fault.truncate(3), Fault.reset(2))
    p = provider(fake)
    for _ in range(2):
        with pytest.raises(UpstreamError) as caught:
            await collect(p, call())
        assert caught.value.retryable and caught.value.status == 500


async def test_connection_refused(closed_port: int) -> None:  # noqa: F811
    p = provider(url=f"http://127.0.0.1:{closed_port}")
    for attempt in (p.create(call()), collect(p, call())):
        with pytest.raises(UpstreamError) as caught:
            await attempt
        assert caught.value.retryable and caught.value.status == 500 and "connection failed" in caught.value.message


async def test_stalls_hit_the_short_read_timeout(fake: BedrockUpstream) -> None:
    fake.enqueue(Fault.stall(30), Fault.stall(30), Fault.stall(30, after_events=2))
    short = Timeouts(connect=1, first_byte=0.3, idle=0.3, total=0.4)
    p = provider(fake, timeouts=short)
    started = time.monotonic()
    with pytest.raises(UpstreamError) as caught:
        await p.create(call())
    assert (caught.value.status, caught.value.kind, caught.value.retryable) == (504, "timeout_error", True)
    p = provider(fake, timeouts=Timeouts(connect=1, first_byte=0.3, idle=0.3, total=10))
    for _ in range(2):  # before the first byte, then mid-stream
        with pytest.raises(UpstreamError) as caught:
            await collect(p, call())
        assert caught.value.status == 504 and caught.value.retryable
    assert time.monotonic() - started < 15  # the timeouts ended the waits, not the 30 s stalls


def stream_threads() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name == "aimux-bedrock-stream"]


async def test_aclose_cancels_the_upstream_stream(fake: BedrockUpstream) -> None:
    fake.enqueue(Reply(text="x" * 400, chunk_size=2, chunk_delay=0.05))
    stream = provider(fake).stream(call())
    first = [await anext(stream) for _ in range(3)]
    assert first[0].type == "message_start" and stream_threads()
    await stream.aclose()
    deadline = time.monotonic() + 3
    while stream_threads() and time.monotonic() < deadline:
        await asyncio.sleep(0.05)
    assert not stream_threads(), "the reader thread outlived aclose()"


async def test_slow_consumer_back_pressure(fake: BedrockUpstream) -> None:
    reply = Reply(text="y" * 300, chunk_size=1)
    fake.enqueue(reply)
    events = []
    async for event in provider(fake).stream(call()):
        events.append(event)
        if len(events) < 5:
            await asyncio.sleep(0.05)  # the reader thread blocks on the bounded queue meanwhile
    assert accumulate(events).content[0].text == "y" * 300


def test_importing_the_adapter_does_not_import_boto3() -> None:
    code = (
        "import sys, aimux_core.providers.bedrock; assert 'boto3' not in sys.modules and 'botocore' not in sys.modules"
    )
    subprocess.run([sys.executable, "-c", code], check=True, timeout=30)


async def test_malformed_answers_and_early_disconnects_are_retryable(fake: BedrockUpstream) -> None:
    fake.enqueue(Fault.malformed_json(), Fault.malformed_json(after_events=1), Fault.disconnect())
    p = provider(fake)
    # a malformed answer is a Bad Gateway (502), a dropped connection a 500: both worth another target
    for attempt, status in ((p.create(call()), 502), (collect(p, call()), 502), (p.create(call()), 500)):
        with pytest.raises(UpstreamError) as caught:
            await attempt
        assert caught.value.retryable and caught.value.status == status


async def test_betas_follow_the_preset_and_max_tokens_is_capped(fake: BedrockUpstream) -> None:
    context = RequestContext(request_id="req_1", betas=["interleaved-thinking-2025-05-14,claude-code-20250219"])
    c = dataclasses.replace(call(), context=context)
    await provider(fake).create(c)
    # the stock preset forwards only the betas Bedrock knows (Claude Code's own flag is dropped)
    assert fake.last_request.json["additionalModelRequestFields"] == {
        "anthropic_beta": ["interleaved-thinking-2025-05-14"]
    }
    dropping = BedrockProvider(
        "bedrock",
        dataclasses.replace(preset("bedrock"), beta_policy="drop"),
        region="us-east-1",
        endpoint_url=fake.base_url,
        timeouts=FAST,
    )
    await dropping.create(c)
    assert "additionalModelRequestFields" not in fake.last_request.json
    tuned = dataclasses.replace(preset("bedrock"), allowed_betas=BEDROCK_BETAS, max_tokens_cap=100)
    p = BedrockProvider("bedrock", tuned, region="us-east-1", endpoint_url=fake.base_url, timeouts=FAST)
    await p.create(c)
    body = fake.last_request.json
    assert body["additionalModelRequestFields"] == {"anthropic_beta": ["interleaved-thinking-2025-05-14"]}
    assert body["inferenceConfig"]["maxTokens"] == 100


async def test_concurrent_streams(fake: BedrockUpstream) -> None:
    fake.default = Reply(text="parallel answer", chunk_size=3, chunk_delay=0.01)
    p = provider(fake)
    results = await asyncio.gather(*(collect(p, call(f"q{i}")) for i in range(6)))
    assert [accumulate(events).content[0].text for events in results] == ["parallel answer"] * 6
