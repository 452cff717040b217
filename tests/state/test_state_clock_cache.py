"""Clocks, the per-process snapshot cache, and what only ``MemoryStore`` promises."""

from __future__ import annotations

import asyncio
import sys
import time

import pytest

from aimux_core.state import ABSENT, ConditionFailed, FakeClock, MemoryStore, SystemClock, TtlCache

pytestmark = pytest.mark.anyio


def test_fake_clock_moves_only_when_told() -> None:
    clock = FakeClock(start=100.0)
    assert (clock.now(), clock.monotonic()) == (100.0, 0.0)
    clock.advance(2.5)
    assert (clock.now(), clock.monotonic()) == (102.5, 2.5)
    clock.set(50.0)  # the wall clock steps back; the monotonic one does not
    assert (clock.now(), clock.monotonic()) == (50.0, 2.5)
    with pytest.raises(ValueError):
        clock.advance(-1)


def test_system_clock_reads_real_time() -> None:
    clock = SystemClock()
    assert abs(clock.now() - time.time()) < 5
    assert clock.monotonic() <= clock.monotonic()


class Loader:
    """Counts loads; each load yields to the loop first, like a store read."""

    def __init__(self) -> None:
        self.calls = 0
        self.value = "v0"
        self.fail: Exception | None = None

    async def __call__(self, key: str = "k") -> str:
        self.calls += 1
        await asyncio.sleep(0)
        if self.fail is not None:
            raise self.fail
        return f"{key}:{self.value}"


async def test_cache_serves_a_value_until_its_ttl_passes() -> None:
    clock, load = FakeClock(), Loader()
    cache: TtlCache[str, str] = TtlCache(clock, ttl_seconds=2.0)
    assert await cache.get("k", load) == "k:v0"
    load.value = "v1"
    clock.advance(1.999)
    assert await cache.get("k", load) == "k:v0"
    clock.advance(0.001)
    assert await cache.get("k", load) == "k:v1"
    assert load.calls == 2


async def test_zero_ttl_reads_every_time() -> None:
    clock, load = FakeClock(), Loader()
    cache: TtlCache[str, str] = TtlCache(clock, ttl_seconds=0)
    await cache.get("k", load)
    await cache.get("k", load)
    assert load.calls == 2
    with pytest.raises(ValueError):
        TtlCache(clock, ttl_seconds=-1)


async def test_concurrent_misses_share_one_load() -> None:
    clock, load = FakeClock(), Loader()
    cache: TtlCache[str, str] = TtlCache(clock, ttl_seconds=2.0)
    values = await asyncio.gather(*(cache.get("k", load) for _ in range(100)))
    assert set(values) == {"k:v0"} and load.calls == 1


@pytest.mark.skipif(sys.version_info < (3, 12), reason="eager tasks came with Python 3.12")
async def test_a_load_that_finished_eagerly_is_not_handed_to_the_next_caller() -> None:
    """Under an eager task factory a load that never waits is done before its done callback has run: the next
    stale read must load again, not get that finished load's (older) value."""
    loop = asyncio.get_running_loop()
    loop.set_task_factory(asyncio.eager_task_factory)  # type: ignore[attr-defined,unused-ignore]
    try:
        clock = FakeClock()
        cache: TtlCache[str, str] = TtlCache(clock, ttl_seconds=2.0)
        value = "v0"

        async def load() -> str:  # answers without waiting, as the local store does
            return value

        assert await cache.get("k", load) == "v0"
        value = "v1"
        clock.advance(2.0)
        assert await cache.get("k", load) == "v1"
    finally:
        loop.set_task_factory(None)


async def test_get_many_loads_only_the_stale_keys_once_each() -> None:
    clock, load = FakeClock(), Loader()
    cache: TtlCache[str, str] = TtlCache(clock, ttl_seconds=2.0)
    await cache.get("a", lambda: load("a"))
    assert await cache.get_many(["a", "b", "b", "c"], load) == {"a": "a:v0", "b": "b:v0", "c": "c:v0"}
    assert load.calls == 3


def test_get_many_answers_fresh_keys_without_suspending() -> None:
    """The per-request path: every key fresh means no task, no gather, not even one trip round the loop."""
    clock, load = FakeClock(), Loader()
    cache: TtlCache[str, str] = TtlCache(clock, ttl_seconds=2.0)
    cache.put("a", "a:v0")
    cache.put("b", "b:v0")
    pending = cache.get_many(["a", "b", "a"], load)
    with pytest.raises(StopIteration) as finished:
        pending.send(None)  # no event loop here: a suspension would surface as a yielded future instead
    assert finished.value.value == {"a": "a:v0", "b": "b:v0"} and load.calls == 0


