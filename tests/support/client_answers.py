"""What a client ended up holding, in one shape for both dialects, and what it should hold.

``Answer`` (built by ``anthropic_answer`` / ``openai_answer`` from the SDK's final object, streamed
or not) lets a cell compare the SDK's view with what the upstream said, and a stream with a
non-stream; ``expected_answer`` is the ``Answer`` a scripted ``Reply`` must produce, and
``check_ids`` checks the tool-call ids it leaves aside.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, replace
from typing import Any

from fakes import Reply, Usage

_VALID_ANTHROPIC_ID = re.compile(r"[A-Za-z0-9_-]+")


@dataclass(frozen=True)
class Call:
    id: str
    name: str
    input: dict[str, Any]


@dataclass(frozen=True)
class Answer:
    """A final answer in one shape for both client dialects, streamed or not, so cells can compare
    the SDK's view with what the upstream said and stream with non-stream."""

    parts: tuple[str, ...]  # block types in order; OpenAI: reasoning?, text?, tool_call*
    text: str
    reasoning: str
    signature: str | None
    calls: tuple[Call, ...]
    stop: str | None
    usage: dict[str, int]

    def without_ids(self) -> Answer:
        return replace(self, calls=tuple(replace(c, id="") for c in self.calls))


def anthropic_answer(message: Any) -> Answer:
    """The Anthropic SDK's ``Message`` (from ``create`` or ``get_final_message``) as an ``Answer``."""
    texts, thoughts, signatures, calls = [], [], [], []
    for block in message.content:
        if block.type == "text":
            texts.append(block.text)
        elif block.type == "thinking":
            thoughts.append(block.thinking)
            signatures.append(block.signature)
        elif block.type == "tool_use":
            calls.append(Call(block.id, block.name, dict(block.input)))
    usage = message.usage
    return Answer(
        parts=tuple(block.type for block in message.content),
        text="".join(texts),
        reasoning="".join(thoughts),
        signature=signatures[-1] if signatures else None,
        calls=tuple(calls),
        stop=message.stop_reason,
        usage={"input_tokens": usage.input_tokens, "output_tokens": usage.output_tokens,
               "cache_read_input_tokens": usage.cache_read_input_tokens or 0,
               "cache_creation_input_tokens": usage.cache_creation_input_tokens or 0},
    )


def openai_answer(completion: Any) -> Answer:
    """The OpenAI SDK's ``ChatCompletion`` (from ``create`` or ``get_final_completion``) as an ``Answer``.

    ``content`` ``None`` and ``""`` both count as no text: the SDK's stream accumulator turns the
    first chunk's ``content: ""`` into ``""`` where the non-streamed answer says ``null``.
    """
    assert len(completion.choices) == 1, "exactly one choice"
    choice = completion.choices[0]
    message = choice.message
    reasoning = (message.model_extra or {}).get("reasoning_content") or ""
    calls = tuple(Call(c.id, c.function.name, json.loads(c.function.arguments)) for c in message.tool_calls or ())
    parts = (("reasoning",) if reasoning else ()) + (("text",) if message.content else ()) + ("tool_call",) * len(calls)
    usage = completion.usage
    assert usage is not None, "the completion carries usage"
    details = usage.prompt_tokens_details
    return Answer(
        parts=parts,
        text=message.content or "",
        reasoning=reasoning,
        signature=None,
        calls=calls,
        stop=choice.finish_reason,
        usage={"prompt_tokens": usage.prompt_tokens, "completion_tokens": usage.completion_tokens,
               "total_tokens": usage.total_tokens, "cached_tokens": (details.cached_tokens if details else 0) or 0},
    )


def anthropic_usage_of(usage: Usage) -> dict[str, int]:
    """The usage an Anthropic client must see for a scripted ``Usage`` (input excludes cache)."""
    return {"input_tokens": usage.input_tokens, "output_tokens": usage.output_tokens,
            "cache_read_input_tokens": usage.cache_read_input_tokens,
            "cache_creation_input_tokens": usage.cache_creation_input_tokens}


def openai_usage_of(usage: Usage) -> dict[str, int]:
    """The usage an OpenAI client must see (``prompt_tokens`` includes cache reads and writes)."""
    return {"prompt_tokens": usage.total_input, "completion_tokens": usage.output_tokens,
            "total_tokens": usage.total_input + usage.output_tokens, "cached_tokens": usage.cache_read_input_tokens}


def is_valid_anthropic_id(value: str) -> bool:
    return _VALID_ANTHROPIC_ID.fullmatch(value) is not None


def expected_answer(reply: Reply, client: str) -> Answer:
    """What a client must hold for a scripted reply, tool ids aside (see ``check_ids``)."""
    calls = tuple(Call("", c.name, c.arguments_object) for c in reply.tool_calls)
    reasoning = reply.full_reasoning if reply.reasoning is not None else ""
    text = ("text",) if reply.text is not None else ()
    if client == "anthropic":
        parts = (("thinking",) if reasoning else ()) + text + ("tool_use",) * len(calls)
        return Answer(parts, reply.full_text, reasoning, reply.signature if reasoning else None, calls,
                      "tool_use" if calls else "end_turn", anthropic_usage_of(reply.usage))
    parts = (("reasoning",) if reasoning else ()) + text + ("tool_call",) * len(calls)
    return Answer(parts, reply.full_text, reasoning, None, calls, "tool_calls" if calls else "stop",
                  openai_usage_of(reply.usage))


def check_ids(actual: Answer, upstream_ids: list[str | None], client: str) -> None:
    ids = [c.id for c in actual.calls]
    assert len(set(ids)) == len(ids), f"tool-call ids must be distinct: {ids}"
    for got, sent in zip(ids, upstream_ids, strict=True):
        assert sent is not None
        if client == "openai":
            assert got == sent, "OpenAI clients get the upstream's tool-call id unchanged"
        else:
            assert is_valid_anthropic_id(got), f"not a valid Anthropic tool_use id: {got!r}"
            if is_valid_anthropic_id(sent):
                assert got == sent, "a valid id is passed through unchanged"
