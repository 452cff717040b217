"""A provider whose key stops working (upstream 401/403): fail over at once, rest the target for
minutes, tell the operator; never answer 502 while a healthy target exists.

Before, a 401/403 was answered 502 at once (not retryable), so every request on a route with a
healthy second provider failed until the breaker opened, and one more per breaker cooldown after that.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import Any

import anthropic
import openai
import pytest
from failover_conftest import PROMPT, UPSTREAM_KEY, Served, provider_entry

from aimux_core.accounting.metrics import local_metrics
from aimux_core.state import HealthTracker, SystemClock
from fakes import Fault, Reply
from fakes.anthropic_upstream import AnthropicUpstream
from fakes.openai_upstream import OpenAIUpstream
from support.anthropic_grammar import parse_anthropic_sse

pytestmark = pytest.mark.timeout(60)

REFUSAL = {"type": "error", "error": {"type": "authentication_error", "message": f"invalid x-api-key {UPSTREAM_KEY}"}}


def two_providers(first: AnthropicUpstream, second: OpenAIUpstream, **top: Any) -> dict[str, Any]:
    return {
        "providers": {"first": provider_entry(first), "second": provider_entry(second)},
        "models": {
            "first-model": {"provider": "first", "upstream_model": "up-first"},
            "second-model": {"provider": "second", "upstream_model": "up-second"},
        },
        "routes": {"default": [["first-model"], ["second-model"]]},
        **top,
    }


def auth_failures(provider: str) -> float:
    snapshot = local_metrics().snapshot()
    return sum(t.get("ProviderAuthFailures", 0) for t in snapshot["targets"] if t["provider"] == provider)


@pytest.mark.parametrize("status", [401, 403])
@pytest.mark.parametrize("stream", [False, True], ids=["buffered", "stream"])
def test_refused_key_fails_over_at_once_and_rests_the_target(
    anthropic_upstream: AnthropicUpstream,
    openai_upstream: OpenAIUpstream,
    aimux: Callable[..., Served],
    caplog: pytest.LogCaptureFixture,
    status: int,
    stream: bool,
) -> None:
    anthropic_upstream.outage(Fault.http(status, body=REFUSAL), 600)
    openai_upstream.default = Reply(text="served by the second provider")
    served = aimux(two_providers(anthropic_upstream, openai_upstream, cooldown={"auth_failure": 120}))
    before = auth_failures("first")
    client = served.anthropic()
    with caplog.at_level(logging.WARNING, logger="aimux.cooldowns"):
        for turn in range(3):
            kwargs: dict[str, Any] = {"model": "first-model", "max_tokens": 64, "messages": PROMPT}
            if stream:
                with client.messages.with_streaming_response.create(stream=True, **kwargs) as response:
                    headers, events = dict(response.headers), parse_anthropic_sse(b"".join(response.iter_bytes()))
                deltas = [e["delta"]["text"] for e in events if e["type"] == "content_block_delta"]
                assert "".join(deltas) == "served by the second provider"
            else:
                raw = client.messages.with_raw_response.create(**kwargs)
                headers = dict(raw.headers)
                assert raw.parse().content[0].text == "served by the second provider"
            assert headers["x-aimux-provider"] == "second"
            assert headers["x-aimux-attempts"] == ("2" if turn == 0 else "1"), "the resting target is skipped"
    assert len(anthropic_upstream.message_requests) == 1
    # the operator sees it: a log line naming the provider (never the key), a metric, and the stored state
    lines = [r.getMessage() for r in caplog.records if r.name == "aimux.cooldowns"]
    assert len(lines) == 1 and "provider first refused the gateway's credentials" in lines[0]
    assert f"HTTP {status}" in lines[0] and "120s" in lines[0]
    assert UPSTREAM_KEY not in caplog.text
    assert auth_failures("first") == before + 1
    summary = asyncio.run(HealthTracker(served.store, SystemClock()).summary("first/up-first"))
    assert summary.cooldown is not None
    assert (summary.cooldown.reason, summary.cooldown.status) == ("auth_failure", status)
    assert 100 < summary.cooldown.until - summary.cooldown.since <= 120


def test_only_the_failing_provider_is_an_honest_502(
    anthropic_upstream: AnthropicUpstream, aimux: Callable[..., Served]
) -> None:
    """No other target: a 502 naming the provider's refused credentials (not a 401, which the client
    would blame on its own key), no trace of the key, and ``x-should-retry: false`` so the SDK does not
    retry what only an operator can fix (one upstream call, although the SDK may retry twice)."""
    anthropic_upstream.outage(Fault.http(401, body=REFUSAL), 600)
    served = aimux({
        "providers": {"first": provider_entry(anthropic_upstream)},
        "models": {"first-model": {"provider": "first", "upstream_model": "up-first"}},
    })  # fmt: skip
    with pytest.raises(anthropic.APIStatusError) as caught:
        served.anthropic(max_retries=2).messages.create(
            model="first-model", max_tokens=64, messages=[{"role": "user", "content": "hi"}]
        )
    error = caught.value
    assert error.status_code == 502
    body = error.response.json()
    assert body["error"]["type"] == "api_error"
    assert "upstream first answered 401" in body["error"]["message"]
    assert "refused the gateway's credentials" in body["error"]["message"]
    assert UPSTREAM_KEY not in error.response.text
    assert "invalid x-api-key [redacted]" in body["error"]["message"], "the upstream's words, redacted"
    assert error.response.headers["x-should-retry"] == "false"
    assert error.response.headers["x-aimux-attempts"] == "1"
    assert len(anthropic_upstream.message_requests) == 1
    # the next request still tries it (it is the only target): the operator may have fixed the key
    anthropic_upstream.default = Reply(text="key fixed")
    anthropic_upstream.recover()
    headers, message = served.ask("first-model")
    assert message.content[0].text == "key fixed" and headers["x-aimux-route"].endswith("all targets down")


def test_openai_clients_get_the_same_failover(
    anthropic_upstream: AnthropicUpstream, openai_upstream: OpenAIUpstream, aimux: Callable[..., Served]
) -> None:
    anthropic_upstream.outage(Fault.http(403, body=REFUSAL), 600)
    openai_upstream.default = Reply(text="served by the second provider")
    served = aimux(two_providers(anthropic_upstream, openai_upstream))
    raw = served.openai().chat.completions.with_raw_response.create(
        model="first-model", messages=[{"role": "user", "content": "hi"}]
    )
    assert raw.headers["x-aimux-provider"] == "second" and raw.headers["x-aimux-attempts"] == "2"
    assert raw.parse().choices[0].message.content == "served by the second provider"
    with pytest.raises(openai.APIStatusError) as caught:  # only the failing provider, explicitly: an honest 502
        served.openai().chat.completions.create(model="first/up-first", messages=[{"role": "user", "content": "hi"}])
    assert caught.value.status_code == 502 and "refused the gateway's credentials" in caught.value.message
    assert UPSTREAM_KEY not in caught.value.response.text
