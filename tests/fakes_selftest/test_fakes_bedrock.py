"""The fake Bedrock Runtime, driven by a real boto3 ``bedrock-runtime`` client over loopback and
checked byte-for-byte with botocore's own event-stream decoder."""

from __future__ import annotations

import time
from typing import Any

import boto3
import botocore.exceptions
import httpx2
import pytest
import urllib3.exceptions
from botocore.config import Config
from botocore.eventstream import EventStreamBuffer

from fakes import BedrockUpstream, Fault, Reply, ToolCall, Usage

MODEL = "us.anthropic.claude-sonnet-4-5-20250929-v1:0"
MESSAGES: list[Any] = [{"role": "user", "content": [{"text": "hi"}]}]
_SESSION = boto3.Session(aws_access_key_id="test", aws_secret_access_key="test", region_name="us-east-1")


def client(fake: BedrockUpstream, *, read: float = 5.0) -> Any:
    config = Config(retries={"total_max_attempts": 1}, read_timeout=read, connect_timeout=2)
    return _SESSION.client("bedrock-runtime", endpoint_url=fake.base_url, config=config)


def stream_events(fake: BedrockUpstream, **kwargs: Any) -> list[dict[str, Any]]:
    return list(client(fake, **kwargs).converse_stream(modelId=MODEL, messages=MESSAGES)["stream"])


def raw_messages(fake: BedrockUpstream) -> list[Any]:
    """The raw response decoded by botocore's EventStreamBuffer (which verifies both CRCs)."""
    raw = httpx2.post(f"{fake.base_url}/model/m/converse-stream", json={"messages": MESSAGES}).content
    buffer = EventStreamBuffer()
    buffer.add_data(raw)
    return list(buffer)


def test_converse_with_reasoning_tool_and_cache_usage(bedrock_upstream: BedrockUpstream) -> None:
    usage = Usage(input_tokens=10, output_tokens=4, cache_read_input_tokens=30, cache_creation_input_tokens=5)
    reply = Reply(reasoning="hmm", signature="sig", text="Let me check.", usage=usage,
                  tool_calls=[ToolCall("get_weather", {"city": "Paris"}, id="tooluse_abc")])
    bedrock_upstream.enqueue(reply)
    response = client(bedrock_upstream).converse(modelId=MODEL, messages=MESSAGES, inferenceConfig={"maxTokens": 9})
    assert response["output"]["message"]["content"] == [
        {"reasoningContent": {"reasoningText": {"text": "hmm", "signature": "sig"}}},
        {"text": "Let me check."},
        {"toolUse": {"toolUseId": "tooluse_abc", "name": "get_weather", "input": {"city": "Paris"}}},
    ]
    assert response["stopReason"] == "tool_use"
    assert response["usage"] == {"inputTokens": 10, "outputTokens": 4, "totalTokens": 49,
                                 "cacheReadInputTokens": 30, "cacheWriteInputTokens": 5}
    seen = bedrock_upstream.last_request
    assert seen.path.endswith("/converse") and BedrockUpstream.model_id(seen) == MODEL
    assert seen.json["inferenceConfig"] == {"maxTokens": 9}
    assert seen.headers["authorization"].startswith("AWS4-HMAC-SHA256 Credential=test/")


def test_converse_stream_matches_the_documented_sequence(bedrock_upstream: BedrockUpstream) -> None:
    reply = Reply(reasoning=["The user wants Paris weather; ", "call get_weather."], signature="ErUBsig",
                  text=["Let me check."], tool_calls=[ToolCall("get_weather", fragments=('{"city": ', '"Paris"}'))],
                  usage=Usage(input_tokens=412, output_tokens=96))
    bedrock_upstream.enqueue(reply)
    events = stream_events(bedrock_upstream)
    names = [next(iter(event)) for event in events]
    assert names == [  # as in fixtures/bedrock_converse_stream_events.json
        "messageStart", "contentBlockDelta", "contentBlockDelta", "contentBlockDelta", "contentBlockStop",
        "contentBlockDelta", "contentBlockStop", "contentBlockStart", "contentBlockDelta", "contentBlockDelta",
        "contentBlockStop", "messageStop", "metadata"]
    assert events[3]["contentBlockDelta"] == {"delta": {"reasoningContent": {"signature": "ErUBsig"}},
                                              "contentBlockIndex": 0}
    assert events[7]["contentBlockStart"] == {"start": {"toolUse": {"toolUseId": "tooluse_fake0001",
                                                                    "name": "get_weather"}},
                                              "contentBlockIndex": 2}
    tool_input = "".join(e["contentBlockDelta"]["delta"]["toolUse"]["input"] for e in events[8:10])
    assert tool_input == '{"city": "Paris"}'
    assert events[-2] == {"messageStop": {"stopReason": "tool_use"}}
    assert events[-1]["metadata"]["usage"]["inputTokens"] == 412 and "latencyMs" in events[-1]["metadata"]["metrics"]
    assert bedrock_upstream.last_request.path.endswith("/converse-stream")


