"""``GET /admin/usage`` after real traffic: every grouping adds up to what the clients were told.

Traffic through the official SDKs (buffered answers carry ``x-aimux-cost-usd``; a stream's cost is what its
final usage costs at the configured prices), by two keys, one in a project, on both providers, plus a
refused request. The report is then compared, in micro-dollars, with those costs: per key, per project,
per provider and model, per day, and in total.
"""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import anthropic
import httpx
import openai
import pytest
from admin_conftest import Deployment, cost_micro

from fakes import Reply, Usage

PROMPT = [{"role": "user", "content": "hi"}]


def told(header: str) -> int:
    return int(Decimal(header) * 1_000_000)


def traffic(deployment: Deployment) -> tuple[str, str, Counter[str], Counter[tuple[str, str]]]:
    """Run the traffic; (id of key A, id of key B, micro-dollars told per key, per (provider, model))."""
    deployment.anthropic.default = Reply(text="hi", usage=Usage(input_tokens=120, output_tokens=30))
    deployment.openai.default = Reply(text="hello", usage=Usage(input_tokens=80, output_tokens=20))
    deployment.project("web")
    key_a, id_a = deployment.key("alpha", project="web")
    key_b, id_b = deployment.key("beta")
    per_key: Counter[str] = Counter()
    per_model: Counter[tuple[str, str]] = Counter()
    for key, key_id in ((key_a, id_a), (key_b, id_b)):
        claude = anthropic.Anthropic(base_url=deployment.url, api_key=key, max_retries=0)
        for _ in range(2):
            raw = claude.messages.with_raw_response.create(model="claude-sonnet-4-5", max_tokens=64, messages=PROMPT)
            assert raw.headers["x-aimux-provider"] == "anthropic"
            per_key[key_id] += told(raw.headers["x-aimux-cost-usd"])
            per_model["anthropic", "claude-sonnet-4-5"] += told(raw.headers["x-aimux-cost-usd"])
        with claude.messages.stream(model="claude-sonnet-4-5", max_tokens=64, messages=PROMPT) as stream:
            usage = stream.get_final_message().usage
        per_key[key_id] += cost_micro("claude-sonnet-4-5", usage.input_tokens, usage.output_tokens)
        per_model["anthropic", "claude-sonnet-4-5"] += cost_micro("claude-sonnet-4-5", 120, 30)
        gpt = openai.OpenAI(base_url=f"{deployment.url}/v1", api_key=key, max_retries=0)
        raw_chat = gpt.chat.completions.with_raw_response.create(model="gpt-4.1", messages=PROMPT)
        per_key[key_id] += told(raw_chat.headers["x-aimux-cost-usd"])
        per_model["openai", "gpt-4.1"] += told(raw_chat.headers["x-aimux-cost-usd"])
        chunks = list(gpt.chat.completions.create(
            model="gpt-4.1", messages=PROMPT, stream=True, stream_options={"include_usage": True}
        ))  # fmt: skip
        final = next(chunk.usage for chunk in reversed(chunks) if chunk.usage is not None)
        per_key[key_id] += cost_micro("gpt-4.1", final.prompt_tokens, final.completion_tokens)
        per_model["openai", "gpt-4.1"] += cost_micro("gpt-4.1", 80, 20)
    refused = httpx.post(f"{deployment.url}/v1/messages", headers={"x-api-key": key_a}, json={"model": "x"})
    assert refused.status_code == 400
    return id_a, id_b, per_key, per_model


def usage(deployment: Deployment, *query: tuple[str, str]) -> dict:
    with deployment.admin() as http:
        answer = http.get("/admin/usage", params=list(query))
    assert answer.status_code == 200, answer.text
    return dict(answer.json())


def test_every_grouping_adds_up_to_the_costs_the_clients_were_told(deployment: Deployment) -> None:
    id_a, id_b, per_key, per_model = traffic(deployment)
    assert per_key[id_a] == per_key[id_b] > 0
    today = datetime.now(UTC).date().isoformat()

    by_key = usage(deployment, ("group_by", "key"))
    assert by_key["from"] == by_key["to"] == today and by_key["group_by"] == ["key"]
    groups = {g["group"]["key"]: g for g in by_key["groups"]}
    assert set(groups) == {id_a, id_b}
    assert groups[id_a]["group"]["key_name"] == "alpha" and groups[id_b]["group"]["key_name"] == "beta"
    for key_id in (id_a, id_b):
        assert groups[key_id]["cost_micro_usd"] == per_key[key_id]
        assert groups[key_id]["cost_usd"] == round(per_key[key_id] / 1_000_000, 6)
    assert groups[id_a]["requests"] == 6 and groups[id_b]["requests"] == 5  # the refused one counts
    assert groups[id_a]["client_errors"] == 1 and groups[id_b]["client_errors"] == 0
    assert groups[id_a]["input_tokens"] == 3 * 120 + 2 * 80 and groups[id_a]["output_tokens"] == 3 * 30 + 2 * 20
    assert by_key["total"]["cost_micro_usd"] == sum(per_key.values())
    assert by_key["total"]["requests"] == 11 and by_key["total"]["errors"] == 0

    by_project_day = usage(deployment, ("group_by", "project,day"))
    projects = {(g["group"]["project"], g["group"]["day"]): g["cost_micro_usd"] for g in by_project_day["groups"]}
    assert projects == {("web", today): per_key[id_a], ("-", today): per_key[id_b]}

    by_model = usage(deployment, ("group_by", "provider"), ("group_by", "model"))
    models = {(g["group"]["provider"], g["group"]["model"]): g["cost_micro_usd"] for g in by_model["groups"]}
    assert models == {**per_model, ("-", "-"): 0}  # the refused request: no provider, no model
    assert [g["cost_micro_usd"] for g in by_model["groups"]] == sorted(models.values(), reverse=True)

    everything = usage(deployment)
    assert everything["group_by"] == [] and len(everything["groups"]) == 1
    assert everything["groups"][0]["cost_micro_usd"] == everything["total"]["cost_micro_usd"] == sum(per_key.values())


