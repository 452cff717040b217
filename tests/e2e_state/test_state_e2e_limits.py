"""Per-key rate limits end to end: the window headers on every answer, and the 429 past the key's rpm.

What a client relies on: the limit it was given, what is left, when the window resets and, on a refusal,
``retry-after``, each spelled the way its own SDK family expects (Anthropic: RFC 3339 reset instants;
OpenAI: Go-style durations). The official SDKs must turn the refusal into ``RateLimitError``.
"""

from __future__ import annotations

import re
import time
from datetime import UTC, datetime

import anthropic
import httpx
import openai
import pytest
from state_e2e_support import (
    COST_BIG,
    HTTP_TIMEOUT,
    PROMPT,
    Deployment,
    anthropic_client,
    openai_client,
)

from support.rate_windows import avoid_minute_boundary

pytestmark = pytest.mark.timeout(60)

_DURATION = re.compile(r"^(?:(\d+)h)?(?:(\d+)m(?!s))?(?:(\d+(?:\.\d+)?)s)?(?:(\d+)ms)?$")


def _seconds(duration: str) -> float:
    """An OpenAI reset duration (``42s``, ``1m0s``, ``250ms``) in seconds."""
    match = _DURATION.match(duration)
    assert match is not None and duration, f"not a duration: {duration!r}"
    hours, minutes, seconds, millis = match.groups()
    return int(hours or 0) * 3600 + int(minutes or 0) * 60 + float(seconds or 0) + int(millis or 0) / 1000


def _instant(rfc3339: str) -> float:
    return datetime.strptime(rfc3339, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC).timestamp()


def _check_anthropic_window(headers: httpx.Headers, *, limit: int, remaining: int) -> None:
    assert headers["anthropic-ratelimit-requests-limit"] == str(limit)
    assert headers["anthropic-ratelimit-requests-remaining"] == str(remaining)
    reset = _instant(headers["anthropic-ratelimit-requests-reset"])
    assert time.time() - 1 < reset <= time.time() + 61  # the end of the current minute window


def _check_openai_window(headers: httpx.Headers, *, limit: int, remaining: int) -> None:
    assert headers["x-ratelimit-limit-requests"] == str(limit)
    assert headers["x-ratelimit-remaining-requests"] == str(remaining)
    assert 0 < _seconds(headers["x-ratelimit-reset-requests"]) <= 60


def test_answers_carry_window_and_cost_headers(deployment: Deployment) -> None:
    avoid_minute_boundary()
    plaintext, _ = deployment.make_key(rpm=10, tpm=100_000)

    answer = anthropic_client(deployment.url, plaintext).messages.with_raw_response.create(
        model="big", max_tokens=16, messages=PROMPT
    )
    assert answer.status_code == 200
    headers = httpx.Headers(dict(answer.headers))
    _check_anthropic_window(headers, limit=10, remaining=9)
    assert headers["anthropic-ratelimit-tokens-limit"] == "100000"
    assert int(headers["anthropic-ratelimit-tokens-remaining"]) % 1000 == 0  # rounded down, as Anthropic does
    assert float(headers["x-aimux-cost-usd"]) == pytest.approx(COST_BIG)
    assert "retry-after" not in headers

    raw = openai_client(deployment.url, plaintext).chat.completions.with_raw_response.create(
        model="big", messages=PROMPT
    )
    headers = httpx.Headers(dict(raw.headers))
    _check_openai_window(headers, limit=10, remaining=8)
    assert headers["x-ratelimit-limit-tokens"] == "100000"
    assert 0 < int(headers["x-ratelimit-remaining-tokens"]) < 100_000
    assert float(headers["x-aimux-cost-usd"]) == pytest.approx(COST_BIG)


def test_streamed_answer_carries_window_headers(deployment: Deployment) -> None:
    avoid_minute_boundary()
    plaintext, _ = deployment.make_key(rpm=5)
    body = {"model": "big", "max_tokens": 16, "messages": PROMPT, "stream": True}
    with httpx.stream(
        "POST", f"{deployment.url}/v1/messages", json=body, headers={"x-api-key": plaintext}, timeout=HTTP_TIMEOUT
    ) as response:
        assert response.status_code == 200
        _check_anthropic_window(response.headers, limit=5, remaining=4)
        assert "event: message_stop" in response.read().decode()


def test_over_rpm_is_429_with_window_headers_in_both_dialects(deployment: Deployment) -> None:
    avoid_minute_boundary()
    plaintext, _ = deployment.make_key(rpm=2)
    client = anthropic_client(deployment.url, plaintext)
    for _ in range(2):
        client.messages.create(model="big", max_tokens=16, messages=PROMPT)

    with pytest.raises(anthropic.RateLimitError) as anthropic_error:
        client.messages.create(model="big", max_tokens=16, messages=PROMPT)
    refused = anthropic_error.value
    assert refused.status_code == 429
    assert refused.body["error"]["type"] == "rate_limit_error"  # type: ignore[index]
    assert "rate limit of 2 requests per minute reached for this API key" in refused.message
    _check_anthropic_window(refused.response.headers, limit=2, remaining=0)
    assert 1 <= int(refused.response.headers["retry-after"]) <= 60

    with pytest.raises(openai.RateLimitError) as openai_error:
        openai_client(deployment.url, plaintext).chat.completions.create(model="big", messages=PROMPT)
    refused_openai = openai_error.value
    assert refused_openai.status_code == 429
    assert refused_openai.type == "rate_limit_error"
    assert "resets at" in refused_openai.message
    _check_openai_window(refused_openai.response.headers, limit=2, remaining=0)
    assert 1 <= int(refused_openai.response.headers["retry-after"]) <= 60


def test_rpm_is_per_key(deployment: Deployment) -> None:
    """One key at its limit does not spend another key's window."""
    avoid_minute_boundary()
    limited, _ = deployment.make_key(rpm=1)
    other, _ = deployment.make_key(rpm=1)
    client = anthropic_client(deployment.url, limited)
    client.messages.create(model="big", max_tokens=16, messages=PROMPT)
    with pytest.raises(anthropic.RateLimitError):
        client.messages.create(model="big", max_tokens=16, messages=PROMPT)
    assert anthropic_client(deployment.url, other).messages.create(model="big", max_tokens=16, messages=PROMPT)