def test_event_stream_framing_decodes_with_botocore(bedrock_upstream: BedrockUpstream) -> None:
    messages = raw_messages(bedrock_upstream)
    assert [m.headers[":event-type"] for m in messages] == [
        "messageStart", "contentBlockDelta", "contentBlockStop", "messageStop", "metadata"]
    for message in messages:
        assert message.headers[":message-type"] == "event"
        assert message.headers[":content-type"] == "application/json"
    assert b'"p":"' in messages[0].payload  # Bedrock's length-hiding padding field


@pytest.mark.parametrize(
    ("status", "code"),
    [
        (429, "ThrottlingException"),
        (400, "ValidationException"),
        (403, "AccessDeniedException"),
        (404, "ResourceNotFoundException"),
        (408, "ModelTimeoutException"),
        (503, "ServiceUnavailableException"),
        (500, "InternalServerException"),
    ],
)
def test_http_errors_map_to_modelled_exceptions(bedrock_upstream: BedrockUpstream, status: int, code: str) -> None:
    bedrock_upstream.enqueue(Fault.http(status), Fault.http(status))
    sdk = client(bedrock_upstream)
    modelled = getattr(sdk.exceptions, code)
    with pytest.raises(modelled) as caught:
        sdk.converse(modelId=MODEL, messages=MESSAGES)
    error = caught.value.response
    assert error["Error"]["Code"] == code and error["ResponseMetadata"]["HTTPStatusCode"] == status
    assert error["Error"]["Message"]
    with pytest.raises(modelled):
        sdk.converse_stream(modelId=MODEL, messages=MESSAGES)


@pytest.mark.parametrize("name", ["throttlingException", "serviceUnavailableException", "modelStreamErrorException",
                                  "internalServerException", "validationException"])
def test_exception_events_mid_stream(bedrock_upstream: BedrockUpstream, name: str) -> None:
    bedrock_upstream.enqueue(Fault.stream_error(2, error_type=name, message="stream broke"))
    received = []
    with pytest.raises(botocore.exceptions.EventStreamError) as caught:
        for event in client(bedrock_upstream).converse_stream(modelId=MODEL, messages=MESSAGES)["stream"]:
            received.append(next(iter(event)))
    assert received == ["messageStart", "contentBlockDelta"]
    assert caught.value.response["Error"] == {"Code": name, "Message": "stream broke"}


def test_stream_error_on_a_non_stream_request_is_the_http_error(bedrock_upstream: BedrockUpstream) -> None:
    bedrock_upstream.enqueue(Fault.stream_error(error_type="throttlingException"))
    sdk = client(bedrock_upstream)
    with pytest.raises(sdk.exceptions.ThrottlingException):
        sdk.converse(modelId=MODEL, messages=MESSAGES)


def test_reset_truncate_and_malformed_streams(bedrock_upstream: BedrockUpstream) -> None:
    bedrock_upstream.enqueue(Fault.reset(2), Fault.disconnect(2))
    with pytest.raises(urllib3.exceptions.ProtocolError, match="reset"):  # botocore does not wrap it
        stream_events(bedrock_upstream)
    with pytest.raises(urllib3.exceptions.ProtocolError, match="ended prematurely"):
        stream_events(bedrock_upstream)
    bedrock_upstream.enqueue(Fault.truncate(3))
    assert [next(iter(e)) for e in stream_events(bedrock_upstream)] == [
        "messageStart", "contentBlockDelta", "contentBlockStop"]
    bedrock_upstream.enqueue(Fault.malformed_json(after_events=1))
    events = stream_events(bedrock_upstream)
    assert events == [{"messageStart": {"role": "assistant"}}, {"contentBlockDelta": {}}]  # botocore drops bad JSON


def test_connection_faults(bedrock_upstream: BedrockUpstream, closed_port: int) -> None:
    bedrock_upstream.enqueue(Fault.disconnect())
    with pytest.raises(botocore.exceptions.ConnectionClosedError):
        client(bedrock_upstream).converse(modelId=MODEL, messages=MESSAGES)
    dead = _SESSION.client("bedrock-runtime", endpoint_url=f"http://127.0.0.1:{closed_port}",
                           config=Config(retries={"total_max_attempts": 1}))
    with pytest.raises(botocore.exceptions.EndpointConnectionError):
        dead.converse(modelId=MODEL, messages=MESSAGES)


def test_stalls_are_bounded(bedrock_upstream: BedrockUpstream) -> None:
    bedrock_upstream.enqueue(Fault.stall(30), Fault.stall(30, after_events=2))
    started = time.monotonic()
    with pytest.raises(botocore.exceptions.ReadTimeoutError):
        client(bedrock_upstream, read=0.25).converse(modelId=MODEL, messages=MESSAGES)
    with pytest.raises(urllib3.exceptions.ReadTimeoutError):  # raw urllib3 while iterating the stream
        stream_events(bedrock_upstream, read=0.25)
    assert time.monotonic() - started < 10  # the read timeout, not the 30 s stall


def test_rejects_a_body_without_messages(bedrock_upstream: BedrockUpstream) -> None:
    response = httpx2.post(f"{bedrock_upstream.base_url}/model/m/converse", json={})
    assert response.status_code == 400
    assert response.headers["x-amzn-errortype"].startswith("ValidationException:")
