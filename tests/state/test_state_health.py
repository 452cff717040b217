"""Per-minute health buckets, their summaries, the classification thresholds, and the cached snapshot."""

from __future__ import annotations

import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from aimux_core.state import (
    BreakerSettings,
    CircuitBreaker,
    FakeClock,
    HealthSettings,
    HealthState,
    HealthTracker,
    Store,
)
from aimux_core.state.health import (
    LATENCY_BANDS_MS,
    FailureNote,
    approximate_median,
    approximate_percentile,
    band_attribute,
    bucket_deltas,
    classify,
)

pytestmark = pytest.mark.anyio

HEALTHY, DEGRADED, UNHEALTHY, CIRCUIT_OPEN = (
    HealthState.HEALTHY,
    HealthState.DEGRADED,
    HealthState.UNHEALTHY,
    HealthState.CIRCUIT_OPEN,
)


def minute_of(clock: FakeClock) -> str:
    return f"{math.floor(clock.now() / 60):010d}"


async def test_one_request_is_one_add_to_its_minutes_bucket(store: Store, clock: FakeClock, ns: str) -> None:
    tracker = HealthTracker(store, clock)
    await tracker.record(ns, ok=True, latency_ms=800, ttft_ms=120)
    await tracker.record(ns, ok=True, latency_ms=1500.5)
    await tracker.record(ns, ok=False, latency_ms=30_000)
    bucket = await store.get(f"health#{ns}", minute_of(clock))
    assert bucket is not None
    assert {k: v for k, v in bucket.items() if k not in ("pk", "sk", "version", "expires_at")} == {
        "successes": 2,
        "failures": 1,
        "latency_ms_sum": 2300.5,
        "latency_count": 2,
        "lat_le_1000": 1,
        "lat_le_2000": 1,
        "ttft_ms_sum": 120,
        "ttft_count": 1,
        "ttft_le_250": 1,
    }
    assert bucket["version"] == 3


async def test_a_failure_note_is_counted_and_kept_in_the_same_write(store: Store, clock: FakeClock, ns: str) -> None:
    tracker = HealthTracker(store, clock)
    await tracker.record(ns, ok=False, latency_ms=0, failure=FailureNote("overloaded", 529, "upstream answered 529"))
    clock.advance(1)
    await tracker.record(ns, ok=False, latency_ms=0, failure=FailureNote("connect", None, "connection refused"))
    bucket = await store.get(f"health#{ns}", minute_of(clock))
    assert bucket is not None and bucket["version"] == 2 and bucket["failures"] == 2
    assert bucket["err#overloaded#529"] == 1 and bucket["err#connect#-"] == 1
    assert bucket["last#overloaded#529"]["message"] == "upstream answered 529"
    latest = {"at": clock.now(), "kind": "connect", "status": None, "message": "connection refused"}
    assert bucket["last#connect#-"] == latest
    summary = await tracker.summary(ns)
    assert (summary.requests, summary.failures) == (2, 2)


async def test_percentiles_come_from_the_bands() -> None:
    bands = {"lat_le_250": 50, "lat_le_500": 49, "lat_le_8000": 1}
    assert approximate_percentile(bands, 0.5) == 250.0
    assert approximate_percentile(bands, 0.99) == 500.0
    assert 4000 < approximate_percentile(bands, 0.999) <= 8000  # type: ignore[operator]
    assert approximate_percentile({"ttft_gt_64000": 2}, 0.5, "ttft") == 64000.0
    assert approximate_percentile({}, 0.5) is None


async def test_buckets_expire_a_day_and_an_hour_after_their_minute(store: Store, clock: FakeClock, ns: str) -> None:
    clock.set(60 * 29_000_000 + 59)  # the last second of a minute
    await HealthTracker(store, clock).record(ns, ok=True, latency_ms=1)
    sk = minute_of(clock)
    clock.advance(25 * 3_600 + 0.999)
    assert await store.get(f"health#{ns}", sk) is not None
    clock.advance(0.001)
    assert await store.get(f"health#{ns}", sk) is None


async def test_summary_adds_up_the_last_minutes_only(store: Store, clock: FakeClock, ns: str) -> None:
    tracker = HealthTracker(store, clock, HealthSettings(min_requests=1))
    clock.set(60 * 29_000_000)
    await tracker.record(ns, ok=False, latency_ms=100)  # six minutes before the end: outside a 5-minute window
    clock.advance(60)
    for latency in (100, 300):
        await tracker.record(ns, ok=True, latency_ms=latency, ttft_ms=latency / 2)
    clock.advance(4 * 60 + 30)  # the current, partial minute is part of the window
    await tracker.record(ns, ok=False, latency_ms=5)
    summary = await tracker.summary(ns)
    assert (summary.requests, summary.successes, summary.failures, summary.minutes) == (3, 2, 1, 5)
    assert summary.success_rate == pytest.approx(2 / 3)
    assert summary.mean_latency_ms == 200 and summary.mean_ttft_ms == 100
    assert summary.p50_latency_ms == 250  # rank 1 of 2 is the top of the first band (0, 250]
    assert (await tracker.summary(ns, minutes=6)).requests == 4
    assert (await tracker.summary(ns, minutes=1)).requests == 1


