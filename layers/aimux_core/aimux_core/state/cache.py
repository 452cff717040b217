"""A per-process snapshot cache: values stay fresh for ``ttl_seconds``, loads are shared.

The hot path must not read the store per request, so breaker and health snapshots are kept here for a
few seconds (by the monotonic clock). When a value is stale, concurrent callers share one load
(``SingleFlight``): a burst of a hundred requests after expiry costs one store read, not a hundred. A
failed load is not cached; its error goes to everyone who waited for it.

Staleness is the price: a change made by another instance is seen here up to ``ttl_seconds`` late.
Changes this process makes itself are ``put`` straight in, so it always sees its own writes.

A view derived from cached values can be kept and reused (routing's health view: ``routing/guard.py``)
while ``changes`` has not moved and ``fresh_until`` has not passed: it would be derived again from the
very same values.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Hashable, Iterable
from typing import Generic, TypeVar

from .clock import Clock
from .single_flight import SingleFlight

K = TypeVar("K", bound=Hashable)
V = TypeVar("V")


class TtlCache(Generic[K, V]):
    """Values (never None) by key, fresh for ``ttl_seconds`` after they were stored (0: no reuse)."""

    def __init__(self, clock: Clock, ttl_seconds: float) -> None:
        if ttl_seconds < 0:
            raise ValueError("ttl_seconds must be >= 0")
        self._clock = clock
        self.ttl_seconds = ttl_seconds
        self._entries: dict[K, tuple[float, V]] = {}
        self._flights: SingleFlight[K, V] = SingleFlight()
        self._writes: dict[K, int] = {}
        self.changes = 0
        """Bumped whenever a stored value changes (a new key, an unequal value) or is forgotten."""

    def peek(self, key: K, grace: float = 0.0) -> V | None:
        """The value if it is still fresh (or stale by less than ``grace`` seconds), else None; never loads."""
        entry = self._entries.get(key)
        if entry is None:
            return None
        stored_at, value = entry
        if self._clock.monotonic() - stored_at >= self.ttl_seconds + grace:
            return None
        return value

    def put(self, key: K, value: V) -> None:
        """Store a value known to be current (fresh from the store, or just written)."""
        old = self._entries.get(key)
        if old is None or old[1] != value:
            self.changes += 1
        self._entries[key] = (self._clock.monotonic(), value)
        self._writes[key] = self._writes.get(key, 0) + 1

    def invalidate(self, key: K | None = None) -> None:
        """Forget one key, or everything."""
        self.changes += 1
        if key is None:
            self._entries.clear()
        else:
            self._entries.pop(key, None)

    async def get(self, key: K, load: Callable[[], Awaitable[V]]) -> V:
        """The fresh value, loading it (once, shared by concurrent callers) when stale."""
        value = self.peek(key)
        if value is not None:
            return value
        return await self._flights.run(key, lambda: self._load(key, load))

    def all_fresh(self, keys: Iterable[K]) -> bool:
        """Whether every key has a fresh value (``get_many`` would not load)."""
        return all(self.peek(key) is not None for key in keys)

    def monotonic(self) -> float:
        """Now, on the clock freshness is measured by (``fresh_until``)."""
        return self._clock.monotonic()

    def fresh_until(self, keys: Iterable[K]) -> float | None:
        """When the first of ``keys`` goes stale (``monotonic``), or None when one is already stale or absent."""
        now = self._clock.monotonic()
        ttl = self.ttl_seconds
        first = float("inf")
        for key in keys:
            entry = self._entries.get(key)
            if entry is None or now - entry[0] >= ttl:
                return None
            first = min(first, entry[0] + ttl)
        return first

    def peek_many(self, keys: Iterable[K], grace: float = 0.0) -> dict[K, V] | None:
        """Every key's fresh value (or stale by less than ``grace``), or None as soon as one is not; never loads."""
        fresh: dict[K, V] = {}
        for key in keys:
            value = self.peek(key, grace)
            if value is None:
                return None
            fresh[key] = value
        return fresh

    async def get_many(self, keys: Iterable[K], load: Callable[[K], Awaitable[V]]) -> dict[K, V]:
        """Fresh values for all ``keys``; the stale ones are loaded concurrently."""
        unique = list(dict.fromkeys(keys))
        fresh = self.peek_many(unique)  # the warm path (every request between refreshes): no task, no gather
        if fresh is not None:
            return fresh
        values = await asyncio.gather(*(self.get(key, _bind(load, key)) for key in unique))
        return dict(zip(unique, values, strict=True))

    async def _load(self, key: K, load: Callable[[], Awaitable[V]]) -> V:
        writes_before = self._writes.get(key, 0)
        value = await load()
        if self._writes.get(key, 0) != writes_before:
            # this process stored a newer value while the load was reading: keep the newer one
            newer = self.peek(key)
            if newer is not None:
                return newer
        self.put(key, value)
        return value


def _bind(load: Callable[[K], Awaitable[V]], key: K) -> Callable[[], Awaitable[V]]:
    return lambda: load(key)
