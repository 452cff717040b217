"""``accounting/emf.py`` builds the document Powertools' ``EphemeralMetrics`` builds, for every line aimux writes.

Each case fills an ``EphemeralMetrics`` the way aimux's metrics code did before it built documents itself
(dimensions added in order, the service-wide set through ``add_dimensions``, metadata, metrics with their
units, the same timestamp) and requires the same document, key order included, and the same line.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from aws_lambda_powertools.metrics import EphemeralMetrics

from aimux_core.accounting import metrics
from aimux_core.accounting.emf import emf_document
from aimux_core.accounting.metrics import (
    AGGREGATE_DIMENSIONS,
    EVENT_METRICS,
    KEY_SPEND_DIMENSIONS,
    KEY_SPEND_METRIC,
    METRICS,
    NAMESPACE,
    NO_UNIT,
    PER_TARGET_DIMENSIONS,
    build_emf,
    dimensions_of,
    metric_values,
)
from support.records import request_record

NOW_MS = 1_796_523_417_978


@pytest.fixture(autouse=True)
def no_powertools_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("POWERTOOLS_METRICS_NAMESPACE", "POWERTOOLS_SERVICE_NAME", "POWERTOOLS_METRICS_DISABLED"):
        monkeypatch.delenv(name, raising=False)


def _powertools(dimensions: dict[str, str], values: dict[str, float], metadata: dict[str, Any]) -> dict[str, Any]:
    """What ``metrics.build_emf`` returned when it filled an ``EphemeralMetrics``."""
    emf = EphemeralMetrics(namespace=NAMESPACE, service=dimensions["service"])
    for name in PER_TARGET_DIMENSIONS:
        emf.add_dimension(name=name, value=dimensions[name])
    emf.add_dimensions(**{name: dimensions[name] for name in AGGREGATE_DIMENSIONS})
    for name, value in values.items():
        emf.add_metric(name=name, unit=METRICS.get(name) or EVENT_METRICS[name], value=value)
    for key, value in metadata.items():
        if value is not None:
            emf.add_metadata(key=key, value=value)
    emf.set_timestamp(NOW_MS)
    return dict(emf.serialize_metric_set())


def _ours(dimensions: dict[str, str], values: dict[str, float], metadata: dict[str, Any]) -> dict[str, Any]:
    document = build_emf(dimensions, values, metadata)
    document["_aws"]["Timestamp"] = NOW_MS
    return document


def _same(expected: dict[str, Any], got: dict[str, Any]) -> None:
    assert got == expected
    assert json.dumps(got) == json.dumps(expected)  # key order too: the line is the same bytes


@pytest.mark.parametrize(
    "fields",
    [
        {},
        {"stream": True, "ttft_ms": 120.25, "attempts": 2, "fallbacks": 1, "breaker_open_seen": True},
        {"status": 529, "error_kind": "overloaded_error", "provider": None, "model": None},
        {"input_tokens": 10**9, "cost_usd": 1234.5678912345, "cache_savings_usd": -0.25, "tokens_removed": 7},
        {"cache": "hit", "dedup": None, "cache_saved_usd": 0.5, "rate_limited": True},
    ],
    ids=["buffered", "streamed_fallback", "unrouted_error", "large_values", "cache_hit"],
)
def test_a_request_line_is_the_powertools_document(fields: dict[str, Any]) -> None:
    record = request_record(**{"request_id": "req_1", "provider": "anthropic", "model": "claude-x", **fields})
    dimensions, values, metadata = dimensions_of(record, "my-service"), metric_values(record), {"request_id": "req_1"}
    _same(_powertools(dimensions, values, metadata), _ours(dimensions, values, metadata))


def test_event_lines_are_the_powertools_document() -> None:
    dimensions = {"service": "aimux", "provider": "zai", "model": "*"}
    metadata = {"breaker": "zai", "transition": "failures", "absent": None}
    _same(_powertools(dimensions, {"BreakerOpen": 1}, metadata), _ours(dimensions, {"BreakerOpen": 1}, metadata))
    values, metadata = {"ProviderAuthFailures": 1}, {"upstream_status": 401}
    _same(_powertools(dimensions, values, metadata), _ours(dimensions, values, metadata))


def test_the_key_spend_line_is_the_powertools_document(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    emf = EphemeralMetrics(namespace=NAMESPACE, service="aimux")
    emf.add_dimension(name="key_id", value="k_1")
    emf.add_metric(name=KEY_SPEND_METRIC, unit=NO_UNIT, value=1.25)
    emf.set_timestamp(NOW_MS)
    expected: dict[str, Any] = dict(emf.serialize_metric_set())
    expected["_aws"]["CloudWatchMetrics"][0]["Dimensions"] = [list(dims) for dims in KEY_SPEND_DIMENSIONS]
    monkeypatch.setattr(metrics, "emf_document", _at(NOW_MS))
    written = metrics.emit_key_spend(metrics.Emission(emf=True), "k_1", 1.25)
    assert written is not None
    _same(expected, written)
    assert json.loads(capsys.readouterr().out) == expected


def _at(timestamp_ms: int) -> Any:
    def build(*args: Any, **kwargs: Any) -> dict[str, Any]:
        return emf_document(*args, **kwargs, timestamp_ms=timestamp_ms)

    return build


def test_the_timestamp_is_now_in_epoch_milliseconds() -> None:
    import time

    before = int(time.time() * 1000)
    stamp = emf_document(NAMESPACE, [["service"]], {"service": "s"}, {"Requests": ("Count", 1)})["_aws"]["Timestamp"]
    assert isinstance(stamp, int) and before <= stamp <= int(time.time() * 1000)
