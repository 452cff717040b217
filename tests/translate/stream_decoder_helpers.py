"""Shared helpers of the ChatChunkDecoder tests (a module, not the conftest, so test files can import it)."""

from __future__ import annotations

from typing import Any


def chunk(delta: dict[str, Any] | None = None, finish: str | None = None, **extra: Any) -> dict[str, Any]:
    body: dict[str, Any] = {"id": "chatcmpl-x1", "object": "chat.completion.chunk", "created": 1, "model": "up"}
    body["choices"] = [{"index": 0, "delta": delta or {}, "logprobs": None, "finish_reason": finish}]
    body.update(extra)
    return body


def usage_chunk(prompt: int = 10, completion: int = 5, **details: Any) -> dict[str, Any]:
    usage: dict[str, Any] = {"prompt_tokens": prompt, "completion_tokens": completion,
                             "total_tokens": prompt + completion}
    if details:
        usage["prompt_tokens_details"] = details
    return {"id": "chatcmpl-x1", "object": "chat.completion.chunk", "created": 1, "model": "up",
            "choices": [], "usage": usage}


def call(index: int | None, *, id: str | None = None, name: str | None = None, args: Any = None) -> dict[str, Any]:
    frag: dict[str, Any] = {}
    if index is not None:
        frag["index"] = index
    if id is not None:
        frag.update(id=id, type="function")
    fn: dict[str, Any] = {}
    if name is not None:
        fn["name"] = name
    if args is not None:
        fn["arguments"] = args
    frag["function"] = fn
    return frag


def tools(*frags: dict[str, Any]) -> dict[str, Any]:
    return {"tool_calls": list(frags)}


def run(wire: Any, chunks: list[dict[str, Any]], **kwargs: Any) -> tuple[list[Any], Any]:
    events = wire.decode(chunks, **kwargs)
    wire.check_grammar(events)
    message = wire.accumulate(events)
    sdk = wire.anthropic_sdk_message(events)
    assert [b.to_dict() for b in sdk.content] == [b.dump() for b in message.content]
    assert sdk.stop_reason == message.stop_reason
    return events, message
