"""The response cache as the gateway uses it: open a ticket before admission, keep or abandon the answer.

    Gateway._admit    route (no I/O) → ``open``: the policy (``policy.py``); then, when the request may
                      be answered from the cache, one conditional write (``dedup.claim``) or, without
                      dedup, one read:
                        answer there, its target still in the route → hit: no admission, no upstream
                        another request computing it          → wait (``dedup.wait``), then hit, or
                                                                fall back to calling the upstream
                        nothing there                          → lead: admission, upstream, ``keep``
    buffered answer   ``keep``: packed (``entry.pack``) at once, so the response can say ``stored`` or
                      ``bypass`` (``too_large``); written by a background task (``drain``)
    stream            ``tap``: folds the events; at ``message_stop`` the message is kept as above
    failure           ``abandon``: the lease is given up so waiters fall back at once

A hit costs the client nothing: admission never ran, so no rate window, budget hold or spend is
touched, and ``Gateway.settle`` charges 0; the request is still published like any other (``Served.cache``
tells ``accounting/record.py`` it was a hit: no tokens consumed, ``CacheHits`` or ``DedupSaved`` 1).

Round trips before the upstream call: a hit makes one and calls nothing; a leader makes one (the claim),
then admission's (one, concurrent calls); so at most two, as on every path. A store failure never fails
the request: the cache is bypassed (reason ``store_unavailable``) and the request is served as usual.
"""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

from ..state.background import BackgroundWrites
from ..state.store import StoreError
from ..wire.accumulate import MessageAccumulator, StreamProtocolError
from . import dedup
from .cache_key import request_digest
from .entry import SK, answer_item, entry_pk, is_lease, pack, stored_answer
from .policy import Bypass, CachePlan, CachePolicy, Directive

if TYPE_CHECKING:
    from ..providers.base import RequestContext
    from ..routing.select import Decision
    from ..routing.table import RoutingTable, Target
    from ..state.clock import Clock
    from ..state.store import Store
    from ..wire.anthropic import EventStream, Message, MessagesRequest

log = logging.getLogger("aimux.cache")
CacheState = Literal["hit", "miss", "bypass", "stored"]
DedupRole = Literal["leader", "waited", "fallback", "timeout"]
_STORE_FAILURES = (StoreError, TimeoutError, OSError)
STATE_HEADER = "x-aimux-cache"
REASON_HEADER = "x-aimux-cache-reason"
DEDUP_HEADER = "x-aimux-dedup"


@dataclass(slots=True)
class CacheStatus:
    """What the response and the log line say about the cache for one request.

    ``state``: ``hit`` (answered from a stored answer), ``miss`` (looked up, not there: the upstream
    answers), ``stored`` (a miss whose answer is being stored), ``bypass`` (not used; ``reason`` says
    why). ``dedup``: ``leader`` (computed the answer others may wait for), ``waited`` (got another
    request's answer), ``fallback`` (waited, the other request failed or died, called the upstream
    itself), ``timeout`` (waited ``max_wait_seconds``, then called the upstream itself).
    """

    state: CacheState
    reason: str | None = None
    dedup: DedupRole | None = None

    @property
    def hit(self) -> bool:
        return self.state == "hit"

    def headers(self) -> dict[str, str]:
        found: dict[str, str] = {STATE_HEADER: self.state}
        if self.reason:
            found[REASON_HEADER] = self.reason
        if self.dedup:
            found[DEDUP_HEADER] = self.dedup
        return found


@dataclass(slots=True)
class CacheTicket:
    """One request's dealings with the cache, from ``open`` to ``keep`` or ``abandon``."""

    status: CacheStatus
    plan: CachePlan | None = None
    pk: str | None = None
    answer: Message | None = None
    """A hit: the stored answer, and ``target`` the target of the route that produced it."""
    target: Target | None = None
    token: int | None = None
    """The dedup lease this request holds (it leads), until ``keep`` or ``abandon``."""
    done: bool = False
    heartbeat: asyncio.Task[None] | None = field(default=None, repr=False)


@dataclass(frozen=True, slots=True)
class _Route:
    """What ``route_targets`` needs, kept until a stored answer is found (most lookups find none)."""

    table: RoutingTable
    request: MessagesRequest
    decision: Decision


def route_targets(table: RoutingTable, request: MessagesRequest, decision: Decision) -> dict[str, Target]:
    """Every target the request's route could have been served by, by key: a stored answer from any of
    them is the route's answer (failover included); one from a target no longer in the route is not."""
    found = {target.key: target for target in decision.targets}
    if decision.route == "explicit":
        return found
    direct = table.target_for(request.model)
    if direct is not None:
        found.setdefault(direct.key, direct)
    route = table.routes.get(decision.route)
    for tier in route.tiers if route is not None else ():
        for target in tier:
            found.setdefault(target.key, target)
    return found


