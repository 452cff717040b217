"""Per-request CloudWatch metrics as EMF on stdout, and the same metrics kept in memory.

The single source of truth for the metric contract: the dashboard and alarms in
``infra/template.yaml`` must use exactly ``NAMESPACE``, ``METRICS`` (per request), ``EVENT_METRICS``
(one line per event) and ``DIMENSION_SETS``.

Each request prints **one** EMF line with **two** dimension sets, so CloudWatch files every metric
twice: per target (``service, provider, model``) and service-wide (``service``, for plain alarms
without Metrics Insights). One line with two sets is what the EMF specification defines for this
and what Powertools' ``add_dimensions`` produces; it is half the log bytes of two lines.

The document is built directly (``emf.py``), the same one Powertools' ``EphemeralMetrics`` makes (a test
holds the two equal), inside one synchronous call, and written with one ``write`` under a lock, so
concurrent asyncio requests never mix their dimensions or interleave lines (shown by
tests/observability/test_obs_concurrency.py; Powertools' ``Metrics`` keeps class-level state shared by all
instances, the trap that test also shows).

Where EMF is written is the process's ``Emission`` (from ``Settings.emf_enabled``: on Lambda unless
``AIMUX_EMF=0``, elsewhere only with ``AIMUX_EMF=1``, never when Powertools' metrics are disabled),
built once by the composition root and passed to every call. The in-memory ``LocalMetrics``
(``GET /admin/metrics``) is updated in every case.

Cold start: nothing of Powertools is imported for metrics (its metrics package cost the first request of
each Lambda instance ~13 ms of CPU, after the app's own imports, when the first line was written through it).
"""

from __future__ import annotations

import logging
import re
import threading
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from ..redaction import redact
from .emf import emf_document, write_emf
from .local_metrics import LocalMetrics

if TYPE_CHECKING:
    from ..settings import Settings
    from .record import RequestRecord

log = logging.getLogger("aimux.metrics")

# --------------------------------------------------------------------------- the contract

NAMESPACE = "Aimux"
DEFAULT_SERVICE = "aimux"
PER_TARGET_DIMENSIONS: tuple[str, ...] = ("service", "provider", "model")
AGGREGATE_DIMENSIONS: tuple[str, ...] = ("service",)
DIMENSION_SETS: tuple[tuple[str, ...], ...] = (PER_TARGET_DIMENSIONS, AGGREGATE_DIMENSIONS)
UNROUTED = "none"  # provider/model of a request no target served (refused, invalid, all down)
ALL_MODELS = "*"  # model of a per-provider circuit breaker's BreakerOpen

COUNT, MILLISECONDS, NO_UNIT = "Count", "Milliseconds", "None"
METRICS: dict[str, str] = {  # name -> CloudWatch unit, in emission order
    "Requests": COUNT,  # 1 per request
    "Errors": COUNT,  # 1 if status >= 500 (incl. 529) or the stream failed after its headers; else 0
    "Fallbacks": COUNT,  # 1 if the serving attempt was not the first; else 0
    "RateLimited": COUNT,  # 1 if refused 429 by aimux's own limits (not an upstream 429); else 0
    "BreakerOpen": COUNT,  # 1 if routing skipped an open circuit; also 1 per breaker opening (own line)
    "LatencyMs": MILLISECONDS,  # arrival to last byte
    "TimeToFirstTokenMs": MILLISECONDS,  # streams only: arrival to first content event (absent otherwise)
    "InputTokens": COUNT,  # uncached input tokens
    "OutputTokens": COUNT,
    "CacheReadTokens": COUNT,
    "CacheWriteTokens": COUNT,
    "CostUSD": NO_UNIT,  # US dollars; CloudWatch has no currency unit, so "None"
    # the response cache (cache/): answers served without an upstream call
    "CacheHits": COUNT,  # 1 if answered from a stored answer; else 0
    "DedupSaved": COUNT,  # 1 if answered with an identical in-flight request's answer (dedup); else 0
    # Spending less (prompt caching, token guards)
    "CacheSavingsUSD": NO_UNIT,  # pricing.cache_savings_usd: reads' saving less writes' premium; may be negative
    "TokensRemoved": COUNT,  # input tokens the route's token guards removed (0 when none)
}
# Written on a line of their own when something happens to a target (same dimension sets), not per request:
EVENT_METRICS: dict[str, str] = {
    "ProviderAuthFailures": COUNT,  # 1 per upstream 401/403: the provider refused the gateway's key for it
}
TIMINGS = tuple(name for name, unit in METRICS.items() if unit == MILLISECONDS)
COUNTERS = tuple(name for name in (*METRICS, *EVENT_METRICS) if name not in TIMINGS)

