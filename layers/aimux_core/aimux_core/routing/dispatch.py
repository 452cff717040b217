"""Dispatch: walk the selected targets until one answers, within bounded retries and one deadline.

- Connect errors, timeouts, 408/409/429/5xx/529, malformed answers and a provider refusing the
  gateway's key (``UpstreamError.retryable``) move on to the next target; other upstream errors
  (400/402/404/413) are the caller's answer at once.
- Load signals (429, 529, a 503 that says "overloaded"), an exhausted quota and a refused key rest the
  target (``state.cooldowns``: for ``retry-after``, else a configured time) and are not circuit-breaker
  failures; the breaker counts faults (``UpstreamError.is_fault``), and one client request counts at
  most once against each breaker however many attempts it made (``Guard.failed``'s ``blamed``).
- A resting target, or one its guard refuses (open circuit, provider at its cap), is skipped while
  another can serve. When none can, ``RetryPolicy.when_all_down`` decides. ``try`` (the default):
  wait for the target that recovers soonest when its rest is a load signal's and ends within the
  deadline, else call it at once past its open circuit (Envoy's "panic" routing: aimux must never be
  less available than the provider itself). ``refuse``: answer at once. A provider cap is never
  overridden.
- Between rounds aimux backs off exponentially with jitter, and at least until a target recovers
  when every target rests.
- ``max_attempts`` bounds the calls per request; ``deadline`` bounds the time until an answer (for
  streams: until the first content), so a client never waits on an endless retry loop.
- A stream fails over only before its first content: events are held until the upstream produced
  a content block (or finished), so a target that fails early leaves no trace on the wire.
- When nothing answered, ``routing.unserved`` says what the client is told: the target's own error
  when only one was tried, a 429 or a 529, always with ``x-aimux-attempts`` and, when a target
  rests, ``retry-after``.

The circuit breaker, health statistics and provider caps sit behind ``Guard``: ``admit`` may refuse a
target (``Refusal``), and every outcome is reported back.
"""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol, TypeVar

from ..errors import AimuxError, UpstreamError
from ..providers.base import Provider, RequestContext, UpstreamCall, with_max_tokens
from ..state.cooldowns import Cooldown, Cooldowns
from ..wire.anthropic import EventStream, Message, MessagesRequest, StreamEvent
from .table import Target
from .unserved import Attempt, Down, Walk, describe, unserved, with_attempts

_CONTENT_EVENTS = frozenset({"content_block_start", "content_block_delta", "message_delta", "message_stop"})
# Waits for a cooldown end a little longer than it: cooldowns are in wall-clock time, shared with the
# fleet, and a monotonic sleep may end a hair before the wall clock reaches them.
_PAST_THE_END = 0.005
WhenAllDown = Literal["try", "refuse"]


R = TypeVar("R")


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    max_attempts: int = 3
    backoff_base: float = 0.25
    backoff_max: float = 4.0
    deadline: float = 600.0
    when_all_down: WhenAllDown = "try"


@dataclass(frozen=True, slots=True)
class Refusal:
    """A guard's "not now" for one target: why, and in how many seconds it may admit again (None: unknown).

    ``forcible``: a request with nowhere else to go may call the target anyway (an open circuit); a
    provider at its cap is not forcible.
    """

    reason: str
    retry_after: float | None = None
    forcible: bool = True


class Guard(Protocol):
    """Breaker, health and provider-cap bookkeeping around each attempt."""

    async def acquire(self, target: Target, *, force: bool = False) -> Any:
        """A ticket to call ``target``, or a ``Refusal``. ``force``: the request has nowhere else to go,
        so admit past an open circuit (never past a provider cap)."""

    async def succeeded(self, target: Target, ticket: Any, latency_ms: float, ttft_ms: float | None) -> None: ...

    async def failed(self, target: Target, ticket: Any, error: UpstreamError, blamed: set[str]) -> None:
        """``error`` ended the attempt. ``blamed``: the breaker keys this client request already counted
        a failure against; a fault is counted only for a key not in it, which is then added."""


class OpenGuard:
    """Admits everything and records nothing (no breaker configured)."""

    async def acquire(self, target: Target, *, force: bool = False) -> Any:
        return True

    async def succeeded(self, target: Target, ticket: Any, latency_ms: float, ttft_ms: float | None) -> None:
        return None

    async def failed(self, target: Target, ticket: Any, error: UpstreamError, blamed: set[str]) -> None:
        return None


@dataclass(slots=True)
class Outcome:
    """Which target served, and every attempt made on the way."""

    target: Target
    attempts: list[Attempt]


