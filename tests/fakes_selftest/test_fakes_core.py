"""The machinery under the fakes: the loopback HTTP server (keep-alive, chunked bodies, bounded
shutdown, refusal), the event-stream encoder, and the script model's guard rails."""

from __future__ import annotations

import socket
import threading
import time
from typing import Any

import httpx2
import pytest
from botocore.eventstream import ChecksumMismatch, EventStreamBuffer

from fakes import AnthropicUpstream, BedrockUpstream, Fault, OpenAIUpstream, Quirk, Reply, ToolCall, closed_port
from fakes.eventstream import encode_message

ANTHROPIC_HEADERS = {"x-api-key": "x", "anthropic-version": "2023-06-01"}
BODY: dict[str, Any] = {"model": "m", "max_tokens": 8, "messages": [{"role": "user", "content": "hi"}]}


def test_keep_alive_reuses_one_connection_and_chunked_requests_are_read(
    anthropic_upstream: AnthropicUpstream,
) -> None:
    with httpx2.Client(base_url=anthropic_upstream.base_url, headers=ANTHROPIC_HEADERS) as http:
        for _ in range(3):
            assert http.post("/v1/messages", json=BODY).status_code == 200
        streamed = http.post("/v1/messages", json={**BODY, "stream": True})
        assert streamed.headers["transfer-encoding"] == "chunked"
        chunked = http.post("/v1/messages", content=iter([b'{"model":"m","max_tokens":8,', b'"messages":[]}']),
                            headers={"content-type": "application/json"})
        assert chunked.status_code == 200
    assert len({r.peer for r in anthropic_upstream.requests}) == 1
    assert anthropic_upstream.last_request.json == {"model": "m", "max_tokens": 8, "messages": []}
    assert anthropic_upstream.last_request.headers["transfer-encoding"] == "chunked"


def test_stop_is_bounded_with_a_stalled_connection_open() -> None:
    fake = AnthropicUpstream().start()
    fake.enqueue(Fault.stall(60))
    with socket.create_connection(("127.0.0.1", fake.port), timeout=5) as sock:
        body = b'{"model":"m","max_tokens":8,"messages":[]}'
        head = (f"POST /v1/messages HTTP/1.1\r\nhost: x\r\nx-api-key: x\r\nanthropic-version: 1\r\n"
                f"content-type: application/json\r\ncontent-length: {len(body)}\r\n\r\n")
        sock.sendall(head.encode() + body)
        time.sleep(0.1)
        started = time.monotonic()
        fake.stop()
        assert time.monotonic() - started < 10  # stop() dropped the 60 s stall
        assert sock.recv(100) == b""  # the stalled connection was dropped, not answered
    fake.raise_for_errors()


def test_requests_are_served_concurrently(openai_upstream: OpenAIUpstream) -> None:
    openai_upstream.enqueue(Fault.stall(0.6, reply=Reply(text="slow")), Reply(text="fast"))
    url = f"{openai_upstream.base_url}/chat/completions"
    body = {"model": "m", "messages": []}
    results: dict[str, float] = {}

    def call() -> None:
        answer = httpx2.post(url, json=body, timeout=5).json()["choices"][0]["message"]["content"]
        results[answer] = time.monotonic()

    slow = threading.Thread(target=call)
    slow.start()
    time.sleep(0.15)
    call()
    slow.join(timeout=5)
    assert results["fast"] < results["slow"]


def test_closed_port_refuses_connections() -> None:
    with closed_port() as port, pytest.raises(ConnectionRefusedError):
        socket.create_connection(("127.0.0.1", port), timeout=2)


def test_chunk_delay_paces_the_stream(anthropic_upstream: AnthropicUpstream) -> None:
    anthropic_upstream.enqueue(Reply(text=["a", "b", "c"], chunk_delay=0.05))
    started = time.monotonic()
    response = httpx2.post(f"{anthropic_upstream.base_url}/v1/messages", json={**BODY, "stream": True},
                           headers=ANTHROPIC_HEADERS)
    assert response.status_code == 200 and time.monotonic() - started >= 0.05 * 8  # 9 events, 8 gaps


def test_reply_and_fault_headers_and_verbatim_bodies(anthropic_upstream: AnthropicUpstream) -> None:
    anthropic_upstream.enqueue(
        Reply(headers={"anthropic-ratelimit-requests-remaining": "9"}),
        Fault.http(503, headers={"x-should-retry": "false"}, body={"weird": True}),
    )
    url = f"{anthropic_upstream.base_url}/v1/messages"
    ok = httpx2.post(url, json=BODY, headers=ANTHROPIC_HEADERS)
    assert ok.headers["anthropic-ratelimit-requests-remaining"] == "9"
    failed = httpx2.post(url, json=BODY, headers=ANTHROPIC_HEADERS)
    assert failed.status_code == 503 and failed.headers["x-should-retry"] == "false"
    assert failed.json() == {"weird": True}


