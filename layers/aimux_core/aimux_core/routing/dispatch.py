"""Dispatch: walk the selected targets until one answers, within bounded retries and one deadline.

- Connect errors, timeouts, 408/409/429/5xx/529 (``UpstreamError.retryable``) move on to the next
  target; other upstream errors (400/401/403/404/413) are the caller's answer at once.
- ``retry-after`` (and announced quota resets) cool a target down for that long, so later rounds
  skip it; between rounds aimux backs off exponentially with jitter.
- ``max_attempts`` bounds the calls per request; ``deadline`` bounds the time until an answer (for
  streams: until the first content), so a client never waits on an endless retry loop.
- A stream fails over only before its first content: events are held until the upstream produced
  a content block (or finished), so a target that fails early leaves no trace on the wire.
- When nothing answered: the target's own error when only one target was tried; a 429 when every
  failure was a rate limit; else 529 ``overloaded_error`` (503 for OpenAI clients), with
  ``retry-after`` when a cooldown is known.

The circuit breaker and health statistics sit behind ``Guard``: ``admit`` may refuse a target
(open circuit, probe slots taken), and every outcome is reported back.
"""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

from ..errors import AimuxError, Overloaded, RateLimited, UpstreamError
from ..providers.base import Provider, RequestContext, UpstreamCall
from ..wire.anthropic import Message, MessagesRequest, StreamEvent
from .table import Target

_CONTENT_EVENTS = frozenset({"content_block_start", "content_block_delta", "message_delta", "message_stop"})
ALL_DOWN_RETRY_AFTER = 10.0


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    max_attempts: int = 3
    backoff_base: float = 0.25
    backoff_max: float = 4.0
    deadline: float = 600.0


class Guard(Protocol):
    """Breaker and health bookkeeping around each attempt."""

    async def admit(self, target: Target) -> Any | None:
        """A ticket to call ``target``, or None when its circuit refuses the call."""

    async def succeeded(self, target: Target, ticket: Any, latency_ms: float, ttft_ms: float | None) -> None: ...

    async def failed(self, target: Target, ticket: Any, error: UpstreamError) -> None: ...


class OpenGuard:
    """Admits everything and records nothing (no breaker configured)."""

    async def admit(self, target: Target) -> Any | None:
        return True

    async def succeeded(self, target: Target, ticket: Any, latency_ms: float, ttft_ms: float | None) -> None:
        return None

    async def failed(self, target: Target, ticket: Any, error: UpstreamError) -> None:
        return None


@dataclass(slots=True)
class Attempt:
    target: Target
    outcome: str  # "ok", or the failure in a few words


@dataclass(slots=True)
class Outcome:
    """Which target served, and every attempt made on the way."""

    target: Target
    attempts: list[Attempt]


