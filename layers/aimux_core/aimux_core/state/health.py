"""Provider health from per-minute buckets: what lowest-latency routing and the admin views read.

Each finished request is one atomic ``add`` to the bucket of its minute (item ``health#<key>`` /
``<minute since epoch, 10 digits>``, TTL ``bucket_ttl_seconds`` after the minute ends)::

    successes, failures                  one of them +1
    latency_ms_sum, latency_count        successes only: a failure's latency is time-to-error
    lat_le_<ms> / lat_gt_<ms>            one latency band +1 (a coarse histogram, for the median)
    ttft_ms_sum, ttft_count              when the time to first token is known (streams)
    ttft_le_<ms> / ttft_gt_<ms>          its band, likewise
    err#<kind>#<status>                  a failure: +1 for what went wrong (``FailureNote``)
    last#<kind>#<status>                 a failure: SET to its time and message excerpt (the latest wins)

The failure's note rides on the same write, so the admin views' recent errors and their counts
(``reports/``) cost nothing more on the request path. Buckets live a day (``bucket_ttl_seconds``):
routing reads minutes, the admin views up to 24 hours.

A summary queries the last ``minutes`` buckets (the current, partial minute included), adds them up
and classifies, first rule that matches:

    CIRCUIT_OPEN  the key's breaker (if given) is open or half-open
    HEALTHY       fewer than ``min_requests`` requests: no evidence, assume fine
    UNHEALTHY     success rate < ``unhealthy_success_rate``            (default 0.80)
    DEGRADED      success rate < ``healthy_success_rate``              (default 0.95)
                  or median latency > ``degraded_p50_latency_ms``      (default 30 000 ms)
                  or mean time to first token > ``degraded_ttft_ms``   (default 5 000 ms)
    HEALTHY       otherwise

The median is read off the band histogram (linear within a band), good to the band's width: enough
to rank providers, not to report percentiles. ``snapshot`` caches summaries per process for
``cache_seconds``, with the same staleness trade-off as the breaker's snapshot.

Routing does not wait for a refresh (``usable_snapshot``): a summary stale by at most ``stale_seconds``
more is used as it is while a refresh runs in the background (stale-while-revalidate), so a warm instance's
request never spends a round trip of the store on health; only one idle for longer (or cold) reads it
inline. Health only ranks targets by latency and carries the fleet's cooldowns, so being one refresh late
costs at most an attempt at a target that another instance saw rest (dispatch fails over from it and this
instance learns the cooldown from its own answer). Breaker records are not served stale: admission reads
them fresh (``state/breaker.py``).

The same partition holds the target's cooldown while it rests (sk ``cooldown``, written by
``state.cooldowns``): it sorts after every minute bucket, so the summary's one query reads it too
(``HealthSummary.cooldown``) and the fleet learns cooldowns without another read.
"""

from __future__ import annotations

import enum
import logging
import math
from collections.abc import Iterable
from dataclasses import dataclass, replace
from typing import Any

from .background import BackgroundWrites
from .breaker import CircuitBreaker
from .breaker_model import CircuitState
from .cache import TtlCache
from .clock import Clock
from .cooldowns import COOLDOWN_SK, Cooldown
from .store import Store, StoreError

log = logging.getLogger(__name__)

LATENCY_BANDS_MS: tuple[int, ...] = (250, 500, 1_000, 2_000, 4_000, 8_000, 16_000, 32_000, 64_000)


class HealthState(enum.StrEnum):
    HEALTHY = "HEALTHY"
    DEGRADED = "DEGRADED"
    UNHEALTHY = "UNHEALTHY"
    CIRCUIT_OPEN = "CIRCUIT_OPEN"


