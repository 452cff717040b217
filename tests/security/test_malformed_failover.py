"""A provider answering something that breaks its API's schema, seen by a client through the whole gateway.

The gateway is what ``assembly.build_gateway`` builds for a deployment (real adapters, breaker guard on a
``MemoryStore``), served on loopback and called with the official SDKs. A fake of each dialect answers with
valid JSON of the wrong shape (``Fault.reshape``); a second, healthy OpenAI-compatible fake stands behind it.

- with the healthy target behind it, the client gets the healthy answer (``x-aimux-attempts: 2``) and the
  broken provider's breaker counted a failure (``failure_threshold: 1`` opens it at once);
- alone, the client gets a 502 in its own dialect naming the upstream fault, never "internal error";
- after the answer began, the stream ends with an error event naming the upstream fault.

The adapters' side (every shape, each dialect) is ``tests/providers/test_malformed_answers.py``.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import anthropic
import openai
import pytest

from aimux_core.assembly import build_gateway, local_app
from aimux_core.config.schema import AimuxConfig
from aimux_core.gateway import Gateway
from aimux_core.state import MemoryStore
from fakes import AnthropicUpstream, BedrockUpstream, Fault, OpenAIUpstream, Reply
from support.gateway_builder import AWS_ENV, AWS_UNSET
from support.server import serve

Edit = Callable[[Any], Any]
BROKEN_PRESETS = {"anthropic": "anthropic", "openai": "openai", "bedrock": "bedrock"}
ENV = {"BROKEN_KEY": "broken-upstream-key-0001", "HEALTHY_KEY": "healthy-upstream-key-0001"}
HEALTHY_TEXT = "Healthy answer."
PROMPT = [{"role": "user", "content": "hi"}]


def _anthropic_block_type(payload: Any) -> Any:
    if isinstance(payload, dict) and payload.get("type") == "message":
        return {**payload, "content": [{"type": {"x": 1}, "text": "a"}]}
    if isinstance(payload, dict) and payload.get("type") == "content_block_start":
        return {**payload, "content_block": {**payload["content_block"], "type": {"x": 1}}}
    return payload


def _openai_choices(payload: Any) -> Any:
    if isinstance(payload, dict) and payload.get("choices"):
        return {**payload, "choices": {"0": payload["choices"][0]}}
    return payload


def _bedrock_usage_or_delta(payload: Any) -> Any:
    if "output" in payload:  # a whole Converse response
        return {**payload, "usage": "lots"}
    if "contentBlockDelta" in payload:
        return {"contentBlockDelta": {**payload["contentBlockDelta"], "delta": "hello"}}
    return payload


EDITS: dict[str, Edit] = {"anthropic": _anthropic_block_type, "openai": _openai_choices,
                          "bedrock": _bedrock_usage_or_delta}


@dataclass
class Fakes:
    anthropic: AnthropicUpstream
    openai: OpenAIUpstream
    bedrock: BedrockUpstream
    healthy: OpenAIUpstream

    def broken(self, dialect: str) -> Any:
        return getattr(self, dialect)


@pytest.fixture(scope="module")
def fakes() -> Iterator[Fakes]:
    started = Fakes(AnthropicUpstream(), OpenAIUpstream(), BedrockUpstream(),
                    OpenAIUpstream(default=Reply(text=HEALTHY_TEXT)))
    for fake in (started.anthropic, started.openai, started.bedrock, started.healthy):
        fake.start()
    try:
        yield started
    finally:
        for fake in (started.anthropic, started.openai, started.bedrock, started.healthy):
            fake.stop()


@pytest.fixture(autouse=True)
def environment(monkeypatch: pytest.MonkeyPatch, fakes: Fakes) -> None:
    for name in AWS_UNSET:
        monkeypatch.delenv(name, raising=False)
    for name, value in {**ENV, **AWS_ENV}.items():
        monkeypatch.setenv(name, value)
    for fake in (fakes.anthropic, fakes.openai, fakes.bedrock, fakes.healthy):
        fake.queue.clear()


@dataclass
class Served:
    url: str
    gateway: Gateway
    store: MemoryStore

    def breaker_state(self, provider: str, *, expect: str | None = None) -> str | None:
        """The breaker's state; with ``expect``, waits (bounded) for the background write that sets it."""
        deadline = time.monotonic() + 10
        while True:
            item = asyncio.run(self.store.get(f"breaker#{provider}", "state"))
            state = None if item is None or "state" not in item else str(item["state"])  # counted, not yet opened
            if expect is None or state == expect or time.monotonic() > deadline:
                return state
            time.sleep(0.02)


def deployment(fakes: Fakes, broken: str, *, with_healthy: bool) -> Iterator[Served]:
    where = ({"endpoint_url": fakes.bedrock.base_url, "region": "us-east-1"} if broken == "bedrock"
             else {"base_url": fakes.broken(broken).base_url, "api_key_env": "BROKEN_KEY"})
    data: dict[str, Any] = {
        "providers": {
            "broken": {"preset": BROKEN_PRESETS[broken], **where},
            "healthy": {"preset": "openai", "base_url": fakes.healthy.base_url, "api_key_env": "HEALTHY_KEY"},
        },
        "models": {
            "m-broken": {"provider": "broken", "context_window": 200_000, "max_output": 4096},
            "m-healthy": {"provider": "healthy", "context_window": 200_000, "max_output": 4096},
        },
        "routes": {"default": ["m-healthy"] if with_healthy else ["m-broken"]},
        "session_pinning": False,
        "retry": {"max_attempts": 2, "backoff_base": 0.01, "backoff_max": 0.02},
        "breaker": {"failure_threshold": 1, "cooldown": 60},
    }
    store = MemoryStore()
    gateway = build_gateway(AimuxConfig.model_validate(data), store=store)
    with serve(local_app(gateway)) as url:
        yield Served(url, gateway, store)


