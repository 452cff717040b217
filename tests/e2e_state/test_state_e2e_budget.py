"""Budgets end to end: spend accrues after answers; once a key's daily budget is spent it steps down or is refused.

Spend is written in the background after the answer (the client never waits for it), so each test polls the
ledger until the write landed before sending the request that must see it. A key with a step-down route (its
own ``budget_route``) is then served by the cheaper route and ``x-aimux-route`` says why; a key without one
gets 429 naming the budget and when it resets (the next UTC midnight), and ``x-should-retry: false`` so the
SDKs do not hammer a budget that cannot reset for hours.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import anthropic
import openai
import pytest
from state_e2e_support import COST_BIG, DAILY_BUDGET, PROMPT, Deployment, anthropic_client, openai_client

pytestmark = pytest.mark.timeout(60)


def _next_utc_midnight() -> str:
    tomorrow = datetime.now(UTC).date() + timedelta(days=1)
    return f"{tomorrow:%Y-%m-%d}T00:00:00Z"


def test_spend_accrues_then_the_key_steps_down_to_its_budget_route(deployment: Deployment) -> None:
    plaintext, record = deployment.make_key(budget_daily_usd=DAILY_BUDGET, budget_route="budget")
    client = anthropic_client(deployment.url, plaintext)

    first = client.messages.with_raw_response.create(model="big", max_tokens=16, messages=PROMPT)
    assert first.headers["x-aimux-model"] == "big"
    assert first.headers["x-aimux-route"].startswith("default; route=default;")
    assert float(first.headers["x-aimux-cost-usd"]) == pytest.approx(COST_BIG)
    assert deployment.wait_for_spend(record.id, COST_BIG) == round(COST_BIG * 1_000_000)

    stepped = client.messages.with_raw_response.create(model="big", max_tokens=16, messages=PROMPT)
    assert stepped.status_code == 200
    assert stepped.headers["x-aimux-model"] == "small"
    route = stepped.headers["x-aimux-route"]
    assert "route=budget" in route
    assert "budget step-down: daily budget of $0.10 reached" in route
    assert float(stepped.headers["x-aimux-cost-usd"]) < 0.001  # priced at the cheaper model

    openai_stepped = openai_client(deployment.url, plaintext).chat.completions.with_raw_response.create(
        model="big", messages=PROMPT
    )
    assert openai_stepped.headers["x-aimux-model"] == "small"
    assert "budget step-down" in openai_stepped.headers["x-aimux-route"]


def test_key_without_a_step_down_route_is_refused_naming_budget_and_reset(deployment: Deployment) -> None:
    plaintext, record = deployment.make_key(budget_daily_usd=DAILY_BUDGET)
    client = anthropic_client(deployment.url, plaintext)
    client.messages.create(model="big", max_tokens=16, messages=PROMPT)
    deployment.wait_for_spend(record.id, COST_BIG)

    expected = f"daily budget of $0.10 reached; resets at {_next_utc_midnight()}"
    with pytest.raises(anthropic.RateLimitError) as anthropic_error:
        client.messages.create(model="big", max_tokens=16, messages=PROMPT)
    refused = anthropic_error.value
    assert refused.body["error"] == {"type": "rate_limit_error", "message": expected}  # type: ignore[index]
    assert refused.response.headers["x-should-retry"] == "false"
    assert int(refused.response.headers["retry-after"]) >= 1

    with pytest.raises(openai.RateLimitError) as openai_error:
        openai_client(deployment.url, plaintext).chat.completions.create(model="big", messages=PROMPT)
    assert openai_error.value.body["message"] == expected  # type: ignore[index]
    assert openai_error.value.code == "rate_limit_exceeded"


def test_budget_is_per_key(deployment: Deployment) -> None:
    """A spent budget on one key leaves another key's requests on the default route."""
    spent, record = deployment.make_key(budget_daily_usd=DAILY_BUDGET)
    fresh, _ = deployment.make_key(budget_daily_usd=DAILY_BUDGET)
    anthropic_client(deployment.url, spent).messages.create(model="big", max_tokens=16, messages=PROMPT)
    deployment.wait_for_spend(record.id, COST_BIG)
    with pytest.raises(anthropic.RateLimitError):
        anthropic_client(deployment.url, spent).messages.create(model="big", max_tokens=16, messages=PROMPT)
    answer = anthropic_client(deployment.url, fresh).messages.with_raw_response.create(
        model="big", max_tokens=16, messages=PROMPT
    )
    assert answer.headers["x-aimux-model"] == "big"
