"""``SingleFlight``: concurrent loads of one key share one call.

The per-process caches (``state/cache.py`` snapshots, ``keys/lookup.py`` key lookups) exist so the
hot path does not read the store per request; when an entry is stale, a burst of requests must still
cost one read, not one each. The first caller starts the load, every concurrent caller for the same key
awaits that same task, and its result or error goes to all of them. A caller that is cancelled (a client
gone) does not cancel the load the others wait for.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Hashable
from typing import Generic, TypeVar

K = TypeVar("K", bound=Hashable)
V = TypeVar("V")


class SingleFlight(Generic[K, V]):
    def __init__(self) -> None:
        self._loading: dict[K, asyncio.Task[V]] = {}

    async def run(self, key: K, load: Callable[[], Awaitable[V]]) -> V:
        """``await load()``, or the result of the load of ``key`` already in flight."""
        task = self._loading.get(key)
        if task is None or task.done():  # done: over, even if its callback has not run yet (an eager task)
            task = asyncio.ensure_future(load())
            self._loading[key] = task
            task.add_done_callback(lambda done: self._finished(key, done))
        return await asyncio.shield(task)

    def _finished(self, key: K, task: asyncio.Task[V]) -> None:
        if self._loading.get(key) is task:
            del self._loading[key]
        if not task.cancelled():
            task.exception()  # mark retrieved: the waiters already got it, or nobody is left to
