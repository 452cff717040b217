"""A health view kept for reuse, with the proof that it is still what would be computed (``routing/guard.py``).

The view covers every target the configuration names, so computing it per request costs in proportion to
the configuration, not to the request. It is derived only from per-process caches (``state/cache.py``);
while none of them has changed (``TtlCache.changes``) or gone stale (``TtlCache.fresh_until``), deriving it
again gives the same view. The guard keeps one only when nothing in it depends on the time.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ..state.cache import TtlCache
from .select import HealthView
from .table import Target


@dataclass(frozen=True, slots=True)
class ViewMemo:
    """A view kept for ``targets``: valid while every cache's ``changes`` equals ``stamp`` and its
    clock is before the matching ``until``."""

    targets: tuple[Target, ...]
    caches: tuple[TtlCache[str, Any], ...]
    stamp: tuple[int, ...]
    until: tuple[float, ...]
    view: HealthView

    def holds(self, targets: tuple[Target, ...]) -> bool:
        if targets != self.targets:  # element identity first: the same tuple's targets compare at C speed
            return False
        for cache, stamp, until in zip(self.caches, self.stamp, self.until, strict=True):
            if cache.changes != stamp or cache.monotonic() >= until:
                return False
        return True
