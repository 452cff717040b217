"""Compact JSON as UTF-8 bytes, for what aimux writes: upstream request bodies, JSON answers, log lines.

``compact_json(value)`` is ``json.dumps(value, ensure_ascii=False, separators=(",", ":")).encode()`` done by
``pydantic_core.to_json`` (Rust): the same bytes for JSON values (keys in order, non-ASCII written as UTF-8,
control characters as ``\\u00XX``, ``NaN``/``Infinity`` as ``json.dumps`` writes them, a lone surrogate an
error), except that a float between 1e-7 and 1e-4 is written without an exponent (``0.00001`` for ``1e-05``:
the same number to any JSON parser). Why: a third of the CPU. The recorded 47 KB Claude Code turn takes
0.23 ms through ``json.dumps`` and 0.07 ms here, and every request pays it once for its upstream body.

``fallback``: what a value JSON cannot hold becomes (``str`` for a log line, as Powertools' ``json_default``);
without one, such a value is serialized as pydantic would (``datetime`` as ISO 8601, ``bytes`` as text).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from pydantic_core import to_json


def compact_json(value: Any, *, fallback: Callable[[Any], Any] | None = None) -> bytes:
    """``value`` as compact JSON bytes (see the module docstring)."""
    return to_json(value, fallback=fallback)
