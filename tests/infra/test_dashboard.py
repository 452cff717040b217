"""The dashboard and alarms read exactly the metrics the code emits.

CloudWatch files a metric under its full dimension set: a widget or alarm asking for ``Errors`` with
``[service, provider]`` when the code emits ``[service, provider, model]`` shows nothing and never
fires, silently (and moto's CloudWatch matches partial sets, so it would not notice either). So the
template's references are compared with the EMF that ``aimux_core.accounting.metrics`` prints.
"""

from __future__ import annotations

import json
import warnings
from types import SimpleNamespace
from typing import Any

import pytest
from dashboard_refs import MetricRef, alarm_refs, dashboard_refs
from infra_template import load_template, properties, render_sub, resources, sub_body

metrics = pytest.importorskip("aimux_core.accounting.metrics")
from aimux_core.accounting.record import RequestRecord  # noqa: E402
from support.records import emission_from_env  # noqa: E402

GRID_WIDTH = 24
# Metrics the template reads that the code does not emit yet: name -> the dimension sets the code must
# use (see infra/README.md "Metrics"). Once emitted, they are checked like every other metric.
PENDING_IN_CODE: dict[str, set[frozenset[str]]] = {
    "KeyDailySpendUSD": {frozenset({"service", "key_id"}), frozenset({"service"})},
}
PERCENTILES = {"p50", "p90", "p95", "p99", "p99.9"}


@pytest.fixture(scope="module")
def template() -> dict[str, Any]:
    return load_template()


@pytest.fixture(scope="module")
def body(template: dict[str, Any]) -> dict[str, Any]:
    raw = sub_body(properties(template, "GatewayDashboard")["DashboardBody"])
    parsed: dict[str, Any] = json.loads(render_sub(template, raw))
    return parsed


@pytest.fixture(scope="module")
def emitted() -> list[dict[str, Any]]:
    """The EMF documents the code prints for a served stream, a rate-limited request, a breaker opening and
    a refused provider key."""
    served = RequestRecord(
        request_id="req_1", surface="anthropic", status=200, latency_ms=812.5, key_id="team-a", provider="anthropic",
        model="claude-sonnet-4-5", attempts=2, fallbacks=1, stream=True, ttft_ms=240.0, input_tokens=1200,
        output_tokens=350, cache_read_tokens=900, cache_write_tokens=40, cost_usd=0.0123,
    )  # fmt: skip
    refused = RequestRecord(request_id="req_2", surface="openai", status=429, latency_ms=1.5, rate_limited=True)
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("AIMUX_EMF", "1")
        patch.setenv("POWERTOOLS_SERVICE_NAME", "aimux")
        patch.delenv("POWERTOOLS_METRICS_DISABLED", raising=False)
        patch.delenv("POWERTOOLS_DEV", raising=False)
        emission = emission_from_env()
        documents = [metrics.emit_metrics(served, emission), metrics.emit_metrics(refused, emission)]
        transition = SimpleNamespace(key="anthropic", to_state="open", reason="failures")
        with _captured_stdout() as lines:
            metrics.on_breaker_transition(emission, transition)
        documents += [json.loads(line) for line in lines]
        refused = SimpleNamespace(key="anthropic/claude-sonnet-4-5", reason="auth_failure")
        with _captured_stdout() as lines:
            metrics.on_cooldown(emission, refused, SimpleNamespace(upstream_status=401))
        documents += [json.loads(line) for line in lines]
        spend = getattr(metrics, "emit_key_spend", None)  # the pending per-key spend gauge, once it exists
        if spend is not None:
            with _captured_stdout() as lines:
                spend(emission, "team-a", 12.5)
            documents += [json.loads(line) for line in lines]
    assert all(documents), "emit_metrics wrote no EMF although AIMUX_EMF=1"
    return documents


class _captured_stdout:
    def __enter__(self) -> list[str]:
        import io
        import sys

        self._saved, self._buffer = sys.stdout, io.StringIO()
        sys.stdout = self._buffer
        self.lines: list[str] = []
        return self.lines

    def __exit__(self, *exc: object) -> None:
        import sys

        sys.stdout = self._saved
        self.lines += [line for line in self._buffer.getvalue().splitlines() if line.startswith("{")]