def test_errors_and_fallbacks_are_counted_per_group(deployment: Deployment) -> None:
    from fakes import Fault

    key, key_id = deployment.key("gamma")
    deployment.anthropic.enqueue(Fault.http(500))
    deployment.openai.default = Reply(text="fallback", usage=Usage(input_tokens=10, output_tokens=5))
    claude = anthropic.Anthropic(base_url=deployment.url, api_key=key, max_retries=0)
    raw = claude.messages.with_raw_response.create(model="claude-sonnet-4-5", max_tokens=16, messages=PROMPT)
    assert raw.headers["x-aimux-provider"] == "openai" and raw.headers["x-aimux-attempts"] == "2"
    deployment.anthropic.enqueue(Fault.http(500))
    deployment.openai.enqueue(Fault.http(500))
    with pytest.raises(anthropic.APIStatusError):
        claude.messages.create(model="claude-sonnet-4-5", max_tokens=16, messages=PROMPT)
    report = usage(deployment, ("group_by", "key,provider"))
    rows = {g["group"]["provider"]: g for g in report["groups"] if g["group"]["key"] == key_id}
    assert rows["openai"]["fallbacks"] == 1 and rows["openai"]["requests"] == 1 and rows["openai"]["errors"] == 0
    assert rows["openai"]["cost_micro_usd"] == told(raw.headers["x-aimux-cost-usd"])
    failed = [g for provider, g in rows.items() if provider != "openai"]
    assert len(failed) == 1 and failed[0]["errors"] == 1 and failed[0]["cost_micro_usd"] == 0


@pytest.mark.parametrize(
    ("query", "param"),
    [
        ([("group_by", "team")], "group_by"),
        ([("group_by", "key,nope")], "group_by"),
        ([("from", "2026-13-01")], "from"),
        ([("to", "yesterday")], "to"),
        ([("from", "2026-12-05"), ("to", "2026-12-01")], "from"),
        ([("from", "2026-01-01"), ("to", "2026-12-31")], "to"),  # over AIMUX_USAGE_MAX_RANGE_DAYS (92)
    ],
)
def test_bad_parameters_are_refused_naming_them(deployment: Deployment, query: list, param: str) -> None:
    with deployment.admin() as http:
        answer = http.get("/admin/usage", params=query)
    assert answer.status_code == 400, answer.text
    assert answer.json()["error"]["type"] == "invalid_request_error" and answer.json()["error"]["param"] == param


def test_a_range_of_days_is_answered_day_by_day(deployment: Deployment) -> None:
    deployment.anthropic.default = Reply(text="hi", usage=Usage(input_tokens=10, output_tokens=10))
    key, _ = deployment.key("delta")
    claude = anthropic.Anthropic(base_url=deployment.url, api_key=key, max_retries=0)
    claude.messages.create(model="claude-sonnet-4-5", max_tokens=16, messages=PROMPT)
    today = datetime.now(UTC).date()
    week_ago = (today - timedelta(days=6)).isoformat()
    report = usage(deployment, ("from", week_ago), ("to", today.isoformat()), ("group_by", "day"))
    assert (report["from"], report["to"]) == (week_ago, today.isoformat())
    assert [g["group"]["day"] for g in report["groups"]] == [today.isoformat()]  # only days with usage
    assert report["groups"][0]["cost_micro_usd"] == cost_micro("claude-sonnet-4-5", 10, 10)


def test_a_counter_the_store_refuses_is_logged_with_its_request_id(caplog: pytest.LogCaptureFixture) -> None:
    """Never silently dropped: a usage write that fails names the request, whose log line has its figures."""
    import asyncio
    import logging

    from aimux_core.accounting.counters import FleetCounters
    from aimux_core.accounting.record import RequestRecord
    from aimux_core.state import MemoryStore, SystemClock
    from aimux_core.state.request_errors import RequestErrors
    from aimux_core.state.store import StoreUnavailable
    from aimux_core.state.usage import UsageCounters

    class Down(MemoryStore):
        async def add(self, *args: object, **kwargs: object) -> dict:
            raise StoreUnavailable("throttled")

    store = Down()
    counters = FleetCounters(UsageCounters(store, SystemClock()), RequestErrors(store, SystemClock()))
    record = RequestRecord(request_id="req_lost_0001", surface="openai", status=429, latency_ms=1.0,
                           error_kind="rate_limit_error", rate_limited=True)  # fmt: skip

    async def run() -> None:
        counters.count(record, message="rate limit reached")
        await counters.drain()

    with caplog.at_level(logging.WARNING, logger="aimux.usage"):
        asyncio.run(run())
    messages = [r.getMessage() for r in caplog.records if r.name == "aimux.usage"]
    assert messages == [
        "usage counters of req_lost_0001 not written: state store StoreUnavailable",
        "error count of req_lost_0001 not written: state store StoreUnavailable",
    ]
