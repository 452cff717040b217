"""The stored answer: compressed ``Message`` JSON, within DynamoDB's item size, read back exactly."""

from __future__ import annotations

import os
import zlib

from aimux_core.cache.entry import MAX_BODY_BYTES, answer_item, is_lease, pack, stored_answer, unpack
from aimux_core.wire.anthropic import Message


def message(text: str) -> Message:
    return Message.model_validate(
        {
            "id": "msg_1", "type": "message", "role": "assistant", "model": "m",
            "content": [{"type": "text", "text": text}], "stop_reason": "end_turn", "stop_sequence": None,
            "usage": {"input_tokens": 3, "output_tokens": 2, "service_tier": "standard"},
        }
    )  # fmt: skip


def test_a_packed_answer_reads_back_exactly_and_is_compressed() -> None:
    answer = message("The same sentence again. " * 200)
    body = pack(answer)
    assert body is not None and len(body) < len(answer.dump_json()) / 10
    assert unpack(body).dump() == answer.dump()


def test_an_answer_that_does_not_fit_an_item_is_not_packed() -> None:
    incompressible = os.urandom(MAX_BODY_BYTES).hex()  # hex of random bytes still compresses only ~2x
    assert pack(message(incompressible)) is None
    assert pack(message(incompressible[: MAX_BODY_BYTES // 2])) is not None


def test_an_entry_is_an_answer_a_lease_or_unreadable() -> None:
    body = pack(message("hi"))
    assert body is not None
    item = {"pk": "rcache#x", "sk": "entry", **answer_item(body, "up/m", 100.0, 60)}
    found = stored_answer(item)
    assert found is not None and found.target_key == "up/m" and found.message.content[0].text == "hi"  # type: ignore[union-attr]
    assert item["expires_at"] == 160.0 and not is_lease(item)
    lease = {"pk": "rcache#x", "sk": "entry", "leases": 1, "token": 7}
    assert stored_answer(lease) is None and is_lease(lease)
    assert stored_answer(None) is None
    assert stored_answer({**item, "body": b"not zlib"}) is None
    assert stored_answer({**item, "body": zlib.compress(b'{"not": "a message"}')}) is None
