"""The circuit breaker's domain: settings, the stored record, and the pure transition rules.

    ┌────────┐  N consecutive failures, or failure ratio ≥ R        ┌──────┐
    │ CLOSED │ ───────── over the window with ≥ M requests ───────▶ │ OPEN │ ◀─┐
    └────────┘                                                      └──────┘   │
        ▲                                                  cooldown    │       │ a probe
        │ success_to_close probes succeeded                elapsed     ▼       │ failed
        │                                                      ┌───────────┐   │
        └───────────────────────────────────────────────────── │ HALF_OPEN │ ──┘
                                                               └───────────┘
                                       at most P probe leases outstanding; a lease expires
                                       after probe_lease_seconds so a crashed probe can't wedge it

Every arrow is one compare-and-set of the record (``version``) and adds 1 to ``generation``. The
generation names a phase: an admission remembers the generation it was made in, and its result is
ignored once the breaker has moved on (a request admitted before the breaker opened, finishing after
it closed again, says nothing about the new phase).

This module is pure (no I/O, no clock): ``breaker.py`` reads, decides here, and writes.
"""

from __future__ import annotations

import enum
import math
from dataclasses import dataclass, field, replace
from typing import Any

from .store import Item

STATE_SK = "state"


class CircuitState(enum.StrEnum):
    CLOSED = "closed"
    OPEN = "open"
    HALF_OPEN = "half_open"


class TransitionReason(enum.StrEnum):
    CONSECUTIVE_FAILURES = "consecutive_failures"
    FAILURE_RATIO = "failure_ratio"
    COOLDOWN_ELAPSED = "cooldown_elapsed"
    PROBE_FAILED = "probe_failed"
    PROBES_SUCCEEDED = "probes_succeeded"
    RESET = "reset"


@dataclass(frozen=True, slots=True)
class BreakerSettings:
    """When a breaker opens, how long it stays open, and how it tries again.

    ``failure_threshold`` consecutive failures open it (None: rule off). ``failure_ratio`` opens it when
    failures/requests reaches the ratio over the last ``window_seconds`` (kept in ``window_buckets``
    buckets, so the window slides by ``window_seconds / window_buckets``) once at least ``min_requests``
    were seen (None: rule off). Open lasts ``cooldown_seconds``; then at most ``half_open_max_probes``
    probes run at once, each holding a lease for ``probe_lease_seconds`` (set it above the upstream
    deadline); ``success_to_close`` successful probes close it. ``cache_seconds`` is how stale the
    per-process snapshot may be; ``max_attempts`` bounds the compare-and-set retries of one decision.
    """

    failure_threshold: int | None = 5
    failure_ratio: float | None = 0.5
    window_seconds: float = 60.0
    window_buckets: int = 6
    min_requests: int = 20
    cooldown_seconds: float = 30.0
    half_open_max_probes: int = 1
    success_to_close: int = 1
    probe_lease_seconds: float = 60.0
    cache_seconds: float = 2.0
    max_attempts: int = 16

    def __post_init__(self) -> None:
        checks = {
            "failure_threshold": self.failure_threshold is None or self.failure_threshold >= 1,
            "failure_ratio": self.failure_ratio is None or 0 < self.failure_ratio <= 1,
            "window_seconds": self.window_seconds > 0,
            "window_buckets": self.window_buckets >= 1,
            "min_requests": self.min_requests >= 1,
            "cooldown_seconds": self.cooldown_seconds >= 0,
            "half_open_max_probes": self.half_open_max_probes >= 1,
            "success_to_close": self.success_to_close >= 1,
            "probe_lease_seconds": self.probe_lease_seconds > 0,
            "cache_seconds": self.cache_seconds >= 0,
            "max_attempts": self.max_attempts >= 1,
        }
        bad = [name for name, ok in checks.items() if not ok]
        if bad:
            raise ValueError(f"invalid breaker settings: {', '.join(bad)}")

    @property
    def bucket_seconds(self) -> float:
        return self.window_seconds / self.window_buckets


