"""The breaker-and-health ``Guard`` dispatch uses: permit before a call, bookkeeping after it.

- Breakers are keyed per provider, or per provider+model when ``scope`` is ``"model"``; health
  statistics always per provider+model (the key lowest-latency routing orders by).
- ``admit`` reads the breaker through its per-process cache: no store round trip on the hot path
  while the circuit is closed. ``force`` (every target of the request is down) admits past an open
  circuit, after trying for a probe lease; such a call is not counted against the breaker.
- What the breaker counts (``failed``): faults only (``UpstreamError.is_fault``: connection
  failures, timeouts, malformed answers, 5xx that are not overload), at most once per breaker key per
  client request (``blamed``). Load signals, exhausted quotas, refused keys and repeats within one
  request count nothing: a probe gives its slot back. Client errors (4xx that are the request's
  fault) say the upstream works: they count as successes.
- Results are recorded after the answer, off the request path: each is a background task, so the
  client never waits for a state write. ``drain()`` awaits the pending writes (Lambda handlers and
  tests call it before the process may freeze).
- ``view`` is what routing sees: open circuits, cooldowns, latencies (and, behind ``CappedGuard``,
  requests in flight), from per-process snapshots refreshed together every few seconds. Cooldowns the
  fleet wrote come with the health snapshot and are handed to ``cooldowns`` (``state.cooldowns``). A
  health snapshot a little past its freshness is used while it refreshes in the background
  (``HealthTracker.usable_snapshot``): a warm instance's request waits for no health read.
  A view is computed for every target the configuration names, so it is kept (``ViewMemo``) and handed
  out again while it would be computed identically: no cache it came from has changed or gone stale,
  and nothing in it depends on the time (every circuit closed, no cooldown). A request then pays for
  its view once per refresh, not once per configured target.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import replace
from functools import partial
from typing import Any, Literal

from ..errors import UpstreamError
from ..limits.provider_caps import Lease, ProviderLimiter
from ..state.background import BackgroundWrites, both
from ..state.breaker import CircuitBreaker
from ..state.breaker_model import BreakerView, CircuitState
from ..state.cache import TtlCache
from ..state.clock import Clock
from ..state.cooldowns import Cooldowns
from ..state.failure_policy import StateFailurePolicy
from ..state.health import FailureNote, HealthSummary, HealthTracker
from ..state.request_errors import excerpt
from ..state.store import StoreError
from ..translate.upstream_errors import failure_kind
from .dispatch import Refusal
from .select import HealthView, Resting
from .table import Target
from .view_memo import ViewMemo

log = logging.getLogger("aimux.guard")
BreakerScope = Literal["provider", "model"]
_AT_CAP = Refusal("provider at its limits", forcible=False)


AttemptResult = Literal["ok", "failed", "neutral"]


def _is_client_fault(error: UpstreamError) -> bool:
    return not error.retryable and error.status < 500


def failure_note(error: UpstreamError) -> FailureNote:
    """What the health bucket keeps of a failed call: its kind, the upstream's status, a redacted excerpt."""
    return FailureNote(failure_kind(error), error.upstream_status, excerpt(error.message))