def test_event_stream_encoder_round_trips_through_botocore() -> None:
    headers = {":event-type": "chunk", "flag": True, "off": False, "n": -7, "blob": b"\x00\x01"}
    data = encode_message(headers, b'{"a":1}')
    buffer = EventStreamBuffer()
    buffer.add_data(data + encode_message({":event-type": "second"}, b""))
    first, second = list(buffer)
    assert first.headers == headers and first.payload == b'{"a":1}' and second.payload == b""
    broken = EventStreamBuffer()
    broken.add_data(encode_message({":event-type": "x"}, b"{}", corrupt_crc=True))
    with pytest.raises(ChecksumMismatch):
        list(broken)


def test_script_guard_rails() -> None:
    with pytest.raises(ValueError, match="stall"):
        Fault.stall(-1)
    with pytest.raises(ValueError, match="chunk_size"):
        Reply(chunk_size=0)
    with pytest.raises(ValueError, match="quirk"):
        BedrockUpstream().enqueue(Reply(quirks=frozenset({Quirk.CRLF})))
    with pytest.raises(ValueError, match="quirk"):
        AnthropicUpstream().enqueue(Fault.truncate(reply=Reply(quirks=frozenset({Quirk.TOOL_CALL_NO_INDEX}))))
    assert ToolCall("f", {"b": [1, "é"]}).arguments_text == '{"b":[1,"é"]}'
    assert ToolCall("f", "").arguments_object == {}
    assert ToolCall("f", fragments=["{", '"x":', "1}"]).argument_pieces(1) == ["{", '"x":', "1}"]
    assert Reply(text=["ab", "c"], chunk_size=1).text_pieces() == ["ab", "c"]
    assert Reply(text="abcde", chunk_size=2).text_pieces() == ["ab", "cd", "e"]


def test_a_crash_inside_the_fake_is_reported() -> None:
    with AnthropicUpstream() as fake:
        fake.enqueue(Reply(tool_calls=[ToolCall("f", "not json")]))  # needs an object when not streamed
        response = httpx2.post(f"{fake.base_url}/v1/messages", json=BODY, headers=ANTHROPIC_HEADERS)
        assert response.status_code == 500
        with pytest.raises(AssertionError, match="crashed"):
            fake.raise_for_errors()


# --------------------------------------------------------------------------- reshape and credential echo


def _retyped(payload: Any) -> Any:
    """Anthropic: every event's (or block's) ``type`` turned into an object."""
    if isinstance(payload, dict) and payload.get("type") == "content_block_start":
        return {**payload, "content_block": {**payload["content_block"], "type": {"oops": 1}}}
    if isinstance(payload, dict) and payload.get("type") == "message":
        return {**payload, "content": [{"type": {"oops": 1}}]}
    return payload


def test_reshape_rewrites_json_bodies_and_sse_events(anthropic_upstream: AnthropicUpstream) -> None:
    anthropic_upstream.enqueue(Fault.reshape(_retyped), Fault.reshape(_retyped))
    with httpx2.Client(base_url=anthropic_upstream.base_url, headers=ANTHROPIC_HEADERS) as http:
        whole = http.post("/v1/messages", json=BODY)
        streamed = http.post("/v1/messages", json={**BODY, "stream": True})
    assert whole.status_code == 200 and whole.json()["content"] == [{"type": {"oops": 1}}]
    starts = [line for line in streamed.text.splitlines() if '"content_block_start"' in line]
    assert starts and all('"type":{"oops":1}' in line for line in starts)
    assert "event: message_stop" in streamed.text  # everything else is sent as usual


def test_reshape_rewrites_bedrock_events() -> None:
    import boto3
    from botocore.config import Config

    def untyped_delta(event: Any) -> Any:
        return {"contentBlockDelta": {"contentBlockIndex": 0}} if "contentBlockDelta" in event else event

    with BedrockUpstream() as fake:
        fake.enqueue(Fault.reshape(untyped_delta))
        client = boto3.session.Session(aws_access_key_id="x", aws_secret_access_key="y").client(
            "bedrock-runtime", region_name="us-east-1", endpoint_url=fake.base_url,
            config=Config(retries={"total_max_attempts": 1}))
        events = list(client.converse_stream(modelId="m", messages=[{"role": "user", "content": [{"text": "hi"}]}])
                      ["stream"])
    deltas = [e["contentBlockDelta"] for e in events if "contentBlockDelta" in e]
    assert deltas and all(d == {"contentBlockIndex": 0} for d in deltas)
    assert "metadata" in events[-1]


def test_credential_placeholder_echoes_what_the_request_carried(openai_upstream: OpenAIUpstream) -> None:
    openai_upstream.enqueue(
        Fault.http(401, message="Invalid key {credential}", headers={"x-echo": "{credential}"}),
        Reply(text="ok", headers={"x-echo": "key={credential}"}),
    )
    url = f"{openai_upstream.base_url}/chat/completions"
    with httpx2.Client() as http:
        refused = http.post(url, json={"model": "m", "messages": []}, headers={"authorization": "Bearer planted-1"})
        served = http.post(url, json={"model": "m", "messages": []}, headers={"authorization": "Bearer planted-2"})
    assert refused.json()["error"]["message"] == "Invalid key planted-1" and refused.headers["x-echo"] == "planted-1"
    assert served.headers["x-echo"] == "key=planted-2"
