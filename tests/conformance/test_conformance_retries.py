"""aimux's own retries, seen from the client's wire (gateway with ``max_attempts=3``).

The dispatcher may call an upstream again only while nothing has reached the client. These cells
check the client-visible half of that contract through the real adapters and SDKs:

- a failure before the first byte (HTTP 529/503) is retried and leaves no trace: the client gets
  one clean answer (one ``message_start`` / one chunk sequence) and ``x-aimux-attempts: 2``;
  which target the retry lands on is the router's business (the catalog's other models are
  fallbacks), so every fake answers the same and only the client's view is checked;
- a stream that breaks after its first event but before any content is retried the same way;
- a stream that breaks after content went out is never replayed: one upstream call, and the
  client sees the error in-stream.
"""

from __future__ import annotations

from typing import Any

import anthropic
import openai
import pytest

from fakes import Fault, Reply, Usage
from support.client_answers import expected_answer
from support.gateway_builder import UPSTREAMS
from support.sdk_calls import call_anthropic, call_openai
from support.stream_checks import check_anthropic_sse, check_openai_sse
from support.wire_tap import WireTap

DIALECTS = ("anthropic", "openai", "bedrock")
REPLY = Reply(text=["Second ", "time ", "lucky."], usage=Usage(input_tokens=12, output_tokens=6))
LONG_REPLY = Reply(text="0123456789abcdefghijklmnopqrstuvwxyz", chunk_size=3)


def _sent(fake: Any) -> list[Any]:
    return fake.message_requests if hasattr(fake, "message_requests") else list(fake.requests)


def _everyone_answers(aimux: Any, reply: Reply) -> int:
    """Make every fake answer ``reply`` by default; returns how many requests they saw so far."""
    for fake in aimux.fakes.all():
        fake.default = reply
    return _total(aimux)


def _total(aimux: Any) -> int:
    return sum(len(_sent(fake)) for fake in aimux.fakes.all())


def _ask(client_dialect: str, request: pytest.FixtureRequest, tap: WireTap, model: str, stream: bool) -> Any:
    messages = [{"role": "user", "content": "Hello?"}]
    if client_dialect == "anthropic":
        client: anthropic.Anthropic = request.getfixturevalue("anthropic_client")
        return call_anthropic(client, tap, {"model": model, "max_tokens": 128, "messages": messages}, stream=stream)
    oclient: openai.OpenAI = request.getfixturevalue("openai_client")
    return call_openai(oclient, tap, {"model": model, "messages": messages}, stream=stream)


@pytest.mark.parametrize("mode", ["non-stream", "stream"])
@pytest.mark.parametrize("upstream", DIALECTS)
@pytest.mark.parametrize("client_dialect", ["anthropic", "openai"])
def test_failure_before_first_byte_is_retried_invisibly(client_dialect: str, upstream: str, mode: str, aimux: Any,
                                                        tap: WireTap, request: pytest.FixtureRequest) -> None:
    aimux.require(upstream)
    aimux.use(max_attempts=3)
    _everyone_answers(aimux, REPLY)
    aimux.fakes.of(upstream).enqueue(Fault.http(529 if upstream == "anthropic" else 503))
    answer = _ask(client_dialect, request, tap, UPSTREAMS[upstream].model, mode == "stream")
    assert answer == expected_answer(REPLY, client_dialect)
    assert _total(aimux) == 2
    assert tap.last.headers.get("x-aimux-attempts") == "2"


@pytest.mark.parametrize("upstream", DIALECTS)
@pytest.mark.parametrize("client_dialect", ["anthropic", "openai"])
def test_stream_broken_before_content_is_retried_invisibly(client_dialect: str, upstream: str, aimux: Any,
                                                           tap: WireTap, request: pytest.FixtureRequest) -> None:
    aimux.require(upstream)
    aimux.use(max_attempts=3)
    _everyone_answers(aimux, REPLY)
    aimux.fakes.of(upstream).enqueue(Fault.reset(after_events=1))  # only message_start / the role chunk got out
    answer = _ask(client_dialect, request, tap, UPSTREAMS[upstream].model, True)
    assert answer == expected_answer(REPLY, client_dialect)  # the call_* helpers already checked the grammar
    assert _total(aimux) == 2
    assert tap.last.headers.get("x-aimux-attempts") == "2"


@pytest.mark.parametrize("upstream", DIALECTS)
@pytest.mark.parametrize("client_dialect", ["anthropic", "openai"])
def test_stream_broken_after_content_is_not_replayed(client_dialect: str, upstream: str, aimux: Any, tap: WireTap,
                                                     request: pytest.FixtureRequest) -> None:
    aimux.require(upstream)
    aimux.use(max_attempts=3)
    _everyone_answers(aimux, REPLY)
    aimux.fakes.of(upstream).enqueue(Fault.stream_error(after_events=5, reply=LONG_REPLY))
    model = UPSTREAMS[upstream].model
    error = anthropic.APIStatusError if client_dialect == "anthropic" else openai.APIError
    with pytest.raises(error):
        _ask(client_dialect, request, tap, model, True)
    assert _total(aimux) == 1, "content already reached the client: a second attempt would duplicate it"
    if client_dialect == "anthropic":
        events = check_anthropic_sse(tap.last.raw, model=model, allow_error=True)
        assert any(e["type"] == "content_block_delta" for e in events)
    else:
        chunks = check_openai_sse(tap.last.raw, model=model, include_usage=True, allow_error=True)
        assert any(c["choices"] and c["choices"][0]["delta"].get("content") for c in chunks)
