"""An operator's hand on a breaker (``CircuitBreaker.hold_open`` / ``close`` / ``reset``), on every store:
a held-open circuit refuses past any cooldown and grants no probe until an operator closes it; each
change records who made it; close leaves a closed circuit's counts alone, reset clears them."""

from __future__ import annotations

import pytest

from aimux_core.state import FakeClock, Store
from aimux_core.state.breaker import BreakerSettings, CircuitBreaker, CircuitState

pytestmark = pytest.mark.anyio


async def test_held_open_refuses_past_its_cooldown_until_closed(store: Store, clock: FakeClock, ns: str) -> None:
    breaker = CircuitBreaker(store, clock, BreakerSettings(cooldown_seconds=30, cache_seconds=0))
    await breaker.hold_open(ns, "arn:aws:iam::1:user/ana")
    clock.advance(3600)  # far past the cooldown: an ordinary open circuit would let a probe through
    admission = await breaker.allow(ns)
    assert not admission.allowed and admission.reason == "held_open"
    view = await breaker.read(ns)
    assert view.state is CircuitState.OPEN and view.held_open and not view.available and view.retry_at is None
    assert view.changed_by == "arn:aws:iam::1:user/ana"
    await breaker.close(ns, "loopback")
    view = await breaker.read(ns)
    assert view.state is CircuitState.CLOSED and not view.held_open and view.changed_by == "loopback"
    assert (await breaker.allow(ns)).allowed


async def test_close_leaves_counts_and_reset_clears_them(store: Store, clock: FakeClock, ns: str) -> None:
    breaker = CircuitBreaker(store, clock, BreakerSettings(failure_threshold=5, failure_ratio=None, cache_seconds=0))
    for _ in range(3):
        await breaker.record_failure(ns, await breaker.allow(ns))
    await breaker.close(ns, "token")  # closed already: nothing to do
    assert (await breaker.read(ns)).consecutive_failures == 3
    await breaker.reset(ns, "token")
    view = await breaker.read(ns)
    assert (view.state, view.consecutive_failures, view.changed_by) == (CircuitState.CLOSED, 0, "token")
