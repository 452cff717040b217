"""The error-answer counts (``state/request_errors.py``) on every store: per minute in hourly partitions,
read back from any instant, the latest message kept (redacted, cut short), gone after a day and an hour."""

from __future__ import annotations

import pytest

from aimux_core.state import FakeClock, Store
from aimux_core.state.request_errors import KEEP_SECONDS, MESSAGE_CHARS, RequestErrors, excerpt

pytestmark = pytest.mark.anyio


async def test_counts_cross_hours_and_keep_the_latest_message(store: Store, clock: FakeClock, ns: str) -> None:
    clock.set(3600 * 500_000 - 90)  # a minute and a half before an hour ends
    errors = RequestErrors(store, clock)
    kind = f"{ns}_error"
    await errors.record(status=400, kind=kind, provider=None, message="first", request_id="req_1", key_id="key_a")
    clock.advance(120)  # the next hour
    await errors.record(status=400, kind=kind, provider=None, message="second", request_id="req_2", key_id="key_b")
    await errors.record(status=529, kind=kind, provider="anthropic", message="down")
    start = clock.now() - 600
    groups = {(g.status, g.provider): g for g in await errors.since(start) if g.kind == kind}
    assert groups[400, None].count == 2 and groups[400, None].last_message == "second"
    assert (groups[400, None].last_request_id, groups[400, None].last_key) == ("req_2", "key_b")
    assert groups[529, "anthropic"].count == 1
    later = [g for g in await errors.since(clock.now() - 30) if g.kind == kind]
    assert {(g.status, g.count) for g in later} == {(400, 1), (529, 1)}  # the earlier hour's minute is out
    clock.advance(KEEP_SECONDS + 3600)
    assert [g for g in await errors.since(clock.now() - 60) if g.kind == kind] == []


def test_excerpts_are_redacted_and_short() -> None:
    key = "sk-ant-api03-" + "x" * 40
    text = excerpt(f"upstream said: bad key {key} " + "y" * 500)
    assert text is not None and key not in text and "[redacted]" in text
    assert len(text) == MESSAGE_CHARS and text.endswith("…")
    assert excerpt(None) is None and excerpt("") is None