@dataclass(frozen=True, slots=True)
class BreakerState:
    """The stored record of one breaker (item ``breaker#<key>`` / ``state``).

    ``version`` is the store's write counter (None: no item yet, so the first write is a create).
    ``probe_leases`` maps lease id → expiry (epoch seconds). ``consecutive_failures`` is grown by atomic
    ``add`` while closed and reset by the transitions, which rewrite the whole record.
    """

    state: CircuitState = CircuitState.CLOSED
    generation: int = 0
    consecutive_failures: int = 0
    opened_at: float | None = None
    changed_at: float | None = None
    half_open_successes: int = 0
    probe_leases: dict[str, float] = field(default_factory=dict)
    version: int | None = None

    @classmethod
    def from_item(cls, item: Item | None) -> BreakerState:
        """Decode an item; attributes an ``add`` never wrote take their closed-state defaults."""
        if item is None:
            return cls()
        leases = item.get("probe_leases") or {}
        return cls(
            state=CircuitState(item.get("state", CircuitState.CLOSED)),
            generation=int(item.get("generation", 0)),
            consecutive_failures=int(item.get("consecutive_failures", 0)),
            opened_at=item.get("opened_at"),
            changed_at=item.get("changed_at"),
            half_open_successes=int(item.get("half_open_successes", 0)),
            probe_leases={str(k): float(v) for k, v in leases.items()},
            version=item.get("version"),
        )

    def to_item(self) -> Item:
        """The attributes to write (the store adds pk, sk and version)."""
        return {
            "state": self.state.value,
            "generation": self.generation,
            "consecutive_failures": self.consecutive_failures,
            "opened_at": self.opened_at,
            "changed_at": self.changed_at,
            "half_open_successes": self.half_open_successes,
            "probe_leases": dict(self.probe_leases),
        }

    def live_leases(self, now: float) -> dict[str, float]:
        return {lease: expiry for lease, expiry in self.probe_leases.items() if expiry > now}

    def retry_at(self, settings: BreakerSettings) -> float | None:
        """When an open breaker may start probing."""
        if self.state is not CircuitState.OPEN or self.opened_at is None:
            return None
        return self.opened_at + settings.cooldown_seconds

    # --- transitions: each returns the next record; the caller writes it with compare-and-set ---

    def opened(self, now: float) -> BreakerState:
        return BreakerState(CircuitState.OPEN, self.generation + 1, opened_at=now, changed_at=now, version=self.version)

    def half_opened(self, now: float, lease_id: str, lease_expiry: float) -> BreakerState:
        return BreakerState(
            CircuitState.HALF_OPEN,
            self.generation + 1,
            opened_at=self.opened_at,
            changed_at=now,
            probe_leases={lease_id: lease_expiry},
            version=self.version,
        )

    def closed(self, now: float) -> BreakerState:
        return BreakerState(CircuitState.CLOSED, self.generation + 1, changed_at=now, version=self.version)

    def with_lease(self, now: float, lease_id: str, lease_expiry: float) -> BreakerState:
        return replace(self, probe_leases={**self.live_leases(now), lease_id: lease_expiry})

    def with_probe_success(self, now: float, lease_id: str | None) -> BreakerState:
        leases = {k: v for k, v in self.live_leases(now).items() if k != lease_id}
        return replace(self, probe_leases=leases, half_open_successes=self.half_open_successes + 1)

    def without_lease(self, now: float, lease_id: str | None) -> BreakerState:
        """A probe that proved nothing gives its slot back (the state stays half-open)."""
        return replace(self, probe_leases={k: v for k, v in self.live_leases(now).items() if k != lease_id})

    def with_failures_forgotten(self) -> BreakerState:
        return replace(self, consecutive_failures=0)


