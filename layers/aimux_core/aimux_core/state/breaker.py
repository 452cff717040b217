"""``CircuitBreaker``: per-key breakers shared by every instance through a ``Store``.

The state machine and its record are drawn in ``breaker_model``. Here is how it is kept consistent
when many Lambdas act at once:

- Transitions are compare-and-set writes of the record on its ``version`` (``_transact``): read, decide
  with the pure rules, write expecting the version read; on ``ConditionFailed`` re-read and decide
  again, at most ``max_attempts`` times. Two racing instances can never both apply a transition, so a
  burst of failures opens the breaker exactly once and half-open hands out exactly
  ``half_open_max_probes`` leases. A decision that exhausts its attempts gives up conservatively
  (``allow`` refuses; a result goes unrecorded) and logs a warning.
- Counting needs no compare-and-set: a failure while closed is an atomic ``add`` of
  ``consecutive_failures`` on the record, guarded by ``limit=("generation", g)`` so a result from an
  earlier phase is refused instead of counted; the window counts live in per-phase bucket items
  (``breaker#<key>`` / ``window#<generation>#<bucket>``) grown by ``add`` with a TTL.

Store round trips: ``allow`` usually none (cached record, see below); a probe lease one read + one
write. After the answer: a success costs a read and a bucket add (plus a write when failures must be
forgotten); a failure two adds and, with the ratio rule on, a query (plus the opening write).

Staleness trade-off: ``allow`` and ``snapshot`` decide from a per-process copy of each record kept for
``cache_seconds`` (default 2 s). A breaker opened by another instance keeps admitting here for at most
that long, which costs a few requests to a failing upstream (dispatch fails over from them) and saves
a store read on every request. Everything this process writes or reads fresh refreshes its copy at
once, and leases are never granted from the copy: a probe lease is always a write to the store.
Store errors other than ``ConditionFailed`` (``StoreUnavailable``) propagate; the caller decides
whether to fail open or closed.
"""

from __future__ import annotations

import logging
import secrets
from collections.abc import Callable, Iterable
from dataclasses import replace
from typing import TypeVar

from .background import both
from .breaker_model import (
    STATE_SK,
    BreakerPermit,
    BreakerSettings,
    BreakerState,
    BreakerView,
    CircuitState,
    Transition,
    TransitionReason,
    consecutive_trips,
    decide_without_store,
    ratio_trips,
    sum_window,
    window_bucket,
    window_expires_at,
    window_sk,
)
from .cache import TtlCache
from .clock import Clock
from .store import ABSENT, ConditionFailed, Store

__all__ = [
    "BreakerPermit",
    "BreakerSettings",
    "BreakerState",
    "BreakerView",
    "CircuitBreaker",
    "CircuitState",
    "Transition",
    "TransitionReason",
    "breaker_key",
]

log = logging.getLogger(__name__)

T = TypeVar("T")
# A decision: the record to write (None: nothing to write) and what to return once it is written.
Decision = tuple[BreakerState | None, T]


def breaker_key(provider: str, model: str | None = None) -> str:
    """The key of a provider's breaker, or of one model on it when breakers are per model."""
    return provider if model is None else f"{provider}/{model}"


