"""The EMF document of one request: namespace, the two dimension sets exactly, metric names/units/values.

The dashboard and alarms in infra/template.yaml are written against this shape, so the expected
shape is spelled out literally here rather than derived from the constants under test.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

import pytest

from aimux_core.accounting import metrics
from aimux_core.accounting.local_metrics import LocalMetrics
from aimux_core.accounting.metrics import emit_metrics, on_breaker_transition
from aimux_core.accounting.record import RequestRecord
from support.records import emission_from_env, request_record

EXPECTED_UNITS = {
    "Requests": "Count",
    "Errors": "Count",
    "Fallbacks": "Count",
    "RateLimited": "Count",
    "BreakerOpen": "Count",
    "LatencyMs": "Milliseconds",
    "TimeToFirstTokenMs": "Milliseconds",
    "InputTokens": "Count",
    "OutputTokens": "Count",
    "CacheReadTokens": "Count",
    "CacheWriteTokens": "Count",
    "CostUSD": "None",
    "CacheHits": "Count",
    "DedupSaved": "Count",
    "CacheSavingsUSD": "None",
    "TokensRemoved": "Count",
}


@pytest.fixture(autouse=True)
def emf_on(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in (
        "AWS_LAMBDA_FUNCTION_NAME",
        "POWERTOOLS_METRICS_DISABLED",
        "POWERTOOLS_DEV",
        "POWERTOOLS_SERVICE_NAME",
    ):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AIMUX_EMF", "1")


def streamed(**overrides: object) -> RequestRecord:
    """A streamed Anthropic request served on its second attempt, past an open circuit."""
    fields: dict = dict(
        request_id="req_emf_1", surface="anthropic", latency_ms=812.5, provider="anthropic",
        model="claude-sonnet-4-5", attempts=2, fallbacks=1, stream=True, ttft_ms=120.25,
        input_tokens=1200, output_tokens=350, cache_read_tokens=4000, cache_write_tokens=512,
        cost_usd=0.00885, breaker_open_seen=True, cache_savings_usd=0.01044, tokens_removed=1500,
    )
    return request_record(**{**fields, **overrides})


def emf_lines(out: str) -> list[dict]:
    return [doc for doc in map(json.loads, out.splitlines()) if "_aws" in doc]


def test_one_line_per_request_with_both_dimension_sets(capsys: pytest.CaptureFixture[str]) -> None:
    returned = emit_metrics(streamed(), emission_from_env(), local=LocalMetrics())
    (doc,) = emf_lines(capsys.readouterr().out)
    assert doc == json.loads(json.dumps(returned))
    (directive,) = doc["_aws"]["CloudWatchMetrics"]
    assert directive["Namespace"] == "Aimux"
    assert directive["Dimensions"] == [["service", "provider", "model"], ["service"]]
    assert [(m["Name"], m["Unit"]) for m in directive["Metrics"]] == list(EXPECTED_UNITS.items())
    assert all("StorageResolution" not in m for m in directive["Metrics"])  # standard resolution
    assert isinstance(doc["_aws"]["Timestamp"], int)
    assert (doc["service"], doc["provider"], doc["model"]) == ("aimux", "anthropic", "claude-sonnet-4-5")
    assert doc["request_id"] == "req_emf_1"  # metadata: links the metric line to the log line
    values = {name: doc[name] for name in EXPECTED_UNITS}
    assert values == {
        "Requests": [1.0],
        "Errors": [0.0],
        "Fallbacks": [1.0],
        "RateLimited": [0.0],
        "BreakerOpen": [1.0],
        "LatencyMs": [812.5],
        "TimeToFirstTokenMs": [120.25],
        "InputTokens": [1200.0],
        "OutputTokens": [350.0],
        "CacheReadTokens": [4000.0],
        "CacheWriteTokens": [512.0],
        "CostUSD": [0.00885],
        "CacheHits": [0.0],
        "DedupSaved": [0.0],
        "CacheSavingsUSD": [0.01044],
        "TokensRemoved": [1500.0],
    }


def test_every_dimension_a_set_names_is_a_top_level_string(capsys: pytest.CaptureFixture[str]) -> None:
    """CloudWatch drops a metric whose dimension set names a key the document does not carry."""
    emit_metrics(streamed(), emission_from_env(), local=LocalMetrics())
    emit_metrics(
        streamed(provider=None, model=None, status=404, error_kind="not_found_error"),
        emission_from_env(),
        local=LocalMetrics(),
    )
    for doc in emf_lines(capsys.readouterr().out):
        for dimension_set in doc["_aws"]["CloudWatchMetrics"][0]["Dimensions"]:
            assert all(isinstance(doc[name], str) and doc[name] for name in dimension_set)
        for metric in doc["_aws"]["CloudWatchMetrics"][0]["Metrics"]:
            assert all(isinstance(v, float) for v in doc[metric["Name"]])


def test_constants_are_the_emitted_contract(capsys: pytest.CaptureFixture[str]) -> None:
    emit_metrics(streamed(), emission_from_env(), local=LocalMetrics())
    (doc,) = emf_lines(capsys.readouterr().out)
    assert doc["_aws"]["CloudWatchMetrics"][0]["Namespace"] == metrics.NAMESPACE
    assert [list(s) for s in metrics.DIMENSION_SETS] == doc["_aws"]["CloudWatchMetrics"][0]["Dimensions"]
    assert metrics.METRICS == EXPECTED_UNITS


def test_buffered_request_has_no_time_to_first_token(capsys: pytest.CaptureFixture[str]) -> None:
    emit_metrics(streamed(stream=False, ttft_ms=None), emission_from_env(), local=LocalMetrics())
    (doc,) = emf_lines(capsys.readouterr().out)
    names = [m["Name"] for m in doc["_aws"]["CloudWatchMetrics"][0]["Metrics"]]
    assert "TimeToFirstTokenMs" not in names and "TimeToFirstTokenMs" not in doc
    assert names == [n for n in EXPECTED_UNITS if n != "TimeToFirstTokenMs"]


@pytest.mark.parametrize(
    ("overrides", "expected"),
    [
        ({"status": 529, "error_kind": "overloaded_error", "provider": None, "model": None}, {"Errors": 1}),
        ({"status": 502, "error_kind": "api_error"}, {"Errors": 1}),
        ({"status": 200, "error_kind": "overloaded_error"}, {"Errors": 1}),  # stream broke after its headers
        ({"status": 400, "error_kind": "invalid_request_error"}, {"Errors": 0}),  # the client's fault
        ({"status": 429, "error_kind": "rate_limit_error", "rate_limited": True}, {"Errors": 0, "RateLimited": 1}),
        ({"attempts": 1, "fallbacks": 0}, {"Fallbacks": 0}),
        ({"breaker_open_seen": False}, {"BreakerOpen": 0}),
    ],
)
def test_counter_semantics(overrides: dict, expected: dict, capsys: pytest.CaptureFixture[str]) -> None:
    emit_metrics(streamed(**overrides), emission_from_env(), local=LocalMetrics())
    (doc,) = emf_lines(capsys.readouterr().out)
    assert {name: doc[name] for name in expected} == {name: [float(v)] for name, v in expected.items()}


def test_unrouted_request_uses_placeholder_dimensions(capsys: pytest.CaptureFixture[str]) -> None:
    emit_metrics(
        streamed(provider=None, model=None, status=429, rate_limited=True), emission_from_env(), local=LocalMetrics()
    )
    (doc,) = emf_lines(capsys.readouterr().out)
    assert (doc["provider"], doc["model"]) == ("none", "none")
    assert doc["_aws"]["CloudWatchMetrics"][0]["Dimensions"] == [["service", "provider", "model"], ["service"]]


def test_service_name_comes_from_powertools_env(monkeypatch: pytest.MonkeyPatch, capsys) -> None:
    monkeypatch.setenv("POWERTOOLS_SERVICE_NAME", "aimux-staging")
    emit_metrics(streamed(), emission_from_env(), local=LocalMetrics())
    (doc,) = emf_lines(capsys.readouterr().out)
    assert doc["service"] == "aimux-staging"


def test_dimension_values_are_bounded_ascii_and_scrubbed(capsys: pytest.CaptureFixture[str]) -> None:
    emit_metrics(
        streamed(provider="openai", model="sk-proj-ABCDEFGHIJKLMNOP gpt\n" + "x" * 500),
        emission_from_env(),
        local=LocalMetrics(),
    )
    (doc,) = emf_lines(capsys.readouterr().out)
    assert "sk-proj-ABCDEFGHIJKLMNOP" not in json.dumps(doc)
    assert len(doc["model"]) <= 200 and doc["model"].isascii() and " " not in doc["model"]


def test_gating(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    local = LocalMetrics(["Requests"])
    monkeypatch.delenv("AIMUX_EMF")
    assert not emission_from_env().emf
    assert emit_metrics(streamed(), emission_from_env(), local=local) is None  # local run: no EMF by default
    monkeypatch.setenv("AWS_LAMBDA_FUNCTION_NAME", "aimux-messages-dev")
    assert emission_from_env().emf  # on Lambda: on by default
    monkeypatch.setenv("AIMUX_EMF", "0")
    assert not emission_from_env().emf  # explicit off wins
    monkeypatch.setenv("AIMUX_EMF", "1")
    monkeypatch.setenv("POWERTOOLS_METRICS_DISABLED", "true")
    assert not emission_from_env().emf
    assert emit_metrics(streamed(), emission_from_env(), local=local) is None
    assert emf_lines(capsys.readouterr().out) == []
    assert local.snapshot()["aggregate"]["Requests"] == 2  # in-memory metrics are kept either way


def test_emit_never_raises(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    def broken(*args: object, **kwargs: object) -> dict:
        raise RuntimeError("boom")

    monkeypatch.setattr(metrics, "build_emf", broken)
    local = LocalMetrics(["Requests"])
    assert emit_metrics(streamed(), emission_from_env(), local=local) is None
    assert local.snapshot()["aggregate"]["Requests"] == 1


@dataclass
class FakeTransition:
    key: str
    to_state: str
    reason: str = "consecutive_failures"


def test_breaker_opening_emits_breaker_open(capsys: pytest.CaptureFixture[str]) -> None:
    metrics.local_metrics().reset()
    on_breaker_transition(emission_from_env(), FakeTransition("openrouter/anthropic/claude-x", "open"))
    on_breaker_transition(emission_from_env(), FakeTransition("bedrock", "open"))
    on_breaker_transition(emission_from_env(), FakeTransition("bedrock", "half_open"))  # not an opening: nothing
    docs = emf_lines(capsys.readouterr().out)
    assert [(d["provider"], d["model"], d["BreakerOpen"]) for d in docs] == [
        ("openrouter", "anthropic/claude-x", [1.0]),
        ("bedrock", "*", [1.0]),
    ]
    for doc in docs:
        assert doc["_aws"]["CloudWatchMetrics"][0]["Dimensions"] == [["service", "provider", "model"], ["service"]]
        assert doc["_aws"]["CloudWatchMetrics"][0]["Metrics"] == [{"Name": "BreakerOpen", "Unit": "Count"}]
    snapshot = metrics.local_metrics().snapshot()
    assert snapshot["aggregate"]["BreakerOpen"] == 2 and snapshot["aggregate"]["Requests"] == 0


def test_real_breaker_transition_type_is_understood(capsys: pytest.CaptureFixture[str]) -> None:
    from aimux_core.state.breaker_model import CircuitState, Transition, TransitionReason

    reason = next(iter(TransitionReason))
    transition = Transition("anthropic", CircuitState.CLOSED, CircuitState.OPEN, reason, 1, 0.0)
    on_breaker_transition(emission_from_env(), transition)
    (doc,) = emf_lines(capsys.readouterr().out)
    assert (doc["provider"], doc["model"], doc["transition"]) == ("anthropic", "*", str(reason))