@dataclass(frozen=True, slots=True)
class BreakerPermit:
    """The answer to "may this request go to the upstream?", remembered until its result is recorded.

    ``generation`` is the phase the admission belongs to; ``lease_id`` is set for half-open probes;
    ``retry_after`` (seconds) hints when a refused caller could try again; ``reason`` is for logs.
    """

    key: str
    allowed: bool
    state: CircuitState
    generation: int
    reason: str
    lease_id: str | None = None
    retry_after: float | None = None

    @property
    def is_probe(self) -> bool:
        return self.lease_id is not None


@dataclass(frozen=True, slots=True)
class BreakerView:
    """A breaker as routing and the admin views see it, possibly up to ``cache_seconds`` old."""

    key: str
    state: CircuitState
    generation: int
    consecutive_failures: int
    opened_at: float | None
    retry_at: float | None
    probes_in_flight: int
    available: bool  # would ``allow`` admit a request now (closed, cooled down, or a free probe slot)

    @classmethod
    def of(cls, key: str, record: BreakerState, now: float, settings: BreakerSettings) -> BreakerView:
        probes = len(record.live_leases(now)) if record.state is CircuitState.HALF_OPEN else 0
        retry_at = record.retry_at(settings)
        available = (
            record.state is CircuitState.CLOSED
            or (record.state is CircuitState.OPEN and retry_at is not None and now >= retry_at)
            or (record.state is CircuitState.HALF_OPEN and probes < settings.half_open_max_probes)
        )
        return cls(
            key,
            record.state,
            record.generation,
            record.consecutive_failures,
            record.opened_at,
            retry_at,
            probes,
            available,
        )


@dataclass(frozen=True, slots=True)
class Transition:
    """One state change, for metrics and logs (``CircuitBreaker(on_transition=...)``)."""

    key: str
    from_state: CircuitState
    to_state: CircuitState
    reason: TransitionReason
    generation: int
    at: float


def decide_without_store(key: str, record: BreakerState, now: float, settings: BreakerSettings) -> BreakerPermit | None:
    """Answer ``allow`` from a (possibly cached) record when no write is needed, else None.

    Closed admits; open within its cooldown refuses; half-open with every probe slot leased refuses.
    Everything else (cooled down, or a probe slot free) needs a compare-and-set on the store.
    """
    if record.state is CircuitState.CLOSED:
        return BreakerPermit(key, True, record.state, record.generation, "closed")
    if record.state is CircuitState.OPEN:
        retry_at = record.retry_at(settings)
        if retry_at is not None and now < retry_at:
            return BreakerPermit(key, False, record.state, record.generation, "open", retry_after=retry_at - now)
        return None
    leases = record.live_leases(now)
    if len(leases) >= settings.half_open_max_probes:
        wait = max(0.0, min(leases.values()) - now)
        return BreakerPermit(key, False, record.state, record.generation, "probes_busy", retry_after=wait)
    return None


def ratio_trips(requests: int, failures: int, settings: BreakerSettings) -> bool:
    """The failure-ratio rule: enough requests in the window, and enough of them failed."""
    if settings.failure_ratio is None or requests < settings.min_requests or requests <= 0:
        return False
    return failures / requests >= settings.failure_ratio


def consecutive_trips(record: BreakerState, settings: BreakerSettings) -> bool:
    threshold = settings.failure_threshold
    return threshold is not None and record.consecutive_failures >= threshold


def window_bucket(now: float, settings: BreakerSettings) -> int:
    """Index of the window bucket holding ``now``."""
    return math.floor(now / settings.bucket_seconds)


def window_sk(generation: int, bucket: int) -> str:
    """Sort key of a window bucket: per phase, fixed width so string order is numeric order."""
    return f"window#{generation:010d}#{max(bucket, 0):012d}"


def window_expires_at(bucket: int, settings: BreakerSettings) -> float:
    """A bucket is useless once it has slid out of every window; TTL tidies it after that."""
    return (bucket + 1) * settings.bucket_seconds + settings.window_seconds


def sum_window(items: list[dict[str, Any]]) -> tuple[int, int]:
    """(requests, failures) over the bucket items of one window."""
    return (
        sum(int(item.get("requests", 0)) for item in items),
        sum(int(item.get("failures", 0)) for item in items),
    )
