"""``ProjectDirectory``: one ``Query`` for every project, kept per process; and the key ring reading it
beside a key, so a cold caller with a project still waits for one round trip, not two."""

from __future__ import annotations

import asyncio
from collections import Counter
from typing import Any

import pytest

from aimux_core.keys import KeyRing, create_key
from aimux_core.keys.ring import project_of
from aimux_core.limits.project import PROJECTS_PK, Project
from aimux_core.limits.project_directory import ProjectDirectory
from aimux_core.projects.admin import create_project, update_project
from aimux_core.state import FakeClock, MemoryStore
from aimux_core.state.store import ABSENT, StoreUnavailable

pytestmark = pytest.mark.anyio


class Watched(MemoryStore):
    """Counts calls by operation and partition, sleeps ``delay`` in each, and records calls in flight together."""

    def __init__(self, clock: FakeClock, delay: float = 0.0) -> None:
        super().__init__(clock)
        self.calls: Counter[str] = Counter()
        self.delay = delay
        self.in_flight: set[str] = set()
        self.together: list[frozenset[str]] = []
        self.fail = False

    async def _watch(self, what: str) -> None:
        self.calls[what] += 1
        if self.fail:
            raise StoreUnavailable("down")
        self.in_flight.add(what)
        self.together.append(frozenset(self.in_flight))
        await asyncio.sleep(self.delay)
        self.in_flight.discard(what)

    async def get(self, pk: str, sk: str) -> Any:
        await self._watch(f"get {pk.split('#')[0]}")
        return await super().get(pk, sk)

    async def query(self, pk: str, sk_from: str, sk_to: str) -> Any:
        await self._watch(f"query {pk.split('#')[0]}")
        return await super().query(pk, sk_from, sk_to)


async def plant(store: MemoryStore, name: str, **limits: Any) -> None:
    await store.put(PROJECTS_PK, name, Project(name=name, created_at=0.0, **limits).to_item(), expect_version=ABSENT)


async def test_one_query_serves_every_project_until_the_copy_is_stale(clock: FakeClock) -> None:
    store = Watched(clock)
    await plant(store, "web", rpm=10)
    await plant(store, "data", tpm=5)
    directory = ProjectDirectory(store, clock, cache_seconds=30)
    found = await asyncio.gather(*(directory.get(name) for name in ("web", "data", "web")))
    assert [p.name for p in found if p] == ["web", "data", "web"] and store.calls["query projects"] == 1
    assert (await directory.get("web")).rpm == 10  # type: ignore[union-attr]
    assert await directory.get(None) is None and store.calls["query projects"] == 1
    await store.put(PROJECTS_PK, "web", Project(name="web", created_at=0.0, rpm=20).to_item(), expect_version=None)
    clock.advance(30)
    assert (await directory.get("web")).rpm == 10  # type: ignore[union-attr]  # stale: the old copy, refreshed behind
    await asyncio.sleep(0.01)
    assert store.calls["query projects"] == 2 and (await directory.get("web")).rpm == 20  # type: ignore[union-attr]


async def test_a_name_the_copy_lacks_is_read_again_then_remembered_missing(clock: FakeClock) -> None:
    store = Watched(clock)
    directory = ProjectDirectory(store, clock, cache_seconds=30)
    assert await directory.get("web") is None and store.calls["query projects"] == 1
    await plant(store, "web", rpm=3)  # created by another process
    assert (await directory.get("web")).rpm == 3  # type: ignore[union-attr]  # its first request sees it
    assert store.calls["query projects"] == 2
    assert await directory.get("gone") is None and store.calls["query projects"] == 3
    assert await directory.get("gone") is None and store.calls["query projects"] == 3  # missing, remembered
    clock.advance(30)
    assert await directory.get("gone") is None and store.calls["query projects"] == 4


async def test_changes_made_here_apply_at_once_and_failures_keep_the_copy(clock: FakeClock) -> None:
    store = Watched(clock)
    ring = KeyRing(store, clock, cache_seconds=30)
    await create_project(ring, "web", rpm=1)
    assert (await ring.projects.get("web")).rpm == 1  # type: ignore[union-attr]
    await update_project(ring, "web", {"rpm": 7})
    queries = store.calls["query projects"]
    assert (await ring.projects.get("web")).rpm == 7 and store.calls["query projects"] == queries  # type: ignore[union-attr]
    store.fail = True
    clock.advance(31)
    assert (await ring.projects.get("web")).rpm == 7  # type: ignore[union-attr]  # refresh fails: the copy stays
    await asyncio.sleep(0.01)
    cold = ProjectDirectory(store, clock)
    with pytest.raises(StoreUnavailable):
        await cold.get("web")


async def test_a_cold_key_and_its_project_are_read_in_one_round_trip(clock: FakeClock) -> None:
    store = Watched(clock)
    setup = KeyRing(store, clock)
    await create_project(setup, "web", rpm=5)
    plaintext, _ = await create_key(setup, name="site", project="web")
    store.delay, store.together = 0.05, []
    ring = KeyRing(store, clock, cache_seconds=30)  # a new process: nothing cached
    record = await ring.authenticate(plaintext)
    project = await project_of(ring, record)
    assert project is not None and project.rpm == 5
    assert frozenset({"get key", "query projects"}) in store.together  # sent together: one round trip
    calls = sum(store.calls.values())
    await ring.authenticate(plaintext)
    await project_of(ring, record)
    assert sum(store.calls.values()) == calls  # warm: no store call at all


async def test_a_project_lookup_that_cannot_reach_the_store_fails_closed(clock: FakeClock) -> None:
    from aimux_core.errors import Overloaded

    store = Watched(clock)
    setup = KeyRing(store, clock)
    await create_project(setup, "web")
    plaintext, record = await create_key(setup, name="site", project="web")
    ring = KeyRing(store, clock)
    ring.remember(record.key_hash, record)  # the key is cached, the directory is not
    store.fail = True
    with pytest.raises(Overloaded):
        await project_of(ring, await ring.authenticate(plaintext))
