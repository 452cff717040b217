"""``LookupCache``: per-process memory of key lookups, bounded, fresh for ``ttl_seconds``.

Authentication must not cost a store read per request, so what a hash resolved to (a record, or
"no such key") is kept for a short time by the monotonic clock. Both kinds are bounded separately,
oldest first out: a client spraying random keys can only churn the small negative side and never
evicts the records of real keys, nor grow memory without bound. Concurrent lookups of one hash that
miss share one store read (``SingleFlight``).

Entries are keyed by the SHA-256 of the key, never the plaintext, so no secret stays in memory
beyond the request that carried it.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Awaitable, Callable

from ..state.clock import Clock
from ..state.single_flight import SingleFlight
from .record import ApiKeyRecord

Lookup = ApiKeyRecord | None


class LookupCache:
    """Hash → record (or None: unknown), each entry fresh for ``ttl_seconds`` (0: nothing is reused)."""

    def __init__(self, clock: Clock, ttl_seconds: float, *, max_known: int = 10_000, max_unknown: int = 1_000) -> None:
        if ttl_seconds < 0:
            raise ValueError("ttl_seconds must be >= 0")
        if max_known < 1 or max_unknown < 1:
            raise ValueError("cache bounds must be >= 1")
        self._clock = clock
        self.ttl_seconds = ttl_seconds
        self._bounds = {True: max_known, False: max_unknown}
        self._entries: dict[bool, OrderedDict[str, tuple[float, Lookup]]] = {True: OrderedDict(), False: OrderedDict()}
        self._flights: SingleFlight[str, Lookup] = SingleFlight()
        self._generation = 0

    def __len__(self) -> int:
        return len(self._entries[True]) + len(self._entries[False])

    def peek(self, digest: str) -> tuple[bool, Lookup]:
        """``(True, value)`` when a fresh entry exists, else ``(False, None)``; never loads."""
        for side in self._entries.values():
            entry = side.get(digest)
            if entry is not None and self._clock.monotonic() - entry[0] < self.ttl_seconds:
                return True, entry[1]
        return False, None

    def put(self, digest: str, value: Lookup) -> None:
        """Remember what ``digest`` resolves to now, as written by this process (an admin change)."""
        self._generation += 1
        self._store(digest, value)

    def _store(self, digest: str, value: Lookup) -> None:
        known = value is not None
        self._entries[not known].pop(digest, None)
        side = self._entries[known]
        side[digest] = (self._clock.monotonic(), value)
        side.move_to_end(digest)
        while len(side) > self._bounds[known]:
            side.popitem(last=False)

    def invalidate(self, digest: str | None = None) -> None:
        """Forget one hash, or everything."""
        self._generation += 1
        for side in self._entries.values():
            if digest is None:
                side.clear()
            else:
                side.pop(digest, None)

    async def get(self, digest: str, load: Callable[[], Awaitable[Lookup]]) -> Lookup:
        """The fresh value for ``digest``, loading it (once for all concurrent callers) when stale."""
        hit, value = self.peek(digest)
        if hit:
            return value
        return await self._flights.run(digest, lambda: self._load(digest, load))

    async def _load(self, digest: str, load: Callable[[], Awaitable[Lookup]]) -> Lookup:
        generation = self._generation
        value = await load()
        if self._generation == generation and self.ttl_seconds > 0:
            self._store(digest, value)
        # else: this process changed keys while the read was in flight; don't let a stale read win
        return value