async def test_a_failed_load_reaches_every_waiter_and_is_not_cached() -> None:
    clock, load = FakeClock(), Loader()
    cache: TtlCache[str, str] = TtlCache(clock, ttl_seconds=2.0)
    load.fail = RuntimeError("store down")
    results = await asyncio.gather(*(cache.get("k", load) for _ in range(5)), return_exceptions=True)
    assert all(isinstance(r, RuntimeError) for r in results) and load.calls == 1
    load.fail = None
    assert await cache.get("k", load) == "k:v0"


async def test_a_cancelled_waiter_does_not_cancel_the_shared_load() -> None:
    clock, load = FakeClock(), Loader()
    cache: TtlCache[str, str] = TtlCache(clock, ttl_seconds=2.0)
    first = asyncio.ensure_future(cache.get("k", load))
    second = asyncio.ensure_future(cache.get("k", load))
    await asyncio.sleep(0)
    first.cancel()
    assert await second == "k:v0"
    assert load.calls == 1


async def test_a_local_write_during_a_load_is_not_overwritten_by_the_older_read() -> None:
    clock = FakeClock()
    cache: TtlCache[str, str] = TtlCache(clock, ttl_seconds=2.0)

    async def slow_load() -> str:
        await asyncio.sleep(0)
        cache.put("k", "written-meanwhile")
        return "read-before-the-write"

    assert await cache.get("k", slow_load) == "written-meanwhile"
    assert cache.peek("k") == "written-meanwhile"


async def test_put_peek_and_invalidate() -> None:
    clock = FakeClock()
    cache: TtlCache[str, str] = TtlCache(clock, ttl_seconds=1.0)
    cache.put("a", "1")
    cache.put("b", "2")
    assert cache.peek("a") == "1"
    cache.invalidate("a")
    assert cache.peek("a") is None and cache.peek("b") == "2"
    cache.invalidate()
    assert cache.peek("b") is None


# --- MemoryStore specifics (beyond the shared contract) ---


def test_changes_move_only_when_a_value_changes_and_fresh_until_is_the_first_expiry() -> None:
    """What a view derived from the cache watches (``routing/view_memo.py``): an equal value put again
    (a success re-reading an unchanged breaker record) is no change; a new or unequal one, or forgetting, is."""
    clock = FakeClock()
    cache: TtlCache[str, tuple[int, ...]] = TtlCache(clock, ttl_seconds=2.0)
    start = cache.changes
    cache.put("a", (1, 2))
    assert cache.changes == start + 1
    clock.advance(0.5)
    cache.put("b", (0,))
    cache.put("a", (1, 2))  # equal: refreshed, not changed
    assert cache.changes == start + 2
    assert cache.fresh_until(["a", "b"]) == 2.5  # both put at 0.5 now: a's second put refreshed it
    assert cache.fresh_until(["a", "missing"]) is None
    cache.put("b", (1,))
    assert cache.changes == start + 3
    clock.advance(2.0)  # 2.5: both stale
    assert cache.fresh_until(["a"]) is None
    assert cache.monotonic() == 2.5
    cache.invalidate("a")
    assert cache.changes == start + 4


async def test_memory_store_interleaves_tasks_so_an_unconditional_read_modify_write_loses_updates() -> None:
    """Each operation yields once, so concurrency bugs show up in memory as they would against DynamoDB."""
    store = MemoryStore(FakeClock())
    await store.put("p", "s", {"n": 0}, expect_version=ABSENT)

    async def blind_increment() -> None:
        item = await store.get("p", "s")
        await store.put("p", "s", {"n": item["n"] + 1}, expect_version=None)

    async def checked_increment() -> None:
        while True:
            item = await store.get("p", "s")
            try:
                await store.put("p", "s", {"n": item["n"] + 1}, expect_version=item["version"])
                return
            except ConditionFailed:
                continue

    await asyncio.gather(*(blind_increment() for _ in range(10)))
    assert (await store.get("p", "s"))["n"] == 1  # nine increments lost
    await asyncio.gather(*(checked_increment() for _ in range(10)))
    assert (await store.get("p", "s"))["n"] == 11  # compare-and-set loses none


async def test_sweep_drops_expired_items() -> None:
    clock = FakeClock()
    store = MemoryStore(clock)
    await store.add("p", "old", {"n": 1}, expires_at=clock.now() + 1)
    await store.add("p", "new", {"n": 1}, expires_at=clock.now() + 100)
    await store.add("q", "forever", {"n": 1})
    clock.advance(1)
    assert store.sweep() == 1
    assert store.sweep() == 0
    assert [item["sk"] for item in await store.query("p", "a", "z")] == ["new"]


async def test_memory_store_defaults_to_the_system_clock() -> None:
    store = MemoryStore()
    await store.add("p", "s", {"n": 1}, expires_at=time.time() + 60)
    assert await store.get("p", "s") is not None
    with pytest.raises(TypeError):
        await store.put("p", "s", {}, expect_version="1")  # type: ignore[arg-type]
