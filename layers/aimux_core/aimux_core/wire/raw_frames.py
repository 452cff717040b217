"""``RawFrames``: SSE frames already in the client's dialect, carried through the event stream as bytes.

Why: a same-dialect stream from an upstream that needs no normalisation (``providers/anthropic_relay.py``)
forwards the upstream's frames after the first content event instead of parsing and re-encoding each
event; an OpenAI client's stream from an OpenAI-dialect upstream gets its plain text chunks written in
the chat surface's form by the adapter (``providers/openai_relay.py``). The frames travel through the
dispatcher and the surface like any event (so failover, breaker and health outcomes and the stream's
end are handled where they always were), as one object per run of frames.

Contract for every consumer of an ``EventStream``: a ``RawFrames`` is an ``OtherEvent`` (so exhaustive
dispatches treat it as an event to pass on) that carries no usage and no first content; an encoder
for the dialect it was made for writes ``frames`` unchanged. It is only ever produced when the
surface asked for it (``RequestContext.raw_frames`` for Anthropic frames, ``RequestContext.chat_form``
for chat chunks), so encoders for other dialects never see one.
"""

from __future__ import annotations

from .anthropic import OtherEvent

RAW_FRAMES_TYPE = "raw_frames"


class RawFrames(OtherEvent):
    """Complete SSE frames (``event: …\\ndata: …\\n\\n``, one or more), to be written as they are."""

    frames: bytes


_FIELDS = frozenset({"type", "frames"})


def raw_frames(frames: bytes) -> RawFrames:
    """A ``RawFrames`` without validation (the bytes were checked by whoever cut them).

    The instance ``RawFrames.model_construct(type=RAW_FRAMES_TYPE, frames=frames)`` makes, set up the way
    that method sets one up but without its generic field loop (a third of its cost; one per read of a
    relayed stream). ``tests/translate/test_raw_frames.py`` holds the two equal, attribute by attribute.
    """
    event = object.__new__(RawFrames)
    object.__setattr__(event, "__dict__", {"type": RAW_FRAMES_TYPE, "frames": frames})
    object.__setattr__(event, "__pydantic_fields_set__", set(_FIELDS))
    object.__setattr__(event, "__pydantic_extra__", {})
    object.__setattr__(event, "__pydantic_private__", None)
    return event
