"""Per-provider caps from config (``providers.<name>.limits: {rpm, max_concurrency}``), shared by all instances.

aimux must never send an upstream more than its plan allows, so before each attempt dispatch asks
``try_acquire(provider)``: a ``Lease`` means go, None means the provider is capped right now and routing
skips that target (it is not a failure; nothing is counted against the breaker). ``release(lease)``
after the attempt, whatever its outcome.

Item: pk ``rate#provider#<name>``, sk ``epoch#<epoch start>``: one item per *lease epoch* of
``lease_seconds`` (L, a multiple of 60; default 960 s, longer than an attempt's total timeout of 900 s):

- ``inflight``: leases acquired in this epoch and not yet released,
- ``requests_<minute start>``: requests started in that minute (the rpm windows; the epoch's minutes
  live in its item, so one ``add`` reaches both counters).

Concurrency. A slot held by a crashed Lambda must not stay taken forever, and a single in-flight
counter cannot tell a leaked slot from a live one. So slots are counted per epoch: a lease acquired in
epoch E is counted in item E, and assumed live until the end of epoch E+1 (at most 2L after it was
taken, at least L: longer than any attempt). Requests in flight during epoch E are therefore
``inflight(E) + inflight(E-1)``, and an acquisition is one conditional ``add``:
``add(item E, {inflight: +1}, limit=("inflight", max_concurrency - inflight(E-1)))``.
The store serialises adds on item E, so racing instances cannot push it past that bound. ``inflight(E-1)``
comes from a read of item E-1 cached per process for the rest of epoch E: once epoch E has begun,
nobody adds to E-1 any more, so the value only decreases (releases) and a cached copy is an upper bound
— conservative, never an over-admission. A refusal re-reads it (at most every ``refresh_seconds``) and
tries once more, so slots freed by other instances are seen quickly. Clock skew: an instance whose
clock lags may still add to E-1 just after E began; a read taken less than ``skew_seconds`` into the
epoch is therefore read again once that margin has passed.

Leak bound: a slot whose release never happens (the Lambda crashed or timed out) is free again at the
end of the epoch after the one it was taken in: between L and 2L after it was taken (16 to 32 minutes
by default). A release after that is dropped (its item no longer matters). Requests that outlive 2L
would stop being counted: keep ``lease_seconds`` above the longest attempt.

rpm. The minute's requests are counted in the same ``add``. With only rpm configured, the guard is on
``requests_<minute>`` (exact, refused writes write nothing). With both, the guard is on ``inflight`` and
the minute's count is checked on the returned item: over the limit means refused and a second ``add``
gives both back — never an over-admission (the returned item includes every earlier add), at worst a
transient over-count of one request that may refuse a concurrent request until the compensation lands.

Store round trips: ``try_acquire`` 0 (provider without limits), usually 1 (the ``add``), +1 read per
process per epoch (and once more after the skew margin) when a concurrency cap applies, +1 compensation
or +2 (re-read, retry) on the refusal path. ``release`` 0 or 1. Store errors other than
``ConditionFailed`` propagate: ``failure_policy`` decides.

In-flight counts for routing (``inflight``, read by the ``least_connections`` strategy): requests in
flight to a provider across the fleet, ``inflight(E) + inflight(E-1)``. Every ``add`` of an acquire or
a release returns the item, so this process's own lease writes refresh the count of their provider
for free; other providers' counts are read at most every ``view_seconds`` (default 2 s, the age of the
health view), alongside the health snapshot. Only providers with ``max_concurrency`` keep a count.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

from ..state.cache import TtlCache
from ..state.clock import Clock
from ..state.store import ConditionFailed, Store, StoreError
from .windows import WINDOW_SECONDS, rate_pk, window_start

if TYPE_CHECKING:
    from ..config.schema import AimuxConfig

__all__ = ["Lease", "ProviderLimiter", "ProviderLimits", "ProviderUsage"]

log = logging.getLogger(__name__)

CLEANUP_GRACE = 120  # seconds an item outlives the last epoch that reads it (TTL is cleanup only)
INFLIGHT = "inflight"


class HasProviderLimits(Protocol):
    """``LimitsConfig`` or ``ProviderLimits``: None means unlimited."""

    @property
    def rpm(self) -> int | None: ...

    @property
    def max_concurrency(self) -> int | None: ...


@dataclass(frozen=True, slots=True)
class ProviderLimits:
    rpm: int | None = None
    max_concurrency: int | None = None


@dataclass(slots=True)
class Lease:
    """Permission for one attempt. ``epoch`` is None when no slot is held (no cap, or not checked)."""

    provider: str
    epoch: int | None
    acquired_at: float
    lease_seconds: int = 0
    released: bool = False

    @property
    def holds_slot(self) -> bool:
        return self.epoch is not None

    @property
    def forgotten_at(self) -> float | None:
        """When an unreleased slot stops counting (the leak bound), or None without a slot."""
        return None if self.epoch is None else float(self.epoch + 2 * self.lease_seconds)

    @classmethod
    def unchecked(cls, provider: str, now: float) -> Lease:
        """A lease granted without the store (state unavailable, policy open)."""
        return cls(provider, None, now)


@dataclass(frozen=True, slots=True)
class ProviderUsage:
    """What an admin view shows: slots counted as in flight and requests this minute."""

    provider: str
    inflight: int
    requests_this_minute: int
    limits: ProviderLimits


@dataclass(slots=True)
class _Carry:
    """Process-local copy of ``inflight`` of the epoch before ``epoch``."""

    epoch: int
    value: int
    settled: bool  # read at least skew_seconds into the epoch: nobody still adds to the previous one
    read_mono: float


def _epoch_sk(epoch: int) -> str:
    return f"epoch#{epoch}"


def _minute_attr(minute: int) -> str:
    return f"requests_{minute}"


class ProviderLimiter:
    """rpm and concurrency caps per provider; see the module docstring for the atomicity argument."""

    def __init__(
        self,
        store: Store,
        clock: Clock,
        limits: Mapping[str, HasProviderLimits],
        *,
        lease_seconds: int = 960,
        skew_seconds: float = 2.0,
        refresh_seconds: float = 1.0,
        view_seconds: float = 2.0,
    ) -> None:
        if lease_seconds <= 0 or lease_seconds % WINDOW_SECONDS:
            raise ValueError(f"lease_seconds must be a positive multiple of {WINDOW_SECONDS}")
        self._store = store
        self._clock = clock
        self._limits = {
            name: ProviderLimits(rpm=lim.rpm, max_concurrency=lim.max_concurrency) for name, lim in limits.items()
        }
        self.lease_seconds = lease_seconds
        self._skew = skew_seconds
        self._refresh = refresh_seconds
        self._carry: dict[str, _Carry] = {}
        self._counts: TtlCache[str, int] = TtlCache(clock, view_seconds)

    @classmethod
    def from_config(cls, store: Store, clock: Clock, config: AimuxConfig, **options: Any) -> ProviderLimiter:
        """Limits from ``providers.<name>.limits``; ``options`` as for the constructor."""
        return cls(store, clock, {name: p.limits for name, p in config.providers.items()}, **options)

    def limits(self, provider: str) -> ProviderLimits:
        return self._limits.get(provider, ProviderLimits())

    def is_capped(self, provider: str) -> bool:
        """Whether ``try_acquire`` touches the store for this provider at all."""
        found = self.limits(provider)
        return found.rpm is not None or found.max_concurrency is not None

    def counts_inflight(self, provider: str) -> bool:
        """Whether leases count this provider's requests in flight (it has ``max_concurrency``)."""
        return self.limits(provider).max_concurrency is not None

    async def inflight(self, providers: Iterable[str]) -> dict[str, int]:
        """Requests in flight per provider, fleet-wide, as last seen (see the module docstring)."""
        return await self._counts.get_many((p for p in providers if self.counts_inflight(p)), self._read_inflight)

    async def try_acquire(self, provider: str) -> Lease | None:
        """A lease for one attempt, or None when a cap is reached (routing skips the target)."""
        rpm, cap = self.limits(provider).rpm, self.limits(provider).max_concurrency
        now = self._clock.now()
        if rpm is None and cap is None:
            return Lease(provider, None, now)
        epoch = window_start(now, self.lease_seconds)
        minute_attr = _minute_attr(window_start(now))
        deltas: dict[str, int] = {}
        if cap is not None:
            deltas[INFLIGHT] = 1
        if rpm is not None:
            deltas[minute_attr] = 1
        pk, sk = rate_pk("provider", provider), _epoch_sk(epoch)
        expires_at = epoch + 2 * self.lease_seconds + CLEANUP_GRACE
        for attempt in (0, 1):
            if cap is not None:
                carried = await self._carried(provider, epoch, now, refresh=attempt > 0)
                limit: tuple[str, int] = (INFLIGHT, cap - carried)
            else:
                assert rpm is not None
                limit = (minute_attr, rpm)
            if limit[1] >= 1:  # else refused without spending a write
                try:
                    item = await self._store.add(pk, sk, deltas, limit=limit, expires_at=expires_at)
                    break
                except ConditionFailed:
                    pass
            if attempt == 0 and cap is not None and self._may_refresh(provider):
                continue
            return None
        if cap is not None and rpm is not None and int(item.get(minute_attr, 0)) > rpm:
            await self._compensate(pk, sk, deltas, expires_at)
            return None
        if cap is not None:
            self._counts.put(provider, max(0, int(item.get(INFLIGHT, 0))) + carried)
        return Lease(provider, epoch if cap is not None else None, now, self.lease_seconds)

    async def release(self, lease: Lease) -> None:
        """Give the slot back (idempotent). Releasing a slot already forgotten is a no-op."""
        if lease.released or lease.epoch is None:
            lease.released = True
            return
        lease.released = True
        now = self._clock.now()
        current = window_start(now, self.lease_seconds)
        if lease.epoch < current - self.lease_seconds:
            return  # past the leak bound: nobody counts this slot any more
        item = await self._store.add(
            rate_pk("provider", lease.provider),
            _epoch_sk(lease.epoch),
            {INFLIGHT: -1},
            expires_at=lease.epoch + 2 * self.lease_seconds + CLEANUP_GRACE,
        )
        carry = self._carry.get(lease.provider)
        if carry is not None and carry.epoch == lease.epoch + self.lease_seconds and carry.value > 0:
            carry.value -= 1  # our own release, seen at once
        if carry is not None and carry.epoch == current == lease.epoch:
            self._counts.put(lease.provider, max(0, int(item.get(INFLIGHT, 0))) + carry.value)
        else:
            self._counts.invalidate(lease.provider)

    async def usage(self, provider: str) -> ProviderUsage:
        """In-flight slots and this minute's requests (two reads; for admin views, not the hot path)."""
        now = self._clock.now()
        epoch = window_start(now, self.lease_seconds)
        pk = rate_pk("provider", provider)
        item = await self._store.get(pk, _epoch_sk(epoch)) or {}
        previous = await self._store.get(pk, _epoch_sk(epoch - self.lease_seconds)) or {}
        inflight = max(0, int(item.get(INFLIGHT, 0))) + max(0, int(previous.get(INFLIGHT, 0)))
        minute = int(item.get(_minute_attr(window_start(now)), 0))
        return ProviderUsage(provider, inflight, minute, self.limits(provider))

    async def _read_inflight(self, provider: str) -> int:
        now = self._clock.now()
        epoch = window_start(now, self.lease_seconds)
        item = await self._store.get(rate_pk("provider", provider), _epoch_sk(epoch))
        carried = await self._carried(provider, epoch, now, refresh=False)
        return (max(0, int(item.get(INFLIGHT, 0))) if item else 0) + carried

    async def _carried(self, provider: str, epoch: int, now: float, *, refresh: bool) -> int:
        """Slots still counted from the previous epoch (cached; see the module docstring)."""
        entry = self._carry.get(provider)
        if entry is not None and entry.epoch == epoch and not refresh and (entry.settled or now < epoch + self._skew):
            return entry.value
        item = await self._store.get(rate_pk("provider", provider), _epoch_sk(epoch - self.lease_seconds))
        value = max(0, int(item.get(INFLIGHT, 0))) if item else 0
        self._carry[provider] = _Carry(epoch, value, now >= epoch + self._skew, self._clock.monotonic())
        return value

    def _may_refresh(self, provider: str) -> bool:
        """A re-read after a refusal can help only if the previous epoch holds slots and the copy is old."""
        entry = self._carry.get(provider)
        return entry is not None and entry.value > 0 and self._clock.monotonic() - entry.read_mono >= self._refresh

    async def _compensate(self, pk: str, sk: str, deltas: dict[str, int], expires_at: float) -> None:
        try:
            await self._store.add(pk, sk, {k: -v for k, v in deltas.items()}, expires_at=expires_at)
        except StoreError as exc:
            log.warning("provider slot compensation failed (%s); counted until its epoch ends", type(exc).__name__)
