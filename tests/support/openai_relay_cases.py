"""The streams both relay tests run through the relay and the event path (``providers/openai_relay.py``):
scripted replies for the fake OpenAI-compatible upstream, and raw bodies its script cannot write."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import httpx

from aimux_core.errors import AimuxError
from aimux_core.presets import preset
from aimux_core.providers.openai import OpenAIProvider
from aimux_core.providers.transport import Timeouts
from aimux_core.surfaces.exchange import StreamEncoder
from aimux_core.surfaces.http import unexpected_error
from aimux_core.wire.anthropic import MessagesRequest, StreamEvent
from fakes import Fault, OpenAIUpstream, Quirk, Reply, StreamErrorStyle, ToolCall, Usage

BASH = {"name": "Bash", "input_schema": {"type": "object", "properties": {"command": {"type": "string"}}}}
READ = {"name": "Read", "input_schema": {"type": "object", "properties": {"path": {"type": "string"}}}}
TOOLS = ["Bash", "Read"]
WORDS = [f"word{i} " for i in range(12)]


def relay_provider(fake: OpenAIUpstream, http: httpx.AsyncClient, name: str = "openai") -> OpenAIProvider:
    """The real adapter of preset ``name``, pointed at ``fake``."""
    timeouts = Timeouts(connect=2, first_byte=5, idle=5, total=10)
    return OpenAIProvider(name, preset(name), "sk-test", base_url=fake.base_url, client=http, timeouts=timeouts)


def relay_request(**extra: Any) -> MessagesRequest:
    """A streamed request with the two tools (``extra``: more fields, e.g. ``thinking``)."""
    body = {"model": "gpt-client", "max_tokens": 256, "stream": True, "tools": [BASH, READ],
            "messages": [{"role": "user", "content": "hi"}], **extra}  # fmt: skip
    return MessagesRequest.model_validate(body)


REPLIES: dict[str, Reply] = {
    "text": Reply(text=WORDS),
    "text_paced": Reply(text=WORDS, chunk_delay=0.003),
    "text_unicode": Reply(text=["héllo ", "wörld ", "日本語 ", "😀 ", '"quoted" \\ ', "\u2028line "]),
    "text_one_piece": Reply(text="Hi"),
    "no_usage_chunk": Reply(text=WORDS, include_usage=False),
    "reasoning_then_text": Reply(reasoning=["think ", "more ", "again "], text=WORDS[:5]),
    "tool_calls_streamed": Reply(
        text=None,
        tool_calls=[
            ToolCall("Bash", {"command": "ls -la /tmp && echo done"}, id="call_1"),
            ToolCall("Read", {"path": "/etc/hosts"}, id="call_2"),
        ],
        chunk_size=4,
    ),
    "text_then_tool": Reply(
        text=WORDS[:4], tool_calls=[ToolCall("Bash", {"command": "pwd"}, id="call_3")], chunk_size=3
    ),
    "finish_with_content": Reply(text=WORDS, quirks=frozenset({Quirk.FINISH_WITH_CONTENT})),
    "usage_choices_null": Reply(text=WORDS, quirks=frozenset({Quirk.USAGE_CHOICES_NULL})),
    "chunk_usage_null": Reply(text=WORDS, quirks=frozenset({Quirk.CHUNK_USAGE_NULL})),
    "tool_call_no_index": Reply(
        text=None,
        tool_calls=[ToolCall("Bash", {"command": "ls"}, id="call_4")],
        quirks=frozenset({Quirk.TOOL_CALL_NO_INDEX}),
    ),
    "tool_calls_same_index": Reply(
        text=None,
        tool_calls=[ToolCall("Bash", {"command": "ls"}, id="call_5"), ToolCall("Read", {"path": "a"}, id="call_6")],
        quirks=frozenset({Quirk.TOOL_CALLS_SAME_INDEX}),
    ),
    "crlf": Reply(text=WORDS, quirks=frozenset({Quirk.CRLF})),
    "sse_comments": Reply(text=WORDS, quirks=frozenset({Quirk.SSE_COMMENTS})),
    "length": Reply(text=WORDS, stop_reason="max_tokens", usage=Usage(output_tokens=12)),
}


# ------------------------------------------------------------------------------ bodies the script cannot write


def _chunk(delta: str, **extra: str) -> str:
    body = f'{{"id":"chatcmpl-raw1","object":"chat.completion.chunk","created":1,"model":"up","choices":[{delta}]'
    return "data: " + body + "".join(f',"{k}":{v}' for k, v in extra.items()) + "}\n\n"


def _text(piece: str) -> str:
    return _chunk(f'{{"index":0,"delta":{{"content":"{piece}"}},"logprobs":null,"finish_reason":null}}')


HEAD = _chunk('{"index":0,"delta":{"role":"assistant","content":""},"finish_reason":null}')
FINISH = _chunk('{"index":0,"delta":{},"finish_reason":"stop"}')
USAGE = 'data: {"id":"chatcmpl-raw1","choices":[],"usage":{"prompt_tokens":9,"completion_tokens":4}}\n\n'
TEXT = "".join(_text(p) for p in ("one ", "two ", "three ", "four "))
BODIES: dict[str, bytes] = {
    "plain": (HEAD + TEXT + FINISH + USAGE + "data: [DONE]\n\n").encode(),
    "no_space_after_colon": (HEAD + TEXT + 'data:{"choices":[{"delta":{"content":"x"}}]}\n\n' + FINISH).encode(),
    "trailing_spaces": (HEAD + TEXT.replace("}\n\n", "}  \n\n") + FINISH + "data: [DONE] \n\n").encode(),
    "invalid_utf8": (HEAD + TEXT).encode() + b'data: {"choices":[{"delta":{"content":"a\xff"}}]}\n\n' + FINISH.encode(),
    "lone_surrogate": (HEAD + TEXT + _text("bad \\ud800 half") + FINISH).encode(),
    "escaped_unicode": (HEAD + TEXT + _text("caf\\u00e9 \\ud83d\\ude00 \\n\\t") + FINISH).encode(),
    "groq_usage": (
        HEAD
        + TEXT
        + _chunk(
            '{"index":0,"delta":{},"finish_reason":"stop"}',
            x_groq='{"usage":{"prompt_tokens":7,"completion_tokens":3}}',
        )
    ).encode(),
    "after_done": (HEAD + TEXT + FINISH + "data: [DONE]\n\n" + _text("ignored")).encode(),
    "after_done_in_one_frame": (HEAD + TEXT + FINISH).encode().replace(b"\n", b"\r\n")
    + b"data: [DONE]\n\n"
    + _text("ignored").encode(),
    "no_final_blank_line": (HEAD + TEXT + FINISH + USAGE.rstrip("\n")).encode(),
    "not_json": (HEAD + TEXT + "data: {not json\n\n" + FINISH).encode(),
    "array_chunk": (HEAD + TEXT + "data: [1, 2]\n\n" + FINISH).encode(),
    "event_lines": (HEAD + TEXT.replace("data: ", "event: chunk\ndata: ") + FINISH).encode(),
    "multi_line_data": (HEAD + TEXT + 'data: {"choices":[{"delta":\ndata: {"content":"x"}}]}\n\n' + FINISH).encode(),
    "refusal_null_tools_null": (
        HEAD
        + TEXT
        + _chunk('{"index":0,"delta":{"content":"y","refusal":null,"tool_calls":null,"reasoning_content":null}}')
        + FINISH
    ).encode(),
    "truncated": (HEAD + TEXT).encode(),
    "blank_frames": (HEAD + TEXT.replace("\n\n", "\n\n\n\n\n") + FINISH).encode(),
}
PLAIN = BODIES["plain"]
BODIES |= {
    "crlf": PLAIN.replace(b"\n", b"\r\n"),
    "cr_only": PLAIN.replace(b"\n", b"\r"),
    "lf_then_crlf": PLAIN[:400] + PLAIN[400:].replace(b"\n", b"\r\n"),
    "crlf_then_lf": PLAIN[:400].replace(b"\n", b"\r\n") + PLAIN[400:],
    "crlf_line_then_lf_blank": PLAIN.replace(b"}\n\n", b"}\r\n\n"),
    "lf_line_then_crlf_blank": PLAIN.replace(b"}\n\n", b"}\n\r\n"),
    "crlf_with_bare_cr": PLAIN.replace(b"\n", b"\r\n").replace(
        b'\r\n\r\ndata: {"id":"chatcmpl-raw1","object"', b'\r\r\n\r\ndata: {"id":"chatcmpl-raw1","object"', 2
    ),
}


# ------------------------------------------------------------------------------ both paths, as the client sees them


Outcome = tuple[list[StreamEvent], AimuxError | None]
"""A stream's events and the error it ended with (None: it ended well)."""


