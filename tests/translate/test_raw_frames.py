"""``wire.raw_frames.raw_frames`` builds the same ``RawFrames`` as pydantic's ``model_construct``."""

from __future__ import annotations

import pytest

from aimux_core.wire.raw_frames import RAW_FRAMES_TYPE, RawFrames, raw_frames


@pytest.mark.parametrize("frames", [b"", b"event: ping\ndata: {}\n\n", "é".encode() * 3])
def test_raw_frames_is_model_construct_attribute_by_attribute(frames: bytes) -> None:
    fast = raw_frames(frames)
    slow = RawFrames.model_construct(type=RAW_FRAMES_TYPE, frames=frames)
    assert type(fast) is RawFrames and fast == slow
    for name in ("__dict__", "__pydantic_fields_set__", "__pydantic_extra__", "__pydantic_private__"):
        assert getattr(fast, name) == getattr(slow, name), name
    assert fast.model_dump() == slow.model_dump() and fast.dump_json() == slow.dump_json()
    assert fast.model_fields_set == {"type", "frames"}


def test_each_raw_frames_owns_its_containers() -> None:
    one, two = raw_frames(b"a"), raw_frames(b"b")
    assert one.__dict__ is not two.__dict__ and one.model_fields_set is not two.model_fields_set
    assert one.__pydantic_extra__ is not two.__pydantic_extra__
