"""Automatic prompt caching, the pure parts: where breakpoints go (``plan_breakpoints``), how they land
in an Anthropic body (``mark_body``) and in Bedrock Converse (``cachePoint``), the modes, the model
minimums, the TTL, and OpenAI's ``prompt_cache_key``.

The conversation is the recorded Claude Code shape without its breakpoints (what Cursor, Continue and
OpenAI-SDK clients send): ``support/coding_session.py``.
"""

from __future__ import annotations

import copy
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from aimux_core.presets import preset
from aimux_core.providers.base import RequestContext, UpstreamCall
from aimux_core.providers.bedrock_mapping import converse_request
from aimux_core.providers.prompt_cache import (
    MAX_BREAKPOINTS,
    CachePlan,
    mark_body,
    may_place_breakpoints,
    min_cacheable_tokens,
    plan_breakpoints,
    prompt_cache_key,
    settings_for_call,
    stricter,
    wants_cache_key,
)
from aimux_core.wire.anthropic import MessagesRequest
from support.coding_session import anthropic_body

MARK = {"type": "ephemeral"}


def request(body: dict[str, Any]) -> MessagesRequest:
    return MessagesRequest.model_validate(body)


def planned(body: dict[str, Any], *, mode: Any = "auto", min_tokens: int = 1024, ttl: Any = "5m") -> CachePlan | None:
    return plan_breakpoints(request(body), mode=mode, min_tokens=min_tokens, ttl=ttl)


def marked_body(body: dict[str, Any], **kwargs: Any) -> dict[str, Any]:
    plan = planned(body, **kwargs)
    assert plan is not None
    out = request(body).dump()
    mark_body(out, plan)
    return out


def markers(body: dict[str, Any]) -> list[str]:
    """Where the ``cache_control`` markers of an Anthropic body are, as readable paths."""
    found = [f"tools[{i}]" for i, t in enumerate(body.get("tools") or ()) if "cache_control" in t]
    system = body.get("system")
    if isinstance(system, list):
        found += [f"system[{i}]" for i, b in enumerate(system) if "cache_control" in b]
    for m, turn in enumerate(body["messages"]):
        if isinstance(turn["content"], list):
            found += [f"messages[{m}][{b}]" for b, block in enumerate(turn["content"]) if "cache_control" in block]
    return found


# --------------------------------------------------------------------------- placement


def test_a_long_conversation_gets_tools_system_previous_turn_and_last_turn() -> None:
    body = anthropic_body(3)  # user, (assistant, user) x 3: messages 0..6
    out = marked_body(body)
    last = len(tools := body["tools"]) - 1
    assert markers(out) == [f"tools[{last}]", "system[0]", "messages[4][0]", "messages[6][0]"]
    assert all(block["cache_control"] == MARK for block in (out["tools"][last], out["system"][0]))
    assert len(tools) == len(out["tools"]) and out["system"][0]["text"] == body["system"]


def test_the_first_turn_caches_tools_system_and_itself() -> None:
    out = marked_body(anthropic_body(0))
    assert markers(out)[:2] == [f"tools[{len(out['tools']) - 1}]", "system[0]"]
    assert out["messages"][0]["content"] == [
        {"type": "text", "text": anthropic_body(0)["messages"][0]["content"], "cache_control": MARK}
    ]


def test_the_plan_never_exceeds_four_breakpoints() -> None:
    assert MAX_BREAKPOINTS == 4
    for turns in range(6):
        plan = planned(anthropic_body(turns))
        assert plan is not None and plan.count <= 4


def test_requests_with_their_own_breakpoints_are_left_alone() -> None:
    for edit in (
        lambda b: b.update(cache_control=MARK),
        lambda b: b["tools"][0].update(cache_control=MARK),
        lambda b: b.update(system=[{"type": "text", "text": b["system"], "cache_control": MARK}]),
        lambda b: b["messages"][-1]["content"][0].update(cache_control=MARK),
    ):
        body = anthropic_body(2)
        edit(body)
        assert planned(body) is None


def test_prefixes_below_the_minimum_get_no_breakpoint() -> None:
    small = {"model": "m", "max_tokens": 64, "system": "Be brief.", "messages": [{"role": "user", "content": "hi"}]}
    assert planned(small) is None
    body = anthropic_body(2)
    body["tools"] = []
    body["system"] = "Be brief."
    plan = planned(body, min_tokens=4096)  # the first tool result (~3.7k tokens) is not yet enough
    assert plan is not None and not plan.tools and not plan.system and plan.messages == (4,)


def test_the_last_markable_block_carries_the_breakpoint() -> None:
    body = anthropic_body(1)
    body["messages"][-1]["content"].append({"type": "text", "text": ""})  # empty text cannot carry one
    out = marked_body(body)
    assert (
        "cache_control" in out["messages"][-1]["content"][0]
        and "cache_control" not in out["messages"][-1]["content"][1]
    )


