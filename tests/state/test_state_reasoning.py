"""``ReasoningMemory`` on every store (memory, DynamoDB on moto and dynalite): the reasoning echo
providers need back, per scope and conversation, with a short life."""

from __future__ import annotations

import pytest

from aimux_core.state import FakeClock, Store
from aimux_core.state.reasoning import DEFAULT_TTL_SECONDS, MAX_TEXT_BYTES, ReasoningMemory, Recalled

pytestmark = pytest.mark.anyio


async def test_a_conversation_comes_back_in_one_read(store: Store, clock: FakeClock, ns: str) -> None:
    memory = ReasoningMemory(store, clock)
    for turn, text in (("call_1", "first \u2014 thought"), ("call_2", "second"), ("call_3", "third")):
        assert await memory.keep(ns, "call_1", turn, text, "deepseek")
    found = await memory.recall(ns, "call_1", ["call_1", "call_3", "call_9"])
    assert found == {"call_1": Recalled("first \u2014 thought", "deepseek"), "call_3": Recalled("third", "deepseek")}


async def test_scopes_and_conversations_do_not_mix(store: Store, clock: FakeClock, ns: str) -> None:
    memory = ReasoningMemory(store, clock)
    await memory.keep(f"{ns}-a", "conv", "call_1", "mine", "deepseek")
    assert await memory.recall(f"{ns}-b", "conv", ["call_1"]) == {}, "another key's reasoning"
    assert await memory.recall(f"{ns}-a", "other", ["call_1"]) == {}, "another conversation"


async def test_reasoning_expires(store: Store, clock: FakeClock, ns: str) -> None:
    memory = ReasoningMemory(store, clock, ttl=60)
    await memory.keep(ns, "conv", "call_1", "short-lived", "kimi")
    clock.advance(59)
    assert await memory.recall(ns, "conv", ["call_1"]) == {"call_1": Recalled("short-lived", "kimi")}
    clock.advance(2)
    assert await memory.recall(ns, "conv", ["call_1"]) == {}
    assert DEFAULT_TTL_SECONDS == 24 * 3600


async def test_long_ids_and_too_large_texts(store: Store, clock: FakeClock, ns: str) -> None:
    memory = ReasoningMemory(store, clock)
    long_id = "aimuxs-" + "Q" * 3000  # ids with a thought signature are long: keys are hashes
    assert await memory.keep(ns, long_id, long_id, "kept", "deepseek")
    assert await memory.recall(ns, long_id, [long_id]) == {long_id: Recalled("kept", "deepseek")}
    assert not await memory.keep(ns, "conv", "call_big", "x" * (MAX_TEXT_BYTES + 1), "deepseek")
    assert await memory.recall(ns, "conv", ["call_big"]) == {}
