"""``GET /admin/health``: every provider and model, as the fleet sees it now.

Computed from what the request path already writes, read fresh (no per-process cache):

- the health buckets of each target (``state/health.py``): requests, successes, latency and time-to-first-
  token bands (p50 and p99 are read off the bands: good to a band's width), and the last failures with
  their kind, status and message excerpt;
- the breaker records (``state/breaker.py``): state, when it opened, when it half-opens, failures so far,
  and whether an operator holds it open;
- the targets' shared cooldowns (the ``cooldown`` item of their health partition), with their reason.

A provider's figures add up its models'; its state is the health classification of those totals
(``state.health.classify``), ``CIRCUIT_OPEN`` while its breaker is open or half-open (with per-model
breakers: while every model's is).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from ..routing.guard import BreakerGuard
from ..routing.table import Target
from ..state.breaker import BreakerView, CircuitState
from ..state.cooldowns import Cooldown
from ..state.health import (
    ERROR_COUNT_PREFIX,
    ERROR_LAST_PREFIX,
    HealthSettings,
    HealthState,
    approximate_percentile,
    classify,
)
from .params import iso_z

LAST_ERRORS = 10
_STATE_ORDER = {CircuitState.CLOSED: 0, CircuitState.HALF_OPEN: 1, CircuitState.OPEN: 2}


def totals_of(buckets: Iterable[Mapping[str, Any]]) -> dict[str, float]:
    """Every numeric attribute of ``buckets`` summed (store attributes left out)."""
    totals: dict[str, float] = {}
    for bucket in buckets:
        for name, value in bucket.items():
            counted = isinstance(value, int | float) and not isinstance(value, bool)
            if counted and name not in ("pk", "sk", "version", "expires_at"):
                totals[name] = totals.get(name, 0) + value
    return totals


def _percentiles(totals: Mapping[str, float], prefix: str) -> dict[str, float] | None:
    histogram = {name: int(value) for name, value in totals.items() if name.startswith(prefix + "_")}
    p50 = approximate_percentile(histogram, 0.5, prefix)
    if p50 is None:
        return None
    p99 = approximate_percentile(histogram, 0.99, prefix)
    return {"p50": round(p50, 1), "p99": round(p99 if p99 is not None else p50, 1)}


def _figures(totals: Mapping[str, float], settings: HealthSettings, breaker: CircuitState | None) -> dict[str, Any]:
    successes, failures = int(totals.get("successes", 0)), int(totals.get("failures", 0))
    requests = successes + failures
    success_rate = successes / requests if requests else None
    latency, ttft = _percentiles(totals, "lat"), _percentiles(totals, "ttft")
    ttft_count = int(totals.get("ttft_count", 0))
    mean_ttft = totals.get("ttft_ms_sum", 0) / ttft_count if ttft_count else None
    state = classify(requests, success_rate, latency["p50"] if latency else None, mean_ttft, settings, breaker)
    return {
        "state": state.value,
        "requests": requests,
        "successes": successes,
        "failures": failures,
        "success_rate": None if success_rate is None else round(success_rate, 4),
        "latency_ms": latency,
        "ttft_ms": ttft,
    }


def breaker_view(view: BreakerView | None, scope: str) -> dict[str, Any] | None:
    """A breaker as the admin contract shows it."""
    if view is None:
        return None
    return {
        "state": view.state.value,
        "opened_at": iso_z(view.opened_at) if view.opened_at and view.state is not CircuitState.CLOSED else None,
        "half_open_at": iso_z(view.retry_at) if view.retry_at else None,
        "consecutive_failures": view.consecutive_failures,
        "scope": scope,
        "held_open": view.held_open,
        "changed_at": iso_z(view.changed_at) if view.changed_at else None,
        "changed_by": view.changed_by,
    }


def cooldown_view(item: Mapping[str, Any] | None, now: float) -> dict[str, Any] | None:
    """A target's shared cooldown while it lasts: until when, and why."""
    if item is None:
        return None
    try:
        until = float(item["until"])
    except (KeyError, TypeError, ValueError):
        return None
    if until <= now:
        return None
    since = item.get("since")
    return {
        "until": iso_z(until),
        "reason": str(item.get("reason") or "unknown"),
        "since": iso_z(float(since)) if isinstance(since, int | float) else None,
        "status": item.get("status"),
    }


def _notes(bucket: Mapping[str, Any], target: Target) -> list[dict[str, Any]]:
    """The failures a minute bucket keeps: the latest of each kind and status, with how many there were."""
    notes = []
    for name, note in bucket.items():
        if name.startswith(ERROR_LAST_PREFIX) and isinstance(note, dict):
            at = float(note.get("at") or 0)
            count = bucket.get(ERROR_COUNT_PREFIX + name[len(ERROR_LAST_PREFIX) :], 1)
            notes.append(
                {
                    "time": iso_z(at),
                    "model": target.label,
                    "kind": note.get("kind"),
                    "status": note.get("status"),
                    "message": note.get("message"),
                    "count": count,
                    "_at": at,
                }
            )
    return notes  # fmt: skip