class BreakerGuard:
    """``breakers`` maps a provider to its breaker (per-provider settings); ``default`` serves the rest."""

    def __init__(
        self,
        default: CircuitBreaker,
        health: HealthTracker,
        *,
        breakers: Mapping[str, CircuitBreaker] | None = None,
        scope: BreakerScope = "provider",
        cooldowns: Cooldowns | None = None,
    ) -> None:
        self.default = default
        self.breakers = dict(breakers or {})
        self.health = health
        self.scope = scope
        self.cooldowns = cooldowns
        self._writes = BackgroundWrites(log)
        self._warming: set[asyncio.Task[HealthView]] = set()  # held until done (the loop keeps weak references)
        self._memo: ViewMemo | None = None

    def breaker_key(self, target: Target) -> str:
        """``state.breaker.breaker_key`` of the target under this guard's scope (its ``key`` is the per-model one)."""
        return target.key if self.scope == "model" else target.provider

    def breaker_for(self, target: Target) -> CircuitBreaker:
        return self.breakers.get(target.provider, self.default)

    async def acquire(self, target: Target, *, force: bool = False) -> Any:
        try:
            permit = await self.breaker_for(target).allow(self.breaker_key(target))
        except StoreError as exc:  # state unreachable: serve rather than refuse (the policy of a later issue)
            log.warning("breaker state unavailable for %s: %s", target.key, type(exc).__name__)
            return True
        if permit.allowed:
            return permit
        if force:
            return True  # every target is down: call this one anyway, outside the breaker's books
        return Refusal(f"circuit {permit.reason.replace('_', ' ')}", permit.retry_after)

    async def succeeded(self, target: Target, ticket: Any, latency_ms: float, ttft_ms: float | None) -> None:
        self._later(self._record(target, ticket, "ok", latency_ms=latency_ms, ttft_ms=ttft_ms))

    async def failed(self, target: Target, ticket: Any, error: UpstreamError, blamed: set[str]) -> None:
        if error.quota:  # plan quota ran out: the target cools down; nothing to count, not even in health
            self._later(self._record(target, ticket, "neutral", latency_ms=0.0, ttft_ms=None, count_health=False))
            return
        if _is_client_fault(error):
            self._later(self._record(target, ticket, "ok", latency_ms=0.0, ttft_ms=None, count_health=False))
            return
        key = self.breaker_key(target)
        outcome: AttemptResult = "neutral"
        if error.is_fault and key not in blamed:
            blamed.add(key)
            outcome = "failed"
        self._later(self._record(target, ticket, outcome, latency_ms=0.0, ttft_ms=None, failure=failure_note(error)))

    async def view(self, targets: Iterable[Target]) -> HealthView:
        """Open circuits, cooldowns and recent latencies of ``targets``, from the per-process caches
        (the same view again while it would be computed identically: see the module docstring)."""
        targets = tuple(targets)
        memo = self._memo
        if memo is not None and memo.holds(targets):
            return memo.view
        keys = {self.breaker_key(t): t for t in targets}
        cached = self._cached_views(keys, targets)
        if cached is not None:  # the warm path (every request between refreshes): no task, no gather
            breakers, health, fresh = cached
        else:  # something is stale: its reads go out together (one round trip of the state store)
            try:
                breakers, health = await asyncio.gather(
                    _gather_dicts(self.breaker_for(t).snapshot([key]) for key, t in keys.items()),
                    self.health.snapshot({t.key for t in targets}),
                )
            except StoreError as exc:
                log.warning("health snapshot unavailable: %s", type(exc).__name__)
                return HealthView()
        resting: dict[str, Resting] = {}
        if self.cooldowns is not None:
            self.cooldowns.learn(s.cooldown for s in health.values() if s.cooldown is not None)
        now = self.health.clock.now()
        for target in targets:
            view = breakers.get(self.breaker_key(target))
            if view is not None and not view.available:
                recovers = max(0.0, view.retry_at - now) if view.retry_at is not None else None
                resting[target.key] = Resting(f"circuit {view.state.value.replace('_', '-')}", recovers)
        latencies = {
            key: summary.p50_latency_ms
            for key, summary in health.items()
            if summary.p50_latency_ms is not None and summary.requests > 0
        }
        found = HealthView(latencies_ms=latencies, resting=resting)
        if cached is not None and fresh:  # computed from fresh caches alone, nothing awaited since: it may be kept
            self._keep(targets, keys, breakers, health, found)
        else:  # a stale health snapshot's view is never kept: its refresh may already have landed (an eager task)
            self._memo = None
        return found

    def _keep(
        self,
        targets: tuple[Target, ...],
        keys: dict[str, Target],
        breakers: Mapping[str, BreakerView],
        health: Mapping[str, HealthSummary],
        view: HealthView,
    ) -> None:
        """Keep ``view`` for ``targets`` when nothing in it depends on the time: every circuit closed (an
        open one's availability and recovery move with the clock), no cooldown. Else forget any kept view."""
        self._memo = None
        if any(b.state is not CircuitState.CLOSED for b in breakers.values()) or any(
            summary.cooldown is not None for summary in health.values()
        ):
            return
        sources: dict[int, tuple[TtlCache[str, Any], list[str]]] = {}
        for key, target in keys.items():
            cache = self.breaker_for(target).cache
            sources.setdefault(id(cache), (cache, []))[1].append(key)
        sources[id(self.health.cache)] = (self.health.cache, [t.key for t in targets])
        caches, stamp, until = [], [], []
        for cache, cached_keys in sources.values():
            first_stale = cache.fresh_until(cached_keys)
            if first_stale is None:
                return
            caches.append(cache)
            stamp.append(cache.changes)
            until.append(first_stale)
        self._memo = ViewMemo(targets, tuple(caches), tuple(stamp), tuple(until), view)

    def warm(self, targets: Iterable[Target]) -> None:
        """Start reading the stale parts of ``targets``' view in the background, at once.

        Called when a request arrives, beside its first state read (the key lookup): the view's reads then
        share that round trip, and routing's ``view`` finds them finished or joins them in flight (the
        caches load each key once), instead of waiting for a round trip of its own. Nothing when fresh.
        """
        targets = tuple(targets)
        memo = self._memo
        if memo is not None and memo.holds(targets):
            return
        if all(self.breaker_for(t).is_cached([self.breaker_key(t)]) for t in targets) and (
            self.health.usable_snapshot(t.key for t in targets) is not None
        ):
            return  # fresh, or health usable while its refresh runs (started by usable_snapshot)
        task = asyncio.ensure_future(self.view(targets))  # view() logs and absorbs a store failure itself
        self._warming.add(task)
        task.add_done_callback(self._warmed)

    def _warmed(self, task: asyncio.Task[HealthView]) -> None:
        self._warming.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.error("warming the health view failed", exc_info=task.exception())

    def _cached_views(
        self, keys: dict[str, Target], targets: tuple[Target, ...]
    ) -> tuple[dict[str, BreakerView], dict[str, HealthSummary], bool] | None:
        """The breaker and health views of ``view`` when the breakers are fresh in the per-process caches and
        health is usable now (``HealthTracker.usable_snapshot``), and whether that health was fresh; else None."""
        breakers: dict[str, BreakerView] = {}
        for key, target in keys.items():
            found = self.breaker_for(target).cached_snapshot([key])
            if found is None:
                return None
            breakers.update(found)
        usable = self.health.usable_snapshot({t.key for t in targets})
        return None if usable is None else (breakers, *usable)

    async def drain(self) -> None:
        """Wait for every pending state write, and a health refresh in flight."""
        await self._writes.drain()
        await self.health.drain()

    def _later(self, work: Awaitable[None]) -> None:
        self._writes.later(work, "breaker and health record")

    async def _record(
        self,
        target: Target,
        ticket: Any,
        outcome: AttemptResult,
        *,
        latency_ms: float,
        ttft_ms: float | None,
        count_health: bool = True,
        failure: FailureNote | None = None,
    ) -> None:
        """The breaker's record and the health bucket's, written at once: on Lambda the response's end waits
        for them (``surfaces/invocation.py``), so one round trip of the store rather than two in a row.
        Each is logged on its own if it fails, and neither stops the other."""
        # ticket True: admitted outside the breaker (state unreachable, or forced), so no breaker record
        breaker = None if ticket is True else _logged(partial(self._record_breaker, target, ticket, outcome), target)
        health = None
        if count_health:
            ok = outcome == "ok"
            record = partial(
                self.health.record, target.key, ok=ok, latency_ms=latency_ms, ttft_ms=ttft_ms, failure=failure
            )
            health = _logged(record, target)
        if breaker is not None and health is not None:
            await both(breaker, health)
        elif breaker is not None:
            await breaker
        elif health is not None:
            await health

    async def _record_breaker(self, target: Target, ticket: Any, outcome: AttemptResult) -> None:
        key, breaker = self.breaker_key(target), self.breaker_for(target)
        if outcome == "ok":
            await breaker.record_success(key, ticket)
        elif outcome == "failed":
            await breaker.record_failure(key, ticket)
        else:
            await breaker.record_neutral(key, ticket)


