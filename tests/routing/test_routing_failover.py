"""Failover on the wire: a gateway with real adapters on fake upstreams, served on loopback,
driven by the official SDKs.

The matrix: every fault the fakes can produce, on the first target, for a streamed and a
non-streamed request. Before any content reached the client the request must be served by the
next target (``x-aimux-attempts: 2``) and the client must see one clean answer with no trace of
the failed attempt (one ``message_start``, none of the failed target's text). Once content was sent
nothing can be taken back: the stream must end with a well-formed ``event: error`` instead. Every
cell runs in both orientations (the Anthropic-dialect fake failing over to the OpenAI-dialect one
and the reverse) because each adapter turns faults into errors its own way.

The first target has sub-second timeouts so stalls are noticed quickly; the whole module is bounded
by per-test timeouts so a regression shows up as a failure, never as a hung suite.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal

import anthropic
import openai
import pytest
from routing_conftest import (
    TEST_POLICY,
    UPSTREAM_KEY,
    Served,
    Stage,
    Upstreams,
    make_entry,
    make_table,
)

from aimux_core.gateway import Gateway
from aimux_core.routing.dispatch import RetryPolicy
from fakes import Fault, Reply
from fakes.anthropic_upstream import AnthropicUpstream
from fakes.openai_upstream import OpenAIUpstream
from support.anthropic_grammar import check_anthropic_stream, parse_anthropic_sse

pytestmark = pytest.mark.timeout(20)

Dialect = Literal["anthropic", "openai"]
CLIENT_MODEL = "claude-sonnet-4-5"
LEAK = "LEAKED-partial-answer-of-the-failed-target"
BACKUP_TEXT = "served by the backup target after failover"
PROMPT = [{"role": "user", "content": "say something"}]


@dataclass
class Pair:
    """A served gateway whose default route is ``first`` then ``second`` (one fake each)."""

    served: Served
    first: AnthropicUpstream | OpenAIUpstream
    second: AnthropicUpstream | OpenAIUpstream
    first_dialect: Dialect

    @property
    def url(self) -> str:
        return self.served.url

    def anthropic(self) -> anthropic.Anthropic:
        return anthropic.Anthropic(base_url=self.url, api_key="sk-client-key", max_retries=0, timeout=10)

    def openai(self) -> openai.OpenAI:
        return openai.OpenAI(base_url=f"{self.url}/v1", api_key="sk-client-key", max_retries=0, timeout=10)


@pytest.fixture
def make_pair(
    anthropic_upstream: AnthropicUpstream, openai_upstream: OpenAIUpstream, upstreams: Upstreams, stage: Stage
) -> Callable[..., Pair]:
    """``make_pair(first_dialect, refused_port=None, policy=...)``: build and serve the two-target gateway.

    With ``refused_port`` the first target points at a port nothing listens on (connection refused).
    """

    def build(first_dialect: Dialect, *, refused_port: int | None = None, policy: RetryPolicy = TEST_POLICY) -> Pair:
        fakes = {"anthropic": anthropic_upstream, "openai": openai_upstream}
        second_dialect: Dialect = "openai" if first_dialect == "anthropic" else "anthropic"
        first_fake, second_fake = fakes[first_dialect], fakes[second_dialect]
        first_fake.default = Reply(text=LEAK, chunk_size=6)
        second_fake.default = Reply(text=BACKUP_TEXT, chunk_size=5)
        first_url = first_fake.base_url
        if refused_port is not None:
            first_url = f"http://127.0.0.1:{refused_port}" + ("/v1" if first_dialect == "openai" else "")
        providers = {
            "first": upstreams.provider(first_dialect, "first", first_url, fast=True),
            "second": upstreams.provider(second_dialect, "second", second_fake.base_url),
        }
        first = make_entry("first-model", "first", "up-first")
        second = make_entry("second-model", "second", "up-second")
        table = make_table([first, second], {"default": [[first], [second]]})
        served = stage.use(Gateway(providers, table, policy=policy))
        return Pair(served, first_fake, second_fake, first_dialect)

    return build


# --------------------------------------------------------------------------- client helpers


@dataclass
class StreamResult:
    status: int
    headers: dict[str, str]
    raw: bytes

    @property
    def events(self) -> list[dict[str, Any]]:
        return parse_anthropic_sse(self.raw)

    @property
    def text(self) -> str:
        deltas = [e["delta"] for e in self.events if e["type"] == "content_block_delta"]
        return "".join(d["text"] for d in deltas if d["type"] == "text_delta")


def anthropic_stream(client: anthropic.Anthropic, **extra: Any) -> StreamResult:
    """The raw SSE bytes and headers of a streamed Messages call (the SDK would hide the framing)."""
    with client.messages.with_streaming_response.create(
        model=CLIENT_MODEL, max_tokens=256, messages=PROMPT, stream=True, **extra
    ) as response:
        raw = b"".join(response.iter_bytes())
        return StreamResult(response.status_code, dict(response.headers), raw)


def anthropic_create(client: anthropic.Anthropic, **extra: Any) -> tuple[dict[str, str], Any]:
    raw = client.messages.with_raw_response.create(model=CLIENT_MODEL, max_tokens=256, messages=PROMPT, **extra)
    return dict(raw.headers), raw.parse()


def assert_served_by_backup(pair: Pair, headers: dict[str, str]) -> None:
    assert headers["x-aimux-provider"] == "second", headers
    assert headers["x-aimux-model"] == "up-second"
    assert headers["x-aimux-attempts"] == "2"
    assert headers["x-request-id"].startswith("req_")
    assert headers["x-aimux-route"].startswith("default; route=default")
    assert len(pair.second.requests) == 1


# --------------------------------------------------------------------------- the matrix


@dataclass(frozen=True)
class Cell:
    """One fault on the first target. ``fault`` None: connection refused. ``after_content``: in a
    stream the fault strikes after the first content reached the client (a non-streamed request
    still fails over: nothing was sent yet)."""

    name: str
    fault: Callable[[], Fault] | None
    after_content: bool = False


STALL = 5.0  # far beyond the first target's 0.4 s first-byte/idle and 1 s total timeouts
CELLS = [
    Cell("http-429-retry-after", lambda: Fault.http(429, retry_after=1)),
    Cell("http-500", lambda: Fault.http(500)),
    Cell("http-502", lambda: Fault.http(502)),
    Cell("http-503", lambda: Fault.http(503)),
    Cell("http-529", lambda: Fault.http(529)),
    Cell("connection-refused", None),
    Cell("disconnect-before-response", lambda: Fault.disconnect()),
    Cell("reset-before-response", lambda: Fault.reset(after_events=None)),
    Cell("reset-before-content", lambda: Fault.reset(after_events=1)),
    Cell("reset-mid-body", lambda: Fault.reset(after_events=3), after_content=True),
    Cell("stall-before-first-byte", lambda: Fault.stall(STALL)),
    Cell("stall-before-content", lambda: Fault.stall(STALL, after_events=1)),
    Cell("stall-mid-stream", lambda: Fault.stall(STALL, after_events=3), after_content=True),
    Cell("malformed-json-first-event", lambda: Fault.malformed_json()),
    Cell("malformed-json-mid-stream", lambda: Fault.malformed_json(after_events=3), after_content=True),
    Cell("truncated-before-content", lambda: Fault.truncate(after_events=1)),
    Cell("truncated-mid-stream", lambda: Fault.truncate(after_events=3), after_content=True),
    Cell("stream-error-before-content", lambda: Fault.stream_error(after_events=1, error_type="overloaded_error")),
    Cell("stream-error-mid-stream", lambda: Fault.stream_error(after_events=3, error_type="overloaded_error"),
         after_content=True),
]


def _arm(pair: Pair, cell: Cell) -> None:
    if cell.fault is not None:
        pair.first.enqueue(cell.fault())


def _build(make_pair: Callable[..., Pair], cell: Cell, dialect: Dialect, closed_port: int) -> Pair:
    pair = make_pair(dialect, refused_port=closed_port if cell.fault is None else None)
    _arm(pair, cell)
    return pair


@pytest.mark.parametrize("dialect", ["anthropic", "openai"])
@pytest.mark.parametrize("cell", CELLS, ids=lambda c: c.name)
def test_non_stream_fault_fails_over_to_the_next_target(
    make_pair: Callable[..., Pair], closed_port: int, cell: Cell, dialect: Dialect
) -> None:
    """A non-streamed answer is all or nothing, so every fault of the first target fails over."""
    pair = _build(make_pair, cell, dialect, closed_port)
    headers, message = anthropic_create(pair.anthropic())
    assert_served_by_backup(pair, headers)
    assert message.content[0].text == BACKUP_TEXT
    assert message.model == CLIENT_MODEL
    assert len(pair.first.requests) == (0 if cell.fault is None else 1)


@pytest.mark.parametrize("dialect", ["anthropic", "openai"])
@pytest.mark.parametrize("cell", [c for c in CELLS if not c.after_content], ids=lambda c: c.name)
def test_stream_fault_before_content_fails_over_without_a_trace(
    make_pair: Callable[..., Pair], closed_port: int, cell: Cell, dialect: Dialect
) -> None:
    """Events of the failed attempt (its ``message_start`` included) never reach the client."""
    pair = _build(make_pair, cell, dialect, closed_port)
    result = anthropic_stream(pair.anthropic())
    assert result.status == 200
    assert_served_by_backup(pair, result.headers)
    events = result.events
    check_anthropic_stream(events)  # exactly one message_start, clean delta + stop
    assert result.text == BACKUP_TEXT
    assert LEAK[:6].encode() not in result.raw
    assert events[0]["message"]["model"] == CLIENT_MODEL


@pytest.mark.parametrize("dialect", ["anthropic", "openai"])
@pytest.mark.parametrize("cell", [c for c in CELLS if c.after_content], ids=lambda c: c.name)
def test_stream_fault_after_content_ends_with_a_well_formed_error(
    make_pair: Callable[..., Pair], closed_port: int, cell: Cell, dialect: Dialect
) -> None:
    """Content already reached the client: no failover, an ``event: error`` and no ``message_stop``."""
    pair = _build(make_pair, cell, dialect, closed_port)
    result = anthropic_stream(pair.anthropic())
    assert result.status == 200
    assert result.headers["x-aimux-provider"] == "first"
    assert result.headers["x-aimux-attempts"] == "1"
    events = result.events
    check_anthropic_stream(events, allow_error=True)
    assert events[-1]["type"] == "error", [e["type"] for e in events]
    error = events[-1]["error"]
    assert error["type"] in {"api_error", "overloaded_error", "timeout_error"} and error["message"]
    assert UPSTREAM_KEY not in result.raw.decode()
    assert pair.second.requests == [], "content was sent: the backup must not be called"


# --------------------------------------------------------------------------- the OpenAI surface


@pytest.mark.parametrize("dialect", ["anthropic", "openai"])
def test_openai_client_non_stream_fails_over(make_pair: Callable[..., Pair], dialect: Dialect) -> None:
    pair = make_pair(dialect)
    pair.first.enqueue(Fault.http(529))
    raw = pair.openai().chat.completions.with_raw_response.create(model=CLIENT_MODEL, messages=PROMPT)
    headers = dict(raw.headers)
    assert_served_by_backup(pair, headers)
    assert raw.parse().choices[0].message.content == BACKUP_TEXT


@pytest.mark.parametrize("dialect", ["anthropic", "openai"])
def test_openai_client_stream_fails_over_without_a_trace(make_pair: Callable[..., Pair], dialect: Dialect) -> None:
    pair = make_pair(dialect)
    pair.first.enqueue(Fault.reset(after_events=1))
    with pair.openai().chat.completions.with_streaming_response.create(
        model=CLIENT_MODEL, messages=PROMPT, stream=True
    ) as response:
        headers = dict(response.headers)
        raw = b"".join(response.iter_bytes())
    assert_served_by_backup(pair, headers)
    chunks = [line[len(b"data: ") :] for line in raw.split(b"\n") if line.startswith(b"data: ")]
    assert chunks[-1] == b"[DONE]"
    parsed = [json.loads(c) for c in chunks[:-1]]
    assert len({c["id"] for c in parsed}) == 1, "one completion id: the failed attempt left nothing"
    text = "".join((c["choices"][0]["delta"].get("content") or "") for c in parsed if c["choices"])
    assert text == BACKUP_TEXT
    assert LEAK[:6].encode() not in raw


@pytest.mark.parametrize("dialect", ["anthropic", "openai"])
def test_openai_client_mid_stream_fault_ends_with_an_error_chunk(
    make_pair: Callable[..., Pair], dialect: Dialect
) -> None:
    pair = make_pair(dialect)
    pair.first.enqueue(Fault.reset(after_events=3))
    with pair.openai().chat.completions.with_streaming_response.create(
        model=CLIENT_MODEL, messages=PROMPT, stream=True
    ) as response:
        assert response.headers["x-aimux-attempts"] == "1"
        raw = b"".join(response.iter_bytes())
    chunks = [line[len(b"data: ") :] for line in raw.split(b"\n") if line.startswith(b"data: ")]
    assert b"[DONE]" not in chunks, "an errored stream must not end with [DONE]"
    last = json.loads(chunks[-1])
    assert set(last) == {"error"} and last["error"]["message"]
    assert pair.second.requests == []


# --------------------------------------------------------------------------- client errors


@pytest.mark.parametrize("stream", [False, True], ids=["non-stream", "stream"])
@pytest.mark.parametrize(
    ("upstream_status", "client_status", "kind"),
    [(400, 400, "invalid_request_error"), (404, 404, "not_found_error")],
)
def test_client_errors_are_not_retried(
    make_pair: Callable[..., Pair], upstream_status: int, client_status: int, kind: str, stream: bool
) -> None:
    """A 4xx about the request is the answer for every target alike: one attempt, the upstream's
    words, never a key. (A 401/403 is about the gateway's key for that provider: it fails over,
    ``tests/failover/test_failover_auth.py``.)
    """
    pair = make_pair("anthropic")
    message = f"upstream says no: bad thing {upstream_status} (key {UPSTREAM_KEY})"
    pair.first.enqueue(Fault.http(upstream_status, message=message))
    client = pair.anthropic()
    with pytest.raises(anthropic.APIStatusError) as caught:
        if stream:
            anthropic_stream(client)
        else:
            anthropic_create(client)
    error = caught.value
    assert error.status_code == client_status
    assert error.response.headers["x-aimux-attempts"] == "1"
    body = error.response.json()
    assert body["type"] == "error" and body["error"]["type"] == kind
    assert f"bad thing {upstream_status}" in body["error"]["message"]
    assert UPSTREAM_KEY not in error.response.text
    assert pair.second.requests == [], "a client error must not be tried elsewhere"
    assert len(pair.first.requests) == 1


def test_error_answers_carry_the_routing_headers(make_pair: Callable[..., Pair]) -> None:
    pair = make_pair("anthropic")
    pair.first.enqueue(Fault.http(400, message="bad request"))
    with pytest.raises(anthropic.BadRequestError) as caught:
        anthropic_create(pair.anthropic())
    headers = caught.value.response.headers
    assert headers["x-aimux-route"].startswith("default; route=default")
    assert (headers["x-aimux-provider"], headers["x-aimux-model"]) == ("first", "up-first")


# --------------------------------------------------------------------------- retry-after


def test_retry_after_skips_the_target_on_later_requests(make_pair: Callable[..., Pair]) -> None:
    """A 429 with ``retry-after: 30`` cools the target: the next request does not even call it."""
    pair = make_pair("anthropic")
    pair.first.enqueue(Fault.http(429, retry_after=30))
    client = pair.anthropic()
    headers, _ = anthropic_create(client)
    assert headers["x-aimux-attempts"] == "2"
    for _ in range(2):
        headers, message = anthropic_create(client)
        assert headers["x-aimux-provider"] == "second"
        assert headers["x-aimux-attempts"] == "1", "the cooling target is skipped, not tried"
        assert message.content[0].text == BACKUP_TEXT
    assert len(pair.first.requests) == 1, "no request reached the rate-limited target within its window"


def test_short_retry_after_is_waited_out_when_every_target_cools(make_pair: Callable[..., Pair]) -> None:
    """Both targets rate limited for 0.3 s (``retry-after-ms``): the gateway waits, then retries."""
    pair = make_pair("anthropic")
    pair.first.enqueue(Fault.http(429, headers={"retry-after-ms": "300"}), Reply(text="after the wait"))
    pair.second.enqueue(Fault.http(429, headers={"retry-after-ms": "300"}))
    started = time.monotonic()
    headers, message = anthropic_create(pair.anthropic())
    assert time.monotonic() - started >= 0.3, "the retry came before retry-after allowed it"
    assert headers["x-aimux-provider"] == "first"
    assert headers["x-aimux-attempts"] == "3"
    assert message.content[0].text == "after the wait"


# --------------------------------------------------------------------------- nothing left


@pytest.mark.parametrize("stream", [False, True], ids=["non-stream", "stream"])
def test_all_targets_down_is_529_overloaded_with_retry_after(
    make_pair: Callable[..., Pair], stream: bool
) -> None:
    pair = make_pair("anthropic")
    pair.first.enqueue(Fault.http(529), Fault.http(500))
    pair.second.enqueue(Fault.http(503), Fault.http(502))
    client = pair.anthropic()
    with pytest.raises(anthropic.APIStatusError) as caught:
        if stream:
            anthropic_stream(client)
        else:
            anthropic_create(client)
    error = caught.value
    assert error.status_code == 529
    assert error.response.json()["error"]["type"] == "overloaded_error"
    assert int(error.response.headers["retry-after"]) > 0
    assert error.response.headers["x-aimux-attempts"] == "3"
    assert error.response.headers["x-request-id"].startswith("req_")


@pytest.mark.parametrize("stream", [False, True], ids=["non-stream", "stream"])
def test_all_targets_down_is_503_for_openai_clients(make_pair: Callable[..., Pair], stream: bool) -> None:
    pair = make_pair("openai")
    pair.first.enqueue(Fault.http(529), Fault.http(529))
    pair.second.enqueue(Fault.http(529), Fault.http(529))
    client = pair.openai()
    with pytest.raises(openai.APIStatusError) as caught:
        client.chat.completions.create(model=CLIENT_MODEL, messages=PROMPT, stream=stream)
    error = caught.value
    assert error.status_code == 503
    assert error.response.headers.get("retry-after")
    assert error.response.json()["error"]["message"]


def test_all_targets_rate_limited_is_429(make_pair: Callable[..., Pair]) -> None:
    """Every failure a rate limit, cooldowns beyond the deadline: 429 with the soonest retry-after."""
    pair = make_pair("anthropic")
    pair.first.enqueue(Fault.http(429, retry_after=30))
    pair.second.enqueue(Fault.http(429, retry_after=20))
    with pytest.raises(anthropic.RateLimitError) as caught:
        anthropic_create(pair.anthropic())
    headers = caught.value.response.headers
    assert 15 <= int(headers["retry-after"]) <= 20
    assert headers["x-aimux-attempts"] == "2"


def test_three_targets_one_refusing_connections_all_down(
    anthropic_upstream: AnthropicUpstream,
    openai_upstream: OpenAIUpstream,
    upstreams: Upstreams,
    closed_port: int,
    stage: Stage,
) -> None:
    """Three targets, three different failures (529, 500, refused): one well-formed 529 after 3 attempts."""
    entries = [make_entry("a", "a", "up-a"), make_entry("b", "b", "up-b"), make_entry("c", "c", "up-c")]
    providers = {
        "a": upstreams.provider("anthropic", "a", anthropic_upstream.base_url, fast=True),
        "b": upstreams.provider("openai", "b", openai_upstream.base_url, fast=True),
        "c": upstreams.provider("anthropic", "c", f"http://127.0.0.1:{closed_port}", fast=True),
    }
    anthropic_upstream.enqueue(Fault.http(529))
    openai_upstream.enqueue(Fault.http(500))
    table = make_table(entries, {"default": [[e] for e in entries]})
    served = stage.use(Gateway(providers, table, policy=TEST_POLICY))
    client = anthropic.Anthropic(base_url=served.url, api_key="sk-client", max_retries=0, timeout=10)
    with pytest.raises(anthropic.APIStatusError) as caught:
        anthropic_stream(client)
    assert caught.value.status_code == 529
    assert caught.value.response.headers["x-aimux-attempts"] == "3"
    message = caught.value.response.json()["error"]["message"]
    assert "a: 529" in message and "b: 500" in message, message


# --------------------------------------------------------------------------- plan quota


@pytest.mark.parametrize("first_dialect", ["anthropic", "openai"])
@pytest.mark.timeout(20)
def test_exhausted_plan_quota_cools_the_target_until_its_announced_reset(
    make_pair: Callable[..., Pair], first_dialect: Dialect
) -> None:
    """A Z.AI coding-plan 1308 answer moves on and keeps the target cooling (no breaker failure)."""
    pair = make_pair(first_dialect)
    quota_body = {"error": {"code": "1308", "message": "Usage limit reached for 5 hour. Your limit will reset at "
                                                       "2999-01-01 00:00:00"}}
    pair.first.enqueue(Fault.http(429, body=quota_body))
    client = pair.anthropic()
    headers, _ = anthropic_create(client)
    assert_served_by_backup(pair, headers)
    headers, _ = anthropic_create(client)
    assert headers["x-aimux-attempts"] == "1" and headers["x-aimux-provider"] == "second"
    assert len(pair.first.requests) == 1, "the exhausted target is not called again before its reset"
