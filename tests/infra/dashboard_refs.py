"""The metrics a CloudWatch dashboard body and the template's alarms refer to, as plain records.

A dashboard widget names a metric either directly (``[namespace, name, dim, value, ..., {options}]``)
or through a ``SEARCH('{Namespace,dim1,dim2} MetricName="X"', 'Stat', period)`` expression, whose
schema is the metric's exact dimension set. Alarms name one metric (``Namespace``/``MetricName``/
``Dimensions``) or several under ``Metrics[].MetricStat``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

SEARCH = re.compile(r"SEARCH\(\s*'\{(?P<schema>[^}]*)\}\s*MetricName=\"(?P<metric>[^\"]+)\"'\s*,\s*'(?P<stat>[^']+)'")


@dataclass(frozen=True)
class MetricRef:
    namespace: str
    metric: str
    dimensions: frozenset[str]
    stat: str | None
    where: str
    values: tuple[tuple[str, str], ...] = field(default=())  # dimension values, when named directly

    @property
    def key(self) -> tuple[str, str, frozenset[str]]:
        return self.namespace, self.metric, self.dimensions


def widget_refs(widget: dict[str, Any]) -> list[MetricRef]:
    props = widget.get("properties", {})
    where = f"widget {props.get('title', '?')!r}"
    default_stat = props.get("stat")
    refs: list[MetricRef] = []
    for entry in props.get("metrics", []):
        if entry and isinstance(entry[0], dict):  # an expression
            for match in SEARCH.finditer(entry[0].get("expression", "")):
                namespace, *dims = [part.strip() for part in match.group("schema").split(",")]
                refs.append(MetricRef(namespace, match.group("metric"), frozenset(dims), match.group("stat"), where))
            continue
        options = entry[-1] if isinstance(entry[-1], dict) else {}
        names = entry[:-1] if options else entry
        namespace, metric, *pairs = names
        assert len(pairs) % 2 == 0, f"{where}: dimension names and values must pair up: {entry}"
        values = tuple(zip(pairs[::2], pairs[1::2], strict=True))
        stat = options.get("stat", default_stat)
        refs.append(MetricRef(namespace, metric, frozenset(pairs[::2]), stat, where, values))
    return refs


def dashboard_refs(body: dict[str, Any]) -> list[MetricRef]:
    return [ref for widget in body["widgets"] if widget["type"] == "metric" for ref in widget_refs(widget)]


def _stat_ref(metric: dict[str, Any], stat: str | None, where: str) -> MetricRef:
    dims = metric.get("Dimensions") or []
    values = tuple((d["Name"], d["Value"]) for d in dims if isinstance(d.get("Value"), str))
    return MetricRef(metric["Namespace"], metric["MetricName"], frozenset(d["Name"] for d in dims), stat, where, values)


def alarm_refs(name: str, props: dict[str, Any]) -> list[MetricRef]:
    where = f"alarm {name}"
    if "MetricName" in props:
        return [_stat_ref(props, props.get("Statistic") or props.get("ExtendedStatistic"), where)]
    refs = []
    for query in props.get("Metrics", []):
        if "MetricStat" in query:
            refs.append(_stat_ref(query["MetricStat"]["Metric"], query["MetricStat"].get("Stat"), where))
    return refs
