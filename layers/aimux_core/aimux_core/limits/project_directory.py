"""``ProjectDirectory``: every project's limits, read with one ``Query`` and kept per process.

The hot path must not pay a read to learn a caller's project limits. A key record already names its
project; the directory holds all project records (one partition, one ``Query``), so:

- **cold** (a new process): the key ring starts loading the directory as it starts reading a key
  (``warm``), so both reads share one round trip of latency, and admission then has the limits;
- **warm**: ``get`` answers from memory;
- **stale** (older than ``cache_seconds``): ``get`` answers from the old copy and refreshes it in the
  background, so an admin change reaches every process within about ``cache_seconds`` (like a key's
  revocation, ``keys/ring.py``) and no request ever waits for the refresh.

A name the copy does not know (a project created after the copy was read, in another process) is read
again at once, then remembered as missing for ``cache_seconds``: a new project's limits hold from its
first request, and a key that names a project that is gone costs one ``Query`` per ``cache_seconds``.
Changes made in this process (the admin routes of ``aimux serve``) are applied to the copy at once
(``remember``). A failed refresh keeps the old copy and is retried on the next ``get``; a failed first
load raises ``StoreUnavailable`` to the caller (authentication fails closed, as for a key lookup).
"""

from __future__ import annotations

import asyncio
import logging
import math

from ..state.clock import Clock
from ..state.store import Store, StoreError
from .project import PROJECT_RANGE, PROJECTS_PK, Project

log = logging.getLogger("aimux.projects")

Snapshot = dict[str, Project]


class ProjectDirectory:
    """Name → ``Project`` for every project, fresh for ``cache_seconds`` (see the module docstring)."""

    def __init__(self, store: Store, clock: Clock, cache_seconds: float = 30.0) -> None:
        if cache_seconds < 0:
            raise ValueError("cache_seconds must be >= 0")
        self.store = store
        self.clock = clock
        self.cache_seconds = cache_seconds
        self._snapshot: Snapshot | None = None
        self._loaded_at = 0.0
        self._loading: asyncio.Task[Snapshot] | None = None
        self._generation = 0
        self._missing: dict[str, float] = {}  # name -> when a fresh read did not have it (monotonic)

    def warm(self) -> None:
        """Start loading the directory when there is no copy yet (call it beside the key read)."""
        if self._snapshot is None:
            self._load()

    async def get(self, name: str | None) -> Project | None:
        """The project ``name`` (None: no project, or none by that name)."""
        if not name:
            return None
        snapshot = self._snapshot
        now = self.clock.monotonic()
        if snapshot is None or self.cache_seconds == 0:
            snapshot = await asyncio.shield(self._load())
        elif name not in snapshot and now - self._missing.get(name, -math.inf) >= self.cache_seconds:
            snapshot = await asyncio.shield(self._load())  # perhaps created since the copy was read
            if name not in snapshot and self._loaded_at < now:  # that read started before this request
                snapshot = await asyncio.shield(self._load())
            if name not in snapshot:
                self._missing[name] = now
        elif now - self._loaded_at >= self.cache_seconds:
            self._load()  # refresh in the background; this request uses the copy it has
        return snapshot.get(name)

    def remember(self, name: str, project: Project | None) -> None:
        """Apply a change this process just wrote (None: deleted), so its own requests see it at once."""
        self._generation += 1
        if self._snapshot is not None:
            snapshot = dict(self._snapshot)
            if project is None:
                snapshot.pop(name, None)
            else:
                snapshot[name] = project
            self._snapshot = snapshot

    def _load(self) -> asyncio.Task[Snapshot]:
        """The running load, or a new one (single flight: concurrent callers share one ``Query``)."""
        if self._loading is None:
            self._loading = asyncio.ensure_future(self._read())
            self._loading.add_done_callback(self._finished)
        return self._loading

    async def _read(self) -> Snapshot:
        generation, started = self._generation, self.clock.monotonic()
        items = await self.store.query(PROJECTS_PK, *PROJECT_RANGE)
        snapshot = {project.name: project for project in map(Project.from_item, items)}
        if generation == self._generation or self._snapshot is None:
            self._snapshot, self._loaded_at = snapshot, started  # as old as the read's start
        return self._snapshot if self._snapshot is not None else snapshot

    def _finished(self, task: asyncio.Task[Snapshot]) -> None:
        if self._loading is task:
            self._loading = None
        if task.cancelled():
            return
        error = task.exception()
        if error is not None and self._snapshot is not None:  # a background refresh: keep the old copy
            level = logging.WARNING if isinstance(error, StoreError) else logging.ERROR
            log.log(level, "project directory refresh failed (%s); keeping the copy read before", type(error).__name__)
