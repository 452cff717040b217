"""OpenAI client → OpenAI-compatible upstream, streamed through the served app: relay and event path agree.

The gateway is built from a configuration as a deployment builds it and served on loopback. Its
response cache is on (``mode: use``, sampling requests included), which gives the same request both
paths through the same app: with ``x-aimux-cache: off`` nothing taps the stream, so the adapter relays
plain text chunks (``providers/openai_relay.py``); without it the cache misses and folds the stream into
the answer it keeps, which needs every event, so the gateway takes the relay away and the stream goes
the event path. The client must see the same bytes (``created``, which is the second the request
came, and the upstream's completion id masked), the same ``x-aimux-*`` headers but the cache's own
(status, reason, dedup), and the request's record the same usage, cost and outcome. The official
``openai`` SDK reads both the same, and a client that hangs up mid-relay ends the request and its record.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Iterator
from typing import Any

import httpx
import openai
import pytest

from fakes import Fault, OpenAIUpstream, Reply, ToolCall, Usage
from support.config_gateway import ServedConfig, serve_config

BOUND_S = 20.0
WORDS = [f"part{i} " for i in range(20)]
BASH = {"type": "function", "function": {"name": "Bash", "parameters": {
    "type": "object", "properties": {"command": {"type": "string"}}}}}  # fmt: skip


@pytest.fixture
def fake() -> Iterator[OpenAIUpstream]:
    with OpenAIUpstream() as upstream:
        yield upstream


@pytest.fixture
def served(fake: OpenAIUpstream) -> Iterator[ServedConfig]:
    document = {
        "providers": {"openai": {"preset": "openai", "base_url": fake.base_url}},
        "models": {"gpt-4o-mini": {"provider": "openai", "price": {"input": 0.15, "output": 0.6}}},
        "routes": {"default": ["gpt-4o-mini"]},
        "response_cache": {"mode": "use", "sampling": True},
    }
    with serve_config(document, {"OPENAI_API_KEY": "sk-upstream"}) as gateway:
        yield gateway


def _body(**extra: Any) -> dict[str, Any]:
    return {"model": "gpt-4o-mini", "stream": True, "messages": [{"role": "user", "content": "hi"}], **extra}


def _post(served: ServedConfig, body: dict[str, Any], relay: bool) -> tuple[int, dict[str, str], bytes]:
    headers = {"authorization": "Bearer sk-client", **({"x-aimux-cache": "off"} if relay else {})}
    with httpx.Client(timeout=BOUND_S) as client:
        response = client.post(served.url + "/v1/chat/completions", json=body, headers=headers)
    return response.status_code, dict(response.headers), response.content


def _masked(wire: bytes) -> bytes:
    wire = re.sub(rb'"id":"chatcmpl-[A-Za-z0-9_-]+"', b'"id":"chatcmpl-"', wire)
    return re.sub(rb'"created":\d+', b'"created":0', wire)


def _aimux_headers(headers: dict[str, str]) -> dict[str, str]:
    """The ``x-aimux-*`` headers but the response cache's own (its status, reason and dedup role)."""
    cache_own = ("x-aimux-cache", "x-aimux-dedup")
    return {k: v for k, v in headers.items() if k.startswith("x-aimux-") and not k.startswith(cache_own)}


def _records(out: str) -> list[dict[str, Any]]:
    return [json.loads(line) for line in out.splitlines() if '"message":"request"' in line]


def _wait_for_records(capsys: Any, count: int, within: float = BOUND_S) -> list[dict[str, Any]]:
    """The request records the log has published, once there are ``count`` (or after ``within`` seconds)."""
    deadline = time.monotonic() + within
    out = ""
    while len(_records(out)) < count and time.monotonic() < deadline:
        time.sleep(0.02)
        out += capsys.readouterr().out
    return _records(out)


def _both(
    served: ServedConfig, fake: OpenAIUpstream, reply: Reply | Fault, body: dict[str, Any], capsys: Any
) -> tuple[tuple[int, dict[str, str], bytes], tuple[int, dict[str, str], bytes], list[dict[str, Any]]]:
    """The relayed request, then the event path's, each with a fresh copy of ``reply``; their records."""
    capsys.readouterr()
    fake.enqueue(reply)
    relayed = _post(served, body, relay=True)
    fake.enqueue(reply)
    slow = _post(served, body, relay=False)
    return relayed, slow, _wait_for_records(capsys, 2)


FIELDS = ("status", "stream", "error_kind", "input_tokens", "output_tokens", "cost_usd", "provider", "model")


@pytest.mark.parametrize("usage", [True, False], ids=["include_usage", "no_usage_asked"])
def test_relay_and_event_path_give_the_same_bytes_headers_and_record(
    served: ServedConfig, fake: OpenAIUpstream, capsys: pytest.CaptureFixture[str], usage: bool
) -> None:
    reply = Reply(text=WORDS, chunk_delay=0.002, usage=Usage(input_tokens=40, output_tokens=20))
    body = _body(stream_options={"include_usage": True}) if usage else _body()
    (status, headers, wire), (status_slow, headers_slow, wire_slow), records = _both(served, fake, reply, body, capsys)
    assert status == status_slow == 200
    assert headers_slow.get("x-aimux-cache") == "miss", "the event path's request is the one the cache taps"
    assert _masked(wire) == _masked(wire_slow)
    assert wire.endswith(b"data: [DONE]\n\n")
    assert ("prompt_tokens" in wire.decode()) is usage
    assert _aimux_headers(headers) == _aimux_headers(headers_slow)
    assert len(records) == 2
    relayed_record, slow_record = ({k: r.get(k) for k in FIELDS} for r in records)
    assert relayed_record == slow_record
    assert relayed_record["input_tokens"] == 40 and relayed_record["output_tokens"] == 20


