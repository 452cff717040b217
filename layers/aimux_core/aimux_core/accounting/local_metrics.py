"""The request metrics of this process, kept in memory for ``GET /admin/metrics``.

Locally there is no CloudWatch, so the gateway keeps the same metrics (same names, same two views:
per provider+model and service-wide) in memory. Everything is bounded: at most ``max_series``
provider/model pairs (later ones are counted under ``other``/``other``), and latency percentiles come
from a fixed window of the most recent samples, next to exact count/sum/min/max.

Thread- and asyncio-safe: every update and snapshot holds one lock and never awaits. Pure standard
library, no Powertools.
"""

from __future__ import annotations

import math
import threading
import time
from collections import deque
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from typing import Any

OVERFLOW = "other"


class Timing:
    """Exact count/sum/min/max plus percentiles over the last ``window`` samples."""

    __slots__ = ("count", "max", "min", "recent", "total")

    def __init__(self, window: int) -> None:
        self.count = 0
        self.total = 0.0
        self.min = math.inf
        self.max = -math.inf
        self.recent: deque[float] = deque(maxlen=window)

    def add(self, value: float) -> None:
        self.count += 1
        self.total += value
        self.min = min(self.min, value)
        self.max = max(self.max, value)
        self.recent.append(value)

    def summary(self) -> dict[str, Any]:
        if not self.count:
            return {"count": 0}
        ordered = sorted(self.recent)
        return {
            "count": self.count,
            "mean": round(self.total / self.count, 3),
            "min": round(self.min, 3),
            "max": round(self.max, 3),
            "p50": _rank(ordered, 0.50),
            "p90": _rank(ordered, 0.90),
            "p99": _rank(ordered, 0.99),
            "window": len(ordered),
        }


def _rank(ordered: list[float], quantile: float) -> float:
    """Nearest-rank percentile of a sorted, non-empty list."""
    index = max(0, math.ceil(quantile * len(ordered)) - 1)
    return round(ordered[index], 3)


class Series:
    """Counters (summed values) and timings of one view."""

    __slots__ = ("counters", "timings", "window")

    def __init__(self, counters: Iterable[str], timings: Iterable[str], window: int) -> None:
        self.window = window
        self.counters: dict[str, float] = dict.fromkeys(counters, 0)
        self.timings: dict[str, Timing] = {name: Timing(window) for name in timings}

    def add(self, counts: Mapping[str, float], timings: Mapping[str, float]) -> None:
        for name, value in counts.items():
            self.counters[name] = self.counters.get(name, 0) + value
        for name, value in timings.items():
            timing = self.timings.get(name)
            if timing is None:
                timing = self.timings[name] = Timing(self.window)
            timing.add(value)

    def summary(self) -> dict[str, Any]:
        out: dict[str, Any] = {name: _number(value) for name, value in self.counters.items()}
        out.update({name: timing.summary() for name, timing in self.timings.items()})
        return out


def _number(value: float) -> float | int:
    return int(value) if float(value).is_integer() else round(value, 9)


class LocalMetrics:
    """In-memory metrics per (provider, model) and for the whole service."""

    def __init__(
        self,
        counters: Iterable[str] = (),
        timings: Iterable[str] = (),
        *,
        max_series: int = 256,
        window: int = 256,
        aggregate_window: int = 1024,
    ) -> None:
        self._counters = tuple(counters)
        self._timings = tuple(timings)
        self._max_series = max_series
        self._window = window
        self._aggregate_window = aggregate_window
        self._lock = threading.Lock()
        self._reset()

    def _reset(self) -> None:
        self._since = time.time()
        self._aggregate = Series(self._counters, self._timings, self._aggregate_window)
        self._series: dict[tuple[str, str], Series] = {}
        self._overflowed = 0

    def record(
        self, provider: str, model: str, counts: Mapping[str, float], timings: Mapping[str, float] | None = None
    ) -> None:
        """Add one observation: ``counts`` are summed, ``timings`` (ms) feed the summaries."""
        timings = timings or {}
        with self._lock:
            self._aggregate.add(counts, timings)
            self._target(provider, model).add(counts, timings)

    def _target(self, provider: str, model: str) -> Series:
        key = (provider, model)
        series = self._series.get(key)
        if series is not None:
            return series
        if len(self._series) >= self._max_series:
            self._overflowed += 1
            key = (OVERFLOW, OVERFLOW)
            series = self._series.get(key)
            if series is not None:
                return series
        series = self._series[key] = Series(self._counters, self._timings, self._window)
        return series

    def snapshot(self) -> dict[str, Any]:
        """A JSON-ready copy: the service-wide ``aggregate`` and one entry per provider/model."""
        with self._lock:
            targets = [
                {"provider": provider, "model": model, **series.summary()}
                for (provider, model), series in sorted(self._series.items())
            ]
            return {
                "scope": "process",
                "since": datetime.fromtimestamp(self._since, UTC).isoformat(timespec="seconds"),
                "uptime_s": round(time.time() - self._since, 3),
                "aggregate": self._aggregate.summary(),
                "targets": targets,
                "overflowed_observations": self._overflowed,
            }

    def reset(self) -> None:
        with self._lock:
            self._reset()
