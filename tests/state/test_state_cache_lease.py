"""The response cache's dedup lease on one entry item, on every ``Store`` (memory, moto, dynalite).

One conditional write decides lead / answer there / someone computing it; the leader renews its lease,
gives it up when it fails, and replaces it with the answer; waiters see the answer, or the entry gone.
Time is the ``FakeClock``: expiry is exact and instant.
"""

from __future__ import annotations

import asyncio

import pytest

from aimux_core.cache import dedup
from aimux_core.cache.entry import SK, answer_item
from aimux_core.state import FakeClock, Store

pytestmark = pytest.mark.anyio
LEASE = 10.0


async def test_the_first_claim_leads_and_later_ones_find_its_lease(store: Store, ns: str, clock: FakeClock) -> None:
    pk = f"{ns}#rcache"
    first = await dedup.claim(store, pk, now=clock.now(), lease_seconds=LEASE)
    assert first.outcome == "lead" and first.token is not None
    second = await dedup.claim(store, pk, now=clock.now(), lease_seconds=LEASE)
    assert second.outcome == "found" and second.item is not None
    assert second.item["token"] == first.token and "body" not in second.item


async def test_a_lease_nobody_renews_expires_and_the_next_claim_leads(store: Store, ns: str, clock: FakeClock) -> None:
    pk = f"{ns}#rcache"
    first = await dedup.claim(store, pk, now=clock.now(), lease_seconds=LEASE)
    clock.advance(LEASE)
    assert await store.get(pk, SK) is None  # the leader died: its entry is gone for everyone
    second = await dedup.claim(store, pk, now=clock.now(), lease_seconds=LEASE)
    assert second.outcome == "lead" and second.token != first.token
    assert first.token is not None
    assert not await dedup.renew(store, pk, first.token, now=clock.now(), lease_seconds=LEASE)  # not its lease


async def test_renewing_keeps_the_lease_alive_past_its_first_expiry(store: Store, ns: str, clock: FakeClock) -> None:
    pk = f"{ns}#rcache"
    lead = await dedup.claim(store, pk, now=clock.now(), lease_seconds=LEASE)
    assert lead.token is not None
    for _ in range(3):
        clock.advance(LEASE * 2 / 3)
        assert await dedup.renew(store, pk, lead.token, now=clock.now(), lease_seconds=LEASE)
    assert (await dedup.claim(store, pk, now=clock.now(), lease_seconds=LEASE)).outcome == "found"


async def test_giving_up_frees_the_entry_at_once(store: Store, ns: str, clock: FakeClock) -> None:
    pk = f"{ns}#rcache"
    lead = await dedup.claim(store, pk, now=clock.now(), lease_seconds=LEASE)
    assert lead.token is not None
    await dedup.give_up(store, pk, lead.token, now=clock.now())
    assert await store.get(pk, SK) is None
    await dedup.give_up(store, pk, lead.token, now=clock.now())  # again: nothing to do, no error
    assert (await dedup.claim(store, pk, now=clock.now(), lease_seconds=LEASE)).outcome == "lead"


async def test_the_answer_replaces_the_lease_and_is_what_later_claims_find(
    store: Store, ns: str, clock: FakeClock
) -> None:
    pk = f"{ns}#rcache"
    lead = await dedup.claim(store, pk, now=clock.now(), lease_seconds=LEASE)
    assert lead.token is not None
    await store.put(pk, SK, answer_item(b"\x78\x9c answer", "up/m", clock.now(), 3600), expect_version=None)
    found = await dedup.claim(store, pk, now=clock.now(), lease_seconds=LEASE)
    assert found.outcome == "found" and found.item is not None and found.item["body"] == b"\x78\x9c answer"
    assert not await dedup.renew(store, pk, lead.token, now=clock.now(), lease_seconds=LEASE)  # answered
    await dedup.give_up(store, pk, lead.token, now=clock.now())  # a late give-up never removes an answer
    clock.advance(LEASE * 10)
    assert (await store.get(pk, SK) or {}).get("target") == "up/m"  # the answer lives for its ttl, not the lease's


async def test_waiting_ends_with_the_answer_the_entry_gone_or_the_limit(
    store: Store, ns: str, clock: FakeClock
) -> None:
    """``sleep`` moves the fake clock, so every poll is exact and the test takes no time."""
    polls: list[float] = []

    async def sleep(seconds: float) -> None:
        polls.append(seconds)
        clock.advance(seconds)

    answered, gone, slow = f"{ns}#a", f"{ns}#g", f"{ns}#s"
    for pk in (answered, gone):
        await dedup.claim(store, pk, now=clock.now(), lease_seconds=LEASE)
    await store.put(answered, SK, answer_item(b"x", "up/m", clock.now(), 60), expect_version=None)
    outcome, item = await dedup.wait(store, answered, limit_seconds=5, sleep=sleep, monotonic=clock.monotonic)
    assert outcome == "answered" and item is not None and item["body"] == b"x"

    polls.clear()
    outcome, item = await dedup.wait(store, gone, limit_seconds=60, sleep=sleep, monotonic=clock.monotonic)
    assert (outcome, item) == ("gone", None)  # the lease expired while waiting: its leader died
    assert polls[:3] == pytest.approx([0.1, 0.15, 0.225]) and max(polls) == dedup.MAX_POLL_SECONDS

    start = clock.monotonic()
    await dedup.claim(store, slow, now=clock.now(), lease_seconds=LEASE)  # a leader still working at the limit
    assert not await dedup.renew(store, slow, 0, now=clock.now(), lease_seconds=LEASE)  # not the holder: no effect
    outcome, item = await dedup.wait(store, slow, limit_seconds=3, sleep=sleep, monotonic=clock.monotonic)
    assert (outcome, item) == ("timeout", None) and clock.monotonic() - start == pytest.approx(3)


async def test_of_many_identical_requests_exactly_one_leads(store: Store, ns: str, clock: FakeClock) -> None:
    pk = f"{ns}#rcache"
    claims = await asyncio.gather(*(dedup.claim(store, pk, now=clock.now(), lease_seconds=LEASE) for _ in range(20)))
    leaders = [c for c in claims if c.outcome == "lead"]
    assert len(leaders) == 1
    assert all(c.item is not None and c.item["token"] == leaders[0].token for c in claims if c.outcome == "found")