def test_system_turns_never_carry_a_breakpoint() -> None:
    """Claude Code sends a ``system`` turn inside ``messages``; adapters fold it into ``system``."""
    body = anthropic_body(1)
    body["messages"].append({"role": "system", "content": "A reminder."})
    plan = planned(body)
    assert plan is not None and plan.messages == (0, 2)


def test_one_hour_ttl_only_when_asked() -> None:
    assert marked_body(anthropic_body(1))["system"][0]["cache_control"] == MARK
    hour = marked_body(anthropic_body(1), ttl="1h")
    assert hour["system"][0]["cache_control"] == {"type": "ephemeral", "ttl": "1h"}


# --------------------------------------------------------------------------- modes and minimums


def test_multi_turn_caches_conversations_only() -> None:
    assert planned(anthropic_body(0), mode="multi_turn") is None
    assert planned(anthropic_body(1), mode="multi_turn") is not None
    assert planned(anthropic_body(3), mode="off") is None


@pytest.mark.parametrize(
    ("route", "provider", "applies"),
    [(None, "auto", "auto"), (None, "off", "off"), ("off", "auto", "off"), ("auto", "off", "off"),
     ("multi_turn", "auto", "multi_turn"), ("auto", "multi_turn", "multi_turn")],
)  # fmt: skip
def test_the_stricter_of_route_and_provider_applies(route: Any, provider: Any, applies: str) -> None:
    assert stricter(route, provider) == applies


def test_only_anthropic_and_bedrock_targets_with_caching_on_may_add_breakpoints() -> None:
    """What a budget hold must price as cache writes: targets whose adapters may place breakpoints."""
    anthropic, bedrock, openai, zai = preset("anthropic"), preset("bedrock"), preset("openai"), preset("zai")
    assert may_place_breakpoints(None, [openai, anthropic]) and may_place_breakpoints("multi_turn", [bedrock])
    assert not may_place_breakpoints(None, [openai, zai, None])  # OpenAI caches on its own; z.ai is off
    assert not may_place_breakpoints("off", [anthropic, bedrock])


@pytest.mark.parametrize(
    ("model", "minimum"),
    [
        ("claude-sonnet-4-5-20250929", 1024), ("claude-opus-4-1", 1024), ("claude-opus-4-5", 4096),
        ("claude-opus-4-6", 4096), ("claude-haiku-4-5", 4096), ("claude-3-5-haiku-20241022", 2048),
        ("us.anthropic.claude-haiku-4-5-20251001-v1:0", 4096), ("anthropic.claude-3-haiku-20240307-v1:0", 2048),
        ("us.anthropic.claude-sonnet-4-5-20250929-v1:0", 1024),
    ],
)  # fmt: skip
def test_minimum_cacheable_length_by_model(model: str, minimum: int) -> None:
    assert min_cacheable_tokens(model) == minimum


def call(
    model: str = "claude-sonnet-4-5",
    *,
    context: RequestContext | None = None,
    minimum: int | None = None,
    body: dict[str, Any] | None = None,
) -> UpstreamCall:
    return UpstreamCall(request(body or anthropic_body(1)), model, context or RequestContext("req_1"), minimum)


def test_settings_of_an_attempt_combine_route_provider_and_catalog() -> None:
    anthropic = preset("anthropic")
    settings = settings_for_call(call("claude-haiku-4-5"), anthropic)
    assert settings is not None and (settings.mode, settings.min_tokens, settings.ttl) == ("auto", 4096, "5m")
    assert settings_for_call(call(minimum=2000), anthropic).min_tokens == 2000  # type: ignore[union-attr]
    routed = RequestContext("req_1", prompt_caching="multi_turn", prompt_cache_ttl="1h")
    settings = settings_for_call(call(context=routed), anthropic)
    assert settings is not None and (settings.mode, settings.ttl) == ("multi_turn", "1h")
    assert settings_for_call(call(context=RequestContext("r", prompt_caching="off")), anthropic) is None
    assert settings_for_call(call(), preset("deepseek")) is None, "compatible endpoints: off unless configured"


def test_a_request_the_gateway_estimated_below_the_minimum_is_not_planned() -> None:
    """No prefix of a request can be longer than the request: nothing to weigh."""
    anthropic = preset("anthropic")
    assert settings_for_call(call(context=RequestContext("r", input_estimate=900)), anthropic) is None
    assert settings_for_call(call(context=RequestContext("r", input_estimate=1100)), anthropic) is not None
    haiku = call("claude-haiku-4-5", context=RequestContext("r", input_estimate=3000))
    assert settings_for_call(haiku, anthropic) is None


# --------------------------------------------------------------------------- Bedrock


