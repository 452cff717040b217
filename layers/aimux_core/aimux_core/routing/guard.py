"""The breaker-and-health ``Guard`` dispatch uses: admission before a call, bookkeeping after it.

- Breakers are keyed per provider, or per provider+model when ``scope`` is ``"model"``; health
  statistics always per provider+model (the key lowest-latency routing orders by).
- ``admit`` reads the breaker through its per-process cache: no store round trip on the hot path
  while the circuit is closed.
- Results are recorded after the answer, off the request path: each is a background task, so the
  client never waits for a state write. ``drain()`` awaits the pending writes (Lambda handlers and
  tests call it before the process may freeze).
- Client errors (4xx answers that are the request's fault) say nothing about the upstream's health:
  they count as successes, so they release a probe lease instead of re-opening the circuit.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Iterable, Mapping
from typing import Any, Literal

from ..errors import UpstreamError
from ..state.breaker import CircuitBreaker, breaker_key
from ..state.clock import Clock
from ..state.failure_policy import StateFailurePolicy
from ..state.health import FailureNote, HealthTracker
from ..state.provider_limits import Lease, ProviderLimiter
from ..state.store import StoreError
from .select import HealthView
from .table import Target

log = logging.getLogger("aimux.guard")
BreakerScope = Literal["provider", "model"]


def _is_client_fault(error: UpstreamError) -> bool:
    return not error.retryable and error.status < 500


def failure_note(error: UpstreamError) -> FailureNote:
    """What the health bucket keeps of a failed call: its kind, the upstream's status, a redacted excerpt."""
    from ..providers.upstream_errors import failure_kind
    from ..state.request_errors import excerpt

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
    ) -> None:
        self.default = default
        self.breakers = dict(breakers or {})
        self.health = health
        self.scope = scope
        self._pending: set[asyncio.Task[None]] = set()

    def breaker_key(self, target: Target) -> str:
        return breaker_key(target.provider, target.model if self.scope == "model" else None)

    def breaker_for(self, target: Target) -> CircuitBreaker:
        return self.breakers.get(target.provider, self.default)

    async def admit(self, target: Target) -> Any | None:
        try:
            admission = await self.breaker_for(target).allow(self.breaker_key(target))
        except StoreError as exc:  # state unreachable: serve rather than refuse (the policy of a later issue)
            log.warning("breaker state unavailable for %s: %s", target.key, type(exc).__name__)
            return True
        return admission if admission.allowed else None

    async def succeeded(self, target: Target, ticket: Any, latency_ms: float, ttft_ms: float | None) -> None:
        self._later(self._record(target, ticket, ok=True, latency_ms=latency_ms, ttft_ms=ttft_ms))

    async def failed(self, target: Target, ticket: Any, error: UpstreamError) -> None:
        if error.quota:
            return  # plan quota ran out: dispatch cools the target down; it is not a breaker failure
        client_fault = _is_client_fault(error)
        self._later(self._record(target, ticket, ok=client_fault, latency_ms=0.0, ttft_ms=None,
                                 count_health=not client_fault, failure=failure_note(error)))

    async def view(self, targets: Iterable[Target]) -> HealthView:
        """Open circuits and recent latencies of ``targets``, from the per-process caches."""
        targets = list(targets)
        try:
            breakers: dict[str, Any] = {}
            for target in targets:
                key = self.breaker_key(target)
                if key not in breakers:
                    breakers.update(await self.breaker_for(target).snapshot([key]))
            health = await self.health.snapshot({t.key for t in targets})
        except StoreError as exc:
            log.warning("health snapshot unavailable: %s", type(exc).__name__)
            return HealthView()
        open_keys = set()
        for target in targets:
            view = breakers.get(self.breaker_key(target))
            if view is not None and not view.available:
                open_keys.add(target.key)
        latencies = {
            key: summary.p50_latency_ms
            for key, summary in health.items()
            if summary.p50_latency_ms is not None and summary.requests > 0
        }
        return HealthView(open_circuits=frozenset(open_keys), latencies_ms=latencies)

    async def drain(self) -> None:
        """Wait for every pending state write."""
        while self._pending:
            await asyncio.gather(*list(self._pending), return_exceptions=True)

    def _later(self, work: Awaitable[None]) -> None:
        task = asyncio.ensure_future(work)
        self._pending.add(task)
        task.add_done_callback(self._pending.discard)

    async def _record(
        self,
        target: Target,
        ticket: Any,
        *,
        ok: bool,
        latency_ms: float,
        ttft_ms: float | None,
        count_health: bool = True,
        failure: FailureNote | None = None,
    ) -> None:
        try:
            if ticket is not True:  # True: admitted without a breaker record (state was unreachable)
                key, breaker = self.breaker_key(target), self.breaker_for(target)
                if ok:
                    await breaker.record_success(key, ticket)
                else:
                    await breaker.record_failure(key, ticket)
            if count_health:
                await self.health.record(target.key, ok=ok, latency_ms=latency_ms, ttft_ms=ttft_ms, failure=failure)
        except StoreError as exc:
            log.warning("could not record the outcome for %s: %s", target.key, type(exc).__name__)
        except Exception:
            log.exception("recording the outcome for %s failed", target.key)


class CappedGuard:
    """Provider caps (``limits.rpm``, ``limits.max_concurrency``) in front of another guard.

    A provider at its cap is skipped like an open circuit (``admit`` returns None), so aimux never
    exceeds an upstream plan's limits and the request moves on to the next target instead of failing.
    The concurrency slot is released when the attempt ends, in the background.
    """

    def __init__(self, inner: BreakerGuard, limiter: ProviderLimiter, policy: StateFailurePolicy, clock: Clock) -> None:
        self.inner = inner
        self.limiter = limiter
        self.policy = policy
        self.clock = clock
        self._pending: set[asyncio.Task[Any]] = set()

    async def admit(self, target: Target) -> Any | None:
        lease = await self.policy.guarded(
            self.limiter.try_acquire(target.provider),
            what="provider slot",
            fallback=Lease.unchecked(target.provider, self.clock.now()),
        )
        if lease is None:
            return None
        ticket = await self.inner.admit(target)
        if ticket is None:
            self._release(lease)
            return None
        return (ticket, lease)

    async def succeeded(self, target: Target, ticket: Any, latency_ms: float, ttft_ms: float | None) -> None:
        inner_ticket, lease = ticket
        self._release(lease)
        await self.inner.succeeded(target, inner_ticket, latency_ms, ttft_ms)

    async def failed(self, target: Target, ticket: Any, error: UpstreamError) -> None:
        inner_ticket, lease = ticket
        self._release(lease)
        await self.inner.failed(target, inner_ticket, error)

    async def view(self, targets: Iterable[Target]) -> HealthView:
        return await self.inner.view(targets)

    async def drain(self) -> None:
        while self._pending:
            await asyncio.gather(*list(self._pending), return_exceptions=True)
        await self.inner.drain()

    def _release(self, lease: Lease) -> None:
        release = self.limiter.release(lease)
        work = self.policy.guarded(release, what="provider slot release", fallback=None, answered=True)
        task = asyncio.ensure_future(work)
        self._pending.add(task)
        task.add_done_callback(self._pending.discard)
