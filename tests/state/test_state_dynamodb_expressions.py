"""The pure half of the DynamoDB store: values in and out, request shapes, and why an add was refused."""

from __future__ import annotations

from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from aimux_core.state import ABSENT
from aimux_core.state.dynamodb_expressions import (
    Refusal,
    add_request,
    classify_refusal,
    decode_item,
    decode_value,
    encode_item,
    encode_value,
    headroom,
    put_request,
    transact_item,
)
from aimux_core.state.transaction import AddOp, DeleteOp
from aimux_core.state.values import clean_value

json_like = st.recursive(
    st.none()
    | st.booleans()
    | st.text(max_size=5)
    | st.integers(-(10**20), 10**20)
    | st.floats(allow_nan=False, allow_infinity=False, min_value=-1e100, max_value=1e100),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(min_size=1, max_size=4), inner, max_size=3),
    max_leaves=10,
)


@given(json_like)
def test_every_clean_value_survives_the_round_trip(value: object) -> None:
    cleaned = clean_value(value)
    assert decode_value(encode_value(cleaned)) == cleaned


def test_numbers_go_out_as_their_shortest_text_and_come_back_typed() -> None:
    assert encode_value(0.1) == {"N": "0.1"}
    assert encode_value(True) == {"BOOL": True}  # a bool is never a number
    assert decode_item({"a": {"N": "2"}, "b": {"N": "1E+2"}, "c": {"N": "0.25"}}) == {"a": 2, "b": 100, "c": 0.25}
    assert [type(v) for v in decode_item({"a": {"N": "2"}, "c": {"N": "0.25"}}).values()] == [int, float]


def test_headroom_is_exact_in_decimal_even_where_floats_are_not() -> None:
    assert headroom(0.3, 0.1) == Decimal("0.2")  # 0.3 - 0.1 == 0.19999999999999998 in floats
    assert headroom(10**30, 10**-6) == Decimal("999999999999999999999999999999.999999")  # 36 digits, kept


def test_every_attribute_name_and_value_goes_through_a_placeholder() -> None:
    request = add_request("p", "s", {"state": 1, "ttl": 2}, [("state", 5)], 99, now=10)
    text = request["UpdateExpression"] + request["ConditionExpression"]
    assert "state" not in text and "ttl" not in text  # reserved words in DynamoDB expressions
    assert set(request["ExpressionAttributeNames"].values()) == {"version", "state", "ttl", "expires_at"}
    assert request["UpdateExpression"].startswith("ADD ") and " SET " in request["UpdateExpression"]


def test_a_limit_the_delta_alone_exceeds_needs_an_existing_attribute() -> None:
    within = add_request("p", "s", {"n": 2}, [("n", 5)], None, now=0)["ConditionExpression"]
    beyond = add_request("p", "s", {"n": 7}, [("n", 5)], None, now=0)["ConditionExpression"]
    assert within.count("attribute_not_exists") == 2  # expires_at, and n may be missing
    assert beyond.count("attribute_not_exists") == 1  # a missing n would end at 7 > 5


def test_put_conditions_and_versions() -> None:
    assert put_request("p", "s", {}, ABSENT, 0)[1] == 1
    assert put_request("p", "s", {}, 4, 0)[1] == 5
    blind, version = put_request("p", "s", {}, None, 0)
    assert version == 0 and "ConditionExpression" not in blind


def test_transaction_entries_ask_for_the_item_only_when_they_have_a_condition() -> None:
    assert "ReturnValuesOnConditionCheckFailure" not in transact_item("t", DeleteOp("p", "s"), 0)["Delete"]
    update = transact_item("t", AddOp("p", "s", {"n": 1}), 0)["Update"]
    assert update["ReturnValuesOnConditionCheckFailure"] == "ALL_OLD"


LIVE_AT_5 = encode_item({"n": 5, "expires_at": 100})
DEAD_AT_5 = encode_item({"n": 5, "expires_at": 10})


@pytest.mark.parametrize(
    "raw, deltas, limit, expected",
    [
        (LIVE_AT_5, {"n": 1}, ("n", 5), Refusal.OVER_LIMIT),
        (LIVE_AT_5, {"n": 1}, ("n", 6), Refusal.RETRY),  # fits now: the value moved meanwhile
        (DEAD_AT_5, {"n": 1}, ("n", 5), Refusal.EXPIRED),  # from zero it fits: replace the dead item
        (DEAD_AT_5, {"n": 9}, ("n", 5), Refusal.OVER_LIMIT),  # even from zero it does not
        (None, {"n": 1}, ("n", 5), Refusal.RETRY),  # deleted meanwhile
        (None, {"n": 9}, ("n", 5), Refusal.OVER_LIMIT),
        (encode_item({"n": "x"}), {"n": 1}, None, Refusal.NOT_NUMERIC),
        (encode_item({"g": "x"}), {"n": 1}, ("g", 5), Refusal.OVER_LIMIT),  # compared, not added to
        (encode_item({"n": 0.1}), {"n": 0.2}, ("n", 0.3), Refusal.RETRY),  # exact: 0.1 + 0.2 == 0.3
    ],
)
def test_a_refusal_is_explained_by_replaying_the_condition(
    raw: dict | None, deltas: dict, limit: tuple | None, expected: Refusal
) -> None:
    assert classify_refusal(raw, deltas, [] if limit is None else [limit], now=50) is expected


def test_expected_values_and_removals_go_into_one_update() -> None:
    request = add_request("p", "s", {"total": -4}, [], None, now=0, expect={"hold": 4}, remove=["hold"])
    names = request["ExpressionAttributeNames"]
    hold = next(placeholder for placeholder, name in names.items() if name == "hold")
    assert request["UpdateExpression"].endswith(f" REMOVE {hold}")
    assert f"{hold} = " in request["ConditionExpression"]


@pytest.mark.parametrize(
    "raw, expect, expected",
    [
        (encode_item({"hold": 4, "expires_at": 100}), {"hold": 4}, Refusal.RETRY),
        (encode_item({"hold": 4, "expires_at": 100}), {"hold": 5}, Refusal.UNEXPECTED),
        (encode_item({"other": 4}), {"hold": 4}, Refusal.UNEXPECTED),
        (encode_item({"hold": 4, "expires_at": 10}), {"hold": 4}, Refusal.UNEXPECTED),  # dead: nothing is there
        (None, {"hold": 4}, Refusal.UNEXPECTED),
    ],
)
def test_an_expectation_that_does_not_hold_is_told_apart(raw: dict | None, expect: dict, expected: Refusal) -> None:
    assert classify_refusal(raw, {"total": -4}, [], now=50, expect=expect) is expected
