"""The stream rules of each client dialect, checked on the raw SSE bytes the gateway sent.

The SDKs fold a stream into a final object and hide what the rules are about (``event:`` lines,
``[DONE]``, where usage and ``finish_reason`` come), so these read the bytes a ``WireTap`` kept.
"""

from __future__ import annotations

import json
from typing import Any

from aimux_core.wire.sse import SSEParser
from support.anthropic_grammar import check_anthropic_stream, parse_anthropic_sse
from support.client_answers import is_valid_anthropic_id


def check_anthropic_sse(raw: bytes, *, model: str, allow_error: bool = False) -> list[dict[str, Any]]:
    """The gateway's Anthropic SSE, parsed and checked against the grammar (``event:`` lines
    included, which the SDK's folded view cannot show)."""
    assert raw, "empty stream body"
    assert b"[DONE]" not in raw, "the Messages API has no [DONE] sentinel"
    events = parse_anthropic_sse(raw)
    check_anthropic_stream(events, allow_error=allow_error)
    assert events[0]["message"]["model"] == model, "message_start must carry the model the client asked for"
    for event in events:
        if event["type"] == "content_block_start" and event["content_block"]["type"] == "tool_use":
            assert is_valid_anthropic_id(event["content_block"]["id"]), event["content_block"]["id"]
    return events


def check_openai_sse(raw: bytes, *, model: str, include_usage: bool, allow_error: bool = False) -> list[dict[str, Any]]:
    """The gateway's OpenAI SSE: ``data:`` lines only, one id and model throughout, the role first,
    exactly one ``finish_reason``, tool-call fragments keyed by ``index`` with id/name only in the
    first, the usage chunk (``choices: []``) last when asked for, then ``[DONE]`` — or, for an
    errored stream, a final ``{"error": ...}`` chunk and no ``[DONE]``. Returns the chunks."""
    assert raw, "empty stream body"
    parser = SSEParser()
    events = [*parser.feed(raw), *parser.finish()]
    assert all(e.event is None for e in events), "OpenAI streams carry no event: lines"
    data = [e.data for e in events]
    if allow_error:
        assert "[DONE]" not in data, "an errored stream must not end with [DONE]"
        error = json.loads(data[-1])
        assert set(error) == {"error"} and error["error"]["message"], f"last chunk is not an error: {error}"
        chunks = [json.loads(d) for d in data[:-1]]
    else:
        assert data[-1] == "[DONE]" and data.count("[DONE]") == 1, "stream must end with one data: [DONE]"
        chunks = [json.loads(d) for d in data[:-1]]
    assert all("error" not in c for c in chunks), "error chunk before the end"
    if not chunks:
        return chunks
    assert {c["id"] for c in chunks} == {chunks[0]["id"]}, "every chunk repeats one id"
    assert all(c["object"] == "chat.completion.chunk" and c["model"] == model for c in chunks)
    with_choices = [c for c in chunks if c["choices"]]
    if with_choices:
        assert with_choices[0]["choices"][0]["delta"].get("role") == "assistant", "the first delta carries the role"
    finishes = [c["choices"][0]["finish_reason"] for c in with_choices if c["choices"][0]["finish_reason"]]
    assert len(finishes) <= 1 if allow_error else len(finishes) == 1, f"finish_reason count: {finishes}"
    seen: set[int] = set()
    for chunk in with_choices:
        for fragment in chunk["choices"][0]["delta"].get("tool_calls") or ():
            index = fragment["index"]
            if index not in seen:
                seen.add(index)
                assert fragment.get("id") and fragment["function"].get("name"), "first fragment names the call"
                assert fragment.get("type") == "function"
            else:
                assert not fragment.get("id") and not fragment["function"].get("name"), "id/name only once"
    if include_usage and not allow_error:
        assert chunks[-1]["choices"] == [] and chunks[-1]["usage"], "usage chunk must come last, choices: []"
        assert all(c.get("usage") is None for c in chunks[:-1]), "only the last chunk carries usage"
    elif not allow_error:
        assert all(c["choices"] for c in chunks), "no usage chunk unless stream_options.include_usage"
    return chunks