async def test_a_key_without_traffic_is_healthy_with_no_numbers(store: Store, clock: FakeClock, ns: str) -> None:
    summary = await HealthTracker(store, clock).summary(ns)
    assert (summary.state, summary.requests, summary.success_rate, summary.p50_latency_ms) == (HEALTHY, 0, None, None)


@pytest.mark.parametrize(
    "requests, rate, p50, ttft, expected",
    [
        (4, 0.0, None, None, HEALTHY),  # below min_requests (5): no evidence yet
        (20, 1.0, 1_000, 500, HEALTHY),
        (20, 0.95, 30_000, 5_000, HEALTHY),  # exactly at each threshold is still fine
        (20, 0.94, 1_000, None, DEGRADED),
        (20, 0.80, 1_000, None, DEGRADED),
        (20, 0.79, 1_000, None, UNHEALTHY),
        (20, 1.0, 30_001, None, DEGRADED),
        (20, 1.0, 1_000, 5_001, DEGRADED),
        (20, 0.5, 60_000, 9_000, UNHEALTHY),  # unhealthy wins over degraded
    ],
)
def test_classification_thresholds(requests: int, rate: float, p50: float, ttft: float, expected: HealthState) -> None:
    assert classify(requests, rate, p50, ttft, HealthSettings()) is expected


def test_latency_rules_can_be_switched_off() -> None:
    relaxed = HealthSettings(degraded_p50_latency_ms=None, degraded_ttft_ms=None)
    assert classify(20, 1.0, 100_000, 100_000, relaxed) is HEALTHY


async def test_an_open_breaker_makes_it_circuit_open(store: Store, clock: FakeClock, ns: str) -> None:
    breaker = CircuitBreaker(store, clock, BreakerSettings(failure_threshold=1, failure_ratio=None, cache_seconds=0))
    tracker = HealthTracker(store, clock, breaker=breaker)
    for _ in range(10):
        await tracker.record(ns, ok=True, latency_ms=100)
    assert (await tracker.summary(ns)).state is HEALTHY
    await breaker.record_failure(ns, await breaker.allow(ns))
    assert (await tracker.summary(ns)).state is CIRCUIT_OPEN
    clock.advance(breaker.settings.cooldown_seconds)
    await breaker.allow(ns)  # half-open: still not serving normal traffic
    assert (await tracker.summary(ns)).state is CIRCUIT_OPEN


async def test_snapshot_is_cached_for_cache_seconds(store: Store, clock: FakeClock, ns: str) -> None:
    tracker = HealthTracker(store, clock, HealthSettings(min_requests=1, cache_seconds=2.0))
    await tracker.record(ns, ok=True, latency_ms=100)
    first = (await tracker.snapshot([ns, f"{ns}-idle"]))[ns]
    for _ in range(5):
        await tracker.record(ns, ok=False, latency_ms=100)
    clock.advance(1.999)
    assert (await tracker.snapshot([ns]))[ns] == first
    clock.advance(0.001)
    fresh = (await tracker.snapshot([ns]))[ns]
    assert (fresh.requests, fresh.state) == (6, UNHEALTHY)


def test_bucket_deltas_and_bands() -> None:
    assert bucket_deltas(ok=False, latency_ms=10, ttft_ms=None) == {"failures": 1}
    assert bucket_deltas(ok=True, latency_ms=250, ttft_ms=0) == {
        "successes": 1,
        "latency_ms_sum": 250,
        "latency_count": 1,
        "lat_le_250": 1,
        "ttft_ms_sum": 0,
        "ttft_count": 1,
        "ttft_le_250": 1,
    }
    assert band_attribute(250.01) == "lat_le_500" and band_attribute(10**6) == "lat_gt_64000"
    assert band_attribute(900, "ttft") == "ttft_le_1000"
    with pytest.raises(ValueError):
        bucket_deltas(ok=True, latency_ms=-1, ttft_ms=None)


def test_settings_refuse_nonsense() -> None:
    for bad in (
        {"window_minutes": 0},
        {"healthy_success_rate": 0.7, "unhealthy_success_rate": 0.8},
        {"bucket_ttl_seconds": 60, "window_minutes": 5},
    ):
        with pytest.raises(ValueError):
            HealthSettings(**bad)


@given(st.lists(st.floats(min_value=0, max_value=200_000, allow_nan=False), min_size=1, max_size=60))
def test_the_approximate_median_lies_in_the_band_of_the_true_one(latencies: list[float]) -> None:
    histogram: dict[str, int] = {}
    for latency in latencies:
        name = band_attribute(latency)
        histogram[name] = histogram.get(name, 0) + 1
    median = sorted(latencies)[math.ceil(len(latencies) / 2) - 1]
    approx = approximate_median(histogram)
    bounds = (0, *LATENCY_BANDS_MS, math.inf)
    band = next(i for i in range(1, len(bounds)) if median <= bounds[i])
    assert approx is not None
    assert bounds[band - 1] <= approx <= min(bounds[band], LATENCY_BANDS_MS[-1])


async def test_summary_refuses_an_empty_window(store: Store, clock: FakeClock, ns: str) -> None:
    with pytest.raises(ValueError):
        await HealthTracker(store, clock).summary(ns, minutes=0)
