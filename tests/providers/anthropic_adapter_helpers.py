"""Shared helpers of the ``anthropic`` adapter tests: the key and models, request and call builders,
the ``make`` fixture that builds providers, and the scripted upstream replies."""

from __future__ import annotations

import dataclasses
from collections.abc import AsyncIterator, Callable
from typing import Any

import httpx
import pytest

from aimux_core.presets import preset
from aimux_core.providers.anthropic import AnthropicProvider
from aimux_core.providers.base import RequestContext, UpstreamCall
from aimux_core.providers.transport import Timeouts
from aimux_core.wire.anthropic import MessagesRequest, StreamEvent
from fakes.anthropic_upstream import AnthropicUpstream
from fakes.script import Reply, ToolCall, Usage

KEY = "sk-" "ant-test-0123456789abcdef"
CLIENT_MODEL = "claude-sonnet-4-5"
GENUINE = "EqQBCkgIARABGAIiQL7tc+Zl5Q8bKTW1zJ2n3vX9Qw=="
FAST = Timeouts(connect=2.0, first_byte=5.0, idle=5.0, total=10.0)


def request(**fields: Any) -> MessagesRequest:
    body = {"model": CLIENT_MODEL, "max_tokens": 1024, "messages": [{"role": "user", "content": "hi"}], **fields}
    return MessagesRequest.model_validate(body)


def call(req: MessagesRequest | None = None, *, model: str = "upstream-model", version: str | None = None,
         betas: tuple[str, ...] = ()) -> UpstreamCall:
    context = RequestContext("req_test", anthropic_version=version, betas=list(betas))
    return UpstreamCall(req or request(), model, context)


Make = Callable[..., AnthropicProvider]


@pytest.fixture
def make(upstream_client: httpx.AsyncClient | None) -> Make:
    """Builds providers on this test's client, once per transport path (``conftest.upstream_client``)."""

    def build(fake: AnthropicUpstream | str, name: str = "anthropic", timeouts: Timeouts = FAST,
              **changes: Any) -> AnthropicProvider:
        chosen = dataclasses.replace(preset(name), **changes) if changes else preset(name)
        base_url = fake if isinstance(fake, str) else fake.base_url
        return AnthropicProvider(name, chosen, KEY, base_url=base_url, timeouts=timeouts, client=upstream_client)

    return build


async def collect(stream: AsyncIterator[StreamEvent]) -> list[StreamEvent]:
    return [event async for event in stream]


REPLIES = {
    "text": Reply(text="Hello there, friend. How can I help today?", usage=Usage(30, 12, 5, 7)),
    "tool_use": Reply(text="Listing.", tool_calls=[ToolCall("Bash", {"command": "ls -la", "description": "list"},
                                                            id="toolu_01A")]),
    "parallel": Reply(text=None, tool_calls=[ToolCall("Bash", {"command": "ls"}, id="toolu_01B"),
                                             ToolCall("Read", {"path": "/a"}, id="toolu_01C")]),
    "thinking": Reply(reasoning="Step 1: think hard. Step 2: answer.", signature=GENUINE, text="42"),
    "unicode": Reply(text="naïve café — 日本語 ✓", chunk_size=3,
                     tool_calls=[ToolCall("Echo", {"text": "ünï"}, id="toolu_01D")]),
}