def _worst(views: Sequence[BreakerView]) -> BreakerView | None:
    """The model breakers of a provider summed up: the least open one's state when all are open."""
    if not views:
        return None
    return min(views, key=lambda view: _STATE_ORDER[view.state])


@dataclass(frozen=True, slots=True)
class _Reads:
    """What the report is computed from, read fresh: breakers by key, each target's buckets and cooldown."""

    breakers: Mapping[str, BreakerView]
    windows: Mapping[str, tuple[list[dict[str, Any]], dict[str, Any] | None]]
    local_cooldowns: Mapping[str, Cooldown]
    now: float


async def _read(
    guard: BreakerGuard, by_provider: Mapping[str, list[Target]], minutes: int
) -> tuple[dict[str, BreakerView], dict[str, tuple[list[dict[str, Any]], dict[str, Any] | None]]]:
    """Every breaker record and every target's window, all at once."""
    targets = [target for group in by_provider.values() for target in group]
    keys = {guard.breaker_key(t): t for t in targets}
    if guard.scope != "model":
        keys.update({provider: Target(provider, "") for provider in by_provider})
    views, windows = await asyncio.gather(
        asyncio.gather(*(guard.breaker_for(t).read(key) for key, t in keys.items())),
        asyncio.gather(*(guard.health.window(t.key, minutes) for t in targets)),
    )
    return dict(zip(keys, views, strict=True)), dict(zip((t.key for t in targets), windows, strict=True))


def _model_entry(guard: BreakerGuard, target: Target, reads: _Reads) -> dict[str, Any]:
    """One model of a provider: its own figures, breaker (per-model scope only) and cooldown."""
    buckets, cooldown_item = reads.windows[target.key]
    per_model = guard.scope == "model"
    breaker = reads.breakers.get(guard.breaker_key(target)) if per_model else reads.breakers.get(target.provider)
    local = reads.local_cooldowns.get(target.key)
    cooldown = cooldown_view(cooldown_item, reads.now) or cooldown_view(local.to_item() if local else None, reads.now)
    return {
        "model": target.label,
        "target": target.key,
        **_figures(totals_of(buckets), guard.health.settings, breaker.state if breaker else None),
        "breaker": breaker_view(breaker, "model") if per_model else None,
        "cooldown": cooldown,
    }


def _provider_entry(guard: BreakerGuard, provider: str, targets: list[Target], reads: _Reads) -> dict[str, Any]:
    """A provider: its models' figures added up, its breaker, its latest cooldown, its last errors."""
    models = [_model_entry(guard, target, reads) for target in targets]
    buckets = [bucket for target in targets for bucket in reads.windows[target.key][0]]
    if guard.scope == "model":
        breaker = _worst([reads.breakers[guard.breaker_key(t)] for t in targets])
    else:
        breaker = reads.breakers[provider]
    errors = sorted(
        (note for target in targets for bucket in reads.windows[target.key][0] for note in _notes(bucket, target)),
        key=lambda note: -note["_at"],
    )
    cooldowns = [model["cooldown"] for model in models if model["cooldown"] is not None]
    return {
        "provider": provider,
        **_figures(totals_of(buckets), guard.health.settings, breaker.state if breaker else None),
        "breaker": breaker_view(breaker, guard.scope),
        "cooldown": max(cooldowns, key=lambda c: c["until"]) if cooldowns else None,
        "models": models,
        "last_errors": [{k: v for k, v in note.items() if k != "_at"} for note in errors[:LAST_ERRORS]],
    }


async def health_report(
    guard: BreakerGuard | None,
    targets: Iterable[Target],
    providers: Iterable[str],
    minutes: int,
    local_cooldowns: Mapping[str, Cooldown] | None = None,
) -> dict[str, Any]:
    """The answer of ``GET /admin/health`` (the admin contract's shape). ``local_cooldowns``: this
    process's own (``Gateway.cooldowns``; shorter ones are never shared), shown where the store has none."""
    by_provider: dict[str, list[Target]] = {name: [] for name in sorted(providers)}
    for target in targets:
        by_provider.setdefault(target.provider, []).append(target)
    if guard is None:  # a gateway without breakers or health (built in code): nothing was recorded
        return {"generated_at": iso_z(time.time()), "window_minutes": minutes, "providers": [
            {"provider": name, "state": HealthState.HEALTHY.value, "breaker": None, "cooldown": None, "requests": 0,
             "success_rate": None, "latency_ms": None, "ttft_ms": None, "models": [], "last_errors": []}
            for name in by_provider
        ]}  # fmt: skip
    now = guard.health.clock.now()
    breakers, windows = await _read(guard, by_provider, minutes)
    reads = _Reads(breakers, windows, local_cooldowns or {}, now)
    report = [_provider_entry(guard, provider, group, reads) for provider, group in by_provider.items()]
    return {"generated_at": iso_z(now), "window_minutes": minutes, "providers": report}
