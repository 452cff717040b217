"""Buffered (non-streaming) upstream calls: ``first_byte`` bounds the wait for the answer's headers,
``idle`` the silences while its body arrives, so a stalled provider fails over in seconds, not after
``total``.

A provider sends a buffered answer's headers only once it has generated all of it, so the header wait
also allows ``max_tokens`` at ``min_output_rate`` tokens per second: a slow but working upstream is
not cut. Every adapter is driven against its fake with the fakes' ``stall`` fault; ``total`` is long
(20 s) in every case, so an error that names the header wait or the idle gap was not ``total``'s.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest

from aimux_core.errors import UpstreamError
from aimux_core.presets import preset
from aimux_core.providers.anthropic import AnthropicProvider
from aimux_core.providers.base import RequestContext, UpstreamCall
from aimux_core.providers.openai import OpenAIProvider
from aimux_core.providers.transport import Timeouts
from aimux_core.wire.anthropic import MessagesRequest
from fakes import Fault, Reply
from fakes.anthropic_upstream import AnthropicUpstream
from fakes.bedrock_upstream import BedrockUpstream
from fakes.openai_upstream import OpenAIUpstream

pytestmark = [pytest.mark.anyio, pytest.mark.timeout(30)]

STRICT = Timeouts(connect=2, first_byte=0.3, idle=0.3, total=20, min_output_rate=None)


@pytest.fixture
def http(upstream_client: httpx.AsyncClient | None) -> httpx.AsyncClient | None:
    return upstream_client  # both transport paths (conftest)


Fake = AnthropicUpstream | OpenAIUpstream
Build = Callable[[Fake, Timeouts], Any]


def anthropic_adapter(client: httpx.AsyncClient) -> Build:
    return lambda fake, t: AnthropicProvider("anthropic", preset("anthropic"), "sk-k", base_url=fake.base_url,
                                             timeouts=t, client=client)  # fmt: skip


def openai_adapter(client: httpx.AsyncClient) -> Build:
    return lambda fake, t: OpenAIProvider("openai", preset("openai"), "sk-k", base_url=fake.base_url,
                                          timeouts=t, client=client)  # fmt: skip


@pytest.fixture(params=["anthropic", "openai"])
def adapter(
    request: pytest.FixtureRequest,
    http: httpx.AsyncClient,
    anthropic_upstream: AnthropicUpstream,
    openai_upstream: OpenAIUpstream,
) -> tuple[Fake, Build]:
    if request.param == "anthropic":
        return anthropic_upstream, anthropic_adapter(http)
    return openai_upstream, openai_adapter(http)


def call(max_tokens: int = 16) -> UpstreamCall:
    request = MessagesRequest.model_validate(
        {"model": "m", "max_tokens": max_tokens, "messages": [{"role": "user", "content": "hi"}]}
    )
    return UpstreamCall(request, "m", RequestContext(request_id="req_t"))


async def test_a_stall_before_the_headers_fails_at_first_byte(adapter: tuple[Fake, Build]) -> None:
    fake, build = adapter
    fake.enqueue(Fault.stall(10))
    with pytest.raises(UpstreamError) as caught:
        await build(fake, STRICT).create(call())
    assert (caught.value.status, caught.value.kind, caught.value.retryable) == (504, "timeout_error", True)
    assert "no answer headers within 0.3s" in caught.value.message


async def test_a_stall_in_the_body_fails_at_idle(adapter: tuple[Fake, Build]) -> None:
    fake, build = adapter
    fake.enqueue(Fault.stall(10, after_events=1, reply=Reply(text="x" * 4000)))  # half the JSON body, then silence
    with pytest.raises(UpstreamError) as caught:
        await build(fake, STRICT).create(call())
    assert caught.value.kind == "timeout_error" and "no data for 0.3s" in caught.value.message


async def test_the_header_wait_allows_for_generating_max_tokens(adapter: tuple[Fake, Build]) -> None:
    """A buffered answer that takes 0.8 s to arrive, for max_tokens=20: with ``first_byte`` alone
    (0.3 s) it would be cut; at 20 tokens/s the wait is 0.3 + 1 s, and it is served."""
    fake, build = adapter
    fake.enqueue(Reply(text="took a while", delay=0.8))
    generous = Timeouts(connect=2, first_byte=0.3, idle=0.3, total=20, min_output_rate=20)
    message = await build(fake, generous).create(call(max_tokens=20))
    assert message.content[0].text == "took a while"  # type: ignore[union-attr]
    fake.enqueue(Reply(text="took a while", delay=0.8))
    with pytest.raises(UpstreamError, match=r"no answer headers within 0\.3s"):
        await build(fake, STRICT).create(call(max_tokens=20))


@pytest.fixture
def aws_env() -> Iterator[None]:
    from support.gateway_builder import AWS_ENV, AWS_UNSET

    saved = {name: os.environ.get(name) for name in (*AWS_ENV, *AWS_UNSET)}
    os.environ.update(AWS_ENV)
    for name in AWS_UNSET:
        os.environ.pop(name, None)
    yield
    for name, value in saved.items():
        if value is None:
            os.environ.pop(name, None)
        else:
            os.environ[name] = value


@pytest.mark.usefixtures("aws_env")
async def test_bedrock_converse_waits_for_the_answer_not_total(bedrock_upstream: BedrockUpstream) -> None:
    from aimux_core.providers.bedrock import BedrockProvider

    bedrock_upstream.enqueue(Fault.stall(10))
    provider = BedrockProvider("bedrock", preset("bedrock"), region="us-east-1",
                               endpoint_url=bedrock_upstream.base_url, timeouts=STRICT)  # fmt: skip
    with pytest.raises(UpstreamError) as caught:
        await provider.create(call())
    assert caught.value.kind == "timeout_error" and "no answer within 0.3s" in caught.value.message
