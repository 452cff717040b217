"""Targets that rest for a while without being blamed: load signals, exhausted quotas, refused keys.

A 429, a 529 (or a 503 that says "overloaded"), a plan quota running out and a provider refusing the
gateway's key (401/403) say the target is fine but must be left alone for a while; they are not
circuit-breaker failures (``UpstreamError.cooldown``). Dispatch skips a resting target while another
can serve, and waits for it or calls it anyway when nothing else can (``routing.dispatch``).

How long (``CooldownSettings``): the upstream's ``retry-after`` (or announced quota reset) when it gave
one, else ``rate_limit`` / ``overloaded`` seconds for load signals and ``auth_failure`` for a refused key.

Shared by the fleet. ``start`` is seen at once by this process; a cooldown of at least
``share_from`` seconds (default 2 s, the age of the health view other instances route by) is also
written to the store, in the background, so every instance skips the target instead of each paying
one wasted attempt to learn it. Shorter ones stay local: by the time another instance's view
refreshes they are over, and a burst of 529s then costs no store writes. The item sits in the
target's health partition (pk ``health#<provider>/<model>``, sk ``cooldown``), so the health query
that instances already run every few seconds reads it with no extra round trip
(``state.health.HealthTracker.summary``), and an admin view can show each cooldown with its reason.
The write keeps the later end when instances race (read, then compare-and-set on ``version``).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from ..errors import LOAD_SIGNALS, CooldownReason, UpstreamError
from .background import BackgroundWrites
from .clock import Clock
from .store import ABSENT, ConditionFailed, Item, Store, StoreError

__all__ = ["COOLDOWN_SK", "Cooldown", "CooldownSettings", "Cooldowns", "cooldown_pk"]

log = logging.getLogger("aimux.cooldowns")

COOLDOWN_SK = "cooldown"  # sorts after every minute bucket ("0000000000".."9999999999") of the same partition
_CAS_ATTEMPTS = 4


def cooldown_pk(key: str) -> str:
    """The partition of a target's cooldown: its health partition (``state.health``)."""
    if not key:
        raise ValueError("a target key must be non-empty")
    return f"health#{key}"


@dataclass(frozen=True, slots=True)
class CooldownSettings:
    """Seconds a target rests when the upstream did not say how long (``retry-after``)."""

    rate_limit: float = 1.0
    overloaded: float = 0.25  # shorter than the SDKs' first backoff: aimux notices recovery no later than they would
    auth_failure: float = 300.0
    share_from: float = 2.0  # shorter cooldowns stay in this process (see the module docstring)

    def __post_init__(self) -> None:
        bad = [name for name in ("rate_limit", "overloaded", "auth_failure", "share_from") if getattr(self, name) < 0]
        if bad:
            raise ValueError(f"cooldown seconds must be >= 0: {', '.join(bad)}")

    def seconds_for(self, error: UpstreamError) -> float | None:
        """How long ``error`` rests its target; None when it is not a cooldown (a fault or a client error)."""
        reason = error.cooldown
        if reason is None:
            return None
        if reason == "auth_failure":
            return self.auth_failure  # a retry-after on a refused key says nothing about the key
        if error.retry_after is not None:
            return error.retry_after
        return self.rate_limit if reason == "rate_limit" else self.overloaded


@dataclass(frozen=True, slots=True)
class Cooldown:
    """Target ``key`` rests until ``until`` (epoch seconds) because of ``reason``."""

    key: str
    until: float
    reason: CooldownReason
    since: float
    status: int | None = None  # the upstream status that started it, when there was one

    @property
    def waitable(self) -> bool:
        """Worth waiting for when nothing else can serve: a load signal ends soon; a refused key or an
        exhausted quota does not."""
        return self.reason in LOAD_SIGNALS

    def describe(self) -> str:
        """In a few words, for routing notes and error messages."""
        return f"cooling down ({self.reason.replace('_', ' ')})"

    def remaining(self, now: float) -> float:
        return max(0.0, self.until - now)

    def to_item(self) -> Item:
        return {
            "until": self.until,
            "reason": self.reason,
            "since": self.since,
            "status": self.status,
            "expires_at": self.until,
        }

    @classmethod
    def from_item(cls, key: str, item: Item) -> Cooldown | None:
        """The cooldown an item holds, or None when it is not one aimux wrote."""
        try:
            return cls(key, float(item["until"]), item["reason"], float(item.get("since", 0.0)), item.get("status"))
        except (KeyError, TypeError, ValueError):
            return None


