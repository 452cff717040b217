"""``request_record``: a finished request's ``RequestRecord`` for the metrics, log and benchmark code.

One builder with the fields every record has; each caller overrides what its checks are about.
``bench/bench_request_log.py`` times the log line with the same record.
"""

from __future__ import annotations

from typing import Any

from aimux_core.accounting.metrics import Emission
from aimux_core.accounting.record import RequestRecord
from aimux_core.settings import Settings


def request_record(**overrides: Any) -> RequestRecord:
    """A served, non-streamed OpenAI request (ids, route, target, tokens and cost set), with ``overrides``."""
    fields: dict[str, Any] = dict(
        request_id="req_log_1",
        surface="openai",
        status=200,
        latency_ms=431.26,
        key_id="key_7f3a",
        function_request_id="8476a536-e9f4-11e8-9739-2dfe598c3fcd",
        correlation_id="Yf0pVjQ2oAMEVXg=",
        client_model="gpt-4o",
        scenario="default",
        route="default",
        reason="model gpt-4o; default",
        provider="openai",
        model="gpt-4o-2024-08-06",
        attempts=1,
        input_tokens=12,
        output_tokens=34,
        cost_usd=0.000123,
    )
    fields.update(overrides)
    return RequestRecord(**fields)


def emission_from_env() -> Emission:
    """How this process would report under the current environment (``AIMUX_EMF``, Powertools' variables)."""
    return Emission.of(Settings.from_env())
