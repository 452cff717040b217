"""Upstream failures across the matrix: every fault reaches each client in its own dialect, typed
the way its SDK (and Claude Code) handles well, and nothing hangs.

- HTTP faults before the first byte (both modes): 429 + retry-after -> ``RateLimitError`` with the
  header; 529/503 -> Anthropic 529 ``overloaded_error`` / OpenAI 503; 500 -> ``api_error`` 500;
  the gateway's own upstream credentials rejected (401/403) -> 502, because a 401 would make the
  client blame its own key; upstream unreachable -> 500 ``api_error``.
- Failures after the stream started (stream mode): an upstream error event, a TCP reset, a body
  that just ends, a broken event -> Anthropic ``event: error`` (typed: the upstream's overload
  stays ``overloaded_error``, a broken connection or body is ``api_error``) and no
  ``message_stop`` / OpenAI an error chunk (``server_error`` + matching ``code``) and no
  ``[DONE]``. The same broken bodies on non-streamed calls -> 500 ``api_error``.
- Stalls, with the ``-fast`` models (``Timeouts(first_byte=0.6, idle=0.6, total=1.0)``): before the
  first byte (both modes) -> 504 ``timeout_error``; mid-stream -> a ``timeout_error`` event. Each
  within a few seconds although the fake stays silent for much longer.

The gateway makes one attempt per call here (see ``BuiltGateway.fresh``), so each cell shows how
one upstream failure reaches the client; ``test_conformance_retries`` covers aimux's own retries.

``deepseek`` is left out here: it is the OpenAI adapter again (the matrix covers its dialect).
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import anthropic
import openai
import pytest

from aimux_core.wire.sse import SSEParser
from fakes import Fault, Reply
from support.gateway_builder import UPSTREAMS
from support.stream_checks import check_anthropic_sse, check_openai_sse
from support.wire_tap import WireTap

DIALECTS = ("anthropic", "openai", "bedrock")
CLIENTS = ("anthropic", "openai")
MODES = ("non-stream", "stream")
# Long enough for a few deltas before a mid-stream fault strikes.
LONG_REPLY = Reply(text="0123456789abcdefghijklmnopqrstuvwxyz", chunk_size=3)
STALL_SECONDS = 20.0  # far beyond the fast timeouts: only aimux's own timeout can end the wait
TIMELY = 10.0  # seconds within which a stalled call must have failed


@dataclass(frozen=True)
class Expected:
    """What each client must see: the Anthropic status and ``error.type``, the OpenAI status."""

    status: int
    kind: str
    openai_status: int
    retry_after: str | None = None


API_ERROR = Expected(500, "api_error", 500)
BAD_GATEWAY = Expected(502, "api_error", 502)  # the upstream answered something unusable
TIMEOUT = Expected(504, "timeout_error", 504)
# Anthropic error.type in an error event -> the OpenAI error chunk's code (its type is server_error).
OPENAI_CODES = {"overloaded_error": "overloaded", "api_error": None, "timeout_error": "timeout"}


HTTP_FAULTS: dict[str, tuple[Callable[[str], Fault | None], Expected]] = {
    "rate_limited": (lambda d: Fault.http(429, retry_after=7), Expected(429, "rate_limit_error", 429, "7")),
    "overloaded": (lambda d: Fault.http(529 if d == "anthropic" else 503), Expected(529, "overloaded_error", 503)),
    "server_error": (lambda d: Fault.http(500), API_ERROR),
    "upstream_key_rejected": (lambda d: Fault.http(403 if d == "bedrock" else 401), Expected(502, "api_error", 502)),
    "unreachable": (lambda d: None, API_ERROR),
}
# The fakes' in-stream errors are an overload for Anthropic (overloaded_error) and Bedrock
# (serviceUnavailableException), and a plain server_error for OpenAI.
UPSTREAM_EVENT_KIND = {"anthropic": "overloaded_error", "openai": "api_error", "bedrock": "overloaded_error"}
BROKEN_BODIES: dict[str, Callable[[Reply], Fault]] = {
    "upstream_error_event": lambda reply: Fault.stream_error(after_events=4, reply=reply),
    "reset": lambda reply: Fault.reset(after_events=4, reply=reply),
    "truncated": lambda reply: Fault.truncate(after_events=4, reply=reply),
    "malformed": lambda reply: Fault.malformed_json(after_events=4, reply=reply),
}


def _request(client_dialect: str, model: str) -> dict[str, Any]:
    messages = [{"role": "user", "content": "Tell me a long story."}]
    if client_dialect == "anthropic":
        return {"model": model, "max_tokens": 256, "messages": messages}
    return {"model": model, "max_completion_tokens": 256, "messages": messages}


def _call(client: Any, client_dialect: str, kwargs: dict[str, Any], *, stream: bool) -> Any:
    """One call through the SDK, streamed or not, folded to the final answer."""
    if client_dialect == "anthropic":
        if not stream:
            return client.messages.create(**kwargs)
        with client.messages.stream(**kwargs) as events:
            return events.get_final_message()
    if not stream:
        return client.chat.completions.create(**kwargs)
    with client.chat.completions.stream(**kwargs, stream_options={"include_usage": True}) as events:
        return events.get_final_completion()


def _status_error(client_dialect: str) -> type[Exception]:
    return anthropic.APIStatusError if client_dialect == "anthropic" else openai.APIStatusError


def check_status_error(exc: Any, client_dialect: str, expected: Expected) -> None:
    assert exc.status_code != 401, "an upstream fault must never look like the client's own bad key"
    if client_dialect == "anthropic":
        assert exc.body["type"] == "error" and exc.body["error"]["message"], exc.body
        assert (exc.status_code, exc.body["error"]["type"]) == (expected.status, expected.kind), exc.body
        if exc.status_code == 429:
            assert isinstance(exc, anthropic.RateLimitError)
    else:
        assert exc.status_code == expected.openai_status, exc.body
        assert exc.body and exc.body.get("message") and exc.body.get("type"), exc.body
        if exc.status_code == 429:
            assert isinstance(exc, openai.RateLimitError)
    if expected.retry_after is not None:
        assert exc.response.headers.get("retry-after") == expected.retry_after


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("fault", sorted(HTTP_FAULTS))
@pytest.mark.parametrize("upstream", DIALECTS)
@pytest.mark.parametrize("client_dialect", CLIENTS)
def test_http_fault(client_dialect: str, upstream: str, fault: str, mode: str, aimux: Any,
                    request: pytest.FixtureRequest) -> None:
    aimux.require(upstream)
    fake = aimux.fakes.of(upstream)
    make, expected = HTTP_FAULTS[fault]
    scripted = make(upstream)
    client = request.getfixturevalue(f"{client_dialect}_client")
    kwargs = _request(client_dialect, UPSTREAMS[upstream].model)
    if scripted is not None:
        fake.enqueue(scripted)
    else:
        fake.go_offline()
    try:
        with pytest.raises(_status_error(client_dialect)) as raised:
            _call(client, client_dialect, kwargs, stream=mode == "stream")
    finally:
        if scripted is None:
            fake.go_online()
    check_status_error(raised.value, client_dialect, expected)
    if scripted is not None:
        sent = fake.message_requests if upstream == "anthropic" else fake.requests
        assert len(sent) == 1, "the gateway itself must not retry behind the client's back (the SDK decides)"


@pytest.mark.parametrize("fault", sorted(BROKEN_BODIES))
@pytest.mark.parametrize("upstream", DIALECTS)
@pytest.mark.parametrize("client_dialect", CLIENTS)
def test_midstream_failure_is_an_error_not_a_clean_end(client_dialect: str, upstream: str, fault: str, aimux: Any,
                                                       tap: WireTap, request: pytest.FixtureRequest) -> None:
    aimux.require(upstream)
    aimux.fakes.of(upstream).enqueue(BROKEN_BODIES[fault](LONG_REPLY))
    client = request.getfixturevalue(f"{client_dialect}_client")
    model = UPSTREAMS[upstream].model
    error = anthropic.APIStatusError if client_dialect == "anthropic" else openai.APIError
    with pytest.raises(error):
        _call(client, client_dialect, _request(client_dialect, model), stream=True)
    assert tap.last.status == 200, "the failure came after the stream had started"
    kind = UPSTREAM_EVENT_KIND[upstream] if fault == "upstream_error_event" else "api_error"
    check_stream_ended_in_error(tap.last.raw, client_dialect, model, kind)


def check_stream_ended_in_error(raw: bytes, client_dialect: str, model: str, kind: str) -> None:
    """The stream ends in an error of ``kind`` in the client's dialect, after whatever content came."""
    if client_dialect == "anthropic":
        events = check_anthropic_sse(raw, model=model, allow_error=True)
        assert events[-1]["type"] == "error", "an interrupted stream must end with event: error"
        assert events[-1]["error"]["type"] == kind and events[-1]["error"]["message"], events[-1]
    else:
        check_openai_sse(raw, model=model, include_usage=True, allow_error=True)
        error = last_data(raw)["error"]
        assert (error["type"], error["code"]) == ("server_error", OPENAI_CODES[kind]), error


