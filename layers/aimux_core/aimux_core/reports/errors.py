"""``GET /admin/errors``: what went wrong lately, grouped.

- ``groups``: failed upstream calls (every attempt, failed-over ones included) per provider, kind and
  upstream status, from the health buckets of every configured target (``state/health.py``: each failure
  counted with its ``FailureNote`` in the same write as its health);
- ``client_errors``: error answers aimux gave clients (4xx: bad requests, refusals by its limits, ...)
  per kind and status, from ``state/request_errors.py``;
- ``gateway_errors``: 5xx answers to clients (nothing could serve them), likewise.

The window starts at ``since`` and ends now; both stores keep a day (and an hour).
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from ..routing.table import Target
from ..state.health import ERROR_COUNT_PREFIX, ERROR_LAST_PREFIX, HealthTracker
from ..state.request_errors import RequestErrors
from .params import iso_z

MAX_SINCE_SECONDS = 24 * 3600.0
DEFAULT_SINCE_SECONDS = 3600.0


@dataclass(slots=True)
class _Upstream:
    provider: str
    kind: str
    status: int | None
    count: int = 0
    last_at: float = 0.0
    last_message: str | None = None
    models: set[str] | None = None


async def upstream_errors(health: HealthTracker, targets: Iterable[Target], since: float) -> list[dict[str, Any]]:
    """Failed upstream calls since ``since``, per (provider, kind, status), most frequent first."""
    minutes = max(1, math.floor(health.clock.now() / 60) - math.floor(since / 60) + 1)
    groups: dict[tuple[str, str, int | None], _Upstream] = {}
    for target in targets:
        for bucket in await health.buckets(target.key, minutes):
            for name, value in bucket.items():
                if not name.startswith(ERROR_COUNT_PREFIX) or not isinstance(value, int | float):
                    continue
                kind, _, status = name[len(ERROR_COUNT_PREFIX) :].rpartition("#")
                code = int(status) if status.isdigit() else None
                group = groups.setdefault((target.provider, kind, code), _Upstream(target.provider, kind, code))
                group.count += int(value)
                group.models = (group.models or set()) | {target.model}
                last = bucket.get(ERROR_LAST_PREFIX + name[len(ERROR_COUNT_PREFIX) :])
                if isinstance(last, dict) and float(last.get("at") or 0) >= group.last_at:
                    group.last_at, group.last_message = float(last.get("at") or 0), last.get("message")
    ordered = sorted(groups.values(), key=lambda g: (-g.count, -g.last_at, g.provider, g.kind))
    return [
        {
            "provider": g.provider,
            "kind": g.kind,
            "status": g.status,
            "count": g.count,
            "last_at": iso_z(g.last_at) if g.last_at else None,
            "last_message": g.last_message,
            "models": sorted(g.models or ()),
        }
        for g in ordered
    ]


async def errors_report(
    health: HealthTracker | None, targets: Iterable[Target], requests: RequestErrors, since: float
) -> dict[str, Any]:
    """The answer of ``GET /admin/errors`` (the admin contract's shape, plus ``gateway_errors``)."""
    upstream = await upstream_errors(health, targets, since) if health is not None else []
    answered = await requests.since(since)
    client = [g for g in answered if g.status < 500]
    gateway = [g for g in answered if g.status >= 500]
    return {
        "since": iso_z(since),
        "groups": upstream,
        "client_errors": [
            {
                "kind": g.kind,
                "status": g.status,
                "provider": g.provider,
                "count": g.count,
                "last_at": iso_z(g.last_at),
                "last_message": g.last_message,
                "last_key": g.last_key,
            }
            for g in client
        ],
        "gateway_errors": [
            {
                "kind": g.kind,
                "status": g.status,
                "provider": g.provider,
                "count": g.count,
                "last_at": iso_z(g.last_at),
                "last_message": g.last_message,
                "last_request_id": g.last_request_id,
            }
            for g in gateway
        ],
    }