def ask(url: str, client_dialect: str, stream: bool) -> tuple[str, dict[str, str]]:
    """The answer's text and headers, through the official SDK of ``client_dialect``."""
    if client_dialect == "anthropic":
        client = anthropic.Anthropic(base_url=url, api_key="unused", max_retries=0, timeout=20)
        if stream:
            with client.messages.stream(model="m-broken", max_tokens=64, messages=PROMPT) as events:  # type: ignore[arg-type]
                text = events.get_final_text()
                return text, dict(events.response.headers)
        raw = client.messages.with_raw_response.create(model="m-broken", max_tokens=64, messages=PROMPT)  # type: ignore[arg-type]
        return "".join(b.text for b in raw.parse().content if b.type == "text"), dict(raw.headers)
    chat = openai.OpenAI(base_url=f"{url}/v1", api_key="unused", max_retries=0, timeout=20)
    if stream:
        with chat.chat.completions.with_streaming_response.create(
            model="m-broken", messages=PROMPT, stream=True  # type: ignore[arg-type]
        ) as response:
            parts = [c.choices[0].delta.content or "" for c in response.parse() if c.choices]
            return "".join(parts), dict(response.headers)
    raw_chat = chat.chat.completions.with_raw_response.create(model="m-broken", messages=PROMPT)  # type: ignore[arg-type]
    return raw_chat.parse().choices[0].message.content or "", dict(raw_chat.headers)


@pytest.mark.parametrize("stream", [False, True], ids=["whole", "stream"])
@pytest.mark.parametrize("client_dialect", ["anthropic", "openai"])
@pytest.mark.parametrize("broken", ["anthropic", "openai", "bedrock"])
def test_a_healthy_target_serves_and_the_broken_one_counts_a_failure(
    fakes: Fakes, broken: str, client_dialect: str, stream: bool
) -> None:
    for served in deployment(fakes, broken, with_healthy=True):
        fakes.broken(broken).enqueue(Fault.reshape(EDITS[broken]))
        text, headers = ask(served.url, client_dialect, stream)
        assert text == HEALTHY_TEXT
        assert (headers["x-aimux-provider"], headers["x-aimux-attempts"]) == ("healthy", "2")
        assert served.breaker_state("broken", expect="open") == "open"  # threshold 1: the failure counted
        assert served.breaker_state("healthy") in (None, "closed")


@pytest.mark.parametrize("stream", [False, True], ids=["whole", "stream"])
@pytest.mark.parametrize("client_dialect", ["anthropic", "openai"])
@pytest.mark.parametrize("broken", ["anthropic", "openai", "bedrock"])
def test_alone_the_broken_target_is_a_502_naming_the_upstream_fault(
    fakes: Fakes, broken: str, client_dialect: str, stream: bool
) -> None:
    for served in deployment(fakes, broken, with_healthy=False):
        fakes.broken(broken).enqueue(Fault.reshape(EDITS[broken]), Fault.reshape(EDITS[broken]))
        error_type = anthropic.APIStatusError if client_dialect == "anthropic" else openai.APIStatusError
        with pytest.raises(error_type) as raised:
            ask(served.url, client_dialect, stream)
        error = raised.value
        assert error.status_code == 502, error.body
        body: Any = error.body
        if client_dialect == "anthropic":
            assert body["type"] == "error" and body["error"]["type"] == "api_error"
            message = body["error"]["message"]
        else:
            assert body["type"] == "server_error"
            message = body["message"]
        assert message.startswith("upstream broken "), message
        assert "internal error" not in message


def test_a_stream_that_breaks_after_its_answer_began_ends_with_the_upstream_fault(fakes: Fakes) -> None:
    """No target can take over once text reached the client: the error event names the fault."""

    def broken_late(payload: Any) -> Any:  # the third text delta's type is a list
        if isinstance(payload, dict) and payload.get("type") == "content_block_delta":
            broken_late.seen += 1  # type: ignore[attr-defined]
            if broken_late.seen == 3:  # type: ignore[attr-defined]
                return {**payload, "delta": {"type": [], "text": "x"}}
        return payload

    broken_late.seen = 0  # type: ignore[attr-defined]
    for served in deployment(fakes, "anthropic", with_healthy=True):
        fakes.anthropic.enqueue(Fault.reshape(broken_late, reply=Reply(text="one two three four five", chunk_size=4)))
        client = anthropic.Anthropic(base_url=served.url, api_key="unused", max_retries=0, timeout=20)
        received: list[str] = []
        with (
            pytest.raises(anthropic.APIStatusError) as raised,
            client.messages.stream(model="m-broken", max_tokens=64, messages=PROMPT) as events,  # type: ignore[arg-type]
        ):
            for text in events.text_stream:
                received.append(text)
        assert "".join(received) == "one two "
        body: Any = raised.value.body
        assert body["error"]["type"] == "api_error", body
        assert body["error"]["message"].startswith("upstream broken "), body
        assert served.breaker_state("broken", expect="open") == "open"