@dataclass(frozen=True, slots=True)
class HealthSettings:
    """Thresholds of the classification (see the module docstring) and bucket housekeeping."""

    window_minutes: int = 5
    min_requests: int = 5
    healthy_success_rate: float = 0.95
    unhealthy_success_rate: float = 0.80
    degraded_p50_latency_ms: float | None = 30_000.0
    degraded_ttft_ms: float | None = 5_000.0
    bucket_ttl_seconds: float = 25 * 3_600.0
    cache_seconds: float = 2.0
    stale_seconds: float = 30.0  # past cache_seconds, still used by routing while a refresh runs

    def __post_init__(self) -> None:
        if self.window_minutes < 1 or self.min_requests < 0 or self.cache_seconds < 0 or self.stale_seconds < 0:
            raise ValueError(
                "window_minutes >= 1, min_requests >= 0, cache_seconds >= 0 and stale_seconds >= 0 are required"
            )
        if not 0 <= self.unhealthy_success_rate <= self.healthy_success_rate <= 1:
            raise ValueError("need 0 <= unhealthy_success_rate <= healthy_success_rate <= 1")
        if self.bucket_ttl_seconds < self.window_minutes * 60:
            raise ValueError("buckets must live at least as long as the window they are summed over")


@dataclass(frozen=True, slots=True)
class HealthSummary:
    """One key's health over the last ``minutes`` minutes."""

    key: str
    state: HealthState
    minutes: int
    requests: int
    successes: int
    failures: int
    success_rate: float | None  # None without requests
    mean_latency_ms: float | None
    p50_latency_ms: float | None  # approximate: see the module docstring
    mean_ttft_ms: float | None
    cooldown: Cooldown | None = None  # resting now (rate limit, overload, quota, refused key), fleet-wide


@dataclass(frozen=True, slots=True)
class FailureNote:
    """What went wrong on one failed call, for the admin views: a kind in a word (``overloaded``,
    ``rate_limit``, ``timeout``, ``connect``, ``malformed_answer``, ``auth``, ``server_error``...), the
    upstream's status when it answered, and an excerpt of the message (already redacted)."""

    kind: str
    status: int | None = None
    message: str | None = None

    @property
    def suffix(self) -> str:
        return f"{self.kind}#{self.status if self.status is not None else '-'}"


ERROR_COUNT_PREFIX = "err#"
ERROR_LAST_PREFIX = "last#"


def band_attribute(latency_ms: float, prefix: str = "lat") -> str:
    """The histogram attribute a latency falls into (``prefix``: ``lat`` for latency, ``ttft``)."""
    for upper in LATENCY_BANDS_MS:
        if latency_ms <= upper:
            return f"{prefix}_le_{upper}"
    return f"{prefix}_gt_{LATENCY_BANDS_MS[-1]}"


def bucket_deltas(*, ok: bool, latency_ms: float, ttft_ms: float | None) -> dict[str, int | float]:
    """What one finished request adds to its minute's bucket."""
    if latency_ms < 0 or (ttft_ms is not None and ttft_ms < 0):
        raise ValueError("latencies are durations, >= 0")
    deltas: dict[str, int | float] = {"successes": 1} if ok else {"failures": 1}
    if ok:
        deltas |= {"latency_ms_sum": latency_ms, "latency_count": 1, band_attribute(latency_ms): 1}
    if ttft_ms is not None:
        deltas |= {"ttft_ms_sum": ttft_ms, "ttft_count": 1, band_attribute(ttft_ms, "ttft"): 1}
    return deltas


def approximate_percentile(histogram: dict[str, int], fraction: float, prefix: str = "lat") -> float | None:
    """The ``fraction`` quantile (0.5: the median) read off the band counts named ``<prefix>_le_<ms>`` /
    ``<prefix>_gt_<ms>``, interpolated linearly inside its band; in the open-ended top band, its floor."""
    bands = [histogram.get(f"{prefix}_le_{upper}", 0) for upper in LATENCY_BANDS_MS]
    total = sum(bands) + histogram.get(f"{prefix}_gt_{LATENCY_BANDS_MS[-1]}", 0)
    if total == 0:
        return None
    rank = total * fraction
    seen = 0
    lower = 0.0
    for upper, count in zip(LATENCY_BANDS_MS, bands, strict=True):
        if count and seen + count >= rank:
            return lower + (upper - lower) * (rank - seen) / count
        seen += count
        lower = float(upper)
    return lower


