"""What a request gets when the state store is throttled or unreachable: served (open) or refused (closed).

``AIMUX_STATE_FAILURE=open`` (the default) serves the request as if the limit, budget or lease check had
passed, logs a warning and counts the miss; ``closed`` answers 529 ``overloaded_error`` (the OpenAI
surface renders it as 503) with a message saying what could not be checked. Either way nothing crashes
and the caller gets a clear answer. Work after the answer (spend, token settlement, lease release) can
no longer change that answer, so its failures are logged and counted in both modes.

Only store failures are absorbed: ``StoreError`` other than ``ConditionFailed`` (a refused condition is a
decision, handled by the limiters themselves), plus ``TimeoutError`` and ``OSError`` from a backend that
did not wrap them. Anything else is a bug and propagates. Log lines name the operation and the error
type, never the exception text (it may carry keys or item contents).
"""

from __future__ import annotations

import inspect
import logging
from collections import Counter
from collections.abc import Awaitable, Callable
from typing import Literal, TypeVar

from ..errors import Overloaded
from .store import ConditionFailed, StoreError

__all__ = ["StateFailurePolicy"]

log = logging.getLogger(__name__)

Mode = Literal["open", "closed"]
T = TypeVar("T")

_ABSORBED = (StoreError, TimeoutError, OSError)


class StateFailurePolicy:
    """Runs store operations under the configured failure mode and counts the misses."""

    def __init__(self, mode: Mode = "open", *, on_miss: Callable[[str], None] | None = None) -> None:
        if mode not in ("open", "closed"):
            raise ValueError(f"state failure mode must be 'open' or 'closed', got {mode!r}")
        self.mode: Mode = mode
        self._on_miss = on_miss
        self._misses: Counter[str] = Counter()

    @property
    def misses(self) -> dict[str, int]:
        """Store failures absorbed so far, by operation (for admin views and metrics)."""
        return dict(self._misses)

    @property
    def total_misses(self) -> int:
        return sum(self._misses.values())

    async def guarded(
        self,
        op: Awaitable[T] | Callable[[], Awaitable[T]],
        *,
        what: str,
        fallback: T,
        answered: bool = False,
    ) -> T:
        """Run ``op``; on a store failure return ``fallback`` (open, or ``answered``) or raise ``Overloaded``.

        ``what`` names the operation in logs, counters and the 529 message (``rate limit check``).
        ``answered=True`` marks work after the answer was sent: it never raises for a store failure.
        """
        awaitable = op() if callable(op) and not inspect.isawaitable(op) else op
        try:
            return await awaitable
        except ConditionFailed:
            raise
        except _ABSORBED as exc:
            self._count(what)
            if self.mode == "closed" and not answered:
                log.warning("state store unavailable during %s (%s); refusing (closed)", what, type(exc).__name__)
                raise Overloaded(
                    f"aimux cannot perform the {what} right now because its state store is unavailable; "
                    "try again shortly",
                    retry_after=1.0,
                ) from None
            outcome = "not recorded" if answered else "serving anyway (open)"
            log.warning("state store unavailable during %s (%s); %s", what, type(exc).__name__, outcome)
            return fallback

    def _count(self, what: str) -> None:
        self._misses[what] += 1
        if self._on_miss is not None:
            try:
                self._on_miss(what)
            except Exception:  # a metrics hook must never turn a miss into a crash
                log.exception("state failure hook raised")