_MAX_DIMENSION_CHARS = 200
_UNSAFE = re.compile(r"[^\x21-\x7e]")  # dimension values: printable ASCII without spaces
_LOCAL: LocalMetrics | None = None
_LOCAL_LOCK = threading.Lock()


@dataclass(frozen=True, slots=True)
class Emission:
    """How this process reports: EMF lines on stdout or not, the ``service`` dimension, indented log lines."""

    emf: bool = False
    service: str = DEFAULT_SERVICE
    pretty_logs: bool = False

    @classmethod
    def of(cls, settings: Settings) -> Emission:
        return cls(settings.emf_enabled, settings.service_name, settings.pretty_logs)


# --------------------------------------------------------------------------- values


def dimension_value(value: str | None) -> str:
    """A safe, bounded dimension value: an empty one would make Powertools drop the dimension."""
    if not value:
        return UNROUTED
    return _UNSAFE.sub("_", redact(value))[:_MAX_DIMENSION_CHARS] or UNROUTED


def dimensions_of(record: RequestRecord, service: str = DEFAULT_SERVICE) -> dict[str, str]:
    """The per-target dimensions of a record, keyed in ``PER_TARGET_DIMENSIONS`` order."""
    return {
        "service": service,
        "provider": dimension_value(record.provider),
        "model": dimension_value(record.model if record.provider else None),
    }


def metric_values(record: RequestRecord) -> dict[str, float]:
    """The metric values of one request, in ``METRICS`` order (TimeToFirstTokenMs only when measured)."""
    values: dict[str, float] = {
        "Requests": 1,
        "Errors": int(record.is_error),
        "Fallbacks": int(record.fell_back),
        "RateLimited": int(record.rate_limited),
        "BreakerOpen": int(record.breaker_open_seen),
        "LatencyMs": round(record.latency_ms, 3),
    }
    if record.ttft_ms is not None:
        values["TimeToFirstTokenMs"] = round(record.ttft_ms, 3)
    values.update(
        InputTokens=record.input_tokens,
        OutputTokens=record.output_tokens,
        CacheReadTokens=record.cache_read_tokens,
        CacheWriteTokens=record.cache_write_tokens,
        CostUSD=round(record.cost_usd, 9),
        CacheHits=int(record.cache_hit),
        DedupSaved=int(record.dedup_saved),
        CacheSavingsUSD=round(record.cache_savings_usd, 9),
        TokensRemoved=record.tokens_removed,
    )
    return values


def build_emf(
    dimensions: Mapping[str, str], values: Mapping[str, float], metadata: Mapping[str, Any]
) -> dict[str, Any]:
    """One EMF document: ``values`` under both dimension sets (``emf.emf_document``)."""
    units = {name: METRICS.get(name) or EVENT_METRICS[name] for name in values}
    return emf_document(
        NAMESPACE,
        DIMENSION_SETS,
        {name: dimensions[name] for name in PER_TARGET_DIMENSIONS},
        {name: (units[name], value) for name, value in values.items()},
        metadata,
    )


# --------------------------------------------------------------------------- emitting


def local_metrics() -> LocalMetrics:
    """This process's in-memory metrics (created on first use)."""
    global _LOCAL
    if _LOCAL is None:
        with _LOCAL_LOCK:
            if _LOCAL is None:
                _LOCAL = LocalMetrics(COUNTERS, TIMINGS)
    return _LOCAL