class Cooldowns:
    """This process's view of resting targets: its own cooldowns at once, the fleet's as learned."""

    def __init__(
        self,
        clock: Clock,
        store: Store | None = None,
        settings: CooldownSettings | None = None,
        *,
        on_start: Callable[[Cooldown, UpstreamError], None] | None = None,
    ) -> None:
        self._clock = clock
        self._store = store
        self.settings = settings or CooldownSettings()
        self._on_start = on_start
        self._known: dict[str, Cooldown] = {}
        self._writes = BackgroundWrites(log)

    def now(self) -> float:
        """The time cooldowns are measured in (``Cooldown.until``)."""
        return self._clock.now()

    def get(self, key: str) -> Cooldown | None:
        """The live cooldown of target ``key``, if it rests now."""
        cooldown = self._known.get(key)
        if cooldown is None:
            return None
        if cooldown.until <= self._clock.now():
            del self._known[key]
            return None
        return cooldown

    def live(self, keys: Iterable[str]) -> dict[str, Cooldown]:
        """The live cooldowns among ``keys``."""
        if not self._known:  # the usual case: nothing rests, whatever the number of keys
            return {}
        found = {}
        for key in keys:
            cooldown = self.get(key)
            if cooldown is not None:
                found[key] = cooldown
        return found

    def start(self, key: str, error: UpstreamError) -> Cooldown | None:
        """Rest target ``key`` after ``error`` (None when the error is no cooldown). Seen here at once;
        written for the fleet in the background when long enough (``drain`` awaits the write)."""
        seconds = self.settings.seconds_for(error)
        if seconds is None:
            return None
        now = self._clock.now()
        cooldown = Cooldown(key, now + seconds, error.cooldown or "overloaded", now, error.upstream_status)
        self.learn([cooldown])
        if error.cooldown == "auth_failure":
            provider = key.partition("/")[0]
            log.warning(
                "provider %s refused the gateway's credentials (HTTP %s): target %s rests for %gs; "
                "check the key configured for provider %s",
                provider, error.upstream_status or "-", key, seconds, provider,
            )  # fmt: skip
        if self._on_start is not None:
            try:
                self._on_start(cooldown, error)
            except Exception:  # a metrics hook must never fail the request that caused the cooldown
                log.exception("cooldown hook failed for %s", key)
        if self._store is not None and seconds >= self.settings.share_from:
            self._writes.later(self._share(cooldown), "cooldown share")
        return cooldown

    def learn(self, cooldowns: Iterable[Cooldown]) -> None:
        """Take in cooldowns seen elsewhere (the store, another request); the later end wins."""
        for cooldown in cooldowns:
            known = self._known.get(cooldown.key)
            if known is None or cooldown.until > known.until:
                self._known[cooldown.key] = cooldown

    async def drain(self) -> None:
        """Wait for the pending store writes."""
        await self._writes.drain()

    async def _share(self, cooldown: Cooldown) -> None:
        """Write ``cooldown`` unless the store already holds a later one (compare-and-set, bounded)."""
        assert self._store is not None
        pk = cooldown_pk(cooldown.key)
        try:
            for _ in range(_CAS_ATTEMPTS):
                item = await self._store.get(pk, COOLDOWN_SK)
                stored = Cooldown.from_item(cooldown.key, item) if item is not None else None
                if stored is not None and stored.until >= cooldown.until:
                    self.learn([stored])
                    return
                expected: Any = ABSENT if item is None else item["version"]
                try:
                    await self._store.put(pk, COOLDOWN_SK, cooldown.to_item(), expect_version=expected)
                    return
                except ConditionFailed:
                    continue
            log.warning("cooldown of %s not shared: contended", cooldown.key)
        except StoreError as exc:
            log.warning("cooldown of %s not shared: %s", cooldown.key, type(exc).__name__)
        except Exception:
            log.exception("sharing the cooldown of %s failed", cooldown.key)
