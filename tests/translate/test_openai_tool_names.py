"""tool_names: reversible, stateless rewriting of tool names and tool-call ids."""

from __future__ import annotations

import re

import pytest
from hypothesis import given
from hypothesis import strategies as st

from aimux_core.translate.tool_names import (
    ID_PREFIX,
    SIGNED_ID_PREFIX,
    decode_tool_id,
    encode_tool_id,
    is_valid_tool_name,
    restore_tool_name,
    shorten_tool_name,
    thought_signature_of,
    tool_name_map,
    unsigned_tool_id,
)

VALID = re.compile(r"[a-zA-Z0-9_-]{1,64}")
VALID_ID = re.compile(r"[a-zA-Z0-9_-]+")


def test_valid_names_are_untouched() -> None:
    for name in ["Bash", "get_weather", "mcp__github__create_issue", "a" * 64, "x-y_z9"]:
        assert shorten_tool_name(name) == name
    assert tool_name_map(["Bash", "Read"]) == {}


def test_long_name_is_shortened_deterministically() -> None:
    long_a = "mcp__server__" + "a" * 80
    long_b = "mcp__server__" + "a" * 79 + "b"
    short_a = shorten_tool_name(long_a)
    assert VALID.fullmatch(short_a) and len(short_a) == 64
    assert short_a == shorten_tool_name(long_a)
    assert short_a != shorten_tool_name(long_b)  # same prefix, different hash suffix
    assert short_a.startswith("mcp__server__aaa")


def test_invalid_characters_are_replaced() -> None:
    short = shorten_tool_name("files.read:v2")
    assert VALID.fullmatch(short) and short.startswith("files_read_v2_")
    assert not is_valid_tool_name("") and not is_valid_tool_name("a.b")


def test_shortening_is_idempotent_and_reversed_by_the_request_tool_list() -> None:
    names = ["Bash", "x" * 70, "dotted.name", "mcp__" + "y" * 90]
    mapping = tool_name_map(names)
    for name in names:
        short = shorten_tool_name(name)
        assert shorten_tool_name(short) == short
        assert restore_tool_name(short, mapping) == name
    assert restore_tool_name("unknown_tool", mapping) == "unknown_tool"


@given(st.text(min_size=1, max_size=200))
def test_any_name_shortens_to_a_valid_reversible_name(name: str) -> None:
    short = shorten_tool_name(name)
    assert VALID.fullmatch(short)
    assert restore_tool_name(short, tool_name_map([name, "other"])) == name


def test_ids() -> None:
    assert encode_tool_id("call_7PhhveOvvpPK53s1fV8TWhoV") == "call_7PhhveOvvpPK53s1fV8TWhoV"
    assert encode_tool_id("toolu_01A09q90qw90lq917835lq9") == "toolu_01A09q90qw90lq917835lq9"
    kimi = encode_tool_id("functions.Bash:0")
    assert kimi.startswith(ID_PREFIX) and VALID_ID.fullmatch(kimi)
    assert decode_tool_id(kimi) == "functions.Bash:0"
    # an id that merely looks like ours is encoded too, so decoding stays exact
    lookalike = ID_PREFIX + "abc"
    assert encode_tool_id(lookalike) != lookalike and decode_tool_id(encode_tool_id(lookalike)) == lookalike
    assert decode_tool_id(ID_PREFIX + "!!!") == ID_PREFIX + "!!!"


@given(st.text(max_size=80))
def test_any_id_round_trips(tool_id: str) -> None:
    encoded = encode_tool_id(tool_id)
    assert VALID_ID.fullmatch(encoded) or tool_id == ""
    assert decode_tool_id(encoded) == tool_id


@pytest.mark.parametrize("raw", ["function-call-1", "functions.Bash:0", "aimux-x", "aimuxs-y", "call\u00e9"])
def test_thought_signature_rides_in_the_id(raw: str) -> None:
    signature = "CiQB+/Zx9==" * 40  # long, with base64's own + / =
    signed = encode_tool_id(raw, signature)
    assert signed.startswith(SIGNED_ID_PREFIX) and re.fullmatch(r"[A-Za-z0-9_-]+", signed)
    assert (decode_tool_id(signed), thought_signature_of(signed)) == (raw, signature)
    assert unsigned_tool_id(signed) == encode_tool_id(raw) and thought_signature_of(encode_tool_id(raw)) is None


def test_an_upstream_id_that_looks_signed_is_not_misread() -> None:
    for raw in ("aimuxs-ZnVuY3Rpb24", "aimuxs-"):
        encoded = encode_tool_id(raw)
        assert encoded != raw and decode_tool_id(encoded) == raw and thought_signature_of(encoded) is None
        assert thought_signature_of(raw) is None and decode_tool_id(raw) == raw