def last_data(raw: bytes) -> dict[str, Any]:
    """The JSON of the last ``data:`` line of an SSE body."""
    parser = SSEParser()
    events = [*parser.feed(raw), *parser.finish()]
    return json.loads(events[-1].data)


@pytest.mark.parametrize("fault", ["reset", "truncated", "malformed"])
@pytest.mark.parametrize("upstream", DIALECTS)
@pytest.mark.parametrize("client_dialect", CLIENTS)
def test_broken_non_streamed_body_is_a_server_error(client_dialect: str, upstream: str, fault: str, aimux: Any,
                                                    request: pytest.FixtureRequest) -> None:
    """Half a JSON body (cut, reset or corrupted) must become a 5xx, never a 200 with a broken answer: a 502
    for a body that arrived whole but is not the JSON it should be, a 500 for a broken connection."""
    aimux.require(upstream)
    aimux.fakes.of(upstream).enqueue(BROKEN_BODIES[fault](LONG_REPLY))
    client = request.getfixturevalue(f"{client_dialect}_client")
    with pytest.raises(_status_error(client_dialect)) as raised:
        _call(client, client_dialect, _request(client_dialect, UPSTREAMS[upstream].model), stream=False)
    check_status_error(raised.value, client_dialect, API_ERROR if fault == "reset" else BAD_GATEWAY)


