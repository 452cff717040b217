"""Concurrent requests each get EMF whose dimensions and values are their own.

A shared Powertools ``Metrics`` books one request's cost under another's provider when requests
interleave: its dimensions live in class-level state shared by every instance. These "requests"
interleave on purpose: every one awaits between starting and finishing, and they finish in a
shuffled order, some from worker threads.
"""

from __future__ import annotations

import asyncio
import json
import random

import pytest

from aimux_core.accounting.local_metrics import LocalMetrics
from aimux_core.accounting.metrics import emit_metrics
from aimux_core.accounting.record import RequestRecord, RequestTimer
from support.records import emission_from_env

N = 50
PROVIDERS = ("anthropic", "openai", "bedrock", "deepseek", "mock")


@pytest.fixture(autouse=True)
def emf_on(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("POWERTOOLS_METRICS_DISABLED", raising=False)
    monkeypatch.delenv("POWERTOOLS_DEV", raising=False)
    monkeypatch.delenv("POWERTOOLS_SERVICE_NAME", raising=False)
    monkeypatch.setenv("AIMUX_EMF", "1")


def planned(i: int) -> RequestRecord:
    return RequestRecord(
        request_id=f"req_{i:03d}",
        surface="anthropic" if i % 2 else "openai",
        status=529 if i % 7 == 0 else 200,
        latency_ms=1000.0 + i,
        provider=PROVIDERS[i % len(PROVIDERS)],
        model=f"model-{i}",
        attempts=1 + i % 3,
        fallbacks=i % 3,
        stream=bool(i % 2),
        ttft_ms=float(i) if i % 2 else None,
        input_tokens=100 * i,
        output_tokens=10 * i,
        cost_usd=i / 1000,
    )


async def one_request(i: int, local: LocalMetrics, rng: random.Random) -> None:
    timer = RequestTimer()
    await asyncio.sleep(rng.random() / 100)  # routing, upstream call: other requests run meanwhile
    timer.mark_first_token()
    await asyncio.sleep(rng.random() / 100)
    record = planned(i)
    if i % 5 == 0:
        await asyncio.to_thread(emit_metrics, record, emission_from_env(), local=local)  # a worker thread writes too
    else:
        emit_metrics(record, emission_from_env(), local=local)


def mismatches(docs: list[dict]) -> list[str]:
    """Every way a document differs from the request it names (by its ``request_id`` metadata)."""
    problems = []
    for doc in docs:
        i = int(str(doc.get("request_id", "req_-1")).removeprefix("req_"))
        expected = planned(i) if 0 <= i < N else None
        if expected is None:
            problems.append(f"unknown request {doc.get('request_id')}")
            continue
        want = {
            "provider": expected.provider,
            "model": expected.model,
            "Requests": [1.0],  # one value per metric: nothing booked from another request
            "CostUSD": [expected.cost_usd],
        }
        problems += [
            f"{i}: {key}={doc.get(key)!r}, want {value!r}" for key, value in want.items() if doc.get(key) != value
        ]
    return problems


def test_fifty_concurrent_requests_keep_their_own_dimensions(capsys: pytest.CaptureFixture[str]) -> None:
    local = LocalMetrics()
    rng = random.Random(7)

    async def main() -> None:
        await asyncio.gather(*(one_request(i, local, rng) for i in range(N)))

    asyncio.run(main())
    docs = [json.loads(line) for line in capsys.readouterr().out.splitlines()]  # whole JSON lines only
    assert len(docs) == N
    assert mismatches(docs) == []
    assert sorted(doc["request_id"] for doc in docs) == [f"req_{i:03d}" for i in range(N)]
    for doc in docs:
        expected = planned(int(doc["request_id"].removeprefix("req_")))
        assert doc["service"] == "aimux"
        assert doc["_aws"]["CloudWatchMetrics"][0]["Dimensions"] == [["service", "provider", "model"], ["service"]]
        assert doc["InputTokens"] == [float(expected.input_tokens)]
        assert doc["LatencyMs"] == [expected.latency_ms]
        assert doc["Errors"] == [1.0 if expected.status >= 500 else 0.0]
        assert doc["Fallbacks"] == [1.0 if expected.fallbacks else 0.0]
        if expected.ttft_ms is None:
            assert "TimeToFirstTokenMs" not in doc
        else:
            assert doc["TimeToFirstTokenMs"] == [expected.ttft_ms]
    aggregate = local.snapshot()["aggregate"]
    assert aggregate["Requests"] == N
    assert aggregate["CostUSD"] == pytest.approx(sum(i / 1000 for i in range(N)))


@pytest.mark.filterwarnings("ignore::UserWarning")
def test_the_check_catches_the_shared_metrics_trap(capsys: pytest.CaptureFixture[str]) -> None:
    """The same 50 requests through one shared ``Metrics()`` (the trap): the check above must fail them."""
    from aws_lambda_powertools import Metrics

    shared = Metrics(namespace="Aimux", service="aimux")
    rng = random.Random(7)

    async def naive(i: int) -> None:
        record = planned(i)
        shared.add_dimension(name="provider", value=str(record.provider))
        shared.add_dimension(name="model", value=str(record.model))
        await asyncio.sleep(rng.random() / 100)
        shared.add_metric(name="Requests", unit="Count", value=1)
        shared.add_metric(name="CostUSD", unit="None", value=record.cost_usd)
        shared.add_metadata(key="request_id", value=record.request_id)
        shared.flush_metrics()

    async def main() -> None:
        await asyncio.gather(*(naive(i) for i in range(N)))

    try:
        asyncio.run(main())
    finally:
        shared.clear_metrics()
    docs = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert mismatches(docs), "the shared-Metrics trap went unnoticed"


def test_powertools_shared_metrics_state_is_untouched(capsys: pytest.CaptureFixture[str]) -> None:
    """No emission goes through the class-level state a ``Metrics()`` instance would share."""
    from aws_lambda_powertools import Metrics

    emit_metrics(planned(1), emission_from_env(), local=LocalMetrics())
    shared = Metrics(namespace="Aimux")
    assert shared.metric_set == {} and shared.dimension_set == {}
    capsys.readouterr()
