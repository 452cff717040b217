"""Server-Sent Events framing for the Anthropic and OpenAI fakes, plus the framing quirks
(comment lines, CRLF) a tolerant client has to survive."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from typing import Any

from fakes.script import Quirk

COMMENT = b": OPENROUTER PROCESSING\n\n"
SSE_CONTENT_TYPE = "text/event-stream; charset=utf-8"


def dumps(value: Any) -> str:
    """Compact JSON, as the real APIs send it on ``data:`` lines."""
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False)


def frame(data: Any, event: str | None = None) -> bytes:
    """One SSE event; ``data`` that is not a string is JSON-encoded."""
    text = data if isinstance(data, str) else dumps(data)
    head = f"event: {event}\n" if event else ""
    return f"{head}data: {text}\n\n".encode()


def apply_quirks(frames: Iterable[bytes], quirks: frozenset[Quirk]) -> list[bytes]:
    """Framing quirks: a comment line before every event, and/or CRLF line endings.
    A comment shares its event's frame so event counts (for faults) are unchanged."""
    result = []
    for item in frames:
        out = COMMENT + item if Quirk.SSE_COMMENTS in quirks else item
        if Quirk.CRLF in quirks:
            out = out.replace(b"\n", b"\r\n")
        result.append(out)
    return result


def reshape(item: bytes, edit: Callable[[Any], Any]) -> bytes:
    """``item`` (one SSE event) with the JSON on its ``data:`` line passed through ``edit``; lines
    that are not JSON (``[DONE]``, comments, ``event:``) are kept as they are."""
    lines = item.split(b"\n")
    for index, line in enumerate(lines):
        if not line.startswith(b"data: "):
            continue
        try:
            value = json.loads(line[len(b"data: "):])
        except ValueError:
            continue
        lines[index] = b"data: " + dumps(edit(value)).encode()
    return b"\n".join(lines)
