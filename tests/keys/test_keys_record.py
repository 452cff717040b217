"""The key format, its hash, the id, and the record <-> item mapping."""

from __future__ import annotations

import hashlib
import math
import re
from collections import Counter

from hypothesis import given
from hypothesis import strategies as st

from aimux_core.keys import ApiKeyRecord, generate_key, hash_key
from aimux_core.keys.record import KEY_LENGTH, is_key_id, looks_like_key, new_key_id
from aimux_core.state.values import clean_item

KEY_SHAPE = re.compile(r"^amx-[a-z2-7]{52}$")


def test_keys_are_prefixed_url_safe_and_unambiguous() -> None:
    for _ in range(200):
        key = generate_key()
        assert KEY_SHAPE.match(key), key
        assert len(key) == KEY_LENGTH == 56
        # no digit to confuse with a letter (0/o, 1/l, 8/b), nothing to escape in a URL or a header
        assert not set(key[4:]) & set("0189=+/_-")
        assert looks_like_key(key)


def test_keys_carry_at_least_256_bits_and_never_repeat() -> None:
    keys = [generate_key() for _ in range(2000)]
    assert len(set(keys)) == len(keys)
    assert 52 * math.log2(32) >= 256
    # every base32 symbol shows up at every position over many keys: no fixed or biased character
    # (the last one carries only 1 random bit of the 256, so it takes 2 values)
    for position in (4, 20, 54):
        assert len(Counter(key[position] for key in keys)) == 32
    assert len(Counter(key[-1] for key in keys)) == 2


def test_hash_is_sha256_hex_of_the_whole_key() -> None:
    key = generate_key()
    assert hash_key(key) == hashlib.sha256(key.encode()).hexdigest()
    assert re.fullmatch(r"[0-9a-f]{64}", hash_key(key))
    assert hash_key(key) != hash_key(key[:-1] + ("a" if key[-1] != "a" else "q"))


def test_shape_check_refuses_foreign_and_garbled_keys() -> None:
    key = generate_key()
    garbled = key[:10] + "0" + key[11:]
    for bad in ("", "amx-", key[:-1], key + "a", key.upper(), "sk-ant-" + key[4:], garbled, " " + key):
        assert not looks_like_key(bad), bad


def test_ids_are_short_random_and_not_secret_shaped() -> None:
    ids = {new_key_id() for _ in range(1000)}
    assert len(ids) == 1000
    assert all(is_key_id(i) and re.fullmatch(r"key_[0-9a-f]{12}", i) for i in ids)
    assert not is_key_id("key_../../x") and not is_key_id("key_ABCDEF012345") and not is_key_id(generate_key())


def _records() -> st.SearchStrategy[ApiKeyRecord]:
    text = st.text(st.characters(min_codepoint=32, max_codepoint=0x2FFF), min_size=1, max_size=20)
    money = st.none() | st.floats(min_value=0, max_value=1e6, allow_nan=False)
    count = st.none() | st.integers(min_value=1, max_value=10**9)
    return st.builds(
        ApiKeyRecord,
        id=st.just("key_0123456789ab"),
        name=text,
        key_hash=st.just(hash_key("amx-x")),
        created_at=st.floats(min_value=0, max_value=4e9, allow_nan=False),
        owner=st.none() | text,
        project=st.none() | text,
        disabled=st.booleans(),
        allowed_models=st.lists(text, max_size=3).map(tuple),
        allowed_routes=st.lists(text, max_size=3).map(tuple),
        rpm=count,
        tpm=count,
        budget_daily_usd=money,
        budget_monthly_usd=money,
        budget_route=st.none() | text,
    )


@given(_records())
def test_record_survives_the_store_value_rules(record: ApiKeyRecord) -> None:
    stored = {**clean_item(record.to_item()), "pk": "key#x", "sk": "meta", "version": 3}
    assert ApiKeyRecord.from_item(stored) == ApiKeyRecord.from_item({**record.to_item(), "version": 3})
    back = ApiKeyRecord.from_item(stored)
    assert back.version == 3
    assert back.public() == {**record.public(), "budget_daily_usd": back.budget_daily_usd,
                             "budget_monthly_usd": back.budget_monthly_usd}  # fmt: skip


def test_public_view_and_repr_never_show_the_hash() -> None:
    key = generate_key()
    record = ApiKeyRecord(id="key_0123456789ab", name="ci", key_hash=hash_key(key), created_at=1.0)
    assert "key_hash" not in record.public()
    assert hash_key(key) not in repr(record) and hash_key(key) not in str(record.public())
