"""Session pinning: a session keeps its target while that target stays healthy.

Per process, bounded (least recently used sessions are forgotten first) and expiring, because a
pin is an optimisation (warm prompt caches, valid thinking signatures), never a correctness need.
"""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Callable


class SessionPins:
    def __init__(
        self, *, max_sessions: int = 10_000, ttl_seconds: float = 3_600, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self._pins: OrderedDict[str, tuple[str, float]] = OrderedDict()
        self._max = max_sessions
        self._ttl = ttl_seconds
        self._clock = clock

    def get(self, session_id: str) -> str | None:
        pin = self._pins.get(session_id)
        if pin is None:
            return None
        target_key, expires = pin
        if expires <= self._clock():
            del self._pins[session_id]
            return None
        self._pins.move_to_end(session_id)
        return target_key

    def set(self, session_id: str, target_key: str) -> None:
        self._pins[session_id] = (target_key, self._clock() + self._ttl)
        self._pins.move_to_end(session_id)
        while len(self._pins) > self._max:
            self._pins.popitem(last=False)
