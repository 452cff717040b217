"""``schema_text``: a tool schema's text for the token estimate, remembered by content, equal to the plain
encoder's for every JSON value, repeated or not."""

from __future__ import annotations

import json
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from aimux_core.accounting import schema_text as module
from aimux_core.accounting.schema_text import schema_text

PLAIN = json.JSONEncoder(ensure_ascii=False, check_circular=False, default=str).encode
SCALARS = st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text()
JSON_VALUES = st.recursive(
    SCALARS, lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=6), inner, max_size=4)
)


@settings(max_examples=300, deadline=None)
@given(JSON_VALUES, JSON_VALUES)
def test_the_text_is_the_plain_encoders_whatever_came_before(first: Any, second: Any) -> None:
    for value in (first, second, first, json.loads(json.dumps(first))):
        assert schema_text(value) == PLAIN(value)


def test_values_that_differ_only_in_type_keep_their_own_text() -> None:
    texts = [schema_text({"default": value}) for value in (1, 1.0, True, "1", None, [1])]
    assert texts == ['{"default": 1}', '{"default": 1.0}', '{"default": true}', '{"default": "1"}',
                     '{"default": null}', '{"default": [1]}']  # fmt: skip


def test_a_full_memo_is_emptied_and_what_is_not_plain_json_is_encoded_each_time() -> None:
    module._MEMO.clear()
    for index in range(module._MAX_ENTRIES + 5):
        schema_text({"n": index})
    assert 0 < len(module._MEMO) <= module._MAX_ENTRIES
    stray = {"x": object()}
    assert schema_text(stray) == PLAIN(stray)
    assert schema_text({"n": float("nan")}) == PLAIN({"n": float("nan")})