async def _logged(work: Callable[[], Awaitable[None]], target: Target) -> None:
    """``work()``, a record of ``target``'s outcome; a failure is logged (a store outage by its type only).
    ``work`` is called only here, so a record cancelled before it starts leaves no coroutine unawaited."""
    try:
        await work()
    except StoreError as exc:
        log.warning("could not record the outcome for %s: %s", target.key, type(exc).__name__)
    except Exception:
        log.exception("recording the outcome for %s failed", target.key)


async def _gather_dicts(loads: Iterable[Awaitable[Mapping[str, Any]]]) -> dict[str, Any]:
    """Run the loads concurrently and merge their answers."""
    merged: dict[str, Any] = {}
    for part in await asyncio.gather(*loads):
        merged.update(part)
    return merged


class CappedGuard:
    """Provider caps (``limits.rpm``, ``limits.max_concurrency``) in front of another guard.

    A provider at its cap is skipped like an open circuit (``admit`` refuses), so aimux never exceeds
    an upstream plan's limits and the request moves on to the next target instead of failing; unlike
    an open circuit, a cap is never forced. The concurrency slot is released when the attempt ends, in
    the background. With ``count_inflight`` (a route orders by ``least_connections``) the view also
    carries each capped provider's requests in flight (``ProviderLimiter.inflight``).
    """

    def __init__(
        self,
        inner: BreakerGuard,
        limiter: ProviderLimiter,
        policy: StateFailurePolicy,
        clock: Clock,
        *,
        count_inflight: bool = False,
    ) -> None:
        self.inner = inner
        self.limiter = limiter
        self.policy = policy
        self.clock = clock
        self.count_inflight = count_inflight
        self._writes = BackgroundWrites(log)

    @property
    def cooldowns(self) -> Cooldowns | None:
        return self.inner.cooldowns

    async def acquire(self, target: Target, *, force: bool = False) -> Any:
        lease: Lease | None = await self.policy.guarded(
            self.limiter.try_acquire(target.provider),
            what="provider slot",
            fallback=Lease.unchecked(target.provider, self.clock.now()),
        )
        if lease is None:
            return _AT_CAP
        ticket = await self.inner.acquire(target, force=force)
        if isinstance(ticket, Refusal):
            self._release(lease)
            return ticket
        return (ticket, lease)

    async def succeeded(self, target: Target, ticket: Any, latency_ms: float, ttft_ms: float | None) -> None:
        inner_ticket, lease = ticket
        self._release(lease)
        await self.inner.succeeded(target, inner_ticket, latency_ms, ttft_ms)

    async def failed(self, target: Target, ticket: Any, error: UpstreamError, blamed: set[str]) -> None:
        inner_ticket, lease = ticket
        self._release(lease)
        await self.inner.failed(target, inner_ticket, error, blamed)

    async def view(self, targets: Iterable[Target]) -> HealthView:
        targets = tuple(targets)
        if not self.count_inflight:
            return await self.inner.view(targets)
        providers = {t.provider for t in targets if self.limiter.counts_inflight(t.provider)}
        view, inflight = await asyncio.gather(self.inner.view(targets), self._inflight(providers))
        return replace(view, inflight=inflight)

    def warm(self, targets: Iterable[Target]) -> None:
        """The inner guard's ``warm`` (the in-flight counts are read with the view, by routing)."""
        self.inner.warm(targets)

    async def drain(self) -> None:
        await self._writes.drain()
        await self.inner.drain()

    async def _inflight(self, providers: set[str]) -> dict[str, int]:
        try:
            return await self.limiter.inflight(providers)
        except StoreError as exc:
            log.warning("in-flight counts unavailable: %s", type(exc).__name__)
            return {}

    def _release(self, lease: Lease) -> None:
        release = self.limiter.release(lease)
        work = self.policy.guarded(release, what="provider slot release", fallback=None, answered=True)
        self._writes.later(work, "provider slot release")