def approximate_median(histogram: dict[str, int]) -> float | None:
    """The median latency read off the band counts, interpolated linearly inside its band."""
    return approximate_percentile(histogram, 0.5)


def _mean(total: float, count: int) -> float | None:
    return total / count if count else None


def summarize(
    key: str, buckets: list[dict[str, Any]], minutes: int, settings: HealthSettings, breaker_state: CircuitState | None
) -> HealthSummary:
    """Add the buckets up and classify them (pure)."""
    totals: dict[str, float] = {}
    for bucket in buckets:
        for name, value in bucket.items():
            if name not in ("pk", "sk", "version", "expires_at") and isinstance(value, int | float):
                totals[name] = totals.get(name, 0) + value
    successes, failures = int(totals.get("successes", 0)), int(totals.get("failures", 0))
    requests = successes + failures
    success_rate = successes / requests if requests else None
    histogram = {name: int(v) for name, v in totals.items() if name.startswith("lat_")}
    p50 = approximate_median(histogram)
    mean_ttft = _mean(totals.get("ttft_ms_sum", 0.0), int(totals.get("ttft_count", 0)))
    state = classify(requests, success_rate, p50, mean_ttft, settings, breaker_state)
    return HealthSummary(
        key=key,
        state=state,
        minutes=minutes,
        requests=requests,
        successes=successes,
        failures=failures,
        success_rate=success_rate,
        mean_latency_ms=_mean(totals.get("latency_ms_sum", 0.0), int(totals.get("latency_count", 0))),
        p50_latency_ms=p50,
        mean_ttft_ms=mean_ttft,
    )


def classify(
    requests: int,
    success_rate: float | None,
    p50_latency_ms: float | None,
    mean_ttft_ms: float | None,
    settings: HealthSettings,
    breaker_state: CircuitState | None = None,
) -> HealthState:
    """The first matching rule of the table in the module docstring."""
    if breaker_state in (CircuitState.OPEN, CircuitState.HALF_OPEN):
        return HealthState.CIRCUIT_OPEN
    if requests < settings.min_requests or success_rate is None:
        return HealthState.HEALTHY
    if success_rate < settings.unhealthy_success_rate:
        return HealthState.UNHEALTHY
    slow = settings.degraded_p50_latency_ms is not None and (p50_latency_ms or 0) > settings.degraded_p50_latency_ms
    slow_start = settings.degraded_ttft_ms is not None and (mean_ttft_ms or 0) > settings.degraded_ttft_ms
    if success_rate < settings.healthy_success_rate or slow or slow_start:
        return HealthState.DEGRADED
    return HealthState.HEALTHY


def minute_sk(minute: int) -> str:
    """Sort key of a minute bucket: fixed width, so string order is time order."""
    return f"{max(minute, 0):010d}"