@dataclass(slots=True)
class Dispatcher:
    providers: dict[str, Provider]
    policy: RetryPolicy = field(default_factory=RetryPolicy)
    guard: Guard = field(default_factory=OpenGuard)
    clock: Callable[[], float] = time.monotonic
    sleep: Callable[[float], Awaitable[None]] = asyncio.sleep
    rng: random.Random = field(default_factory=random.Random)
    _cooldown_until: dict[str, float] = field(default_factory=dict)

    async def create(
        self, request: MessagesRequest, context: RequestContext, targets: tuple[Target, ...]
    ) -> tuple[Message, Outcome]:
        async def attempt(target: Target, ticket: Any) -> Message:
            started = self.clock()
            message = await self._provider(target).create(UpstreamCall.for_target(request, target, context))
            elapsed = (self.clock() - started) * 1000
            await self.guard.succeeded(target, ticket, elapsed, None)
            return message

        return await self._walk(targets, attempt)

    async def open_stream(
        self, request: MessagesRequest, context: RequestContext, targets: tuple[Target, ...]
    ) -> tuple[AsyncIterator[StreamEvent], Outcome]:
        async def attempt(target: Target, ticket: Any) -> AsyncIterator[StreamEvent]:
            started = self.clock()
            upstream = self._provider(target).stream(UpstreamCall.for_target(request, target, context))
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
                await upstream.aclose()  # type: ignore[attr-defined]
                raise
            ttft = (self.clock() - started) * 1000
            return self._finish_stream(held, upstream, target, ticket, started, ttft)

        return await self._walk(targets, attempt)

    # ------------------------------------------------------------------ the walk

    async def _walk(self, targets: tuple[Target, ...], attempt: Callable[[Target, Any], Awaitable[Any]]) -> Any:
        policy = self.policy
        deadline = self.clock() + policy.deadline
        attempts: list[Attempt] = []
        failures: list[UpstreamError] = []
        rounds = 0
        while len(attempts) < policy.max_attempts:
            called = False
            for target in targets:
                if len(attempts) >= policy.max_attempts or self.clock() >= deadline:
                    break
                if self._cooling(target):
                    continue
                ticket = await self.guard.admit(target)
                if ticket is None:
                    continue
                called = True
                try:
                    result = await self._within_deadline(attempt(target, ticket), target, deadline)
                except UpstreamError as error:
                    attempts.append(Attempt(target, _describe(error)))
                    failures.append(error)
                    await self.guard.failed(target, ticket, error)
                    if not error.retryable:
                        raise _with_attempts(error, attempts) from None
                    if error.retry_after:
                        self._cooldown_until[target.key] = self.clock() + error.retry_after
                    continue
                attempts.append(Attempt(target, "ok"))
                return result, Outcome(target, attempts)
            if len(attempts) >= policy.max_attempts:
                break
            delay = self._next_delay(targets, rounds, called)
            if delay is None or self.clock() + delay >= deadline:
                break
            await self.sleep(delay)
            rounds += 1
        raise self._all_failed(targets, attempts, failures)

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

    def _cooling(self, target: Target) -> bool:
        until = self._cooldown_until.get(target.key)
        if until is None:
            return False
        if until <= self.clock():
            del self._cooldown_until[target.key]
            return False
        return True

    def _next_delay(self, targets: tuple[Target, ...], rounds: int, called: bool) -> float | None:
        """Backoff before the next round, at least until some target's cooldown ends."""
        backoff = min(self.policy.backoff_max, self.policy.backoff_base * (2**rounds))
        backoff *= 0.5 + self.rng.random() / 2
        now = self.clock()
        waits = [until - now for key, until in self._cooldown_until.items() if any(t.key == key for t in targets)]
        all_cooling = bool(targets) and all(self._cooldown_until.get(t.key, 0) > now for t in targets)
        if all_cooling:
            return max(backoff, min(waits))
        if not called:
            return None  # every target refused by its circuit: waiting a moment changes nothing
        return backoff

    def _all_failed(
        self, targets: tuple[Target, ...], attempts: list[Attempt], failures: list[UpstreamError]
    ) -> AimuxError:
        now = self.clock()
        keys = {t.key for t in targets}  # another route's cooldown says nothing about this request
        waits = [until - now for key, until in self._cooldown_until.items() if key in keys and until > now]
        retry_after = min(waits) if waits else None
        tried = ", ".join(f"{a.target.label}: {a.outcome}" for a in attempts) or "no target admitted the request"
        if failures and len({a.target.key for a in attempts}) == 1:
            return _with_attempts(failures[-1], attempts)  # one target: its own error says the most
        if failures and all(f.kind == "rate_limit_error" for f in failures):
            error: AimuxError = RateLimited(f"all targets are rate limited ({tried})", retry_after=retry_after)
        else:
            error = Overloaded(
                f"no upstream could serve the request ({tried})",
                retry_after=retry_after if retry_after is not None else ALL_DOWN_RETRY_AFTER,
            )
        return _with_attempts(error, attempts)

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
        upstream: AsyncIterator[StreamEvent],
        target: Target,
        ticket: Any,
        started: float,
        ttft_ms: float,
    ) -> AsyncIterator[StreamEvent]:
        """Replay the held events, then the rest; report the outcome once the stream ends."""
        ok = False
        try:
            for event in held:
                yield event
            async for event in upstream:
                yield event
            ok = True
        except UpstreamError as error:
            await self.guard.failed(target, ticket, error)
            raise
        finally:
            await upstream.aclose()  # type: ignore[attr-defined]
            if ok:
                await self.guard.succeeded(target, ticket, (self.clock() - started) * 1000, ttft_ms)


def _describe(error: UpstreamError) -> str:
    return f"{error.upstream_status or error.kind}"


def _with_attempts(error: AimuxError, attempts: list[Attempt]) -> AimuxError:
    """Error answers say how many attempts were made and which target answered last."""
    error.headers["x-aimux-attempts"] = str(len(attempts))
    if attempts:
        error.headers["x-aimux-provider"] = attempts[-1].target.provider
        error.headers["x-aimux-model"] = attempts[-1].target.model
    return error
