"""``GET /admin/usage``: requests, tokens, cost, errors and fallbacks, grouped by any of key, project, model,
provider and day, over a range of UTC days.

Read from the usage counters (``state/usage.py``): one ``Query`` per day (a few at a time), then summed per
group here. Every figure is a sum of integers the request path added, so a grouping is exact and the
groups of any grouping add up to the same total; cost is summed in micro-dollars and shown in USD rounded
to 6 decimals (``cost_micro_usd`` alongside, exact).
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping, Sequence
from datetime import date
from typing import Any

from ..state.usage import COUNTERS, NONE, UsageCounters, UsageRow

DAYS_AT_ONCE = 8


def _group_of(row: UsageRow, group_by: Sequence[str]) -> tuple[str, ...]:
    values = {"key": row.key, "project": row.project, "model": row.model, "provider": row.provider, "day": row.day}
    return tuple(values[name] for name in group_by)


def _figures(counts: Mapping[str, int]) -> dict[str, Any]:
    """One group's (or the total's) figures, cost in USD and in micro-dollars."""
    figures: dict[str, Any] = {name: counts.get(name, 0) for name in COUNTERS if name != "cost_micro_usd"}
    micro = counts.get("cost_micro_usd", 0)
    figures["cost_usd"] = round(micro / 1_000_000, 6)
    figures["cost_micro_usd"] = micro
    return figures


async def read_days(usage: UsageCounters, days: Sequence[date]) -> list[UsageRow]:
    """Every usage row of ``days``, ``DAYS_AT_ONCE`` queries at a time."""
    gate = asyncio.Semaphore(DAYS_AT_ONCE)

    async def one(day: date) -> list[UsageRow]:
        async with gate:
            return await usage.day(day.isoformat())

    return [row for rows in await asyncio.gather(*(one(day) for day in days)) for row in rows]


def usage_report(
    rows: Sequence[UsageRow],
    days: Sequence[date],
    group_by: Sequence[str],
    key_names: Mapping[str, str] | None = None,
) -> dict[str, Any]:
    """The answer of ``GET /admin/usage`` for ``rows`` (the admin contract's shape).

    Groups by cost, dearest first; with ``day`` among the groupings, by day first (a time series).
    A key's group carries its ``key_name`` when ``key_names`` knows it.
    """
    sums: dict[tuple[str, ...], dict[str, int]] = {}
    total: dict[str, int] = {}
    for row in rows:
        counted = sums.setdefault(_group_of(row, group_by), {})
        for name, value in row.counts.items():
            counted[name] = counted.get(name, 0) + value
            total[name] = total.get(name, 0) + value
    groups = []
    for values, counts in sums.items():
        group: dict[str, Any] = dict(zip(group_by, values, strict=True))
        key = group.get("key")
        if key is not None and key != NONE and key_names and key in key_names:
            group["key_name"] = key_names[key]
        groups.append({"group": group, **_figures(counts)})
    day_first = "day" in group_by

    def order(entry: dict[str, Any]) -> tuple[Any, ...]:
        values = tuple(entry["group"][name] for name in group_by)
        return (entry["group"]["day"] if day_first else "", -entry["cost_micro_usd"], -entry["requests"], values)

    groups.sort(key=order)
    return {
        "from": days[0].isoformat(),
        "to": days[-1].isoformat(),
        "group_by": list(group_by),
        "groups": groups,
        "total": _figures(total),
    }
