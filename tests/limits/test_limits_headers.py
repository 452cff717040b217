"""Rate-limit headers in each dialect's format, from admissions and refusals."""

from __future__ import annotations

import pytest
from limits_support import T0

from aimux_core.limits.headers import (
    anthropic_ratelimit_headers,
    openai_duration,
    openai_ratelimit_headers,
    ratelimit_headers,
)
from aimux_core.limits.windows import RateDecision, RateLimiter, RateLimitExceeded, RateLimits
from aimux_core.state.clock import FakeClock
from aimux_core.state.store import Store

pytestmark = pytest.mark.anyio


async def test_anthropic_headers_on_an_admission(store: Store, clock: FakeClock, ns: str) -> None:
    clock.advance(18)
    decision = await RateLimiter(store, clock).take("key", ns, RateLimits(rpm=50, tpm=80_000), estimate=12_345)
    assert anthropic_ratelimit_headers(decision) == {
        "anthropic-ratelimit-requests-limit": "50",
        "anthropic-ratelimit-requests-remaining": "49",
        "anthropic-ratelimit-requests-reset": "2026-11-22T10:16:00Z",
        "anthropic-ratelimit-tokens-limit": "80000",
        "anthropic-ratelimit-tokens-remaining": "67000",  # 67_655 rounded down to a thousand
        "anthropic-ratelimit-tokens-reset": "2026-11-22T10:16:00Z",
    }


async def test_openai_headers_on_an_admission(store: Store, clock: FakeClock, ns: str) -> None:
    clock.advance(18)
    decision = await RateLimiter(store, clock).take("key", ns, RateLimits(rpm=50, tpm=80_000), estimate=12_345)
    assert openai_ratelimit_headers(decision) == {
        "x-ratelimit-limit-requests": "50",
        "x-ratelimit-remaining-requests": "49",
        "x-ratelimit-reset-requests": "42s",
        "x-ratelimit-limit-tokens": "80000",
        "x-ratelimit-remaining-tokens": "67655",
        "x-ratelimit-reset-tokens": "42s",
    }
    assert ratelimit_headers("openai", decision) == openai_ratelimit_headers(decision)


async def test_refusals_add_retry_after_in_both_dialects(store: Store, clock: FakeClock, ns: str) -> None:
    limiter = RateLimiter(store, clock)
    await limiter.take("key", ns, RateLimits(rpm=1))
    clock.advance(0.25)
    with pytest.raises(RateLimitExceeded) as refused:
        await limiter.take("key", ns, RateLimits(rpm=1))
    decision = refused.value.decision
    anthropic = ratelimit_headers("anthropic", decision)
    assert anthropic["retry-after"] == "60" and anthropic["anthropic-ratelimit-requests-remaining"] == "0"
    openai = openai_ratelimit_headers(decision)
    assert openai["retry-after"] == "60" and openai["x-ratelimit-reset-requests"] == "59.75s"
    assert openai["x-ratelimit-remaining-requests"] == "0"


def test_dimensions_without_limits_and_unchecked_decisions_have_no_headers() -> None:
    assert anthropic_ratelimit_headers(RateDecision("key", "k", True, T0)) == {}
    unchecked = RateDecision.unchecked("key", "k", T0)
    assert anthropic_ratelimit_headers(unchecked) == {} and openai_ratelimit_headers(unchecked) == {}


@pytest.mark.parametrize(
    ("seconds", "text"),
    [(0, "0s"), (-1, "0s"), (0.02, "20ms"), (0.0001, "1ms"), (1, "1s"), (6, "6s"), (6.5, "6.5s"), (59.999, "59.999s"),
     (60, "1m0s"), (90.5, "1m30.5s"), (3723, "1h2m3s")],
)  # fmt: skip
def test_openai_durations(seconds: float, text: str) -> None:
    assert openai_duration(seconds) == text
