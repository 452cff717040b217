"""In-memory metrics: aggregation per provider/model and service-wide, bounds, thread safety, the admin route."""

from __future__ import annotations

import threading

import pytest
from fastapi.testclient import TestClient

from aimux_core.accounting.local_metrics import LocalMetrics
from aimux_core.accounting.metrics import COUNTERS, TIMINGS, emit_metrics, local_metrics
from aimux_core.accounting.record import RequestRecord
from aimux_core.assembly import admin_app
from aimux_core.settings import Settings
from support.records import request_record


def rec(provider: str | None, model: str | None, **overrides: object) -> RequestRecord:
    fields: dict = dict(
        request_id="r", surface="anthropic", latency_ms=100.0, input_tokens=10, output_tokens=5,
        cache_read_tokens=2, cache_write_tokens=1, cost_usd=0.001,
    )
    return request_record(**{**fields, "provider": provider, "model": model, **overrides})


@pytest.fixture(autouse=True)
def no_emf(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AIMUX_EMF", "0")


def test_aggregates_per_target_and_service_wide() -> None:
    local = LocalMetrics(COUNTERS, TIMINGS)
    for latency in (100.0, 200.0, 300.0):
        emit_metrics(rec("anthropic", "claude-x", latency_ms=latency), local=local)
    emit_metrics(rec("openai", "gpt-y", status=502, error_kind="api_error", attempts=2, fallbacks=1), local=local)
    emit_metrics(rec("openai", "gpt-y", stream=True, ttft_ms=42.0), local=local)
    emit_metrics(rec(None, None, status=429, rate_limited=True, input_tokens=0, output_tokens=0), local=local)
    snap = local.snapshot()
    agg = snap["aggregate"]
    assert (agg["Requests"], agg["Errors"], agg["Fallbacks"], agg["RateLimited"]) == (6, 1, 1, 1)
    assert (agg["InputTokens"], agg["OutputTokens"]) == (50, 25)
    assert agg["CostUSD"] == pytest.approx(0.006)
    assert agg["LatencyMs"]["count"] == 6 and agg["TimeToFirstTokenMs"]["count"] == 1
    by_target = {(t["provider"], t["model"]): t for t in snap["targets"]}
    assert set(by_target) == {("anthropic", "claude-x"), ("openai", "gpt-y"), ("none", "none")}
    claude = by_target["anthropic", "claude-x"]
    assert claude["Requests"] == 3
    assert claude["LatencyMs"] == {
        "count": 3,
        "mean": 200.0,
        "min": 100.0,
        "max": 300.0,
        "p50": 200.0,
        "p90": 300.0,
        "p99": 300.0,
        "window": 3,
    }
    assert claude["TimeToFirstTokenMs"] == {"count": 0}
    assert by_target["openai", "gpt-y"]["Errors"] == 1
    assert by_target["none", "none"]["RateLimited"] == 1
    assert set(claude) >= set(COUNTERS) | set(TIMINGS)  # same names as the EMF metrics


def test_series_are_bounded() -> None:
    local = LocalMetrics(["Requests"], ["LatencyMs"], max_series=3, window=4)
    for i in range(10):
        local.record("p", f"m{i}", {"Requests": 1}, {"LatencyMs": float(i)})
    snap = local.snapshot()
    assert [(t["provider"], t["model"]) for t in snap["targets"]] == [
        ("other", "other"),
        ("p", "m0"),
        ("p", "m1"),
        ("p", "m2"),
    ]
    other = snap["targets"][0]
    assert other["Requests"] == 7 and other["LatencyMs"]["window"] == 4  # recent samples only
    assert other["LatencyMs"]["count"] == 7 and other["LatencyMs"]["min"] == 3.0  # exact, not windowed
    assert snap["aggregate"]["Requests"] == 10 and snap["overflowed_observations"] == 7


def test_thread_safe_counting() -> None:
    local = LocalMetrics(["Requests"], ["LatencyMs"])

    def hammer(n: int) -> None:
        for _ in range(2000):
            local.record("p", f"m{n % 3}", {"Requests": 1}, {"LatencyMs": 1.0})

    threads = [threading.Thread(target=hammer, args=(n,)) for n in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    snap = local.snapshot()
    assert snap["aggregate"]["Requests"] == 16000
    assert sum(t["Requests"] for t in snap["targets"]) == 16000


def test_reset() -> None:
    local = LocalMetrics(["Requests"])
    local.record("p", "m", {"Requests": 1})
    local.reset()
    assert local.snapshot()["aggregate"]["Requests"] == 0 and local.snapshot()["targets"] == []


def test_admin_metrics_route() -> None:
    local_metrics().reset()
    emit_metrics(rec("anthropic", "claude-x"))
    emit_metrics(rec("anthropic", "claude-x", latency_ms=300.0))
    response = TestClient(admin_app(Settings()), client=("127.0.0.1", 50000)).get("/admin/metrics")
    assert response.status_code == 200
    body = response.json()
    assert body["namespace"] == "Aimux" and body["service"] == "aimux" and body["scope"] == "process"
    assert body["dimension_sets"] == [["service", "provider", "model"], ["service"]]
    assert body["units"]["CostUSD"] == "None" and body["units"]["LatencyMs"] == "Milliseconds"
    assert body["aggregate"]["Requests"] == 2
    (target,) = body["targets"]
    assert (target["provider"], target["model"], target["Requests"]) == ("anthropic", "claude-x", 2)
    assert target["LatencyMs"]["max"] == 300.0


def test_admin_metrics_route_is_in_the_openapi_document() -> None:
    paths = TestClient(admin_app(Settings()), client=("127.0.0.1", 50000)).get("/admin/openapi.json").json()["paths"]
    assert "/admin/metrics" in paths