class HealthTracker:
    """Records finished requests into minute buckets and summarises them per key."""

    def __init__(
        self,
        store: Store,
        clock: Clock,
        settings: HealthSettings | None = None,
        *,
        breaker: CircuitBreaker | None = None,
    ) -> None:
        self._store = store
        self._clock = clock
        self.settings = settings or HealthSettings()
        self._breaker = breaker
        self._cache: TtlCache[str, HealthSummary] = TtlCache(clock, self.settings.cache_seconds)
        self._refreshes = BackgroundWrites(log)
        self._refreshing = False

    @property
    def clock(self) -> Clock:
        return self._clock

    async def record(
        self,
        key: str,
        *,
        ok: bool,
        latency_ms: float,
        ttft_ms: float | None = None,
        failure: FailureNote | None = None,
    ) -> None:
        """Count one finished request (one atomic ``add``; call it after the answer); a failure's
        ``FailureNote`` is counted and kept in the same write."""
        now = self._clock.now()
        minute = math.floor(now / 60)
        deltas = bucket_deltas(ok=ok, latency_ms=latency_ms, ttft_ms=ttft_ms)
        latest: dict[str, Any] | None = None
        if failure is not None and not ok:
            deltas[ERROR_COUNT_PREFIX + failure.suffix] = 1
            note = {"at": now, "kind": failure.kind, "status": failure.status, "message": failure.message}
            latest = {ERROR_LAST_PREFIX + failure.suffix: note}
        await self._store.add(
            _pk(key),
            minute_sk(minute),
            deltas,
            expires_at=(minute + 1) * 60 + self.settings.bucket_ttl_seconds,
            set=latest,
        )

    async def buckets(self, key: str, minutes: int) -> list[dict[str, Any]]:
        """The raw minute buckets of the last ``minutes`` minutes, fresh from the store (admin views)."""
        return (await self.window(key, minutes))[0]

    async def window(self, key: str, minutes: int) -> tuple[list[dict[str, Any]], dict[str, Any] | None]:
        """The last ``minutes`` minute buckets and the target's cooldown item (sk ``cooldown``, which sorts
        after every minute), in one ``Query`` fresh from the store (admin views)."""
        last = math.floor(self._clock.now() / 60)
        items = await self._store.query(_pk(key), minute_sk(last - minutes + 1), COOLDOWN_SK)
        cooldown = items.pop() if items and items[-1]["sk"] == COOLDOWN_SK else None
        return [item for item in items if item["sk"] <= minute_sk(last)], cooldown

    async def summary(self, key: str, minutes: int | None = None) -> HealthSummary:
        """Health over the last ``minutes`` (default ``window_minutes``), read fresh from the store."""
        minutes = self.settings.window_minutes if minutes is None else minutes
        if minutes < 1:
            raise ValueError("minutes must be >= 1")
        last = math.floor(self._clock.now() / 60)
        items = await self._store.query(_pk(key), minute_sk(last - minutes + 1), COOLDOWN_SK)
        cooldown = None
        if items and items[-1]["sk"] == COOLDOWN_SK:
            cooldown = Cooldown.from_item(key, items.pop())
        buckets = [item for item in items if item["sk"] <= minute_sk(last)]
        breaker_state = None
        if self._breaker is not None:
            breaker_state = (await self._breaker.snapshot([key]))[key].state
        summary = summarize(key, buckets, minutes, self.settings, breaker_state)
        return replace(summary, cooldown=cooldown) if cooldown is not None else summary

    async def snapshot(self, keys: Iterable[str]) -> dict[str, HealthSummary]:
        """Summaries over the default window, cached per process for ``cache_seconds``."""
        return await self._cache.get_many(keys, self.summary)

    @property
    def cache(self) -> TtlCache[str, HealthSummary]:
        """The per-process cache of health summaries (read only: for views derived from it, ``TtlCache.changes``)."""
        return self._cache

    def usable_snapshot(self, keys: Iterable[str]) -> tuple[dict[str, HealthSummary], bool] | None:
        """Summaries routing may use now, without waiting, and whether they are fresh: the fresh ones, or,
        when some are stale by at most ``stale_seconds``, these while one refresh of them runs in the
        background (``drain`` waits for it). None when a key is absent or older: the caller awaits ``snapshot``."""
        unique = list(dict.fromkeys(keys))
        fresh = self._cache.peek_many(unique)
        if fresh is not None:
            return fresh, True
        usable = self._cache.peek_many(unique, self.settings.stale_seconds)
        if usable is None:
            return None
        if not self._refreshing:
            self._refreshing = True
            self._refreshes.later(self._refresh(unique), "health snapshot refresh")
        return usable, False

    async def _refresh(self, keys: list[str]) -> None:
        try:
            await self.snapshot(keys)
        except StoreError as error:  # a read: routing keeps the stale snapshot, the next request retries
            log.warning("health snapshot refresh failed: state store %s", type(error).__name__)
        finally:
            self._refreshing = False

    async def drain(self) -> None:
        """Wait for a background refresh of the snapshot (a Lambda invocation's end, tests)."""
        await self._refreshes.drain()


def _pk(key: str) -> str:
    if not key:
        raise ValueError("a health key must be non-empty")
    return f"health#{key}"
