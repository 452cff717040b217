"""``GET /admin/usage`` and ``GET /admin/errors``: usage and cost by any grouping, and recent errors.

Both read the shared counters the request path writes after each answer (``reports/usage.py``,
``reports/errors.py``), so they answer the same from any instance, the admin function included.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import APIRouter, FastAPI, Query

from ..keys.admin import list_keys
from ..reports import params
from ..reports.errors import DEFAULT_SINCE_SECONDS, MAX_SINCE_SECONDS, errors_report
from ..reports.usage import read_days, usage_report
from .admin_context import AdminContext


def add_usage_routes(app: FastAPI, context: AdminContext) -> None:
    router = APIRouter(prefix="/admin", tags=["usage"])

    @router.get("/usage")
    async def usage(
        start: Annotated[str | None, Query(alias="from", description="first UTC day (YYYY-MM-DD; today)")] = None,
        end: Annotated[str | None, Query(alias="to", description="last UTC day (YYYY-MM-DD; today)")] = None,
        group_by: Annotated[list[str] | None, Query(description="key, project, model, provider, day")] = None,
    ) -> dict[str, Any]:
        """Requests, tokens, cost (USD), errors and fallbacks per group, exact (the fleet's counters)."""
        groups = params.group_by(group_by or [])
        today = datetime.fromtimestamp(context.keys.clock.now(), UTC).date()
        days = params.day_range(start, end, today=today, max_days=context.settings.usage_max_range_days)
        rows = await read_days(context.usage(), days)
        names = {record.id: record.name for record in await list_keys(context.keys)} if "key" in groups else None
        return usage_report(rows, days, groups, names)

    @router.get("/errors")
    async def errors(since: str | None = None) -> dict[str, Any]:
        """Recent upstream errors (per provider, kind, status) and error answers to clients, since ``since``
        (an ISO 8601 time or a duration like 15m, 2h; default 1h, at most 24h)."""
        start = params.since(
            since, now=context.keys.clock.now(), default_seconds=DEFAULT_SINCE_SECONDS, max_seconds=MAX_SINCE_SECONDS
        )
        guard = context.breakers()
        health = guard.health if guard is not None else None
        return await errors_report(health, context.gateway().targets, context.request_errors(), start)

    app.include_router(router)