def test_an_error_mid_stream_ends_both_paths_alike(
    served: ServedConfig, fake: OpenAIUpstream, capsys: pytest.CaptureFixture[str]
) -> None:
    fault = Fault.stream_error(after_events=8, error_type="server_error", message="busy", reply=Reply(text=WORDS))
    (status, _, wire), (status_slow, _, wire_slow), records = _both(served, fake, fault, _body(), capsys)
    assert status == status_slow == 200
    assert _masked(wire) == _masked(wire_slow)
    assert b'data: {"error":' in wire and not wire.endswith(b"data: [DONE]\n\n")
    assert [r["error_kind"] for r in records] == [records[0]["error_kind"]] * 2 and records[0]["error_kind"]


def test_the_openai_sdk_reads_both_paths_the_same(served: ServedConfig, fake: OpenAIUpstream) -> None:
    """Text, then two tool calls whose arguments stream in fragments, with usage asked for."""
    reply = Reply(
        text=WORDS[:8],
        tool_calls=[
            ToolCall("Bash", {"command": "ls -la"}, id="call_a"),
            ToolCall("Bash", {"command": "pwd"}, id="call_b"),
        ],
        chunk_size=3,
        usage=Usage(input_tokens=30, output_tokens=12),
    )
    client = openai.OpenAI(base_url=served.url + "/v1", api_key="sk-client", max_retries=0, timeout=BOUND_S)
    finals = []
    for relay in (True, False):
        fake.enqueue(reply)
        headers = {"x-aimux-cache": "off"} if relay else {}
        with client.chat.completions.stream(
            model="gpt-4o-mini",
            messages=[{"role": "user", "content": "list files"}],
            tools=[BASH],  # type: ignore[list-item]
            stream_options={"include_usage": True},
            extra_headers=headers,
        ) as events:
            finals.append(events.get_final_completion())
    relayed, slow = finals
    assert relayed.choices[0].message.content == "".join(WORDS[:8])
    calls = relayed.choices[0].message.tool_calls or []
    assert [(c.id, c.function.name, json.loads(c.function.arguments)) for c in calls] == [
        ("call_a", "Bash", {"command": "ls -la"}), ("call_b", "Bash", {"command": "pwd"}),
    ]  # fmt: skip
    assert relayed.usage is not None and relayed.usage.prompt_tokens == 30 and relayed.usage.completion_tokens == 12
    assert relayed.model_dump(exclude={"id", "created"}) == slow.model_dump(exclude={"id", "created"})


def test_a_client_that_hangs_up_mid_relay_ends_the_request_and_its_record(
    served: ServedConfig, fake: OpenAIUpstream, capsys: pytest.CaptureFixture[str]
) -> None:
    """The upstream was going to write for ~20 s more: the request is cancelled through to the upstream
    call and its record published within seconds."""
    fake.enqueue(Reply(text=[f"w{i} " for i in range(100)], chunk_delay=0.2))
    capsys.readouterr()
    headers = {"authorization": "Bearer sk-client", "x-aimux-cache": "off"}
    received = b""
    with (
        httpx.Client(timeout=BOUND_S) as client,
        client.stream("POST", served.url + "/v1/chat/completions", json=_body(), headers=headers) as response,
    ):
        for piece in response.iter_raw():
            received += piece
            if received.count(b'"content":"w') >= 3:  # the third piece is a relayed one
                break
    assert received.count(b'"content":"w') >= 3, "the stream ended before its third piece"
    records = _wait_for_records(capsys, 1, within=10.0)
    assert len(records) == 1, "the abandoned stream's record comes while the upstream still had ~20 s to go"
    assert records[0]["stream"] is True and records[0]["status"] == 200


def test_a_failure_before_the_first_content_still_fails_over(fake: OpenAIUpstream) -> None:
    """The relay starts after the first content: an upstream that breaks before it (an error chunk after
    its role chunk) is left for the route's next target, whose answer the client gets, relayed."""
    with OpenAIUpstream() as backup:
        document = {
            "providers": {"primary": {"preset": "openai", "base_url": fake.base_url},
                          "backup": {"preset": "openai", "base_url": backup.base_url}},
            "models": {"gpt-a": {"provider": "primary", "upstream_model": "gpt-4o-mini"},
                       "gpt-b": {"provider": "backup", "upstream_model": "gpt-4o-mini"}},
            "routes": {"default": ["gpt-a", "gpt-b"]},
        }  # fmt: skip
        fake.enqueue(Fault.stream_error(after_events=1, error_type="server_error", message="busy"))
        backup.enqueue(Reply(text=WORDS, chunk_delay=0.002))
        with serve_config(document, {"OPENAI_API_KEY": "sk-upstream"}) as served:
            status, headers, wire = _post(served, _body(model="gpt-a"), relay=True)
    assert status == 200
    assert headers["x-aimux-provider"] == "backup" and headers["x-aimux-attempts"] == "2"
    text = "".join(
        json.loads(line[6:])["choices"][0]["delta"].get("content") or ""
        for line in wire.decode().split("\n\n")
        if line.startswith("data: {") and json.loads(line[6:])["choices"]
    )
    assert text == "".join(WORDS) and wire.endswith(b"data: [DONE]\n\n")
