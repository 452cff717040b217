"""``GET /admin/errors``: failed upstream calls per provider, kind and status; error answers to clients.

Upstream faults come from the fake upstreams (529, 500, an unreadable answer, a refused connection), some
failed over (the client was served), some not; client errors are a bad body and a rate-limit refusal. The
messages are excerpts, redacted: an upstream that echoes the gateway's own key never shows it here.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import anthropic
import httpx
import pytest
from admin_conftest import ANTHROPIC_KEY, OPENAI_KEY, Deployment

from fakes import Fault, Reply
from support.rate_windows import avoid_minute_boundary

PROMPT = [{"role": "user", "content": "hi"}]


def errors(deployment: Deployment, **params: str) -> dict[str, Any]:
    with deployment.admin() as http:
        answer = http.get("/admin/errors", params=params)
    assert answer.status_code == 200, answer.text
    return dict(answer.json())


def test_upstream_and_client_errors_are_grouped_with_redacted_excerpts(deployment: Deployment) -> None:
    avoid_minute_boundary(margin=10.0)  # five requests fill the key's window, the sixth is refused: one minute
    key, key_id = deployment.key("ops", rpm=5)
    deployment.openai.default = Reply(text="ok")
    deployment.anthropic.enqueue(Fault.http(529, message="overloaded ({credential})"))
    claude = anthropic.Anthropic(base_url=deployment.url, api_key=key, max_retries=0)
    served = claude.messages.with_raw_response.create(model="claude-sonnet-4-5", max_tokens=8, messages=PROMPT)
    assert served.headers["x-aimux-provider"] == "openai"  # 529 from anthropic, then openai served
    unreadable = Fault.reshape(lambda payload: {**payload, "content": "not a list"})
    deployment.anthropic.enqueue(unreadable, unreadable)  # both attempts (retry.max_attempts 2)
    with pytest.raises(anthropic.APIStatusError):  # one target, an unreadable answer: nothing served
        claude.messages.create(model="anthropic/claude-sonnet-4-5", max_tokens=8, messages=PROMPT)
    deployment.openai.enqueue(*[Fault.http(500, message="internal {credential}")] * 2)
    with pytest.raises(anthropic.APIStatusError):
        claude.messages.create(model="openai/gpt-4.1", max_tokens=8, messages=PROMPT)
    bad = httpx.post(f"{deployment.url}/v1/messages", headers={"x-api-key": key}, json={"model": "x"})
    assert bad.status_code == 400
    codes = [claude.messages.with_raw_response.create(model="gpt-4.1", max_tokens=8, messages=PROMPT).status_code
             for _ in range(2)]  # fmt: skip
    assert codes == [200] * 2
    with pytest.raises(anthropic.RateLimitError):
        claude.messages.create(model="gpt-4.1", max_tokens=8, messages=PROMPT)

    report = errors(deployment, since="15m")
    assert report["since"].endswith("Z")
    groups = {(g["provider"], g["kind"], g["status"]): g for g in report["groups"]}
    assert set(groups) == {("anthropic", "overloaded", 529), ("anthropic", "malformed_answer", 200),
                           ("openai", "server_error", 500)}  # fmt: skip
    counts = {key: group["count"] for key, group in groups.items()}
    assert counts == {("anthropic", "overloaded", 529): 1, ("anthropic", "malformed_answer", 200): 2,
                      ("openai", "server_error", 500): 2}  # every failed call, retried ones too  # fmt: skip
    assert all(g["last_at"].endswith("Z") for g in groups.values())
    assert groups["anthropic", "overloaded", 529]["models"] == ["claude-sonnet-4-5"]
    assert "overloaded" in groups["anthropic", "overloaded", 529]["last_message"]
    client = {(c["kind"], c["status"]): c for c in report["client_errors"]}
    assert client["invalid_request_error", 400]["count"] == 1 and client["rate_limit_error", 429]["count"] == 1
    assert client["rate_limit_error", 429]["last_key"] == key_id
    assert "rate limit" in client["rate_limit_error", 429]["last_message"]
    answered = {(g["provider"], g["status"]): g["count"] for g in report["gateway_errors"]}
    assert answered == {("anthropic", 502): 1, ("openai", 500): 1}  # the requests nothing could serve
    text = str(report)
    assert ANTHROPIC_KEY not in text and OPENAI_KEY not in text and "[redacted]" in text


def test_since_takes_a_time_or_a_duration_within_a_day(deployment: Deployment) -> None:
    key, _ = deployment.key("ops")
    bad = httpx.post(f"{deployment.url}/v1/messages", headers={"x-api-key": key}, json={"model": "x"})
    assert bad.status_code == 400
    now = datetime.now(UTC)
    assert len(errors(deployment)["client_errors"]) == 1  # default: the last hour
    five_minutes_ago = (now - timedelta(minutes=5)).strftime("%Y-%m-%dT%H:%M:%SZ")
    assert len(errors(deployment, since=five_minutes_ago)["client_errors"]) == 1
    assert errors(deployment, since="24h")["since"] <= (now - timedelta(hours=23)).strftime("%Y-%m-%dT%H:%M:%SZ")
    with deployment.admin() as http:
        for since in ("25h", "yesterday", (now + timedelta(hours=1)).isoformat(), "15x", "2026-13-40T00:00:00Z"):
            answer = http.get("/admin/errors", params={"since": since})
            assert answer.status_code == 400 and answer.json()["error"]["param"] == "since", (since, answer.text)