def upstream_call(request: MessagesRequest, target: Target, context: RequestContext) -> UpstreamCall:
    """The call of ``request`` to ``target``, ``max_tokens`` clamped to the model's ``max_output``, with
    the catalog's minimum cacheable prompt length for the model."""
    entry = target.entry
    if entry is None:
        return UpstreamCall(request, target.model, context)
    if request.max_tokens > entry.max_output:
        request = with_max_tokens(request, entry.max_output)
    return UpstreamCall(request, target.model, context, entry.cache_min_tokens)


@dataclass(slots=True)
class Dispatcher:
    providers: dict[str, Provider]
    policy: RetryPolicy = field(default_factory=RetryPolicy)
    guard: Guard = field(default_factory=OpenGuard)
    clock: Callable[[], float] = time.monotonic
    sleep: Callable[[float], Awaitable[None]] = asyncio.sleep
    rng: random.Random = field(default_factory=random.Random)
    cooldowns: Cooldowns | None = None  # None: kept in this process only, timed by ``clock``
    _rest: Cooldowns = field(init=False, repr=False)

    def __post_init__(self) -> None:
        if self.cooldowns is None:
            self.cooldowns = Cooldowns(_CallableClock(self.clock))
        self._rest = self.cooldowns

    async def create(
        self, request: MessagesRequest, context: RequestContext, targets: tuple[Target, ...]
    ) -> tuple[Message, Outcome]:
        async def attempt(target: Target, ticket: Any, blamed: set[str]) -> Message:
            started = self.clock()
            message = await self._provider(target).create(upstream_call(request, target, context))
            elapsed = (self.clock() - started) * 1000
            await self.guard.succeeded(target, ticket, elapsed, None)
            return message

        return await self._walk(targets, attempt)

    async def open_stream(
        self, request: MessagesRequest, context: RequestContext, targets: tuple[Target, ...]
    ) -> tuple[EventStream, Outcome]:
        async def attempt(target: Target, ticket: Any, blamed: set[str]) -> EventStream:
            started = self.clock()
            upstream = self._provider(target).stream(upstream_call(request, target, context))
            held: list[StreamEvent] = []
            try:
                async for event in upstream:
                    held.append(event)
                    if event.type in _CONTENT_EVENTS:
                        break
                else:
                    raise UpstreamError(
                        "upstream stream ended before any content", provider=target.provider, retryable=True
                    )
            except BaseException:
                await upstream.aclose()
                raise
            ttft = (self.clock() - started) * 1000
            return self._finish_stream(held, upstream, target, ticket, started, ttft, blamed)

        return await self._walk(targets, attempt)

    # ------------------------------------------------------------------ the walk

    async def _walk(
        self, targets: tuple[Target, ...], attempt: Callable[[Target, Any, set[str]], Awaitable[R]]
    ) -> tuple[R, Outcome]:
        policy = self.policy
        deadline = self.clock() + policy.deadline
        walk = Walk()
        rounds = 0
        forced: Target | None = None  # every target is down: this one is called anyway
        waited = False  # the last pause waited for a cooldown to end
        while len(walk.attempts) < policy.max_attempts:
            walk.down = []
            called = False
            for target in targets:
                if len(walk.attempts) >= policy.max_attempts or self.clock() >= deadline:
                    break
                force = target is forced
                if not force:
                    cooldown = self._rest.get(target.key)
                    if cooldown is not None:
                        walk.down.append(self._cooling(target, cooldown))
                        continue
                ticket = await self.guard.acquire(target, force=force)
                if isinstance(ticket, Refusal):
                    walk.down.append(Down(target, ticket.reason, ticket.retry_after, False, ticket.forcible))
                    continue
                called = True
                try:
                    result = await self._within_deadline(attempt(target, ticket, walk.blamed), target, deadline)
                except UpstreamError as error:
                    walk.attempts.append(Attempt(target, describe(error)))
                    walk.failures.append(error)
                    await self.guard.failed(target, ticket, error, walk.blamed)
                    cooldown = self._rest.start(target.key, error)
                    if cooldown is not None and not cooldown.waitable:
                        walk.spent.add(target.key)
                    if not error.retryable:
                        raise with_attempts(error, walk.attempts) from None
                    continue
                walk.attempts.append(Attempt(target, "ok"))
                return result, Outcome(target, walk.attempts)
            forced = None
            if len(walk.attempts) >= policy.max_attempts or self.clock() >= deadline:
                break
            if called:
                waited = False
                delay = self._next_delay(targets, rounds)
                if delay is None or self.clock() + delay >= deadline:
                    break
                await self.sleep(delay)
                rounds += 1
                continue
            # Every target is down.
            pick = self._soonest([d for d in walk.down if d.target.key not in walk.spent])
            if policy.when_all_down == "refuse" or pick is None:
                break
            wait = pick.recovers_in
            if pick.waitable and not waited and wait is not None and self.clock() + wait < deadline:
                waited = True
                await self.sleep(wait + _PAST_THE_END)
                continue
            if pick.target.key in walk.forced:
                break  # it was called anyway once already in this request, and answered
            waited = False
            walk.forced.add(pick.target.key)
            forced = pick.target
        raise self._all_failed(targets, walk)

    async def _within_deadline(self, call: Awaitable[Any], target: Target, deadline: float) -> Any:
        """One attempt, cut off when the request's deadline passes: a provider's own timeouts may be
        longer than what is left of the deadline, and the deadline is the client's promise."""
        try:
            async with asyncio.timeout(max(0.0, deadline - self.clock())) as scope:
                return await call
        except TimeoutError:
            if not scope.expired():
                raise
            raise UpstreamError(
                f"upstream {target.provider}: no answer within the request deadline ({self.policy.deadline:g}s)",
                provider=target.provider,
                retryable=True,
                status=504,
                kind="timeout_error",
            ) from None

    def _cooling(self, target: Target, cooldown: Cooldown) -> Down:
        remaining = cooldown.remaining(self._rest.now())
        limited = cooldown.reason in ("rate_limit", "quota")
        return Down(target, cooldown.describe(), remaining, cooldown.waitable, forcible=True, rate_limited=limited)

    @staticmethod
    def _soonest(down: list[Down]) -> Down | None:
        """The target to fall back on when every target is down: the soonest to recover (route order on ties)."""
        candidates = [d for d in down if d.forcible]
        if not candidates:
            return None
        inf = float("inf")
        return min(candidates, key=lambda d: inf if d.recovers_in is None else d.recovers_in)

    def _next_delay(self, targets: tuple[Target, ...], rounds: int) -> float | None:
        """Backoff before the next round; when every target cools after a load signal, at least until
        the first recovers (a refused key or a spent quota is not waited for: see ``_walk``). None:
        every target rests and ``when_all_down`` is ``refuse``, so answer now."""
        backoff = min(self.policy.backoff_max, self.policy.backoff_base * 2.0**rounds)
        backoff *= 0.5 + self.rng.random() / 2
        resting = self._rest.live(t.key for t in targets)
        if not targets or len({t.key for t in targets}) != len(resting):
            return backoff
        if self.policy.when_all_down == "refuse":
            return None
        if all(c.waitable for c in resting.values()):
            now = self._rest.now()
            return max(backoff, min(c.remaining(now) for c in resting.values()) + _PAST_THE_END)
        return backoff

    def _retry_after(self, targets: tuple[Target, ...], walk: Walk) -> float | None:
        """Seconds until the soonest of this request's targets recovers, when one rests or is refused."""
        now = self._rest.now()
        waits = [c.remaining(now) for c in self._rest.live(t.key for t in targets).values()]
        waits += [d.recovers_in for d in walk.down if d.recovers_in is not None]
        return min(waits) if waits else None

    def _all_failed(self, targets: tuple[Target, ...], walk: Walk) -> AimuxError:
        return unserved(walk, self._retry_after(targets, walk))

    def _provider(self, target: Target) -> Provider:
        provider = self.providers.get(target.provider)
        if provider is None:
            raise UpstreamError(
                f"provider {target.provider!r} is not configured", provider=target.provider, retryable=False
            )
        return provider

    async def _finish_stream(
        self,
        held: list[StreamEvent],
        upstream: EventStream,
        target: Target,
        ticket: Any,
        started: float,
        ttft_ms: float,
        blamed: set[str],
    ) -> EventStream:
        """Replay the held events, then the rest; report the outcome once the stream ends (a failure
        counts against the breaker only if no earlier attempt of the request already did)."""
        ok = False
        try:
            for event in held:
                yield event
            async for event in upstream:
                yield event
            ok = True
        except UpstreamError as error:
            await self.guard.failed(target, ticket, error, blamed)
            self._rest.start(target.key, error)
            raise
        finally:
            await upstream.aclose()
            if ok:
                await self.guard.succeeded(target, ticket, (self.clock() - started) * 1000, ttft_ms)


class _CallableClock:
    """A ``state.clock.Clock`` over one time function (the dispatcher's), for in-process cooldowns."""

    def __init__(self, now: Callable[[], float]) -> None:
        self._now = now

    def now(self) -> float:
        return self._now()

    def monotonic(self) -> float:
        return self._now()
