"""In-flight dedup: one request computes an answer, identical requests on any instance wait for it.

The protocol lives on the request's entry item (``entry.py``) and needs no other state:

``claim``   one ``add(leases +1, token +<random>)`` with ``limit leases <= 1`` and the lease's expiry. It
            succeeds only when no live entry exists: this request leads (it calls the upstream and
            stores the answer). Refused, the store returns the live entry in the same round trip: an
            answer (a hit) or another request's lease (wait).
``renew``   the leader extends its lease every third of ``lease_seconds`` while it runs
            (``add(beats +1)`` expecting its own ``token``), so a lease outlives a slow upstream but
            not the instance holding it: a SIGKILLed Lambda stops renewing, and within
            ``lease_seconds`` its entry is gone.
``give_up`` the leader failed (upstream error, a stream cut short, an answer too large to store):
            its lease expires now (``add`` expecting its token, ``expires_at`` = now), so waiters fall
            back at their next poll instead of at the lease's end.
``wait``    a waiter polls the entry (``get``, strongly consistent) with backoff from 0.1 s to 0.5 s:
            an answer ends the wait; no entry means the leader died or gave up, and the waiter calls
            the upstream itself; a limit (``max_wait_seconds``, at most half the retry deadline) ends
            it too, and the waiter calls the upstream itself.

A waiter that falls back does not claim a lease of its own: the leader failing once is reason enough
not to make the others queue behind a second attempt. Its answer is stored like any miss.
"""

from __future__ import annotations

import asyncio
import secrets
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Literal

from ..state.store import ConditionFailed, Item, Store
from .entry import SK

FIRST_POLL_SECONDS = 0.1
MAX_POLL_SECONDS = 0.5
POLL_GROWTH = 1.5
_TOKEN_RANGE = 2**53 - 1  # a number DynamoDB and float-reading clients hold exactly

Claimed = Literal["lead", "found"]
Waited = Literal["answered", "gone", "timeout"]


@dataclass(frozen=True, slots=True)
class Claim:
    """``lead`` with this request's ``token``, or ``found`` with the live entry (an answer or a lease)."""

    outcome: Claimed
    token: int | None = None
    item: Item | None = None


async def claim(store: Store, pk: str, *, now: float, lease_seconds: float) -> Claim:
    """Take the lease on ``pk``'s entry, or read what is there (one conditional write)."""
    token = secrets.randbelow(_TOKEN_RANGE) + 1
    try:
        await store.add(pk, SK, {"leases": 1, "token": token}, limit={"leases": 1}, expires_at=now + lease_seconds)
    except ConditionFailed as refused:
        return Claim("found", item=refused.item)
    return Claim("lead", token=token)


async def renew(store: Store, pk: str, token: int, *, now: float, lease_seconds: float) -> bool:
    """Extend the lease ``token`` holds; False when it no longer holds it (expired, taken, or answered)."""
    try:
        await store.add(pk, SK, {"beats": 1}, expect={"token": token}, expires_at=now + lease_seconds)
    except ConditionFailed:
        return False
    return True


async def give_up(store: Store, pk: str, token: int, *, now: float) -> None:
    """End the lease ``token`` holds now (nothing happens when it no longer holds it)."""
    try:
        await store.add(pk, SK, {"beats": 1}, expect={"token": token}, expires_at=now)
    except ConditionFailed:
        return


async def wait(
    store: Store,
    pk: str,
    *,
    limit_seconds: float,
    sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    monotonic: Callable[[], float] = time.monotonic,
) -> tuple[Waited, Item | None]:
    """Poll ``pk``'s entry until it holds an answer (``answered``, the item), is gone (``gone``), or
    ``limit_seconds`` passed (``timeout``)."""
    deadline = monotonic() + limit_seconds
    delay = FIRST_POLL_SECONDS
    while True:
        remaining = deadline - monotonic()
        if remaining <= 0:
            return "timeout", None
        await sleep(min(delay, remaining))
        item = await store.get(pk, SK)
        if item is None:
            return "gone", None
        if "body" in item:
            return "answered", item
        delay = min(delay * POLL_GROWTH, MAX_POLL_SECONDS)