class ResponseCache:
    """Answers by request over one ``Store`` (see the module docstring)."""

    def __init__(
        self,
        store: Store,
        clock: Clock,
        policy: CachePolicy,
        *,
        lease_seconds: float = 10.0,
        max_wait_seconds: float = 120.0,
    ) -> None:
        self.store = store
        self.clock = clock
        self.policy = policy
        self.lease_seconds = lease_seconds
        self.max_wait_seconds = max_wait_seconds
        self._writes = BackgroundWrites(log)

    async def open(
        self,
        request: MessagesRequest,
        context: RequestContext,
        decision: Decision,
        table: RoutingTable,
        *,
        directive: Directive | None,
        deadline: float,
    ) -> CacheTicket | None:
        """The request's ticket (a hit carries its answer), or None when the cache is not involved.

        A stored answer is served only when its target is one of the route's in ``table``
        (``route_targets``); ``deadline`` is the retry deadline, half of which a duplicate may spend
        waiting for the request in flight.
        """
        plan = self.policy.plan(request, decision.route, context.key, directive)
        if plan is None:
            return None
        if isinstance(plan, Bypass):
            return CacheTicket(CacheStatus("bypass", plan.reason))
        pk = entry_pk(request_digest(request, context, decision, plan.namespace))
        ticket = CacheTicket(CacheStatus("miss"), plan, pk)
        if not plan.lookup:
            ticket.status.reason = "refresh"
            return ticket
        try:
            await self._look_up(ticket, _Route(table, request, decision), deadline)
        except _STORE_FAILURES as exc:
            log.warning("response cache bypassed: state store unavailable (%s)", type(exc).__name__)
            self.abandon(ticket)
            return CacheTicket(CacheStatus("bypass", "store_unavailable"))
        return ticket

    def keep(self, ticket: CacheTicket | None, message: Message, target: Target) -> None:
        """Store the answer ``target`` gave (in the background); too large: bypass, and waiters fall back."""
        if ticket is None or ticket.done or ticket.plan is None or ticket.answer is not None:
            return
        body = pack(message)
        if body is None:
            self.abandon(ticket, "too_large")
            return
        self._finish(ticket)
        ticket.status.state = "stored"
        item = answer_item(body, target.key, self.clock.now(), ticket.plan.ttl_seconds)
        assert ticket.pk is not None
        self._writes.later(self.store.put(ticket.pk, SK, item, expect_version=None), "response cache store")

    def abandon(self, ticket: CacheTicket | None, reason: str | None = None) -> None:
        """The answer will not be stored (failure, step-down, too large): give the lease up at once.

        With ``reason`` the response says ``bypass`` and why; without, the status stays as it was.
        """
        if ticket is None or ticket.done:
            return
        token = ticket.token
        self._finish(ticket)
        if reason is not None:
            ticket.status.state = "bypass"
            ticket.status.reason = reason
        if token is not None and ticket.pk is not None:
            self._writes.later(
                dedup.give_up(self.store, ticket.pk, token, now=self.clock.now()), "response cache lease release"
            )

    async def tap(self, ticket: CacheTicket, events: EventStream, target: Target) -> EventStream:
        """Pass ``events`` through; keep the folded message at ``message_stop``, abandon a stream cut short."""
        folded: MessageAccumulator | None = MessageAccumulator()
        try:
            async for event in events:
                if folded is not None:
                    try:
                        folded.feed(event)
                    except StreamProtocolError:
                        folded = None  # nothing trustworthy to store; the client still gets every event
                if event.type == "message_stop" and folded is not None:
                    self.keep(ticket, folded.message(), target)
                yield event
        finally:
            self.abandon(ticket, "incomplete")  # nothing to do when the answer was kept
            await events.aclose()

    async def drain(self) -> None:
        """Wait for the background writes (tests, and Lambda before the process may freeze)."""
        await self._writes.drain()

    # ------------------------------------------------------------------ lookup

    async def _look_up(self, ticket: CacheTicket, targets: _Route, deadline: float) -> None:
        assert ticket.plan is not None and ticket.pk is not None
        if not ticket.plan.dedup:
            self._serve(ticket, await self.store.get(ticket.pk, SK), targets)
            return
        claim = await dedup.claim(self.store, ticket.pk, now=self.clock.now(), lease_seconds=self.lease_seconds)
        if claim.outcome == "lead":
            ticket.token = claim.token
            ticket.status.dedup = "leader"
            ticket.heartbeat = asyncio.ensure_future(self._renew(ticket, 2 * deadline + self.lease_seconds))
            return
        if not is_lease(claim.item):
            self._serve(ticket, claim.item, targets)
            return
        wait_limit = min(self.max_wait_seconds, deadline / 2)
        outcome, item = await dedup.wait(self.store, ticket.pk, limit_seconds=wait_limit)
        if outcome == "answered":
            self._serve(ticket, item, targets)
        if ticket.status.hit:
            ticket.status.dedup = "waited"
        else:
            ticket.status.dedup = "timeout" if outcome == "timeout" else "fallback"

    def _serve(self, ticket: CacheTicket, item: dict[str, Any] | None, route: _Route) -> None:
        """A hit when ``item`` holds an answer of one of the route's targets; else the ticket stays a miss."""
        found = stored_answer(item)
        if found is None:
            return
        target = route_targets(route.table, route.request, route.decision).get(found.target_key)
        if target is None:
            ticket.status.reason = "stale_target"  # the route changed since: answer anew, replace the entry
            return
        ticket.answer, ticket.target = found.message, target
        ticket.status.state = "hit"
        ticket.done = True

    # ------------------------------------------------------------------ the lease

    async def _renew(self, ticket: CacheTicket, longest: float) -> None:
        """Renew the lease every third of its life until the ticket is done, the lease was lost, or
        ``longest`` seconds passed (twice the retry deadline: a request whose ticket is never finished, a
        stream nobody started reading, must not hold its duplicates for ever)."""
        assert ticket.pk is not None and ticket.token is not None
        interval = self.lease_seconds / 3
        until = time.monotonic() + longest
        while time.monotonic() + interval < until:
            await asyncio.sleep(interval)
            try:
                held = await dedup.renew(
                    self.store, ticket.pk, ticket.token, now=self.clock.now(), lease_seconds=self.lease_seconds
                )
            except _STORE_FAILURES as exc:
                log.warning("dedup lease not renewed (%s)", type(exc).__name__)
                continue
            if not held:
                return

    def _finish(self, ticket: CacheTicket) -> None:
        ticket.done = True
        ticket.token = None
        if ticket.heartbeat is not None:
            ticket.heartbeat.cancel()
            ticket.heartbeat = None