def _emitted_keys(documents: list[dict[str, Any]]) -> set[tuple[str, str, frozenset[str]]]:
    keys = set()
    for document in documents:
        for directive in document["_aws"]["CloudWatchMetrics"]:
            for dimension_set in directive["Dimensions"]:
                for metric in directive["Metrics"]:
                    keys.add((directive["Namespace"], metric["Name"], frozenset(dimension_set)))
    return keys


def _all_refs(template: dict[str, Any], body: dict[str, Any]) -> list[MetricRef]:
    refs = dashboard_refs(body)
    for name, alarm in resources(template, "AWS::CloudWatch::Alarm").items():
        refs += alarm_refs(name, alarm["Properties"])
    return refs


def _custom(refs: list[MetricRef]) -> list[MetricRef]:
    return [ref for ref in refs if not ref.namespace.startswith("AWS/")]


def test_dashboard_body_is_json_with_widgets_on_the_grid(body: dict[str, Any]) -> None:
    taken: set[tuple[int, int]] = set()
    for widget in body["widgets"]:
        x, y, width, height = widget["x"], widget["y"], widget["width"], widget["height"]
        assert x >= 0 and x + width <= GRID_WIDTH, widget["properties"].get("title")
        cells = {(col, row) for col in range(x, x + width) for row in range(y, y + height)}
        assert not cells & taken, f"widgets overlap at {widget['properties'].get('title')!r}"
        taken |= cells
        ids = [
            e[0]["id"] if isinstance(e[0], dict) else e[-1].get("id") for e in widget["properties"].get("metrics", [])
        ]
        named = [i for i in ids if i]
        assert len(named) == len(set(named)), f"duplicate metric ids in {widget['properties'].get('title')!r}"
        assert all(i[0].islower() for i in named), "metric ids must start with a lower-case letter"


def test_template_namespace_and_service_are_the_codes(template: dict[str, Any], body: dict[str, Any]) -> None:
    env = template["Globals"]["Function"]["Environment"]["Variables"]
    assert env["POWERTOOLS_METRICS_NAMESPACE"] == metrics.NAMESPACE
    assert env["POWERTOOLS_SERVICE_NAME"] == metrics.DEFAULT_SERVICE
    for ref in _custom(_all_refs(template, body)):
        assert ref.namespace == metrics.NAMESPACE, ref
        assert dict(ref.values).get("service", env["POWERTOOLS_SERVICE_NAME"]) == env["POWERTOOLS_SERVICE_NAME"], ref


def test_emitted_dimension_values_use_the_service_name(emitted: list[dict[str, Any]]) -> None:
    for document in emitted:
        assert document["service"] == "aimux"
        assert {name for d in document["_aws"]["CloudWatchMetrics"] for s in d["Dimensions"] for name in s} <= (
            set(document)
        )


def test_every_reference_is_an_emitted_metric_under_its_exact_dimension_set(
    template: dict[str, Any], body: dict[str, Any], emitted: list[dict[str, Any]]
) -> None:
    emitted_keys = _emitted_keys(emitted)
    emitted_names = {name for _, name, _ in emitted_keys}
    wrong = []
    for ref in _custom(_all_refs(template, body)):
        if ref.metric in PENDING_IN_CODE and ref.metric not in emitted_names:
            if ref.dimensions not in PENDING_IN_CODE[ref.metric]:
                wrong.append(f"{ref.where}: {ref.metric} {sorted(ref.dimensions)} is not the agreed set")
            continue
        if ref.key not in emitted_keys:
            sets = sorted(sorted(dims) for _, name, dims in emitted_keys if name == ref.metric)
            wrong.append(
                f"{ref.where}: {ref.metric} {sorted(ref.dimensions)}; the code emits {sets or 'no such metric'}"
            )
    assert not wrong, "\n".join(wrong)


