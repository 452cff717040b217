"""The usage rows (``state/usage.py``) on every store: one ``add`` per request, exact sums, odd names kept
apart, the day's rows read back with one ``Query``, kept ``retention_days`` after their day; and the report's
groupings (``reports/usage.py``) always add up to the same total."""

from __future__ import annotations

from collections import Counter
from datetime import date

import pytest
from hypothesis import given
from hypothesis import strategies as st

from aimux_core.reports.usage import usage_report
from aimux_core.state import FakeClock, Store
from aimux_core.state.usage import COUNTERS, UsageCounters, UsageRow, day_of, usage_pk, usage_sk

pytestmark = pytest.mark.anyio


async def test_each_request_is_one_add_to_its_days_row(store: Store, clock: FakeClock, ns: str) -> None:
    usage = UsageCounters(store, clock, retention_days=10)
    odd_model = "bedrock/anthropic.claude#v2:0 50%"  # separators and percent signs stay inside their part
    for cost in (5, 7):
        await usage.add(project="web", key_id=f"{ns}-a", provider="bedrock", model=odd_model,
                        counts={"requests": 1, "input_tokens": 10, "cost_micro_usd": cost, "errors": 0})  # fmt: skip
    await usage.add(project=None, key_id=None, provider=None, model=None, counts={"requests": 1, "client_errors": 1})
    rows = {row.key: row for row in await usage.day(day_of(clock.now())) if row.key in (f"{ns}-a", "-")}
    mine = rows[f"{ns}-a"]
    assert (mine.project, mine.provider, mine.model) == ("web", "bedrock", odd_model)
    assert (mine.counts["requests"], mine.counts["input_tokens"], mine.counts["cost_micro_usd"]) == (2, 20, 12)
    assert rows["-"].counts["client_errors"] >= 1 and rows["-"].project == "-"
    item = await store.get(usage_pk(day_of(clock.now())), usage_sk("web", f"{ns}-a", "bedrock", odd_model))
    assert item is not None and item["version"] == 2 and "errors" not in item  # zero counters are not written
    day_end = (int(clock.now()) // 86_400 + 1) * 86_400
    assert item["expires_at"] == day_end + 10 * 86_400


async def test_unknown_counters_are_a_programming_error(store: Store, clock: FakeClock) -> None:
    with pytest.raises(ValueError, match="unknown usage counters"):
        await UsageCounters(store, clock).add(project=None, key_id=None, provider=None, model=None,
                                              counts={"dollars": 1})  # fmt: skip


def test_a_row_from_an_item_this_module_did_not_write_is_skipped() -> None:
    assert UsageRow.from_item("2026-12-05", {"sk": "something else"}) is None
    assert UsageRow.from_item("2026-12-05", {"sk": "u#a#b#c"}) is None


NAMES = st.sampled_from(["a", "b", "-"])
ROWS = st.lists(
    st.builds(
        UsageRow,
        day=st.sampled_from(["2026-12-04", "2026-12-05"]),
        project=NAMES, key=NAMES, provider=NAMES, model=NAMES,
        counts=st.fixed_dictionaries({name: st.integers(0, 10**6) for name in COUNTERS}),
    ),
    max_size=30,
)  # fmt: skip
GROUPINGS = st.lists(st.sampled_from(["key", "project", "model", "provider", "day"]), unique=True, max_size=5)


@given(rows=ROWS, group_by=GROUPINGS)
def test_every_grouping_adds_up_to_the_same_total(rows: list[UsageRow], group_by: list[str]) -> None:
    report = usage_report(rows, [date(2026, 12, 4), date(2026, 12, 5)], group_by)
    total = Counter[str]()
    for row in rows:
        total.update(row.counts)
    for name in COUNTERS:
        assert sum(group.get(name, 0) for group in report["groups"]) == total[name] == report["total"][name]
    assert len({tuple(sorted(g["group"].items())) for g in report["groups"]}) == len(report["groups"])
    assert all(set(g["group"]) == set(group_by) for g in report["groups"])
