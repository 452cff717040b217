"""The fakes' prompt cache bills like Anthropic's: driven by the official anthropic SDK and boto3 with
breakpoints placed by hand, so what the gateway's automatic caching is measured against is itself
checked: exact prefixes, the 20-block lookback, the TTL refreshed by reads, the minimum length, the
four-breakpoint limit and the per-credential scope.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import anthropic
import boto3
import pytest
from botocore.config import Config

from fakes import AnthropicUpstream, BedrockUpstream
from fakes.prompt_cache import PromptCacheModel

BIG = "You are a careful coding assistant. " * 200  # ~7,200 chars: ~1,800 stand-in tokens
MARK = {"type": "ephemeral"}


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def fake(clock: Clock) -> Iterator[AnthropicUpstream]:
    with AnthropicUpstream(prompt_cache=PromptCacheModel(min_tokens=1024, clock=clock)) as upstream:
        yield upstream
        upstream.raise_for_errors()


def send(fake: AnthropicUpstream, system: Any, messages: list[Any], *, key: str = "k1") -> Any:
    client = anthropic.Anthropic(base_url=fake.base_url, api_key=key, max_retries=0, timeout=5)
    return client.messages.create(model="claude-sonnet-4-5", max_tokens=16, system=system, messages=messages).usage


def system(text: str = BIG) -> list[dict[str, Any]]:
    return [{"type": "text", "text": text, "cache_control": MARK}]


def turns(count: int, *, marked: bool = True) -> list[dict[str, Any]]:
    """``count`` alternating one-block turns; the last block carries a breakpoint when ``marked``."""
    out: list[dict[str, Any]] = [
        {"role": "user" if n % 2 == 0 else "assistant", "content": [{"type": "text", "text": f"turn {n} " + "x" * 200}]}
        for n in range(count)
    ]
    if marked:
        out[-1]["content"][-1]["cache_control"] = MARK
    return out


def test_a_write_then_an_identical_prefix_is_read(fake: AnthropicUpstream) -> None:
    first = send(fake, system(), [{"role": "user", "content": "hi"}])
    assert first.cache_read_input_tokens == 0 and first.cache_creation_input_tokens > 1024
    second = send(fake, system(), [{"role": "user", "content": "something else"}])
    assert second.cache_read_input_tokens == first.cache_creation_input_tokens
    assert second.cache_creation_input_tokens == 0 and second.input_tokens > 0


def test_a_changed_byte_in_the_prefix_misses(fake: AnthropicUpstream) -> None:
    send(fake, system(), [{"role": "user", "content": "hi"}])
    changed = send(fake, system(BIG[:-1] + "!"), [{"role": "user", "content": "hi"}])
    assert changed.cache_read_input_tokens == 0 and changed.cache_creation_input_tokens > 1024


def test_a_prefix_below_the_minimum_is_never_cached(fake: AnthropicUpstream) -> None:
    short = system("Be brief. " * 10)
    send(fake, short, [{"role": "user", "content": "hi"}])
    again = send(fake, short, [{"role": "user", "content": "hi"}])
    assert (again.cache_read_input_tokens, again.cache_creation_input_tokens) == (0, 0)


@pytest.mark.parametrize(("new_blocks", "found"), [(20, True), (21, False)])
def test_a_breakpoint_looks_back_twenty_blocks_and_no_further(
    fake: AnthropicUpstream, new_blocks: int, found: bool
) -> None:
    """Turn 1 writes system + 5 turns; turn 2 sends them unmarked plus ``new_blocks`` more, its breakpoint
    at the end: the old entry is read only from at most 20 blocks away (else only the system prompt is)."""
    written = send(fake, system(), turns(5)).cache_creation_input_tokens
    later = send(fake, system(), turns(5 + new_blocks))
    if found:
        assert later.cache_read_input_tokens == written
    else:
        assert 0 < later.cache_read_input_tokens < written


def test_entries_expire_after_five_minutes_unless_read(fake: AnthropicUpstream, clock: Clock) -> None:
    send(fake, system(), [{"role": "user", "content": "hi"}])
    clock.now += 290
    assert send(fake, system(), [{"role": "user", "content": "a"}]).cache_read_input_tokens > 0  # refreshed
    clock.now += 290
    assert send(fake, system(), [{"role": "user", "content": "b"}]).cache_read_input_tokens > 0
    clock.now += 301
    expired = send(fake, system(), [{"role": "user", "content": "c"}])
    assert expired.cache_read_input_tokens == 0 and expired.cache_creation_input_tokens > 0


def test_one_hour_entries_outlive_five_minutes(fake: AnthropicUpstream, clock: Clock) -> None:
    hour = [{"type": "text", "text": BIG, "cache_control": {"type": "ephemeral", "ttl": "1h"}}]
    send(fake, hour, [{"role": "user", "content": "hi"}])
    clock.now += 3000
    assert send(fake, hour, [{"role": "user", "content": "a"}]).cache_read_input_tokens > 0


def test_five_breakpoints_are_refused(fake: AnthropicUpstream) -> None:
    blocks = [{"type": "text", "text": f"part {n} " + "y" * 100, "cache_control": MARK} for n in range(5)]
    with pytest.raises(anthropic.BadRequestError) as caught:
        send(fake, blocks, [{"role": "user", "content": "hi"}])
    assert "A maximum of 4 blocks with cache_control" in str(caught.value)


def test_the_cache_is_the_callers_own(fake: AnthropicUpstream) -> None:
    send(fake, system(), [{"role": "user", "content": "hi"}], key="k1")
    other = send(fake, system(), [{"role": "user", "content": "hi"}], key="k2")
    assert other.cache_read_input_tokens == 0


def test_bedrock_cache_points_bill_the_same_way(clock: Clock) -> None:
    with BedrockUpstream(prompt_cache=PromptCacheModel(min_tokens=1024, clock=clock)) as fake:
        client = boto3.Session(aws_access_key_id="test", aws_secret_access_key="test", region_name="us-east-1").client(
            "bedrock-runtime", endpoint_url=fake.base_url, config=Config(retries={"total_max_attempts": 1})
        )
        point = {"cachePoint": {"type": "default"}}
        kwargs = {"modelId": "anthropic.claude-sonnet-4-5", "system": [{"text": BIG}, point]}
        first = client.converse(messages=[{"role": "user", "content": [{"text": "hi"}]}], **kwargs)["usage"]
        second = client.converse(messages=[{"role": "user", "content": [{"text": "other"}]}], **kwargs)["usage"]
        fake.raise_for_errors()
    assert first["cacheWriteInputTokens"] > 1024 and first["cacheReadInputTokens"] == 0
    assert second["cacheReadInputTokens"] == first["cacheWriteInputTokens"] and second["cacheWriteInputTokens"] == 0
