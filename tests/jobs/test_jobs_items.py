"""One stored request served off the request path (``jobs/items.py``): what is an answer, what is retried."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

import pytest

from aimux_core.accounting.metrics import Emission
from aimux_core.assembly import build_mock_gateway
from aimux_core.errors import InvalidRequest, Overloaded, RateLimited, UpstreamError
from aimux_core.jobs.items import MAX_ATTEMPTS, Retry, RunContext, retry_delay, run
from aimux_core.jobs.ledger import Ledger
from aimux_core.keys.record import ApiKeyRecord
from aimux_core.limits.budget import BudgetExceeded
from aimux_core.surfaces.exchange import off_path_exchanges

CONTEXT = RunContext("anthropic")
BODY = {"model": "aimux-mock", "max_tokens": 16, "messages": [{"role": "user", "content": "hi"}]}


def key(**fields: object) -> ApiKeyRecord:
    return ApiKeyRecord(id="key_0123456789ab", name="k", key_hash="0" * 64, created_at=0.0, **fields)  # type: ignore[arg-type]


def ledger(dialect: str = "anthropic") -> Ledger:
    return off_path_exchanges(Emission())(dialect, "req_t")  # type: ignore[arg-type]


async def no_project(record: ApiKeyRecord) -> None:
    """The project lookup of keys without one (``Jobs.project_of``'s answer for them)."""
    return None


def serve(body: dict[str, object], record: ApiKeyRecord | None, owner: str, dialect: str = "anthropic") -> object:
    context = RunContext(dialect)  # type: ignore[arg-type]
    return asyncio.run(
        run(
            build_mock_gateway(),
            record,
            context,
            body,
            "req_t",
            ledger=ledger(dialect),
            projects=no_project,
            owner=owner,
        )
    )


def test_the_answer_comes_in_the_callers_dialect() -> None:
    answer = serve(BODY, None, "-")
    assert answer.status == 200 and answer.body["type"] == "message"  # type: ignore[attr-defined]
    chat = serve({"model": "aimux-mock", "messages": [{"role": "user", "content": "hi"}]}, None, "-", "openai")
    assert chat.status == 200 and chat.body["object"] == "chat.completion"  # type: ignore[attr-defined]


def test_a_key_deleted_or_disabled_since_the_work_was_sent_is_refused_as_live() -> None:
    gone = serve(BODY, None, "key_0123456789ab")
    assert gone.status == 401 and gone.body["error"]["type"] == "authentication_error"  # type: ignore[attr-defined]
    disabled = serve(BODY, key(disabled=True), "key_0123456789ab")
    assert disabled.status == 403 and disabled.body["error"]["type"] == "permission_error"  # type: ignore[attr-defined]
    narrow = serve(BODY, key(allowed_models=("claude-*",)), "key_0123456789ab", "openai")
    assert narrow.status == 403 and narrow.body["error"]["code"] == "permission_denied"  # type: ignore[attr-defined]


def test_an_invalid_stored_body_is_a_400_naming_the_field() -> None:
    answer = serve({"model": "aimux-mock", "messages": []}, None, "-")
    assert answer.status == 400 and answer.body["error"]["message"].startswith("max_tokens")  # type: ignore[attr-defined]


def test_a_retryable_upstream_failure_is_retried_then_answered() -> None:
    failing = {**BODY, "messages": [{"role": "user", "content": "[[mock:error:529]]"}]}
    with pytest.raises(Retry) as retried:
        asyncio.run(
            run(build_mock_gateway(), None, CONTEXT, failing, "req_t", ledger=ledger(), projects=no_project, attempt=1)
        )
    assert retried.value.after > 0
    gateway = build_mock_gateway()
    last = asyncio.run(
        run(gateway, None, CONTEXT, failing, "req_t", ledger=ledger(), projects=no_project, attempt=MAX_ATTEMPTS)
    )
    assert last.status == 529 and last.body["error"]["type"] == "overloaded_error"


def test_what_is_worth_another_attempt() -> None:
    budget = BudgetExceeded(
        "over budget",
        budget="daily",
        resets_at=datetime(2030, 1, 1, tzinfo=UTC),  # type: ignore[arg-type]
        retry_after=3600,
    )
    assert retry_delay(budget, 1) is None
    assert retry_delay(InvalidRequest("bad"), 1) is None
    assert retry_delay(UpstreamError("400", provider="p", retryable=False, status=400), 1) is None
    assert retry_delay(RateLimited("window", retry_after=42), 1) == 42
    assert retry_delay(Overloaded("busy"), 1) == 10.0
    assert retry_delay(UpstreamError("reset", provider="p"), 2) == 30.0
    assert retry_delay(Overloaded("busy"), MAX_ATTEMPTS) is None
