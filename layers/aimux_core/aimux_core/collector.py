"""Garbage-collector settings for a process that serves requests (``aimux serve``, the Lambda handlers).

Why: CPython's cyclic collector with its default thresholds cost about a tenth of the CPU of a
proxied request here (``gc.callbacks`` timing under ``bench/bench_upstream.py``-style load on
``aimux serve``: ~46 µs of ~480 µs). Two parts, both cheap to change:

- full (generation 2) collections re-scanned every object the imports created, ~80,000 of them, about
  38 ms each. ``gc.freeze()`` once the app is built moves them to the permanent generation, which the
  collector never scans; they live as long as the process anyway. Nothing is collected first (a full
  collection would add ~40 ms to a Lambda cold start); the little garbage start-up leaves is kept.
- generation 0 was collected every 700 net allocations, and a request allocates thousands of
  short-lived containers. At 7,000, most of them are freed by reference counting before a collection
  looks at them: fewer, not much longer, collections.

Measured on ``aimux serve`` (bench/README.md, "Garbage collector"): JSON answers at 16 concurrent
requests cost ~10 % less CPU each; one request at a time and streams, within noise (0-2 %). Cyclic
garbage (exceptions with tracebacks, finished tasks) is still collected, a little later.
``AIMUX_GC=default`` leaves the collector as Python configured it.
"""

from __future__ import annotations

import gc

from .settings import Settings

YOUNG_THRESHOLD = 7000  # CPython's default is 700


def tune_for_serving(settings: Settings) -> bool:
    """Freeze the objects that exist now and raise the young-generation threshold; False if disabled."""
    if not settings.tunes_gc:
        return False
    _, middle, old = gc.get_threshold()
    gc.set_threshold(YOUNG_THRESHOLD, middle, old)
    gc.freeze()
    return True
