"""``POST /v1/messages/count_tokens``: exact where the routed upstream can count, estimated elsewhere.

A request routed to an Anthropic-dialect target whose preset implements count_tokens (first-party
Anthropic) is counted by that target; any other dialect, an upstream error, or a stall gives the
local estimate. The answer says which: ``x-aimux-token-count: upstream|estimate``. Either way the
client gets a count, never an error (Claude Code's ``/context`` needs one).
"""

from __future__ import annotations

from typing import Any

import anthropic
import pytest

from fakes import Fault
from support.gateway_builder import UPSTREAMS

MESSAGES = [{"role": "user", "content": "How many tokens is this sentence, roughly?"}]
TOOLS = [{"name": "Bash", "description": "Run a command.",
          "input_schema": {"type": "object", "properties": {"command": {"type": "string"}}}}]


def count(client: anthropic.Anthropic, model: str, **extra: Any) -> tuple[int, str]:
    raw = client.messages.with_raw_response.count_tokens(model=model, messages=MESSAGES, tools=TOOLS, **extra)
    return raw.parse().input_tokens, raw.headers["x-aimux-token-count"]


def test_anthropic_target_counts_exactly(aimux: Any, anthropic_client: anthropic.Anthropic) -> None:
    fake = aimux.fakes.anthropic
    fake.enqueue_count_tokens(4321)
    assert count(anthropic_client, UPSTREAMS["anthropic"].model) == (4321, "upstream")
    (sent,) = [r for r in fake.requests if r.path == "/v1/messages/count_tokens"]
    assert sent.json["model"] == UPSTREAMS["anthropic"].upstream_model, "the target's own model id"
    assert sent.json["messages"] == MESSAGES and sent.json["tools"][0]["name"] == "Bash"
    assert "max_tokens" not in sent.json and sent.headers["x-api-key"] != "sk-client-anthropic"


@pytest.mark.parametrize("upstream", ["openai", "deepseek", "bedrock"])
def test_other_dialects_are_estimated_without_an_upstream_call(upstream: str, aimux: Any,
                                                               anthropic_client: anthropic.Anthropic) -> None:
    aimux.require(upstream)
    tokens, source = count(anthropic_client, UPSTREAMS[upstream].model)
    assert source == "estimate" and tokens > 0
    assert not aimux.fakes.of(upstream).requests


@pytest.mark.parametrize("fault", [Fault.http(529), Fault.http(500), Fault.stall(3.0)], ids=["529", "500", "stall"])
def test_upstream_failure_falls_back_to_the_estimate(fault: Fault, aimux: Any,
                                                     anthropic_client: anthropic.Anthropic) -> None:
    aimux.fakes.anthropic.enqueue_count_tokens(fault)
    tokens, source = count(anthropic_client, UPSTREAMS["anthropic"].fast_model)  # short timeouts: a stall ends fast
    assert source == "estimate" and tokens > 0


def test_estimate_matches_what_the_same_request_is_estimated_at(aimux: Any,
                                                                anthropic_client: anthropic.Anthropic) -> None:
    """The fallback is the same local estimate as before, not a made-up number."""
    estimated, _ = count(anthropic_client, UPSTREAMS["openai"].model)
    aimux.fakes.anthropic.enqueue_count_tokens(Fault.http(529))
    assert count(anthropic_client, UPSTREAMS["anthropic"].model) == (estimated, "estimate")
