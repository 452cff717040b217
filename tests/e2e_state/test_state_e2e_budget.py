"""Budgets end to end: each request's worst case is reserved before the call and its cost settled after.

The mock answers "hi" with 9 input and 6 output tokens, and its input count is aimux's own estimate, so
with ``max_tokens`` 6 a request's worst case on ``big`` is exactly what it costs ($0.117). A key whose
budget cannot cover the next request's worst case steps down to its ``budget_route`` (and ``x-aimux-route``
says why) while that route's worst case still fits, and is otherwise refused with 429 naming the budget and
its reset (the next UTC midnight) and ``x-should-retry: false``, so SDKs do not hammer a budget that cannot
reset for hours.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

import anthropic
import openai
import pytest
from state_e2e_support import COST_BIG, PROMPT, Deployment, anthropic_client, openai_client

pytestmark = pytest.mark.timeout(60)

EXACT = 6  # max_tokens at which the mock's answer to "hi" uses every token it may


def _next_utc_midnight() -> str:
    tomorrow = datetime.now(UTC).date() + timedelta(days=1)
    return f"{tomorrow:%Y-%m-%d}T00:00:00Z"


def test_a_budget_too_low_for_the_next_request_steps_down_to_the_budget_route(deployment: Deployment) -> None:
    plaintext, record = deployment.make_key(budget_daily_usd=0.25, budget_route="budget")
    client = anthropic_client(deployment.url, plaintext)
    for _ in range(2):
        served = client.messages.with_raw_response.create(model="big", max_tokens=EXACT, messages=PROMPT)
        assert served.headers["x-aimux-model"] == "big"
        assert served.headers["x-aimux-route"].startswith("default; route=default;")
        assert float(served.headers["x-aimux-cost-usd"]) == pytest.approx(COST_BIG)

    stepped = client.messages.with_raw_response.create(model="big", max_tokens=EXACT, messages=PROMPT)
    assert stepped.status_code == 200
    assert stepped.headers["x-aimux-model"] == "small"
    route = stepped.headers["x-aimux-route"]
    assert "route=budget" in route
    assert "budget step-down: daily budget of $0.25 has $0.016 left, less than this request may cost ($0.117)" in route
    assert float(stepped.headers["x-aimux-cost-usd"]) < 0.001  # priced at the cheaper model

    openai_stepped = openai_client(deployment.url, plaintext).chat.completions.with_raw_response.create(
        model="big", messages=PROMPT, max_tokens=EXACT
    )
    assert openai_stepped.headers["x-aimux-model"] == "small"
    assert "budget step-down" in openai_stepped.headers["x-aimux-route"]
    expected = 2 * 117_000 + 2 * 39  # small: 9 * $1 + 6 * $5 per million
    assert deployment.wait_for_spend(record.id, expected / 1_000_000) == expected


def test_a_spent_budget_without_a_step_down_route_is_refused_naming_budget_and_reset(deployment: Deployment) -> None:
    plaintext, _ = deployment.make_key(budget_daily_usd=COST_BIG)
    client = anthropic_client(deployment.url, plaintext)
    client.messages.create(model="big", max_tokens=EXACT, messages=PROMPT)

    expected = f"daily budget of $0.117 reached; resets at {_next_utc_midnight()}"
    with pytest.raises(anthropic.RateLimitError) as anthropic_error:
        client.messages.create(model="big", max_tokens=EXACT, messages=PROMPT)
    refused = anthropic_error.value
    assert refused.body["error"] == {"type": "rate_limit_error", "message": expected}  # type: ignore[index]
    assert refused.response.headers["x-should-retry"] == "false"
    assert int(refused.response.headers["retry-after"]) >= 1

    with pytest.raises(openai.RateLimitError) as openai_error:
        openai_client(deployment.url, plaintext).chat.completions.create(model="big", messages=PROMPT)
    assert openai_error.value.body["message"] == expected  # type: ignore[index]
    assert openai_error.value.code == "rate_limit_exceeded"


def test_a_request_that_may_cost_more_than_is_left_is_refused_with_its_worst_case(deployment: Deployment) -> None:
    plaintext, record = deployment.make_key(budget_daily_usd=1.0)
    with pytest.raises(anthropic.RateLimitError) as refused:
        anthropic_client(deployment.url, plaintext).messages.create(model="big", max_tokens=100, messages=PROMPT)
    message = refused.value.body["error"]["message"]  # type: ignore[index]
    assert message == (
        "daily budget of $1.00 cannot cover this request: it may cost up to $1.527 (its input and max_tokens at "
        f"the model's prices) and $1.00 is left; resets at {_next_utc_midnight()}"
    )  # 9 input tokens at $3,000 and 100 output tokens at $15,000 per million
    assert deployment.spent_micro(record.id) == 0


def test_an_openai_request_without_max_tokens_reserves_the_default_the_gateway_applies(
    deployment: Deployment,
) -> None:
    """The OpenAI surface fills a missing ``max_tokens`` with the model's ``max_output`` (4096 on ``big``)."""
    plaintext, _ = deployment.make_key(budget_daily_usd=50.0)
    client = openai_client(deployment.url, plaintext)
    with pytest.raises(openai.RateLimitError) as refused:
        client.chat.completions.create(model="big", messages=PROMPT)
    worst = re.search(r"may cost up to \$([\d.,]+)", refused.value.body["message"])  # type: ignore[index]
    assert worst is not None  # 4096 output tokens at $0.015 per thousand, plus the input
    assert float(worst.group(1).replace(",", "")) == pytest.approx(61.467)
    answer = client.chat.completions.with_raw_response.create(model="big", messages=PROMPT, max_tokens=EXACT)
    assert answer.status_code == 200 and answer.headers["x-aimux-model"] == "big"


def test_budget_is_per_key(deployment: Deployment) -> None:
    """A spent budget on one key leaves another key's requests on the default route."""
    spent, _ = deployment.make_key(budget_daily_usd=COST_BIG)
    fresh, _ = deployment.make_key(budget_daily_usd=COST_BIG)
    anthropic_client(deployment.url, spent).messages.create(model="big", max_tokens=EXACT, messages=PROMPT)
    with pytest.raises(anthropic.RateLimitError):
        anthropic_client(deployment.url, spent).messages.create(model="big", max_tokens=EXACT, messages=PROMPT)
    answer = anthropic_client(deployment.url, fresh).messages.with_raw_response.create(
        model="big", max_tokens=EXACT, messages=PROMPT
    )
    assert answer.headers["x-aimux-model"] == "big"
