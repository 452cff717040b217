"""Batch records: each request is answered once and counted once, whatever the queue delivers twice, a crash
leaves claimed, or a cancel interrupts (``jobs/records.py``), on the in-memory store and on DynamoDB (moto).
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import pytest

from aimux_core.jobs.ids import ANTHROPIC_BATCH, new_id
from aimux_core.jobs.records import PROCESSING_SECONDS, BatchBook, BatchRecord, Claimed
from aimux_core.state import FakeClock, MemoryStore, Store
from support.dynamo import moto_server, moto_store  # noqa: F401  (fixtures)

LEASE = 60.0


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(start=1_800_000_000.0)


@pytest.fixture
def memory_store(clock: FakeClock) -> Iterator[Store]:
    yield MemoryStore(clock)


@pytest.fixture(params=["memory_store", "moto_store"])
def book(request: pytest.FixtureRequest, clock: FakeClock) -> BatchBook:
    return BatchBook(request.getfixturevalue(request.param), clock)


def created(book: BatchBook, total: int = 3) -> BatchRecord:
    now = book.clock.now()
    record = BatchRecord(
        new_id(ANTHROPIC_BATCH, now),
        "anthropic",
        "key_x",
        total,
        now,
        now + PROCESSING_SECONDS,
        "batches/x/input.jsonl",
        started_at=now,
    )
    asyncio.run(book.create(record))
    return record


def claimed(book: BatchBook, batch_id: str, index: int) -> Claimed:
    claim = asyncio.run(book.claim(batch_id, index, f"c{index}", LEASE))
    assert isinstance(claim, Claimed), claim
    return claim


def test_a_request_is_committed_once_and_a_second_delivery_finds_it_done(book: BatchBook) -> None:
    record = created(book)
    claim = claimed(book, record.id, 0)
    assert asyncio.run(book.commit(record.id, 0, claim, "succeeded", "c0", line='{"ok":1}'))
    assert asyncio.run(book.claim(record.id, 0, "c0", LEASE)) == "done"
    assert not asyncio.run(book.commit(record.id, 0, claim, "succeeded", "c0", line='{"ok":2}'))
    now = asyncio.run(book.get(record.id))
    assert now is not None and (now.done, now.running, now.n_succeeded) == (1, 0, 1)
    (item,) = asyncio.run(book.items(record.id))
    assert (item.index, item.state, item.line) == (0, "done", '{"ok":1}')


def test_a_dead_workers_claim_is_taken_over_after_its_lease_and_its_late_answer_is_dropped(
    book: BatchBook, clock: FakeClock
) -> None:
    record = created(book)
    first = claimed(book, record.id, 1)
    assert asyncio.run(book.claim(record.id, 1, "c1", LEASE)) == "busy"  # a duplicate delivery meanwhile
    clock.advance(LEASE + 1)
    second = claimed(book, record.id, 1)
    assert second.attempts == 2
    assert not asyncio.run(book.commit(record.id, 1, first, "succeeded", "c1", line="late"))
    assert asyncio.run(book.commit(record.id, 1, second, "errored", "c1", line="final"))
    now = asyncio.run(book.get(record.id))
    assert now is not None and (now.done, now.running, now.n_succeeded, now.n_errored) == (1, 0, 0, 1)
    assert [i.line for i in asyncio.run(book.items(record.id))] == ["final"]


def test_a_cancel_refuses_new_claims_but_lets_running_requests_finish(book: BatchBook) -> None:
    record = created(book)
    running = claimed(book, record.id, 0)
    asyncio.run(book.request_cancel(record.id))
    asyncio.run(book.request_cancel(record.id))  # idempotent
    assert asyncio.run(book.claim(record.id, 1, "c1", LEASE)) == "stopped"
    assert asyncio.run(book.commit(record.id, 0, running, "succeeded", "c0", line="x"))
    stopped = asyncio.run(book.get(record.id))
    assert stopped is not None and stopped.stop == 1 and stopped.cancel_initiated_at and stopped.running == 0
    closed = asyncio.run(book.close(stopped, expired=False))
    assert closed is not None and (closed.closed, closed.n_succeeded, closed.n_canceled) == (1, 1, 2)
    assert closed.counted == closed.total
    assert asyncio.run(book.open_ids()).count(record.id) == 0


def test_close_refuses_when_a_commit_raced_it_and_nothing_commits_after_it(book: BatchBook) -> None:
    record = created(book)
    claim_0, claim_1 = claimed(book, record.id, 0), claimed(book, record.id, 1)
    asyncio.run(book.commit(record.id, 0, claim_0, "succeeded", "c0", line="a"))
    asyncio.run(book.request_cancel(record.id))
    seen = asyncio.run(book.get(record.id))
    assert seen is not None
    asyncio.run(book.commit(record.id, 1, claim_1, "succeeded", "c1", line="b"))  # lands after the read
    assert asyncio.run(book.close(seen, expired=False)) is None
    fresh = asyncio.run(book.get(record.id))
    assert fresh is not None
    closed = asyncio.run(book.close(fresh, expired=True))
    assert closed is not None and (closed.n_succeeded, closed.n_expired) == (2, 1)
    assert not asyncio.run(book.record_once(record.id, 2, "succeeded", "c2", "too late"))
    assert len(asyncio.run(book.items(record.id))) == 2


def test_native_results_are_recorded_once(book: BatchBook) -> None:
    record = created(book, total=2)
    assert asyncio.run(book.record_once(record.id, 0, "succeeded", "c0", "x"))
    assert not asyncio.run(book.record_once(record.id, 0, "succeeded", "c0", "x"))
    assert asyncio.run(book.record_once(record.id, 1, "canceled", "c1", "y"))
    now = asyncio.run(book.get(record.id))
    assert now is not None and (now.done, now.n_succeeded, now.n_canceled) == (2, 1, 1)


def test_racing_workers_answer_each_request_exactly_once(memory_store: Store, clock: FakeClock) -> None:
    """Five workers get every message (duplicate deliveries) and run all ten requests concurrently."""
    book = BatchBook(memory_store, clock)
    record = created(book, total=10)
    answered: list[tuple[int, int]] = []

    async def worker(number: int) -> None:
        for index in range(10):
            claim = await book.claim(record.id, index, f"c{index}", LEASE)
            if not isinstance(claim, Claimed):
                continue
            await asyncio.sleep(0)
            if await book.commit(record.id, index, claim, "succeeded", f"c{index}", line=str(number)):
                answered.append((index, number))

    async def race() -> None:
        await asyncio.gather(*(worker(n) for n in range(5)))

    asyncio.run(race())
    assert sorted(index for index, _ in answered) == list(range(10))
    final = asyncio.run(book.get(record.id))
    assert final is not None and (final.done, final.running, final.n_succeeded) == (10, 0, 10)


def test_a_released_request_is_not_in_flight_until_claimed_again(book: BatchBook, clock: FakeClock) -> None:
    record = created(book)
    claim = claimed(book, record.id, 0)
    assert asyncio.run(book.release(record.id, 0, claim, clock.now() + 30))
    assert asyncio.run(book.claim(record.id, 0, "c0", LEASE)) == "busy"  # not before its retry time
    between = asyncio.run(book.get(record.id))
    assert between is not None and between.running == 0  # a cancel now need not wait for it
    clock.advance(31)
    again = claimed(book, record.id, 0)
    assert again.attempts == 2
    assert asyncio.run(book.get(record.id)).running == 1  # type: ignore[union-attr]
    assert asyncio.run(book.commit(record.id, 0, again, "succeeded", "c0", line="x"))
    assert asyncio.run(book.get(record.id)).running == 0  # type: ignore[union-attr]
