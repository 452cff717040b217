"""The Dispatcher in isolation: injected clock, sleep and randomness, scripted in-process providers.

Time here is a ``FakeClock`` that moves only when a scripted provider "takes" time or the
dispatcher sleeps, so backoff, cooldowns and deadlines are checked exactly and instantly. The one
exception is the in-flight deadline test, which needs a call that really hangs.
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import Callable, Iterable
from typing import Any

import anyio
import pytest
from routing_conftest import (
    FakeClock,
    ScriptedProvider,
    Step,
    make_request,
    text_events,
    upstream_failure,
)

from aimux_core.errors import AimuxError, Overloaded, RateLimited, UpstreamError
from aimux_core.providers.base import RequestContext, UpstreamCall
from aimux_core.routing.dispatch import Dispatcher, Refusal, RetryPolicy
from aimux_core.routing.table import Target
from aimux_core.routing.unserved import ALL_DOWN_RETRY_AFTER
from aimux_core.wire.anthropic import Message, StreamEvent

pytestmark = [pytest.mark.anyio, pytest.mark.timeout(10)]

A, B, C = Target("a", "model-a"), Target("b", "model-b"), Target("c", "model-c")
REQUEST = make_request("hi")
CONTEXT = RequestContext(request_id="req_unit")


def dispatcher(
    clock: FakeClock, *providers: ScriptedProvider | Any, guard: Any = None, seed: int = 7, **policy: Any
) -> Dispatcher:
    settings = {"max_attempts": 3, "backoff_base": 0.25, "backoff_max": 4.0, "deadline": 600.0, **policy}
    extra = {"guard": guard} if guard is not None else {}
    return Dispatcher(
        {p.name: p for p in providers},
        RetryPolicy(**settings),
        clock=clock,
        sleep=clock.sleep,
        rng=random.Random(seed),
        **extra,
    )


def fails(status: int = 529, *, retry_after: float | None = None, takes: float = 0.0) -> Step:
    return Step(error=upstream_failure(status, retry_after=retry_after), takes=takes)


async def collect(events: Any) -> list[StreamEvent]:
    return [event async for event in events]


# --------------------------------------------------------------------------- backoff


async def test_backoff_grows_exponentially_with_jitter_within_bounds(
    fake_clock: FakeClock, scripted: Callable[[str], ScriptedProvider]
) -> None:
    """Round r waits within [cap/2, cap], cap = min(backoff_max, base * 2**r): growing, bounded, jittered."""
    a = scripted("a").then(*[fails(500)] * 6)
    d = dispatcher(fake_clock, a, max_attempts=6, backoff_base=0.1, backoff_max=1.0)
    with pytest.raises(UpstreamError):  # one target: its own error
        await d.create(REQUEST, CONTEXT, (A,))
    assert len(a.calls) == 6
    assert len(fake_clock.sleeps) == 5, "one backoff between consecutive rounds"
    for rounds, delay in enumerate(fake_clock.sleeps):
        cap = min(1.0, 0.1 * 2**rounds)
        assert cap / 2 <= delay <= cap, (rounds, delay)


async def test_backoff_jitter_spreads_over_its_interval(scripted: Callable[[str], ScriptedProvider]) -> None:
    """Across seeds the first delay covers [base/2, base]: jitter is real, so clients do not stampede."""
    firsts = []
    for seed in range(200):
        clock = FakeClock()
        a = ScriptedProvider("a", clock).then(fails(500), fails(500))
        d = dispatcher(clock, a, max_attempts=2, backoff_base=0.2, seed=seed)
        with pytest.raises(UpstreamError):
            await d.create(REQUEST, CONTEXT, (A,))
        firsts.append(clock.sleeps[0])
    assert all(0.1 <= delay <= 0.2 for delay in firsts)
    assert min(firsts) < 0.11 and max(firsts) > 0.19
    assert len(set(firsts)) > 150


async def test_targets_of_one_round_are_tried_without_waiting(
    fake_clock: FakeClock, scripted: Callable[[str], ScriptedProvider]
) -> None:
    a, b = scripted("a").then(fails()), scripted("b")
    message, outcome = await dispatcher(fake_clock, a, b).create(REQUEST, CONTEXT, (A, B))
    assert outcome.target == B and [x.outcome for x in outcome.attempts] == ["529", "ok"]
    assert fake_clock.sleeps == []
    assert message.content[0].text == "from b"  # type: ignore[union-attr]


# --------------------------------------------------------------------------- bounds


async def test_max_attempts_bounds_the_calls(
    fake_clock: FakeClock, scripted: Callable[[str], ScriptedProvider]
) -> None:
    a, b, c = (scripted(n).then(fails()) for n in "abc")
    with pytest.raises(Overloaded) as caught:
        await dispatcher(fake_clock, a, b, c, max_attempts=2).create(REQUEST, CONTEXT, (A, B, C))
    assert (len(a.calls), len(b.calls), len(c.calls)) == (1, 1, 0)
    assert caught.value.headers["x-aimux-attempts"] == "2"


async def test_max_attempts_spans_rounds(fake_clock: FakeClock, scripted: Callable[[str], ScriptedProvider]) -> None:
    """Five attempts over two targets: a, b, (backoff) a, b, (backoff) a."""
    a, b = scripted("a").then(*[fails()] * 3), scripted("b").then(*[fails()] * 3)
    with pytest.raises(Overloaded):
        await dispatcher(fake_clock, a, b, max_attempts=5).create(REQUEST, CONTEXT, (A, B))
    assert (len(a.calls), len(b.calls)) == (3, 2)
    assert len(fake_clock.sleeps) == 2


async def test_deadline_stops_the_walk(fake_clock: FakeClock, scripted: Callable[[str], ScriptedProvider]) -> None:
    """Each failing call takes 1 s; with a 2.5 s deadline no call starts after it has passed."""
    a = scripted("a").then(*[fails(takes=1.0)] * 10)
    starts: list[float] = []
    original = a.create

    async def create(call: UpstreamCall) -> Message:
        starts.append(fake_clock.now)
        return await original(call)

    a.create = create  # type: ignore[method-assign]
    began = fake_clock.now
    with pytest.raises(UpstreamError):
        await dispatcher(fake_clock, a, max_attempts=10, backoff_base=0.01, deadline=2.5).create(
            REQUEST, CONTEXT, (A,)
        )
    assert 2 <= len(starts) < 10
    assert all(start - began < 2.5 for start in starts)
    assert all(began + sum(fake_clock.sleeps[:i]) < began + 2.5 for i in range(len(fake_clock.sleeps)))


async def test_no_sleep_crosses_the_deadline(
    fake_clock: FakeClock, scripted: Callable[[str], ScriptedProvider]
) -> None:
    """Cooldowns longer than the deadline: answer at once (429 with retry-after) instead of sleeping."""
    a = scripted("a").then(fails(429, retry_after=30))
    b = scripted("b").then(fails(429, retry_after=45))
    with pytest.raises(RateLimited) as caught:
        await dispatcher(fake_clock, a, b, deadline=10).create(REQUEST, CONTEXT, (A, B))
    assert fake_clock.sleeps == []
    assert caught.value.retry_after == pytest.approx(30)
    assert caught.value.status == 429


async def test_deadline_bounds_an_attempt_in_flight() -> None:
    """One deadline per request: a call that never answers must not hold the client beyond it.

    Real time here (the call hangs on an event nobody sets); the provider's own timeouts are far
    longer than the request deadline, as they are in production (900 s total vs. a 600 s deadline).
    """
    started = asyncio.Event()
    cancelled = asyncio.Event()

    class Hangs:
        name = "a"

        async def create(self, call: UpstreamCall) -> Message:
            started.set()
            try:
                await asyncio.Event().wait()
            finally:
                cancelled.set()
            raise AssertionError("unreachable")

        def stream(self, call: UpstreamCall) -> Any:
            raise NotImplementedError

    d = Dispatcher({"a": Hangs()}, RetryPolicy(max_attempts=3, deadline=0.3))
    with anyio.fail_after(3):
        with pytest.raises(AimuxError) as caught:
            await d.create(REQUEST, CONTEXT, (A,))
    assert started.is_set() and cancelled.is_set(), "the hung upstream call was cancelled"
    assert caught.value.status in (504, 529)
    assert caught.value.headers["x-aimux-attempts"] == "1"


async def test_deadline_bounds_a_stream_that_never_reaches_content() -> None:
    """For streams the deadline runs until the first content: a held ``message_start`` followed by
    silence must not hold the client, and the hung upstream stream is closed."""
    closed = asyncio.Event()

    class StallsAfterStart:
        name = "a"

        async def create(self, call: UpstreamCall) -> Message:
            raise NotImplementedError

        async def stream(self, call: UpstreamCall) -> Any:
            try:
                yield text_events("never", "m")[0]
                await asyncio.Event().wait()
            finally:
                closed.set()

    d = Dispatcher({"a": StallsAfterStart()}, RetryPolicy(max_attempts=3, deadline=0.3))
    with anyio.fail_after(3):
        with pytest.raises(AimuxError) as caught:
            await d.open_stream(REQUEST, CONTEXT, (A,))
    assert closed.is_set()
    assert caught.value.kind == "timeout_error"


# --------------------------------------------------------------------------- what is retried


@pytest.mark.parametrize(("status", "client_status"), [(400, 400), (402, 402), (404, 404), (413, 413)])
async def test_client_errors_are_answered_at_once(
    fake_clock: FakeClock, scripted: Callable[[str], ScriptedProvider], status: int, client_status: int
) -> None:
    a, b = scripted("a").then(fails(status)), scripted("b")
    with pytest.raises(UpstreamError) as caught:
        await dispatcher(fake_clock, a, b).create(REQUEST, CONTEXT, (A, B))
    assert caught.value.status == client_status and not caught.value.retryable
    assert caught.value.headers["x-aimux-attempts"] == "1"
    assert b.calls == [] and fake_clock.sleeps == []


@pytest.mark.parametrize("status", [408, 409, 429, 500, 502, 503, 504, 529])
async def test_retryable_statuses_move_on(
    fake_clock: FakeClock, scripted: Callable[[str], ScriptedProvider], status: int
) -> None:
    a, b = scripted("a").then(fails(status)), scripted("b")
    _, outcome = await dispatcher(fake_clock, a, b).create(REQUEST, CONTEXT, (A, B))
    assert outcome.target == B and len(outcome.attempts) == 2


async def test_connection_and_timeout_errors_move_on(
    fake_clock: FakeClock, scripted: Callable[[str], ScriptedProvider]
) -> None:
    from aimux_core.translate.upstream_errors import connection_error, timeout_error

    a = scripted("a").then(Step(error=connection_error("a", "connection failed")))
    b = scripted("b").then(Step(error=timeout_error("b", "no first byte")))
    c = scripted("c")
    _, outcome = await dispatcher(fake_clock, a, b, c).create(REQUEST, CONTEXT, (A, B, C))
    assert outcome.target == C and len(outcome.attempts) == 3


# --------------------------------------------------------------------------- cooldowns


async def test_cooldown_skips_the_target_until_it_ends(
    fake_clock: FakeClock, scripted: Callable[[str], ScriptedProvider]
) -> None:
    a, b = scripted("a").then(fails(429, retry_after=5)), scripted("b")
    d = dispatcher(fake_clock, a, b)
    _, first = await d.create(REQUEST, CONTEXT, (A, B))
    assert first.target == B and len(first.attempts) == 2
    fake_clock.advance(4.9)
    _, second = await d.create(REQUEST, CONTEXT, (A, B))
    assert second.target == B and len(second.attempts) == 1, "a cooling target is skipped, not attempted"
    assert len(a.calls) == 1
    fake_clock.advance(0.2)
    _, third = await d.create(REQUEST, CONTEXT, (A, B))
    assert third.target == A and len(a.calls) == 2


async def test_failure_without_retry_after_does_not_cool(
    fake_clock: FakeClock, scripted: Callable[[str], ScriptedProvider]
) -> None:
    a, b = scripted("a").then(fails(500)), scripted("b")
    d = dispatcher(fake_clock, a, b)
    await d.create(REQUEST, CONTEXT, (A, B))
    _, outcome = await d.create(REQUEST, CONTEXT, (A, B))
    assert outcome.target == A


async def test_every_target_cooling_is_waited_out(
    fake_clock: FakeClock, scripted: Callable[[str], ScriptedProvider]
) -> None:
    """Both targets cool (2 s and 3 s): wait for the sooner one, no longer, then call it."""
    a = scripted("a").then(fails(429, retry_after=2))
    b = scripted("b").then(fails(429, retry_after=3))
    _, outcome = await dispatcher(fake_clock, a, b).create(REQUEST, CONTEXT, (A, B))
    assert fake_clock.sleeps == [pytest.approx(2.0, abs=0.01)]
    assert outcome.target == A and len(outcome.attempts) == 3


async def test_cooling_targets_of_an_earlier_request_are_waited_out(
    fake_clock: FakeClock, scripted: Callable[[str], ScriptedProvider]
) -> None:
    a = scripted("a").then(fails(429, retry_after=1.5))
    d = dispatcher(fake_clock, a)
    _, outcome = await d.create(REQUEST, CONTEXT, (A,))
    assert outcome.target == A and len(outcome.attempts) == 2
    assert fake_clock.sleeps == [pytest.approx(1.5, abs=0.01)]


async def test_retry_after_of_the_answer_is_the_soonest_cooldown_of_its_targets(
    fake_clock: FakeClock, scripted: Callable[[str], ScriptedProvider]
) -> None:
    """A cooldown of a target this request never had says nothing about when to come back."""
    x = scripted("x").then(fails(429, retry_after=300))
    d = dispatcher(fake_clock, x, scripted("y"), scripted("a").then(fails(500)), scripted("b").then(fails(500)),
                   max_attempts=2)
    await d.create(REQUEST, CONTEXT, (Target("x", "model-x"), Target("y", "model-y")))  # x now cools for 300 s
    with pytest.raises(Overloaded) as caught:
        await d.create(REQUEST, CONTEXT, (A, B))
    assert caught.value.retry_after == ALL_DOWN_RETRY_AFTER, "the default, not the unrelated target's 300 s"


async def test_mixed_failures_are_overloaded_not_rate_limited(
    fake_clock: FakeClock, scripted: Callable[[str], ScriptedProvider]
) -> None:
    a = scripted("a").then(fails(429, retry_after=100))
    b = scripted("b").then(fails(500))
    with pytest.raises(Overloaded) as caught:
        await dispatcher(fake_clock, a, b, max_attempts=2).create(REQUEST, CONTEXT, (A, B))
    assert caught.value.status == 529 and caught.value.kind == "overloaded_error"
    assert caught.value.retry_after == pytest.approx(100)
    assert "a: 429" in caught.value.message and "b: 500" in caught.value.message


# --------------------------------------------------------------------------- guard


AT_CAP = Refusal("at cap", forcible=False)


class RecordingGuard:
    """A Guard that refuses the targets in ``refuse`` (as ``refusal`` says) and records every report."""

    def __init__(self, refuse: Iterable[str] = (), refusal: Refusal = AT_CAP) -> None:
        self.refuse = set(refuse)
        self.refusal = refusal
        self.admitted: list[str] = []
        self.forced: list[str] = []
        self.successes: list[tuple[str, Any, float, float | None]] = []
        self.failures: list[tuple[str, Any, UpstreamError]] = []

    async def acquire(self, target: Target, *, force: bool = False) -> Any:
        if target.provider in self.refuse and not (force and self.refusal.forcible):
            return self.refusal
        (self.forced if force else self.admitted).append(target.provider)
        return f"ticket-{target.provider}-{len(self.admitted) + len(self.forced)}"

    async def succeeded(self, target: Target, ticket: Any, latency_ms: float, ttft_ms: float | None) -> None:
        self.successes.append((target.provider, ticket, latency_ms, ttft_ms))

    async def failed(self, target: Target, ticket: Any, error: UpstreamError, blamed: set[str]) -> None:
        self.failures.append((target.provider, ticket, error))


async def test_guard_refusal_skips_the_target(
    fake_clock: FakeClock, scripted: Callable[[str], ScriptedProvider]
) -> None:
    a, b = scripted("a"), scripted("b")
    guard = RecordingGuard(refuse={"a"})
    _, outcome = await dispatcher(fake_clock, a, b, guard=guard).create(REQUEST, CONTEXT, (A, B))
    assert outcome.target == B and len(outcome.attempts) == 1
    assert a.calls == []


async def test_guard_refusing_everything_past_forcing_answers_at_once(
    fake_clock: FakeClock, scripted: Callable[[str], ScriptedProvider]
) -> None:
    """Every provider at its cap (a refusal nothing may override): no sleep, no call; a 529 that says why."""
    a, b = scripted("a"), scripted("b")
    guard = RecordingGuard(refuse={"a", "b"})
    with pytest.raises(Overloaded) as caught:
        await dispatcher(fake_clock, a, b, guard=guard).create(REQUEST, CONTEXT, (A, B))
    assert a.calls == b.calls == [] and fake_clock.sleeps == []
    assert "a: at cap" in caught.value.message and "b: at cap" in caught.value.message
    assert caught.value.retry_after is not None
    assert caught.value.headers["x-aimux-attempts"] == "0"


async def test_guard_hears_latency_and_failures_for_create(
    fake_clock: FakeClock, scripted: Callable[[str], ScriptedProvider]
) -> None:
    a = scripted("a").then(fails(503, takes=0.1))
    b = scripted("b").then(Step(takes=0.25))
    guard = RecordingGuard()
    await dispatcher(fake_clock, a, b, guard=guard).create(REQUEST, CONTEXT, (A, B))
    assert [(p, t) for p, t, _ in guard.failures] == [("a", "ticket-a-1")]
    assert guard.failures[0][2].upstream_status == 503
    assert guard.successes == [("b", "ticket-b-2", pytest.approx(250), None)]


async def test_guard_hears_ttft_and_total_latency_for_streams(
    fake_clock: FakeClock, scripted: Callable[[str], ScriptedProvider]
) -> None:
    """TTFT: from the call to the first content event (0.1 s + one 0.05 s gap); latency: to the end."""
    a = scripted("a").then(Step(events=tuple(text_events("x", "m")), takes=0.1, gap=0.05))
    guard = RecordingGuard()
    events, _ = await dispatcher(fake_clock, a, guard=guard).open_stream(REQUEST, CONTEXT, (A,))
    assert guard.successes == [], "success is reported when the stream ends, not when it opens"
    await collect(events)
    assert guard.successes == [("a", "ticket-a-1", pytest.approx(350), pytest.approx(150))]


async def test_guard_hears_a_mid_stream_failure(
    fake_clock: FakeClock, scripted: Callable[[str], ScriptedProvider]
) -> None:
    a = scripted("a").then(Step(events=tuple(text_events("x", "m")[:3]), error=upstream_failure(529)))
    guard = RecordingGuard()
    events, _ = await dispatcher(fake_clock, a, guard=guard).open_stream(REQUEST, CONTEXT, (A,))
    with pytest.raises(UpstreamError):
        await collect(events)
    assert [p for p, _, _ in guard.failures] == ["a"] and guard.successes == []


# --------------------------------------------------------------------------- streams


async def test_stream_failing_before_content_fails_over_leaving_no_trace(
    fake_clock: FakeClock, scripted: Callable[[str], ScriptedProvider]
) -> None:
    start = text_events("leak", "m")[0]
    a = scripted("a").then(Step(events=(start,), error=upstream_failure(529)))
    b = scripted("b")
    events, outcome = await dispatcher(fake_clock, a, b).open_stream(REQUEST, CONTEXT, (A, B))
    got = await collect(events)
    assert outcome.target == B and len(outcome.attempts) == 2
    assert [e.type for e in got].count("message_start") == 1
    assert [e.delta.text for e in got if e.type == "content_block_delta"] == ["from b"]  # type: ignore[union-attr]
    assert a.closed == 1, "the failed upstream stream was closed"


async def test_stream_ending_before_content_fails_over(
    fake_clock: FakeClock, scripted: Callable[[str], ScriptedProvider]
) -> None:
    a = scripted("a").then(Step(events=tuple(text_events("x", "m")[:1])))
    b = scripted("b")
    _, outcome = await dispatcher(fake_clock, a, b).open_stream(REQUEST, CONTEXT, (A, B))
    assert outcome.target == B
    assert outcome.attempts[0].outcome == "api_error"


async def test_stream_failing_after_content_is_not_failed_over(
    fake_clock: FakeClock, scripted: Callable[[str], ScriptedProvider]
) -> None:
    a = scripted("a").then(Step(events=tuple(text_events("partial", "m")[:3]), error=upstream_failure(529)))
    b = scripted("b")
    events, outcome = await dispatcher(fake_clock, a, b).open_stream(REQUEST, CONTEXT, (A, B))
    assert outcome.target == A and len(outcome.attempts) == 1
    seen: list[str] = []
    with pytest.raises(UpstreamError):
        async for event in events:
            seen.append(event.type)
    assert seen == ["message_start", "content_block_start", "content_block_delta"]
    assert b.calls == []
    assert a.closed == 1


async def test_abandoned_stream_closes_the_upstream(
    fake_clock: FakeClock, scripted: Callable[[str], ScriptedProvider]
) -> None:
    """A client that goes away closes the iterator; the upstream request must be closed with it."""
    a = scripted("a")
    events, _ = await dispatcher(fake_clock, a).open_stream(REQUEST, CONTEXT, (A,))
    first = await anext(events)  # type: ignore[call-overload]
    assert first.type == "message_start"
    await events.aclose()  # type: ignore[attr-defined]
    assert a.closed == 1
