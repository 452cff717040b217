"""The record of each finished client request, and where it goes.

``record_served`` / ``record_failed`` build the ``RequestRecord`` (``accounting/record.py``) from what
the exchange holds when a request ends; ``publish`` writes its metrics and its log line with the
process's ``Emission``. ``exchange.Exchange`` is the only caller, once per request.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ..accounting.metrics import Emission, emit_metrics
from ..accounting.record import (
    RequestRecord,
    RequestTimer,
    Surface,
    TokenCounts,
    cache_savings,
    price_tokens,
    tokens_of,
)
from ..accounting.request_log import log_request
from ..errors import RateLimited

if TYPE_CHECKING:
    from ..errors import AimuxError
    from ..gateway import Served
    from ..routing.select import Decision
    from ..wire.anthropic import Usage


def saw_open_circuit(decision: Decision) -> bool:
    """Did routing drop, or keep only as a last resort, a target because its circuit was open?"""
    return any(why.startswith("circuit") for _, why in (*decision.dropped, *decision.down))


def record_served(
    *,
    request_id: str,
    surface: Surface,
    served: Served,
    timer: RequestTimer,
    usage: Usage | None = None,
    tokens: TokenCounts | None = None,
    cost_usd: float | None = None,
    status: int = 200,
    error_kind: str | None = None,
    stream: bool = False,
    key_id: str | None = None,
    project: str | None = None,
    client_model: str | None = None,
    ids: tuple[str | None, str | None] = (None, None),
) -> RequestRecord:
    """The record of a request a target answered (a stream that broke later passes ``error_kind``).

    ``usage`` is the canonical ``Message.usage`` (buffered); streams pass ``tokens=tally.tokens``.
    ``cost_usd`` defaults to the serving target's catalog price applied by ``pricing.cost_usd`` (0 when
    unpriced); pass it when the caller already computed it (e.g. for spend accounting).
    ``ids`` is ``request_log.lambda_ids(scope)``: (Lambda request id, API Gateway/URL request id).
    A response-cache hit (``served.cache``) consumed no tokens and costs nothing: its tokens are recorded
    as 0, and what its answer cost when it was computed as ``cache_saved_usd``.
    """
    decision, outcome = served.decision, served.outcome
    counts = tokens if tokens is not None else tokens_of(usage)
    entry = outcome.target.entry
    price = entry.price if entry is not None else None
    cache = served.cache
    saved = 0.0
    if cache is not None and cache.hit:
        saved, counts, cost_usd = price_tokens(counts, price), TokenCounts(), 0.0
    if cost_usd is None:
        cost_usd = price_tokens(counts, price)
    attempts = len(outcome.attempts)
    return RequestRecord(
        request_id=request_id,
        surface=surface,
        status=status,
        latency_ms=timer.elapsed_ms(),
        key_id=key_id,
        project=project,
        function_request_id=ids[0],
        correlation_id=ids[1],
        client_model=client_model,
        scenario=decision.scenario,
        route=decision.route,
        reason=decision.reason,
        provider=outcome.target.provider,
        model=outcome.target.model,
        attempts=attempts,
        fallbacks=max(0, attempts - 1),
        error_kind=error_kind,
        stream=stream,
        ttft_ms=timer.ttft_ms if stream else None,
        input_tokens=counts.input,
        output_tokens=counts.output,
        cache_read_tokens=counts.cache_read,
        cache_write_tokens=counts.cache_write,
        cost_usd=max(0.0, float(cost_usd)),
        breaker_open_seen=saw_open_circuit(decision),
        cache=cache.state if cache is not None else None,
        cache_reason=cache.reason if cache is not None else None,
        dedup=cache.dedup if cache is not None else None,
        cache_saved_usd=saved,
        cache_savings_usd=cache_savings(counts, price),
        tokens_removed=served.tokens_removed,
    )


def record_failed(
    *,
    request_id: str,
    surface: Surface,
    error: AimuxError,
    timer: RequestTimer,
    stream: bool = False,
    key_id: str | None = None,
    project: str | None = None,
    client_model: str | None = None,
    ids: tuple[str | None, str | None] = (None, None),
    rate_limited: bool | None = None,
    breaker_open_seen: bool | None = None,
) -> RequestRecord:
    """The record of a request answered with an error before any target served it.

    Inferred unless passed: ``rate_limited`` (a 429 ``RateLimited`` raised before any attempt, i.e. by
    aimux's own key/rate limits, not an upstream's) and ``breaker_open_seen`` (the 529 the gateway
    raises when every target was dropped for "circuit open"). The provider is known only for an
    ``UpstreamError``; the model stays unknown (the metrics use "none").
    """
    attempts = _int(error.headers.get("x-aimux-attempts"))
    upstream = getattr(error, "provider", None)
    if rate_limited is None:
        rate_limited = isinstance(error, RateLimited) and "x-aimux-attempts" not in error.headers
    if breaker_open_seen is None:
        breaker_open_seen = error.status == 529 and "circuit open" in error.message
    return RequestRecord(
        request_id=request_id,
        surface=surface,
        status=error.status,
        latency_ms=timer.elapsed_ms(),
        key_id=key_id,
        project=project,
        function_request_id=ids[0],
        correlation_id=ids[1],
        client_model=client_model,
        provider=upstream if isinstance(upstream, str) else None,
        attempts=attempts,
        fallbacks=0,
        error_kind=error.kind,
        stream=stream,
        rate_limited=rate_limited,
        breaker_open_seen=breaker_open_seen,
    )


def _int(value: str | None) -> int:
    return int(value) if value is not None and value.isdigit() else 0


def publish(record: RequestRecord, emission: Emission) -> None:
    """Emit the record's metrics (EMF + in-memory) and its log line. Never raises into the request."""
    emit_metrics(record, emission)
    log_request(record, emission)