def test_the_code_emits_exactly_the_agreed_dimension_sets(emitted: list[dict[str, Any]]) -> None:
    agreed = {frozenset(s) for s in metrics.DIMENSION_SETS}
    assert agreed == {frozenset({"service", "provider", "model"}), frozenset({"service"})}
    for _, name, dims in _emitted_keys(emitted):
        expected = PENDING_IN_CODE.get(name, agreed)
        assert dims in expected, (name, sorted(dims))


def test_pending_metrics_are_flagged_until_the_code_emits_them(emitted: list[dict[str, Any]]) -> None:
    emitted_names = {name for _, name, _ in _emitted_keys(emitted)}
    for name, sets in PENDING_IN_CODE.items():
        if name in emitted_names:
            got = {dims for _, metric, dims in _emitted_keys(emitted) if metric == name}
            assert got == sets, f"{name} is emitted with {got}, the template reads {sets}"
        else:
            warnings.warn(f"the template reads {name}, which the code does not emit yet", stacklevel=1)


def test_dashboard_shows_every_metric_the_code_emits(body: dict[str, Any]) -> None:
    shown = {ref.metric for ref in _custom(dashboard_refs(body))}
    emitted = set(metrics.METRICS) | set(metrics.EVENT_METRICS)
    assert emitted <= shown, f"not on the dashboard: {sorted(emitted - shown)}"


def test_dashboard_has_the_breakdowns_and_percentiles_operators_need(body: dict[str, Any]) -> None:
    refs = _custom(dashboard_refs(body))
    per_target = frozenset(metrics.PER_TARGET_DIMENSIONS)
    broken_down = {ref.metric for ref in refs if ref.dimensions == per_target}
    assert {"CostUSD", "Requests", "Errors", "InputTokens", "OutputTokens", "LatencyMs"} <= broken_down
    for timing in metrics.TIMINGS:
        stats = {ref.stat for ref in refs if ref.metric == timing}
        assert {"p50", "p99"} <= stats, f"{timing}: {stats}"


def test_statistics_fit_each_metric(template: dict[str, Any], body: dict[str, Any]) -> None:
    for ref in _custom(_all_refs(template, body)):
        if ref.metric in metrics.TIMINGS:
            assert ref.stat in PERCENTILES | {"Average", "Maximum"}, ref
        elif ref.metric in PENDING_IN_CODE:
            assert ref.stat == "Maximum", ref  # a running total: its latest (largest) value, never a sum
        else:
            assert ref.stat == "Sum", ref  # counts and dollars add up


def test_lambda_errors_throttles_and_duration_for_every_function(
    template: dict[str, Any], body: dict[str, Any]
) -> None:
    functions = set(resources(template, "AWS::Serverless::Function"))
    lambda_refs = [ref for ref in dashboard_refs(body) if ref.namespace == "AWS/Lambda"]
    for metric in ("Errors", "Throttles", "Duration"):
        shown = {dict(ref.values)["FunctionName"] for ref in lambda_refs if ref.metric == metric}
        assert shown == functions, f"AWS/Lambda {metric}: {sorted(shown)} (functions: {sorted(functions)})"


def test_required_alarms_notify_the_topic_parameter(template: dict[str, Any]) -> None:
    alarms = resources(template, "AWS::CloudWatch::Alarm")
    watched = {ref.metric for name, alarm in alarms.items() for ref in alarm_refs(name, alarm["Properties"])}
    assert {"Errors", "Requests", "BreakerOpen", "ProviderAuthFailures", "KeyDailySpendUSD"} <= watched
    for name, alarm in alarms.items():
        props = alarm["Properties"]
        assert "SEARCH(" not in json.dumps(props), f"{name}: SEARCH is not allowed in alarms"
        for actions in ("AlarmActions", "OKActions"):
            assert props[actions] == {
                "Fn::If": ["HasAlarmTopic", [{"Ref": "AlarmTopicArn"}], {"Ref": "AWS::NoValue"}]
            }, f"{name}.{actions}"
        assert props["TreatMissingData"] == "notBreaching", name  # no traffic is not an outage