def metrics_snapshot(emission: Emission = Emission()) -> dict[str, Any]:
    """What ``GET /admin/metrics`` answers: the in-memory metrics with the contract they mirror."""
    return {
        "namespace": NAMESPACE,
        "service": emission.service,
        "dimension_sets": [list(names) for names in DIMENSION_SETS],
        "units": dict(METRICS),
        **local_metrics().snapshot(),
    }


def emit_metrics(
    record: RequestRecord, emission: Emission = Emission(), *, local: LocalMetrics | None = None
) -> dict[str, Any] | None:
    """Account one finished request: in-memory always, EMF when enabled. Returns the EMF document written.

    Never raises: a metrics failure is logged and must not fail the request it describes.
    """
    values = metric_values(record)
    dimensions = dimensions_of(record, emission.service)
    _record_locally(local, dimensions, values)
    if not emission.emf:
        return None
    return _emit(dimensions, values, {"request_id": record.request_id})


def on_breaker_transition(emission: Emission, transition: Any) -> None:
    """``CircuitBreaker(on_transition=partial(on_breaker_transition, emission))``: a breaker opening counts
    one ``BreakerOpen``. The breaker key is ``provider`` or ``provider/model``; a per-provider breaker uses
    model ``*``.
    """
    if str(getattr(transition, "to_state", "")) != "open":
        return
    provider, _, model = str(transition.key).partition("/")
    dimensions = {
        "service": emission.service,
        "provider": dimension_value(provider),
        "model": dimension_value(model) if model else ALL_MODELS,
    }
    values = {"BreakerOpen": 1}
    _record_locally(None, dimensions, values)
    if emission.emf:
        _emit(dimensions, values, {"breaker": str(transition.key), "transition": str(transition.reason)})


def on_cooldown(emission: Emission, cooldown: Any, error: Any) -> None:
    """``Cooldowns(on_start=partial(on_cooldown, emission))``: a provider refusing the gateway's key counts
    one ``ProviderAuthFailures`` for its target (other cooldowns are load signals, seen in ``Errors``)."""
    if getattr(cooldown, "reason", None) != "auth_failure":
        return
    provider, _, model = str(cooldown.key).partition("/")
    dimensions = {
        "service": emission.service,
        "provider": dimension_value(provider),
        "model": dimension_value(model),
    }
    values = {"ProviderAuthFailures": 1}
    _record_locally(None, dimensions, values)
    if emission.emf:
        _emit(dimensions, values, {"upstream_status": getattr(error, "upstream_status", None)})


KEY_SPEND_METRIC = "KeyDailySpendUSD"
KEY_SPEND_DIMENSIONS: tuple[tuple[str, ...], ...] = (("service", "key_id"), AGGREGATE_DIMENSIONS)


def emit_key_spend(emission: Emission, key_id: str, daily_usd: float) -> dict[str, Any] | None:
    """A key's spend so far today (UTC), after each answer it paid for: what the spend alarm watches.

    Dimension sets ``[service, key_id]`` (per key, for the dashboard) and ``[service]`` (Maximum over
    all keys, for one alarm). ``key_id`` is the key's public id, never the key.
    """
    if not emission.emf:
        return None
    try:
        document = emf_document(
            NAMESPACE,
            KEY_SPEND_DIMENSIONS,
            {"key_id": dimension_value(key_id), "service": emission.service},
            {KEY_SPEND_METRIC: (NO_UNIT, daily_usd)},
        )
        write_emf(document)
        return document
    except Exception:
        log.warning("key spend metric not written", exc_info=True)
        return None


def _record_locally(local: LocalMetrics | None, dimensions: Mapping[str, str], values: Mapping[str, float]) -> None:
    try:
        counts = {name: value for name, value in values.items() if name not in TIMINGS}
        timings = {name: value for name, value in values.items() if name in TIMINGS}
        (local or local_metrics()).record(dimensions["provider"], dimensions["model"], counts, timings)
    except Exception:
        log.warning("in-memory metrics not updated", exc_info=True)


def _emit(
    dimensions: Mapping[str, str], values: Mapping[str, float], metadata: Mapping[str, Any]
) -> dict[str, Any] | None:
    try:
        document = build_emf(dimensions, values, metadata)
        write_emf(document)
        return document
    except Exception:
        log.warning("EMF metrics not written", exc_info=True)
        return None
