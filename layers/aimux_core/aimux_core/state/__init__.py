"""State that every aimux instance must agree on, behind one ``Store`` interface.

store.py          the Store contract, ABSENT, and the errors (StoreError, ConditionFailed, StoreUnavailable)
values.py         the attribute value rules every store enforces
memory.py         MemoryStore: the contract in one process (local runs, tests)
clock.py          Clock, SystemClock, FakeClock
cache.py          TtlCache: per-process snapshots with single-flight loads
breaker_model.py  the breaker's state machine, record <-> item, settings, views (pure)
breaker.py        CircuitBreaker: admissions, results, transitions by compare-and-set
health.py         HealthTracker: per-minute buckets, summaries and their classification
cooldowns.py      Cooldowns: targets resting after a rate limit, an overload, a quota or a refused key
"""

from .breaker import CircuitBreaker, breaker_key
from .breaker_model import (
    BreakerPermit,
    BreakerSettings,
    BreakerState,
    BreakerView,
    CircuitState,
    Transition,
    TransitionReason,
)
from .cache import TtlCache
from .clock import Clock, FakeClock, SystemClock
from .health import HealthSettings, HealthState, HealthSummary, HealthTracker
from .memory import MemoryStore
from .store import ABSENT, Absent, ConditionFailed, Item, Store, StoreError, StoreUnavailable

__all__ = [
    "ABSENT",
    "Absent",
    "BreakerPermit",
    "BreakerSettings",
    "BreakerState",
    "BreakerView",
    "CircuitBreaker",
    "CircuitState",
    "Clock",
    "ConditionFailed",
    "FakeClock",
    "HealthSettings",
    "HealthState",
    "HealthSummary",
    "HealthTracker",
    "Item",
    "MemoryStore",
    "Store",
    "StoreError",
    "StoreUnavailable",
    "SystemClock",
    "Transition",
    "TransitionReason",
    "TtlCache",
    "breaker_key",
]
