"""Time, injected: wall seconds for what other instances must agree on, monotonic for local caches.

Everything in ``aimux_core.state`` takes a ``Clock`` instead of calling ``time`` so the breaker, the
health buckets and item expiry can be driven by a ``FakeClock`` in tests, exactly and instantly.

- ``now()`` is wall-clock epoch seconds. It is written into shared items (``opened_at``, lease expiry,
  ``expires_at``, bucket keys), so every instance must read the same kind of time: wall time.
- ``monotonic()`` only measures local durations (how old a cached snapshot is); it never leaves the
  process and never goes backwards, even when the wall clock is stepped.
"""

from __future__ import annotations

import time
from typing import Protocol


class Clock(Protocol):
    """A source of wall and monotonic time."""

    def now(self) -> float:
        """Wall-clock seconds since the Unix epoch."""
        ...

    def monotonic(self) -> float:
        """Seconds from an arbitrary origin; only differences are meaningful."""
        ...


class SystemClock:
    """The real clocks (``time.time`` and ``time.monotonic``), called directly: a clock is read ~20 times per
    request, and a method of our own around each would be a Python call every time."""

    now = staticmethod(time.time)
    monotonic = staticmethod(time.monotonic)


class FakeClock:
    """A clock that moves only when a test says so.

    ``advance`` moves both clocks together, like real time passing. ``set`` steps only the wall clock
    (an NTP correction, or a test that wants a particular minute); the monotonic clock never moves back.
    """

    def __init__(self, start: float = 1_700_000_000.0) -> None:
        self._wall = float(start)
        self._mono = 0.0

    def now(self) -> float:
        return self._wall

    def monotonic(self) -> float:
        return self._mono

    def advance(self, seconds: float) -> None:
        """Let ``seconds`` (>= 0) of time pass."""
        if seconds < 0:
            raise ValueError("time only moves forward; use set() to step the wall clock back")
        self._wall += seconds
        self._mono += seconds

    def set(self, wall: float) -> None:
        """Step the wall clock to ``wall`` without touching the monotonic clock."""
        self._wall = float(wall)
