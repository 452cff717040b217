"""``wire/json_bytes.compact_json`` writes what ``json.dumps(..., ensure_ascii=False, separators=(",", ":"))``
wrote, byte for byte, for every body aimux sends: the recorded Claude Code requests, and generated JSON values
(the one documented difference, small floats written without an exponent, parses to the same number)."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from aimux_core.wire.json_bytes import compact_json

FIXTURES = sorted((Path(__file__).parents[1] / "fixtures" / "claude_code").glob("*.json"))


def _dumps(value: Any) -> bytes:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":")).encode()


@pytest.mark.parametrize("path", FIXTURES, ids=[p.stem for p in FIXTURES])
def test_recorded_claude_code_bodies_are_written_byte_for_byte_as_json_dumps_wrote_them(path: Path) -> None:
    body = json.loads(path.read_text())["body"]
    assert compact_json(body) == _dumps(body)


_scalars = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**80), max_value=2**80)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(alphabet=st.characters(exclude_categories=["Cs"]))  # a lone surrogate is not UTF-8 either way
)
_values = st.recursive(
    _scalars, lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4)
)


@settings(max_examples=300, deadline=None)
@given(_values)
def test_any_json_value_reads_back_equal_and_only_small_floats_are_spelled_differently(value: Any) -> None:
    written = compact_json(value)
    assert json.loads(written) == json.loads(_dumps(value))
    if written != _dumps(value):  # only the exponent-free spelling of floats below 1e-4
        assert _has_small_float(value), (written, _dumps(value))


def _has_small_float(value: Any) -> bool:
    if isinstance(value, float):
        return value != 0 and math.isfinite(value) and abs(value) < 1e-4
    if isinstance(value, list):
        return any(_has_small_float(item) for item in value)
    if isinstance(value, dict):
        return any(_has_small_float(item) for item in value.values())
    return False


def test_a_value_json_cannot_hold_goes_through_the_fallback() -> None:
    class Opaque:
        def __str__(self) -> str:
            return "opaque"

    assert compact_json({"a": Opaque(), "b": "é"}, fallback=str) == '{"a":"opaque","b":"é"}'.encode()