@pytest.mark.timeout(40)
@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("upstream", DIALECTS)
@pytest.mark.parametrize("client_dialect", CLIENTS)
def test_stall_before_first_byte_fails_in_time(client_dialect: str, upstream: str, mode: str, aimux: Any,
                                               request: pytest.FixtureRequest) -> None:
    aimux.require(UPSTREAMS[upstream].fast_provider)
    aimux.fakes.of(upstream).enqueue(Fault.stall(STALL_SECONDS))
    client = request.getfixturevalue(f"{client_dialect}_client")
    started = time.monotonic()
    with pytest.raises(_status_error(client_dialect)) as raised:
        _call(client, client_dialect, _request(client_dialect, UPSTREAMS[upstream].fast_model), stream=mode == "stream")
    elapsed = time.monotonic() - started
    assert elapsed < TIMELY, f"a stalled upstream held the client for {elapsed:.1f}s"
    check_status_error(raised.value, client_dialect, TIMEOUT)


@pytest.mark.timeout(40)
@pytest.mark.parametrize("upstream", DIALECTS)
@pytest.mark.parametrize("client_dialect", CLIENTS)
def test_stall_mid_stream_fails_in_time(client_dialect: str, upstream: str, aimux: Any, tap: WireTap,
                                        request: pytest.FixtureRequest) -> None:
    aimux.require(UPSTREAMS[upstream].fast_provider)
    aimux.fakes.of(upstream).enqueue(Fault.stall(STALL_SECONDS, after_events=4, reply=LONG_REPLY))
    client = request.getfixturevalue(f"{client_dialect}_client")
    model = UPSTREAMS[upstream].fast_model
    error = anthropic.APIStatusError if client_dialect == "anthropic" else openai.APIError
    started = time.monotonic()
    with pytest.raises(error):
        _call(client, client_dialect, _request(client_dialect, model), stream=True)
    elapsed = time.monotonic() - started
    assert elapsed < TIMELY, f"a stalled stream held the client for {elapsed:.1f}s"
    check_stream_ended_in_error(tap.last.raw, client_dialect, model, "timeout_error")