async def both_paths(
    fake: OpenAIUpstream, reply: Reply | Fault, run: Callable[[bool], Awaitable[Outcome]]
) -> tuple[Outcome, Outcome]:
    """``reply`` streamed twice: ``run(True)`` through the relay, then ``run(False)`` through the event path."""
    fake.enqueue(reply)
    relayed = await run(True)
    fake.enqueue(reply)
    return relayed, await run(False)


def surface_bytes(encoder: StreamEncoder, events: list[StreamEvent], error: AimuxError | None) -> bytes:
    """What a surface writes for a stream's events and the error it ended with (``Exchange._encode``)."""
    out: list[bytes] = []
    try:
        for event in events:
            out += encoder.frames(event)
        if error is not None:
            raise error
        out += encoder.closing()
    except AimuxError as failure:
        out.append(encoder.error_frame(failure))
    except Exception as exc:  # what the exchange answers for a fault of aimux's own
        out.append(encoder.error_frame(unexpected_error(exc, "req_relay")))
    return b"".join(out)


def read_splits(body: bytes) -> list[list[bytes]]:
    """``body`` read at once, byte by byte, and cut into two reads at every byte."""
    splits = [[body], [body[i : i + 1] for i in range(len(body))]]
    return splits + [[body[:cut], body[cut:]] for cut in range(1, len(body))]


async def reads_of(reads: list[bytes]) -> AsyncIterator[bytes]:
    """A body arriving in ``reads``."""
    for read in reads:
        yield read


def _text_not_a_string(payload: Any) -> Any:
    choices = payload.get("choices") if isinstance(payload, dict) else None
    if choices and choices[0].get("delta", {}).get("content") == "word5 ":
        return {**payload, "choices": [{**choices[0], "delta": {"content": 5}}]}
    return payload


MIDSTREAM_FAULTS: dict[str, Fault] = {
    "error_chunk": Fault.stream_error(after_events=6, error_type="server_error", message="busy"),
    "openrouter_error": Fault.stream_error(after_events=6, message="busy", style=StreamErrorStyle.OPENROUTER),
    "vllm_error": Fault.stream_error(after_events=6, message="busy", style=StreamErrorStyle.VLLM),
    "truncate": Fault.truncate(after_events=7),
    "malformed_json": Fault.malformed_json(after_events=7),
    "reshape": Fault.reshape(_text_not_a_string),
    "disconnect": Fault.disconnect(after_events=7),
}
"""Failures after a few text chunks (each given its reply by the test)."""
