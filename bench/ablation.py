"""Parts of aimux's request turned into no-ops, to price each in place (``bench_app_inprocess.py --without``).

Why: ``cProfile`` inflates call-heavy code about twice and cannot say what a part costs once the caches it
evicts are counted; timing the whole app with one part removed can. Each entry below removes the *work* of
one part (of the accounting after the answer, or of routing), keeping everything else, so ``CPU with -
CPU without`` is that part's price per request. Measurement only: an app built with any of these
patched loses that guarantee.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any


def _replace(owner: Any, name: str, value: Any) -> None:
    """``owner.name = value``, refusing a name ``owner`` lacks: a renamed part must fail, not go unpriced."""
    if not hasattr(owner, name):
        raise AttributeError(f"{owner!r} has no {name!r}: bench/ablation.py is out of date")
    setattr(owner, name, value)


def _nothing(*args: Any, **kwargs: Any) -> None:
    return None


def _no_log() -> None:
    import aimux_core.surfaces.recording as recording

    _replace(recording, "log_request", _nothing)


def _no_metrics() -> None:
    import aimux_core.surfaces.recording as recording

    _replace(recording, "emit_metrics", _nothing)


def _no_record() -> None:
    from aimux_core.routing.guard import BreakerGuard

    async def succeeded(*args: Any, **kwargs: Any) -> None:
        return None

    _replace(BreakerGuard, "succeeded", succeeded)


def _no_usage() -> None:
    from aimux_core.accounting.counters import FleetCounters

    _replace(FleetCounters, "count", _nothing)


def _no_view() -> None:
    from aimux_core.gateway import Gateway
    from aimux_core.routing.select import HealthView

    empty = HealthView()

    async def health_view(self: Gateway) -> HealthView:
        return empty

    _replace(Gateway, "health_view", health_view)


def _no_estimate() -> None:
    """The first request's estimate, reused: every request of a run is the same one, so routing, limits and
    prompt caching decide as before and only the estimating is gone."""
    import aimux_core.gateway as gateway

    real = gateway.estimate_input_tokens
    first: list[int] = []

    def once(request: Any) -> int:
        if not first:
            first.append(real(request))
        return first[0]

    _replace(gateway, "estimate_input_tokens", once)


PARTS: dict[str, tuple[str, Callable[[], None]]] = {
    "log": ("the request's log line (accounting/request_log.py)", _no_log),
    "metrics": ("the metrics: in-memory and EMF (accounting/metrics.py)", _no_metrics),
    "record": ("the breaker's and health's records of a success (routing/guard.py)", _no_record),
    "usage": ("the fleet's usage and error counters (accounting/counters.py)", _no_usage),
    "view": ("the health view routing reads (gateway.health_view)", _no_view),
    "estimate": ("the input-token estimate routing makes (gateway's estimate_input_tokens, made once)", _no_estimate),
}


def remove(parts: list[str]) -> None:
    """Turn ``parts`` (keys of ``PARTS``) into no-ops in this process, before the app is built."""
    for part in parts:
        PARTS[part][1]()
