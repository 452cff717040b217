"""``max_tokens`` above the model's configured ``max_output`` is clamped to it, on every dialect.

Claude Code asks for ``max_tokens: 128000`` whatever the model; most models answer 400 above their
output limit. The conformance catalog gives every model the default ``max_output`` (64000), so the
upstream must receive at most that, in its own field, and an ``enabled`` thinking budget below it.
"""

from __future__ import annotations

from typing import Any

import anthropic
import openai
import pytest

from fakes import Reply
from support.gateway_builder import UPSTREAMS
from support.upstream_view import upstream_view
from support.wire_tap import WireTap

CLAUDE_CODE_MAX_TOKENS = 128_000
MAX_OUTPUT = 64_000  # ModelEntry's default max_output, which the conformance catalog keeps
UPSTREAM_NAMES = ("anthropic", "openai", "deepseek", "bedrock")


def _sent(aimux: Any, upstream: str) -> Any:
    fake = aimux.fakes.of(upstream)
    (request,) = fake.message_requests if hasattr(fake, "message_requests") else fake.requests
    field = "max_completion_tokens" if upstream == "openai" else "max_tokens"
    return upstream_view(UPSTREAMS[upstream].dialect, request, max_tokens_field=field)


@pytest.mark.parametrize("upstream", UPSTREAM_NAMES)
def test_anthropic_client_max_tokens_is_clamped(upstream: str, aimux: Any,
                                                anthropic_client: anthropic.Anthropic) -> None:
    aimux.require(upstream)
    aimux.fakes.of(upstream).enqueue(Reply(text="ok"))
    anthropic_client.messages.create(model=UPSTREAMS[upstream].model, max_tokens=CLAUDE_CODE_MAX_TOKENS,
                                     messages=[{"role": "user", "content": "hi"}])
    assert _sent(aimux, upstream).max_tokens == MAX_OUTPUT


@pytest.mark.parametrize("upstream", UPSTREAM_NAMES)
def test_openai_client_max_completion_tokens_is_clamped(upstream: str, aimux: Any, tap: WireTap,
                                                         openai_client: openai.OpenAI) -> None:
    aimux.require(upstream)
    aimux.fakes.of(upstream).enqueue(Reply(text="ok"))
    openai_client.chat.completions.create(model=UPSTREAMS[upstream].model,
                                          max_completion_tokens=CLAUDE_CODE_MAX_TOKENS,
                                          messages=[{"role": "user", "content": "hi"}])
    assert _sent(aimux, upstream).max_tokens == MAX_OUTPUT


@pytest.mark.parametrize("upstream", ["anthropic", "bedrock"])
def test_thinking_budget_stays_below_the_clamped_max_tokens(upstream: str, aimux: Any,
                                                            anthropic_client: anthropic.Anthropic) -> None:
    aimux.require(upstream)
    aimux.fakes.of(upstream).enqueue(Reply(text="ok"))
    anthropic_client.messages.create(model=UPSTREAMS[upstream].model, max_tokens=CLAUDE_CODE_MAX_TOKENS,
                                     thinking={"type": "enabled", "budget_tokens": 100_000},
                                     messages=[{"role": "user", "content": "hi"}])
    view = _sent(aimux, upstream)
    thinking = view.body.get("thinking") or (view.body.get("additionalModelRequestFields") or {}).get("thinking")
    assert view.max_tokens == MAX_OUTPUT
    assert thinking == {"type": "enabled", "budget_tokens": MAX_OUTPUT - 1}


def test_max_tokens_within_the_limit_is_sent_unchanged(aimux: Any, anthropic_client: anthropic.Anthropic) -> None:
    aimux.fakes.anthropic.enqueue(Reply(text="ok"))
    anthropic_client.messages.create(model=UPSTREAMS["anthropic"].model, max_tokens=MAX_OUTPUT,
                                     messages=[{"role": "user", "content": "hi"}])
    assert _sent(aimux, "anthropic").max_tokens == MAX_OUTPUT