class CircuitBreaker:
    """Admits or refuses requests per key and learns from their results."""

    def __init__(
        self,
        store: Store,
        clock: Clock,
        settings: BreakerSettings | None = None,
        *,
        on_transition: Callable[[Transition], None] | None = None,
    ) -> None:
        self._store = store
        self._clock = clock
        self.settings = settings or BreakerSettings()
        self._on_transition = on_transition
        self._cache: TtlCache[str, BreakerState] = TtlCache(clock, self.settings.cache_seconds)

    # --- the hot path ---

    async def allow(self, key: str) -> BreakerPermit:
        """May a request go to ``key`` now? Closed: yes, from the cached record. Otherwise see the module."""
        record = await self._cache.get(key, lambda: self._read(key))
        permit = decide_without_store(key, record, self._clock.now(), self.settings)
        if permit is not None:
            return permit
        refused = BreakerPermit(key, False, record.state, record.generation, "contention", retry_after=0.0)
        return await self._transact(key, self._probe_decision(key), refused, first=None)

    async def snapshot(self, keys: Iterable[str]) -> dict[str, BreakerView]:
        """Views of ``keys`` for routing and the admin views, from the per-process cache."""
        return self._views(await self._cache.get_many(keys, self._read))

    def is_cached(self, keys: Iterable[str]) -> bool:
        """Whether ``snapshot(keys)`` would be answered from the per-process cache (no read)."""
        return self._cache.all_fresh(keys)

    @property
    def cache(self) -> TtlCache[str, BreakerState]:
        """The per-process cache of breaker records (read only: for views derived from it, ``TtlCache.changes``)."""
        return self._cache

    def cached_snapshot(self, keys: Iterable[str]) -> dict[str, BreakerView] | None:
        """``snapshot`` when every key is fresh in the per-process cache, else None (nothing is read)."""
        records = self._cache.peek_many(keys)
        return self._views(records) if records is not None else None

    def _views(self, records: dict[str, BreakerState]) -> dict[str, BreakerView]:
        now = self._clock.now()
        return {key: BreakerView.of(key, record, now, self.settings) for key, record in records.items()}

    # --- results, recorded after the answer ---

    async def record_success(self, key: str, permit: BreakerPermit) -> None:
        """A request admitted by ``permit`` succeeded."""
        if not permit.allowed:
            return
        if permit.is_probe:
            await self._transact(key, self._probe_success_decision(permit), None, first=None)
            return
        record, _ = await both(self._read(key), self._count_in_window(key, permit.generation, failed=False))
        self._cache.put(key, record)
        # a success ends the run of consecutive failures (no write when there was none)
        await self._transact(key, self._forget_failures_decision(permit), None, first=record)

    async def record_failure(self, key: str, permit: BreakerPermit) -> None:
        """A request admitted by ``permit`` failed (an upstream fault, not a client error)."""
        if not permit.allowed:
            return
        if permit.is_probe:
            await self._transact(key, self._probe_failure_decision(permit), None, first=None)
            return
        generation = permit.generation
        counted, _ = await both(
            self._count_consecutive_failure(key, generation), self._count_in_window(key, generation, failed=True)
        )
        if counted is None:
            return  # the breaker left this phase since the permit: the result is stale
        self._cache.put(key, counted)
        if counted.state is not CircuitState.CLOSED or counted.generation != generation:
            return
        if consecutive_trips(counted, self.settings):
            reason = TransitionReason.CONSECUTIVE_FAILURES
        elif self.settings.failure_ratio is not None and ratio_trips(
            *await self._window_counts(key, generation), self.settings
        ):
            reason = TransitionReason.FAILURE_RATIO
        else:
            return
        await self._transact(key, self._trip_decision(generation, reason), None, first=counted, reason=reason)

    async def record_neutral(self, key: str, permit: BreakerPermit) -> None:
        """A request admitted by ``permit`` ended in a way that says nothing about ``key``'s health (a
        load signal, a refused key, a repeat within one client request): no count; a probe frees its slot."""
        if not permit.allowed or not permit.is_probe:
            return
        await self._transact(key, self._probe_neutral_decision(permit), None, first=None)

    async def reset(self, key: str, by: str | None = None) -> None:
        """Close the breaker now with every count cleared (an operator's decision), whatever its state."""

        def decide(record: BreakerState) -> Decision[None]:
            if record.state is CircuitState.CLOSED and record.consecutive_failures == 0 and not record.held_open:
                return None, None
            return replace(record.closed(self._clock.now()), changed_by=by), None

        await self._transact(key, decide, None, first=None, reason=TransitionReason.RESET)

    async def close(self, key: str, by: str | None = None) -> None:
        """Close an open or half-open breaker now (an operator's decision); a closed one is left as it is."""

        def decide(record: BreakerState) -> Decision[None]:
            if record.state is CircuitState.CLOSED:
                return None, None
            return replace(record.closed(self._clock.now()), changed_by=by), None

        await self._transact(key, decide, None, first=None, reason=TransitionReason.MANUAL_CLOSE)

    async def hold_open(self, key: str, by: str | None = None) -> None:
        """Open the breaker and keep it open, without probes, until an operator closes or resets it."""

        def decide(record: BreakerState) -> Decision[None]:
            if record.state is CircuitState.OPEN and record.held_open:
                return None, None
            return record.held(self._clock.now(), by), None

        await self._transact(key, decide, None, first=None, reason=TransitionReason.MANUAL_OPEN)

    async def read(self, key: str) -> BreakerView:
        """The breaker as it is in the store now (admin views; refreshes this process's copy)."""
        record = await self._read(key)
        self._cache.put(key, record)
        return BreakerView.of(key, record, self._clock.now(), self.settings)

    # --- decisions (pure given the record and the clock) ---

    def _probe_decision(self, key: str) -> Callable[[BreakerState], Decision[BreakerPermit]]:
        def decide(record: BreakerState) -> Decision[BreakerPermit]:
            now = self._clock.now()
            answer = decide_without_store(key, record, now, self.settings)
            if answer is not None:
                return None, answer
            lease_id = secrets.token_hex(8)
            expiry = now + self.settings.probe_lease_seconds
            if record.state is CircuitState.OPEN:
                updated = record.half_opened(now, lease_id, expiry)
            else:
                updated = record.with_lease(now, lease_id, expiry)
            return updated, BreakerPermit(key, True, updated.state, updated.generation, "probe", lease_id=lease_id)

        return decide

    def _probe_success_decision(self, permit: BreakerPermit) -> Callable[[BreakerState], Decision[None]]:
        def decide(record: BreakerState) -> Decision[None]:
            if record.state is not CircuitState.HALF_OPEN or record.generation != permit.generation:
                return None, None  # another probe already decided this phase
            now = self._clock.now()
            updated = record.with_probe_success(now, permit.lease_id)
            if updated.half_open_successes >= self.settings.success_to_close:
                updated = updated.closed(now)
            return updated, None

        return decide

    def _probe_failure_decision(self, permit: BreakerPermit) -> Callable[[BreakerState], Decision[None]]:
        def decide(record: BreakerState) -> Decision[None]:
            if record.state is not CircuitState.HALF_OPEN or record.generation != permit.generation:
                return None, None
            return record.opened(self._clock.now()), None

        return decide

    def _probe_neutral_decision(self, permit: BreakerPermit) -> Callable[[BreakerState], Decision[None]]:
        def decide(record: BreakerState) -> Decision[None]:
            if record.state is not CircuitState.HALF_OPEN or record.generation != permit.generation:
                return None, None
            if permit.lease_id not in record.probe_leases:
                return None, None
            return record.without_lease(self._clock.now(), permit.lease_id), None

        return decide

    def _trip_decision(self, generation: int, reason: TransitionReason) -> Callable[[BreakerState], Decision[None]]:
        def decide(record: BreakerState) -> Decision[None]:
            if record.state is not CircuitState.CLOSED or record.generation != generation:
                return None, None  # someone else opened it (or it moved on): exactly one opening
            if reason is TransitionReason.CONSECUTIVE_FAILURES and not consecutive_trips(record, self.settings):
                return None, None  # a success reset the run of failures meanwhile
            return record.opened(self._clock.now()), None

        return decide

    def _forget_failures_decision(self, permit: BreakerPermit) -> Callable[[BreakerState], Decision[None]]:
        def decide(record: BreakerState) -> Decision[None]:
            closed_here = record.state is CircuitState.CLOSED and record.generation == permit.generation
            if not closed_here or record.consecutive_failures == 0:
                return None, None
            return record.with_failures_forgotten(), None

        return decide

    # --- store access ---

    async def _transact(
        self,
        key: str,
        decide: Callable[[BreakerState], Decision[T]],
        gave_up: T,
        *,
        first: BreakerState | None,
        reason: TransitionReason | None = None,
    ) -> T:
        """Read, decide, compare-and-set; on a lost race re-read and decide again (bounded)."""
        record = first
        for _ in range(self.settings.max_attempts):
            if record is None:
                record = await self._read(key)
                self._cache.put(key, record)
            updated, result = decide(record)
            if updated is None:
                return result
            expected = ABSENT if record.version is None else record.version
            try:
                version = await self._store.put(_pk(key), STATE_SK, updated.to_item(), expect_version=expected)
            except ConditionFailed:
                record = None
                continue
            written = replace(updated, version=version)
            self._cache.put(key, written)
            self._announce(key, record, written, reason)
            return result
        log.warning("circuit breaker %s: gave up after %d contended attempts", key, self.settings.max_attempts)
        return gave_up

    async def _read(self, key: str) -> BreakerState:
        return BreakerState.from_item(await self._store.get(_pk(key), STATE_SK))

    async def _count_consecutive_failure(self, key: str, generation: int) -> BreakerState | None:
        """Atomically count one more failure in phase ``generation``; None when the phase is over."""
        try:
            item = await self._store.add(
                _pk(key), STATE_SK, {"consecutive_failures": 1, "generation": 0}, limit=("generation", generation)
            )
        except ConditionFailed:
            return None
        return BreakerState.from_item(item)

    async def _count_in_window(self, key: str, generation: int, *, failed: bool) -> None:
        if self.settings.failure_ratio is None:
            return
        bucket = window_bucket(self._clock.now(), self.settings)
        deltas = {"requests": 1, "failures": 1} if failed else {"requests": 1}
        await self._store.add(
            _pk(key),
            window_sk(generation, bucket),
            deltas,
            expires_at=window_expires_at(bucket, self.settings),
        )

    async def _window_counts(self, key: str, generation: int) -> tuple[int, int]:
        last = window_bucket(self._clock.now(), self.settings)
        first = last - self.settings.window_buckets + 1
        items = await self._store.query(_pk(key), window_sk(generation, first), window_sk(generation, last))
        return sum_window(items)

    def _announce(self, key: str, before: BreakerState, after: BreakerState, reason: TransitionReason | None) -> None:
        if before.state is after.state:
            return  # counts changed, the state did not
        if reason is None:
            reason = _reason_for(before.state, after.state)
        log.info("circuit breaker %s: %s -> %s (%s)", key, before.state, after.state, reason)
        if self._on_transition is None:
            return
        try:
            self._on_transition(Transition(key, before.state, after.state, reason, after.generation, self._clock.now()))
        except Exception:  # a metrics hook must never fail the request that caused the transition
            log.exception("circuit breaker %s: on_transition hook failed", key)


def _pk(key: str) -> str:
    if not key:
        raise ValueError("a breaker key must be non-empty")
    return f"breaker#{key}"


def _reason_for(before: CircuitState, after: CircuitState) -> TransitionReason:
    if after is CircuitState.HALF_OPEN:
        return TransitionReason.COOLDOWN_ELAPSED
    if after is CircuitState.CLOSED:
        return TransitionReason.PROBES_SUCCEEDED
    if before is CircuitState.HALF_OPEN:
        return TransitionReason.PROBE_FAILED
    return TransitionReason.CONSECUTIVE_FAILURES
