"""Per-key fixed windows: rpm and tpm admission, settlement, the combined decision and its round trips."""

from __future__ import annotations

import asyncio

import pytest
from limits_support import T0, CountingStore

from aimux_core.errors import RateLimited
from aimux_core.limits.windows import (
    RateDecision,
    RateLimiter,
    RateLimitExceeded,
    RateLimits,
    rate_pk,
    usage_tokens,
    window_start,
)
from aimux_core.state.clock import FakeClock
from aimux_core.state.store import Store
from aimux_core.wire.anthropic import Usage

pytestmark = pytest.mark.anyio


async def test_rpm_admits_exactly_the_limit_then_refuses_until_the_window_ends(
    store: Store, clock: FakeClock, ns: str
) -> None:
    limiter = RateLimiter(store, clock)
    clock.advance(15)  # 15 s into the minute
    states = [await limiter.take_requests("key", ns, 3) for _ in range(3)]
    assert [s.used for s in states] == [1, 2, 3]
    assert [s.remaining for s in states] == [2, 1, 0]

    with pytest.raises(RateLimitExceeded) as refused:
        await limiter.take_requests("key", ns, 3)
    error = refused.value
    assert isinstance(error, RateLimited) and error.status == 429 and error.kind == "rate_limit_error"
    assert error.retry_after == 45  # seconds to the end of the window
    assert error.decision.refused == "requests"
    assert error.decision.requests is not None and error.decision.requests.remaining == 0
    assert "3 requests per minute" in error.message and "2026-11-22T10:16:00Z" in error.message

    clock.advance(44.5)
    with pytest.raises(RateLimitExceeded) as again:
        await limiter.take_requests("key", ns, 3)
    assert again.value.retry_after == 1, "never a retry-after of 0"

    clock.advance(0.5)  # the next window
    state = await limiter.take_requests("key", ns, 3)
    assert state.used == 1 and state.start == T0 + 60


async def test_a_refused_request_writes_nothing(store: Store, clock: FakeClock, ns: str) -> None:
    limiter = RateLimiter(store, clock)
    await limiter.take_requests("key", ns, 1)
    for _ in range(5):
        with pytest.raises(RateLimitExceeded):
            await limiter.take_requests("key", ns, 1)
    item = await store.get(rate_pk("key", ns), str(window_start(clock.now())))
    assert item is not None and item["requests"] == 1


async def test_window_items_expire_after_their_window_for_cleanup_only(store: Store, clock: FakeClock, ns: str) -> None:
    limiter = RateLimiter(store, clock)
    await limiter.take_requests("key", ns, 5)
    item = await store.get(rate_pk("key", ns), str(int(T0)))
    assert item is not None and T0 + 60 <= item["expires_at"] <= T0 + 180


async def test_tpm_admits_the_estimate_up_front(store: Store, clock: FakeClock, ns: str) -> None:
    limiter = RateLimiter(store, clock)
    assert (await limiter.take_tokens("key", ns, 1000, 600)).used == 600
    assert (await limiter.take_tokens("key", ns, 1000, 400)).remaining == 0, "exactly at the limit is admitted"
    with pytest.raises(RateLimitExceeded) as refused:
        await limiter.take_tokens("key", ns, 1000, 1)
    assert refused.value.decision.refused == "tokens"
    assert "1000 tokens per minute" in refused.value.message


async def test_an_estimate_larger_than_the_whole_limit_is_refused_for_good(
    counting: CountingStore, clock: FakeClock, ns: str
) -> None:
    limiter = RateLimiter(counting, clock)
    with pytest.raises(RateLimitExceeded) as refused:
        await limiter.take_tokens("key", ns, 1000, 1001)
    assert refused.value.retry_after is None
    assert refused.value.headers["x-should-retry"] == "false"
    assert "cannot be admitted" in refused.value.message
    assert counting.total == 0


async def test_settlement_corrects_the_estimate_both_ways(store: Store, clock: FakeClock, ns: str) -> None:
    limiter = RateLimiter(store, clock)
    limits = RateLimits(tpm=10_000)
    first = await limiter.take("key", ns, limits, estimate=4000)
    await limiter.settle(first, 1500)  # used less: the rest is given back
    assert (await limiter.current("key", ns, limits)).tokens.used == 1500  # type: ignore[union-attr]

    second = await limiter.take("key", ns, limits, estimate=1000)
    await limiter.settle(second, 12_000)  # used more: never refused, the window goes over its limit
    state = (await limiter.current("key", ns, limits)).tokens
    assert state is not None and state.used == 13_500 and state.remaining == 0
    with pytest.raises(RateLimitExceeded):
        await limiter.take("key", ns, limits, estimate=0)  # an over-full window refuses even empty estimates


