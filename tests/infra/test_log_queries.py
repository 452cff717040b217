"""The saved Logs Insights queries and the dashboard's project widgets read fields the request log line has.

A query that names a field the line does not carry (``projects`` for ``project``, a field renamed in
``accounting/request_log.py``) returns nothing, silently; so each query's field names are compared with
``log_fields`` of a real record. The queries read both client log groups (buffered and streaming).
"""

from __future__ import annotations

import json
import re
from typing import Any

import pytest
from infra_template import load_template, properties, render_sub, resources, sub_body

from aimux_core.accounting.record import RequestRecord
from aimux_core.accounting.request_log import log_fields

# Logs Insights words and the values the queries compare with, not fields of the line.
SYNTAX = {
    "filter", "stats", "sum", "count", "count_distinct", "avg", "as", "by", "sort", "desc", "limit", "and",
    "ispresent", "bin", "source", "request", "h",
}  # fmt: skip
LINE_FIELDS = set(log_fields(RequestRecord(request_id="req_1", surface="anthropic", status=200, latency_ms=1.0)))
LINE_FIELDS |= {"message"}  # Powertools' key: "request" on every request line


@pytest.fixture(scope="module")
def template() -> dict[str, Any]:
    return load_template()


def fields_of(query: str) -> set[str]:
    """The line fields a query reads: its words, less the syntax, the aliases it defines and quoted text."""
    unquoted = re.sub(r"'[^']*'", "''", query)
    words = set(re.findall(r"\b[a-z_]+\b", unquoted))
    aliases = set(re.findall(r"\bas\s+([a-z_]+)", unquoted))
    return words - SYNTAX - aliases


def test_saved_queries_cost_by_key_project_and_model(template: dict[str, Any]) -> None:
    queries = resources(template, "AWS::Logs::QueryDefinition")
    by_name = {sub_body(q["Properties"]["Name"]).rsplit("/", 1)[-1]: q["Properties"] for q in queries.values()}
    assert set(by_name) == {"cost-by-key", "cost-by-project", "cost-by-model"}
    groups = {"cost-by-key": {"key_id"}, "cost-by-project": {"project"}, "cost-by-model": {"provider", "model"}}
    for name, props in by_name.items():
        # the worker's too: batch requests and async jobs log the same request lines
        assert props["LogGroupNames"] == [{"Ref": f"{fn}LogGroup"} for fn in ("Messages", "Stream", "Worker")], name
        query = props["QueryString"]
        assert fields_of(query) <= LINE_FIELDS, (name, fields_of(query) - LINE_FIELDS)
        by = query.split(" by ", 1)[1].split("|", 1)[0]
        assert groups[name] <= {part.strip() for part in by.split(",")}, name
        assert "sum(cost_usd)" in query and "filter message = 'request'" in query


def test_dashboard_has_a_project_view_over_the_request_log_groups(template: dict[str, Any]) -> None:
    body = json.loads(render_sub(template, sub_body(properties(template, "GatewayDashboard")["DashboardBody"])))
    logs = [widget for widget in body["widgets"] if widget["type"] == "log"]
    assert logs, "no Logs Insights widget on the dashboard"
    for widget in logs:
        query = widget["properties"]["query"]
        assert all(f"SOURCE '{fn}LogGroup'" in query for fn in ("Messages", "Stream", "Worker")), query
        assert "by project" in query and "sum(cost_usd)" in query
        assert fields_of(query.split("| filter", 1)[1]) <= LINE_FIELDS, widget["properties"]["title"]
