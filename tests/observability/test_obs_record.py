"""Building the per-request record from what the gateway returns, and the cost header."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterable
from typing import Any

import pytest

from aimux_core.accounting.pricing import Price, cost_micro_usd, cost_usd
from aimux_core.accounting.record import (
    RequestRecord,
    RequestTimer,
    StreamTally,
    cost_header,
    format_cost,
    tokens_of,
)
from aimux_core.errors import AimuxError, Overloaded, RateLimited, UpstreamError
from aimux_core.gateway import Gateway
from aimux_core.providers.base import RequestContext, UpstreamCall
from aimux_core.providers.mock import MockProvider
from aimux_core.routing.catalog import MOCK_MODEL, Catalog, ModelEntry
from aimux_core.routing.dispatch import OpenGuard, Refusal, RetryPolicy
from aimux_core.routing.select import HealthView, RequestMeta
from aimux_core.routing.table import Target, table_for_catalog
from aimux_core.surfaces.recording import record_failed, record_served, saw_open_circuit
from aimux_core.wire.anthropic import Message, MessagesRequest, StreamEvent

FLAKY = ModelEntry(id="flaky-model", provider="flaky", upstream_model="flaky-1", display_name="flaky")


class Flaky:
    """An upstream that is always down (retryable), so the gateway falls back to the next target."""

    name = "flaky"

    async def create(self, call: UpstreamCall) -> Message:
        raise UpstreamError("down", provider="flaky", upstream_status=503, status=529, kind="overloaded_error")

    async def stream(self, call: UpstreamCall) -> AsyncIterator[StreamEvent]:
        raise UpstreamError("down", provider="flaky", upstream_status=503, status=529, kind="overloaded_error")
        yield  # pragma: no cover


class CircuitsOpen(OpenGuard):
    def __init__(self, open_keys: Iterable[str]) -> None:
        self.open_keys = frozenset(open_keys)

    async def view(self, targets: Iterable[Target]) -> HealthView:
        return HealthView(open_circuits=self.open_keys)

    async def acquire(self, target: Target, *, force: bool = False) -> Any:
        return Refusal("circuit open", 5.0) if target.key in self.open_keys and not force else True


def gateway(guard: OpenGuard | None = None, policy: RetryPolicy | None = None) -> Gateway:
    table = table_for_catalog(Catalog([FLAKY, MOCK_MODEL]), FLAKY.id)
    return Gateway({"flaky": Flaky(), "mock": MockProvider()}, table, guard=guard, policy=policy)


def request(text: str = "hello there", *, stream: bool = False) -> MessagesRequest:
    body = {"model": FLAKY.id, "max_tokens": 256, "messages": [{"role": "user", "content": text}], "stream": stream}
    return MessagesRequest.model_validate(body)


def context() -> RequestContext:
    return RequestContext(request_id="req_rec", api_key="sk-" "ant-api03-NEVER-IN-A-RECORD")


def test_buffered_fallback_record() -> None:
    timer = RequestTimer()
    message, served = asyncio.run(gateway().create(request(), context(), RequestMeta()))
    rec = record_served(
        request_id="req_rec",
        surface="anthropic",
        served=served,
        timer=timer,
        usage=message.usage,
        cost_usd=0.0042,
        key_id="key_1",
        client_model=FLAKY.id,
        ids=("lambda-id", "edge-id"),
    )
    assert (rec.provider, rec.model, rec.attempts, rec.fallbacks, rec.fell_back) == ("mock", "aimux-mock", 2, 1, True)
    assert (rec.scenario, rec.route) == (served.decision.scenario, served.decision.route)
    assert rec.reason == served.decision.reason
    assert rec.input_tokens == message.usage.input_tokens > 0
    assert rec.output_tokens == message.usage.output_tokens > 0
    assert rec.ttft_ms is None and not rec.stream  # buffered: no time to first token
    assert (rec.function_request_id, rec.correlation_id) == ("lambda-id", "edge-id")
    assert rec.status == 200 and not rec.is_error and rec.latency_ms > 0
    assert not rec.breaker_open_seen


def test_stream_tally_matches_the_buffered_usage() -> None:
    gw = gateway()

    async def run() -> tuple[StreamTally, RequestRecord, Message]:
        timer = RequestTimer()
        tally = StreamTally(timer)
        opened = await gw.open_stream(request(stream=True), context(), RequestMeta())
        async for event in opened.events:
            tally.observe(event)
        rec = record_served(
            request_id="req_s", surface="openai", served=opened.served, timer=timer, tokens=tally.tokens, stream=True
        )
        message, _ = await gw.create(request(), context(), RequestMeta())
        return tally, rec, message

    tally, rec, message = asyncio.run(run())
    assert tally.tokens == tokens_of(message.usage)
    assert rec.stream and rec.ttft_ms is not None and 0 <= rec.ttft_ms <= rec.latency_ms
    assert tally.error_kind is None and not rec.is_error


def test_stream_failing_midway_is_an_error_with_partial_usage() -> None:
    gw = gateway()

    async def run() -> RequestRecord:
        timer = RequestTimer()
        tally = StreamTally(timer)
        opened = await gw.open_stream(request("[[mock:midstream-error]] hi", stream=True), context(), RequestMeta())
        try:
            async for event in opened.events:
                tally.observe(event)
        except AimuxError as error:
            tally.fail(error.kind)
        return record_served(
            request_id="req_m",
            surface="anthropic",
            served=opened.served,
            timer=timer,
            tokens=tally.tokens,
            stream=True,
            error_kind=tally.error_kind,
        )

    rec = asyncio.run(run())
    assert rec.status == 200 and rec.error_kind == "overloaded_error" and rec.is_error
    assert rec.input_tokens > 0 and rec.ttft_ms is not None


def test_open_circuit_seen_by_routing() -> None:
    message, served = asyncio.run(gateway(CircuitsOpen({"flaky/flaky-1"})).create(request(), context(), RequestMeta()))
    assert saw_open_circuit(served.decision)
    rec = record_served(request_id="r", surface="anthropic", served=served, timer=RequestTimer(), usage=message.usage)
    assert rec.breaker_open_seen and rec.attempts == 1 and rec.fallbacks == 0


def test_all_circuits_open_failure_is_breaker_open() -> None:
    gw = gateway(CircuitsOpen({"flaky/flaky-1", "mock/aimux-mock"}), RetryPolicy(when_all_down="refuse"))
    with pytest.raises(Overloaded) as caught:
        asyncio.run(gw.create(request(), context(), RequestMeta()))
    rec = record_failed(request_id="r", surface="anthropic", error=caught.value, timer=RequestTimer())
    assert rec.breaker_open_seen and rec.status == 529 and rec.is_error and rec.provider is None


def test_own_rate_limit_versus_upstream_rate_limit() -> None:
    own = record_failed(request_id="r", surface="openai", error=RateLimited("key limit"), timer=RequestTimer())
    assert own.rate_limited and own.status == 429 and not own.is_error
    upstream_all = RateLimited("all targets are rate limited", headers={"x-aimux-attempts": "3"})
    dispatched = record_failed(request_id="r", surface="openai", error=upstream_all, timer=RequestTimer())
    assert not dispatched.rate_limited and dispatched.attempts == 3
    single = UpstreamError("429", provider="openai", upstream_status=429, status=429, kind="rate_limit_error")
    assert not record_failed(request_id="r", surface="openai", error=single, timer=RequestTimer()).rate_limited
    forced = record_failed(
        request_id="r", surface="openai", error=upstream_all, timer=RequestTimer(), rate_limited=True
    )
    assert forced.rate_limited


def test_upstream_failure_names_its_provider() -> None:
    with pytest.raises(UpstreamError) as caught:
        asyncio.run(gateway().create(request("[[mock:error:400]]"), context(), RequestMeta()))
    rec = record_failed(request_id="r", surface="anthropic", error=caught.value, timer=RequestTimer())
    assert (rec.provider, rec.model, rec.status, rec.error_kind) == ("mock", None, 400, "invalid_request_error")
    assert rec.attempts == 2  # flaky, then mock


@pytest.mark.parametrize(
    ("cost", "text"),
    [
        (0.000123, "0.000123"),
        (0.0, "0.000000"),
        (0.00885, "0.008850"),
        (1.5, "1.500000"),
        (123.4567891, "123.456789"),
        (2.9999996, "3.000000"),
        (0.0000004, "0.000000"),
        (0.0000006, "0.000001"),
        (0.0000005, "0.000001"),  # half up, like pricing.cost_micro_usd
        (0.0000025, "0.000003"),
        (1e-12, "0.000000"),
        (12345.678, "12345.678000"),
        (-0.5, "0.000000"),
        (float("nan"), "0.000000"),
        (float("inf"), "0.000000"),
    ],
)
def test_cost_format(cost: float, text: str) -> None:
    assert format_cost(cost) == text


def test_cost_defaults_to_the_serving_targets_price() -> None:
    price = Price(input=3.0, output=15.0, cache_read=0.3, cache_write=3.75)
    priced = ModelEntry(id="priced", provider="mock", upstream_model="aimux-mock", display_name="p", price=price)
    gw = Gateway({"mock": MockProvider()}, table_for_catalog(Catalog([priced]), "priced"))
    ask = MessagesRequest.model_validate(
        {"model": "priced", "max_tokens": 256, "messages": [{"role": "user", "content": "price me"}]}
    )

    async def run() -> tuple[Message, RequestRecord, RequestRecord]:
        message, served = await gw.create(ask, context(), RequestMeta())
        buffered = record_served(
            request_id="r", surface="anthropic", served=served, timer=RequestTimer(), usage=message.usage
        )
        timer = RequestTimer()
        tally = StreamTally(timer)
        opened = await gw.open_stream(ask.model_copy(update={"stream": True}), context(), RequestMeta())
        async for event in opened.events:
            tally.observe(event)
        streamed = record_served(
            request_id="s", surface="anthropic", served=opened.served, timer=timer, tokens=tally.tokens, stream=True
        )
        return message, buffered, streamed

    message, buffered, streamed = asyncio.run(run())
    assert buffered.cost_usd == cost_usd(message.usage, price) > 0
    assert streamed.cost_usd == buffered.cost_usd
    micro = cost_micro_usd(message.usage, price)
    assert cost_header(buffered)["x-aimux-cost-usd"] == f"{micro // 10**6}.{micro % 10**6:06d}"


def test_unpriced_target_costs_nothing() -> None:
    message, served = asyncio.run(gateway().create(request(), context(), RequestMeta()))
    rec = record_served(request_id="r", surface="anthropic", served=served, timer=RequestTimer(), usage=message.usage)
    assert rec.cost_usd == 0.0 and cost_header(rec) == {"x-aimux-cost-usd": "0.000000"}


def test_cost_header() -> None:
    rec = RequestRecord(request_id="r", surface="anthropic", status=200, latency_ms=1.0, cost_usd=0.000123)
    assert cost_header(rec) == {"x-aimux-cost-usd": "0.000123"}


def test_timer_marks_first_token_once() -> None:
    timer = RequestTimer(start=0.0)
    assert timer.ttft_ms is None
    timer.mark_first_token()
    first = timer.ttft_ms
    timer.mark_first_token()
    assert timer.ttft_ms == first