async def test_settlement_after_the_window_ended(store: Store, clock: FakeClock, ns: str) -> None:
    limiter = RateLimiter(store, clock)
    limits = RateLimits(tpm=10_000)
    short = await limiter.take("key", ns, limits, estimate=5000)
    long = await limiter.take("key", ns, limits, estimate=1000)
    clock.advance(90)  # a long stream: the answer arrives in the next window
    await limiter.settle(short, 100)  # a refund to an ended window is dropped
    await limiter.settle(long, 3000)  # extra tokens count now
    state = (await limiter.current("key", ns, limits)).tokens
    assert state is not None and state.used == 2000
    old = await store.get(rate_pk("key", ns), str(int(T0)))
    assert old is not None and old["tokens"] == 6000


async def test_usage_tokens_counts_all_input_and_output() -> None:
    usage = Usage(input_tokens=10, output_tokens=5, cache_read_input_tokens=100, cache_creation_input_tokens=20)
    assert usage_tokens(usage) == 135
    assert usage_tokens(Usage(input_tokens=3, output_tokens=4)) == 7


# --------------------------------------------------------------------------- combined decision


async def test_combined_admission_is_one_round_trip(counting: CountingStore, clock: FakeClock, ns: str) -> None:
    limiter = RateLimiter(counting, clock)
    decision = await limiter.take("key", ns, RateLimits(rpm=10, tpm=5000), estimate=1200)
    assert counting.calls == {"add": 1}
    assert decision.admitted and decision.requests is not None and decision.tokens is not None
    assert (decision.requests.used, decision.tokens.used) == (1, 1200)

    counting.reset()
    await limiter.settle(decision, 1200)
    assert counting.total == 0, "nothing to correct, no write"
    await limiter.settle(decision, 1500)
    assert counting.calls == {"add": 1}


async def test_no_limits_costs_no_round_trip(counting: CountingStore, clock: FakeClock, ns: str) -> None:
    decision = await RateLimiter(counting, clock).take("key", ns, RateLimits(), estimate=10)
    assert decision.admitted and decision.windows() == [] and counting.total == 0


async def test_combined_refusal_on_tokens_writes_nothing(counting: CountingStore, clock: FakeClock, ns: str) -> None:
    limiter = RateLimiter(counting, clock)
    limits = RateLimits(rpm=10, tpm=1000)
    await limiter.take("key", ns, limits, estimate=900)
    counting.reset()
    with pytest.raises(RateLimitExceeded) as refused:
        await limiter.take("key", ns, limits, estimate=200)
    assert refused.value.decision.refused == "tokens"
    assert counting.calls == {"add": 1}, "refused by the store's condition: one round trip, nothing written"
    item = await counting.inner.get(rate_pk("key", ns), str(int(T0)))
    assert item is not None and (item["requests"], item["tokens"]) == (1, 900)


async def test_combined_refusal_on_requests_is_compensated(counting: CountingStore, clock: FakeClock, ns: str) -> None:
    limiter = RateLimiter(counting, clock)
    limits = RateLimits(rpm=2, tpm=100_000)
    await limiter.take("key", ns, limits, estimate=100)
    await limiter.take("key", ns, limits, estimate=100)
    counting.reset()
    with pytest.raises(RateLimitExceeded) as refused:
        await limiter.take("key", ns, limits, estimate=5000)
    decision = refused.value.decision
    assert decision.refused == "requests" and decision.requests is not None and decision.tokens is not None
    assert (decision.requests.used, decision.tokens.used) == (2, 200), "the window as it is without this request"
    assert counting.calls == {"add": 2}, "the over-limit add and its compensation"
    item = await counting.inner.get(rate_pk("key", ns), str(int(T0)))
    assert item is not None and (item["requests"], item["tokens"]) == (2, 200)


@pytest.mark.parametrize(
    ("limits", "estimate"),
    [(RateLimits(rpm=50), 0), (RateLimits(tpm=5000), 100), (RateLimits(rpm=50, tpm=100_000), 100),
     (RateLimits(rpm=1000, tpm=5000), 100)],
)  # fmt: skip
async def test_two_hundred_racing_tasks_never_admit_over_the_limit(
    store: Store, clock: FakeClock, ns: str, limits: RateLimits, estimate: int
) -> None:
    limiters = [RateLimiter(store, clock) for _ in range(4)]  # four "instances"

    async def one(i: int) -> RateDecision | None:
        try:
            return await limiters[i % 4].take("key", ns, limits, estimate=estimate)
        except RateLimitExceeded:
            return None

    results = await asyncio.gather(*(one(i) for i in range(200)))
    admitted = [r for r in results if r is not None]
    expected = min(limits.rpm or 10**9, (limits.tpm or 10**9) // max(estimate, 1))
    assert len(admitted) == expected
    item = await store.get(rate_pk("key", ns), str(int(T0)))
    assert item is not None
    if limits.rpm is not None:
        assert item["requests"] == expected <= limits.rpm
        assert max(r.requests.used for r in admitted if r.requests) <= limits.rpm
    if limits.tpm is not None:
        assert item["tokens"] == expected * estimate <= limits.tpm