def test_bedrock_gets_cache_points_at_the_same_places() -> None:
    body = anthropic_body(3)
    plan = planned(body)
    assert plan is not None
    kwargs = converse_request(request(body), "us.anthropic.claude-sonnet-4-5-20250929-v1:0", cache=plan)
    tools = kwargs["toolConfig"]["tools"]
    assert tools[-1] == {"cachePoint": {"type": "default"}} and "toolSpec" in tools[-2]
    assert [i for i, t in enumerate(tools) if "cachePoint" in t] == [len(tools) - 1]
    assert kwargs["system"][-1] == {"cachePoint": {"type": "default"}}
    points = [
        (t, b)
        for t, turn in enumerate(kwargs["messages"])
        for b, block in enumerate(turn["content"])
        if "cachePoint" in block
    ]
    assert points == [(4, 1), (6, 1)]  # after the tool result of turn 4 and of turn 6
    assert sum(1 for item in [*tools, *kwargs["system"]] if "cachePoint" in item) + len(points) == 4


def test_bedrock_one_hour_points_and_folded_system_turns() -> None:
    body = anthropic_body(1)
    body["messages"].insert(1, {"role": "system", "content": "Reminder text."})
    plan = planned(body, ttl="1h")
    assert plan is not None
    kwargs = converse_request(request(body), "anthropic.claude-sonnet-4-5", cache=plan)
    assert kwargs["system"][-2] == {"text": "Reminder text."}  # the point follows the folded system turn
    assert kwargs["system"][-1] == {"cachePoint": {"type": "default", "ttl": "1h"}}


def test_bedrock_request_without_a_plan_is_unchanged() -> None:
    body = anthropic_body(2)
    assert converse_request(request(body), "m") == converse_request(request(copy.deepcopy(body)), "m", cache=None)
    assert "cachePoint" not in str(converse_request(request(body), "m"))


# --------------------------------------------------------------------------- OpenAI prompt_cache_key


class Key:
    def __init__(self, key_id: str) -> None:
        self.id = key_id


def test_prompt_cache_key_follows_the_session_and_the_key() -> None:
    body = anthropic_body(1)
    session = RequestContext("r", session_id="s-1", key=Key("key_a"))
    key = prompt_cache_key(request(body), session)
    assert key.startswith("aimux-") and len(key) == 38
    assert prompt_cache_key(request(anthropic_body(3)), session) == key, "the same session, every turn"
    assert prompt_cache_key(request(body), RequestContext("r", session_id="s-2", key=Key("key_a"))) != key
    assert prompt_cache_key(request(body), RequestContext("r", session_id="s-1", key=Key("key_b"))) != key
    assert "s-1" not in key


def test_without_a_session_the_key_follows_the_system_prompt() -> None:
    body = anthropic_body(1)
    plain = RequestContext("r", key=Key("key_a"))
    key = prompt_cache_key(request(body), plain)
    assert prompt_cache_key(request(anthropic_body(4)), plain) == key
    other = {**body, "system": "Something else entirely."}
    assert prompt_cache_key(request(other), plain) != key
    by_user = {**body, "metadata": {"user_id": "user-42"}}
    assert prompt_cache_key(request(by_user), plain) != key, "metadata.user_id is a session"


def test_only_presets_that_take_a_key_get_one() -> None:
    assert wants_cache_key(call(), preset("openai"))
    assert not wants_cache_key(call(), preset("groq")) and not wants_cache_key(call(), preset("openrouter"))
    assert not wants_cache_key(call(context=RequestContext("r", prompt_caching="off")), preset("openai"))
    single = call(body=anthropic_body(0), context=RequestContext("r", prompt_caching="multi_turn"))
    assert not wants_cache_key(single, preset("openai"))


# --------------------------------------------------------------------------- property


_TEXT = st.text(alphabet="abc def\n", min_size=0, max_size=3000)
_ROLE = st.sampled_from(["user", "assistant", "system"])
_BLOCK = st.one_of(
    st.builds(lambda t: {"type": "text", "text": t}, _TEXT),
    st.builds(lambda t: {"type": "thinking", "thinking": t, "signature": "sig"}, _TEXT),
)


@settings(max_examples=150, deadline=None)
@given(
    turns=st.lists(st.tuples(_ROLE, st.lists(_BLOCK, min_size=1, max_size=4)), min_size=1, max_size=12),
    system=_TEXT, with_tools=st.booleans(), minimum=st.sampled_from([1, 200, 1024]),
)  # fmt: skip
def test_any_plan_fits_the_api_rules(
    turns: list[tuple[str, list[dict[str, Any]]]], system: str, with_tools: bool, minimum: int
) -> None:
    """At most four breakpoints, never on a thinking block, an empty text or a system turn."""
    messages = [{"role": role, "content": blocks} for role, blocks in turns]
    body: dict[str, Any] = {"model": "m", "max_tokens": 16, "messages": messages, "system": system}
    if with_tools:
        body["tools"] = [{"name": "t", "description": "d" * 500, "input_schema": {"type": "object"}}]
    plan = planned(body, min_tokens=minimum)
    if plan is None:
        return
    out = request(body).dump()
    mark_body(out, plan)
    assert 1 <= len(markers(out)) <= 4
    for m, turn in enumerate(out["messages"]):
        for block in turn["content"] if isinstance(turn["content"], list) else ():
            if "cache_control" in block:
                assert turn["role"] != "system" and block["type"] == "text" and block["text"], (m, block)
