#!/usr/bin/env python3
"""CPU cost of translating a 1,000-chunk OpenAI stream into Anthropic SSE, stage by stage.

Why: an Anthropic client (Claude Code) routed to an OpenAI-dialect upstream gets every token
through ``wire.sse.SSEParser`` → ``json.loads`` → ``translate.openai_stream_decode.ChatChunkDecoder``
→ ``wire.sse.anthropic_frame(event.type, event.dump_json())``. Long answers are thousands of chunks,
so the per-chunk cost decides whether translation is noise or the gateway's main cost. The issue's
target: under 20 ms of CPU for 1,000 chunks.

Measured in-process (no sockets), CPU time (``time.process_time``), best of ``--repeat`` runs:

- ``sse``: the SSE parser over the body, delivered as one read per chunk (as tokens arrive from a
  model) or in 16 KiB reads (a fast upstream, or a client that fell behind);
- ``+ json``: plus ``json.loads`` of every ``data:`` payload;
- ``+ decode``: plus ``ChatChunkDecoder.feed``/``finish`` (canonical pydantic events);
- ``+ encode``: plus the Anthropic surface's framing of every event (``dump_json`` + ``anthropic_frame``);
- ``provider path``: the real ``OpenAIProvider.stream`` (its transport replaced by the in-memory
  reads) under the Anthropic surface's ``_encode_stream`` (with its usage tally), on a uvloop event
  loop: every async-generator layer of the live path, without sockets.

Stream shapes (1,000 ``chat.completion.chunk`` objects each, plus ``data: [DONE]``): ``text``
(role chunk, 997 content deltas of ~4 characters, finish, usage), ``tool`` (one call whose
arguments come in 996 fragments), ``reasoning`` (500 ``reasoning_content`` deltas then text).

Run: ``.venv/bin/python bench/bench_translate.py`` (``--pin`` to run on CPU 1, ``--json`` for raw figures).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import sys
import time
from collections.abc import AsyncIterator, Callable, Iterator
from typing import Any

CHUNKS = 1000
TARGET_MS = 20.0
COALESCED_READ = 16 * 1024
WORDS = ("the ", "pool ", "keeps ", "TCP ", "and ", "TLS ", "open; ", "each ", "call ", "skips ", "hand", "shakes. ")


def _chunk(delta: dict[str, Any] | None, finish: str | None = None, usage: dict[str, Any] | None = None) -> bytes:
    base = {"id": "chatcmpl-bench", "object": "chat.completion.chunk", "created": 1767225600,
            "model": "gpt-4o-mini-2024-07-18", "system_fingerprint": "fp_bench"}  # fmt: skip
    choices = [] if delta is None else [{"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish}]
    data = {**base, "choices": choices, "usage": usage}
    return b"data: " + json.dumps(data, separators=(",", ":")).encode() + b"\n\n"


def build_stream(shape: str, chunks: int = CHUNKS) -> list[bytes]:
    """The ``data:`` events of one stream of ``chunks`` chunk objects (plus ``[DONE]``), one per element."""
    usage = {"prompt_tokens": 1200, "completion_tokens": chunks, "total_tokens": 1200 + chunks}
    body = chunks - 3  # role, finish and usage chunks frame the content
    events = [_chunk({"role": "assistant", "content": ""})]
    if shape == "text":
        events += [_chunk({"content": WORDS[i % len(WORDS)]}) for i in range(body)]
        finish = "stop"
    elif shape == "reasoning":
        half = body // 2
        events += [_chunk({"reasoning_content": WORDS[i % len(WORDS)]}) for i in range(half)]
        events += [_chunk({"content": WORDS[i % len(WORDS)]}) for i in range(body - half)]
        finish = "stop"
    elif shape == "tool":
        head = {"index": 0, "id": "call_bench0001", "type": "function",
                "function": {"name": "write_file", "arguments": '{"path":"notes.md","text":"'}}  # fmt: skip
        events.append(_chunk({"tool_calls": [head]}))
        events += [
            _chunk({"tool_calls": [{"index": 0, "function": {"arguments": WORDS[i % len(WORDS)].strip()}}]})
            for i in range(body - 2)
        ]
        events.append(_chunk({"tool_calls": [{"index": 0, "function": {"arguments": '"}'}}]}))
        finish = "tool_calls"
    else:
        raise ValueError(shape)
    events += [_chunk({}, finish=finish), _chunk(None, usage=usage), b"data: [DONE]\n\n"]
    assert len(events) == chunks + 1
    return events


def reads(events: list[bytes], delivery: str) -> list[bytes]:
    """The network reads the gateway would see: one per event, or the body cut into 16 KiB reads."""
    if delivery == "per-chunk":
        return events
    body = b"".join(events)
    return [body[i : i + COALESCED_READ] for i in range(0, len(body), COALESCED_READ)]


# --------------------------------------------------------------------------- synchronous stages


def _request(shape: str) -> Any:
    from aimux_core.wire.anthropic import MessagesRequest

    body: dict[str, Any] = {
        "model": "gpt-bench", "max_tokens": 4096, "stream": True,
        "messages": [{"role": "user", "content": "Write the notes file."}],
    }  # fmt: skip
    if shape == "tool":
        body["tools"] = [{"name": "write_file", "description": "Write a file.", "input_schema": {
            "type": "object", "properties": {"path": {"type": "string"}, "text": {"type": "string"}}}}]  # fmt: skip
    return MessagesRequest.model_validate(body)


def _decoder(shape: str) -> Any:
    from aimux_core.translate.openai_stream_decode import ChatChunkDecoder
    from aimux_core.translate.thinking import sign_reasoning

    names = ["write_file"] if shape == "tool" else []
    return ChatChunkDecoder(
        model="gpt-bench", input_tokens=1200, provider="bench", tool_names=names,
        signer=lambda text: sign_reasoning("bench", text),
    )  # fmt: skip


def stage_fn(stage: str, shape: str) -> Callable[[list[bytes]], int]:
    """A function that runs ``stage`` (cumulative) over the reads and returns the events it produced."""
    from aimux_core.wire.sse import SSEParser, anthropic_frame

    def run(chunks: list[bytes]) -> int:
        parser = SSEParser()
        decoder = _decoder(shape) if stage in ("decode", "encode") else None
        produced = 0

        def handle(data: str) -> None:
            nonlocal produced
            if stage == "sse" or not data or data == "[DONE]":
                produced += 1
                return
            chunk = json.loads(data)
            if decoder is None:
                produced += 1
                return
            for event in decoder.feed(chunk):
                produced += 1
                if stage == "encode":
                    anthropic_frame(event.type, event.dump_json())

        for raw in chunks:
            for sse in parser.feed(raw):
                handle(sse.data)
        for sse in parser.finish():
            handle(sse.data)
        if decoder is not None:
            for event in decoder.finish():
                produced += 1
                if stage == "encode":
                    anthropic_frame(event.type, event.dump_json())
        return produced

    return run


# --------------------------------------------------------------------------- the real async path


class MemoryTransport:
    """Stands in for ``HttpTransport``: ``stream`` yields the prepared reads, no socket involved."""

    def __init__(self, chunks: list[bytes]) -> None:
        self.chunks = chunks

    async def stream(self, url: str, headers: Any, body: bytes) -> AsyncIterator[bytes]:
        for chunk in self.chunks:
            yield chunk


def provider_path(shape: str, loop: asyncio.AbstractEventLoop) -> Callable[[list[bytes]], int]:
    """``OpenAIProvider.stream`` under the Anthropic surface's ``_encode_stream``, as served live."""
    from aimux_core.accounting.record import RequestTimer, StreamTally
    from aimux_core.presets import preset
    from aimux_core.providers.base import RequestContext, UpstreamCall
    from aimux_core.providers.openai import OpenAIProvider
    from aimux_core.surfaces.messages import _encode_stream

    provider = OpenAIProvider("bench", preset("openai"), "sk-bench")
    call = UpstreamCall(_request(shape), "gpt-4o-mini", RequestContext(request_id="req_bench"))

    async def consume(chunks: list[bytes]) -> int:
        provider._transport = MemoryTransport(chunks)  # type: ignore[assignment]
        frames = 0
        tally = StreamTally(RequestTimer())  # the surface's usage tally, as served (its record is not published)
        async for _frame in _encode_stream(provider.stream(call), tally, lambda: None, "req_bench"):
            frames += 1
        return frames

    def run(chunks: list[bytes]) -> int:
        return loop.run_until_complete(consume(chunks))

    return run


def _new_loop() -> asyncio.AbstractEventLoop:
    try:
        import uvloop
    except ImportError:
        return asyncio.new_event_loop()
    return uvloop.new_event_loop()


# --------------------------------------------------------------------------- main


def cpu_ms(fn: Callable[[list[bytes]], int], chunks: list[bytes], repeat: int) -> tuple[list[float], int]:
    """CPU ms of ``repeat`` runs (after one untimed warm-up) and the event count of the last."""
    produced = fn(chunks)
    times = []
    for _ in range(repeat):
        start = time.process_time()
        produced = fn(chunks)
        times.append((time.process_time() - start) * 1e3)
    return times, produced


def cases(shapes: list[str], deliveries: list[str]) -> Iterator[tuple[str, str, list[bytes]]]:
    for shape in shapes:
        events = build_stream(shape)
        for delivery in deliveries:
            yield shape, delivery, reads(events, delivery)


def measure_case(
    shape: str, delivery: str, chunks: list[bytes], stages: list[str], loop: asyncio.AbstractEventLoop, repeat: int
) -> dict[str, Any]:
    """Every stage (and the provider path) over one stream shape and delivery."""
    row: dict[str, Any] = {"shape": shape, "delivery": delivery, "reads": len(chunks), "bytes": sum(map(len, chunks))}
    for stage in [*stages, "provider"]:
        fn = provider_path(shape, loop) if stage == "provider" else stage_fn(stage, shape)
        times, produced = cpu_ms(fn, chunks, repeat)
        row[stage] = {"min_ms": min(times), "median_ms": statistics.median(times), "out": produced}
    line = "  ".join(f"{s} {row[s]['min_ms']:.2f}" for s in [*stages, "provider"])
    print(f"  {shape:9} {delivery:9} {line}", file=sys.stderr)
    return row


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--repeat", type=int, default=20, help="timed runs per figure (default 20)")
    parser.add_argument("--pin", action="store_true", help="run on CPU 1 (away from the usual gateway core)")
    parser.add_argument("--json", metavar="PATH", help="also write the raw figures as JSON")
    args = parser.parse_args(argv)
    if args.pin:
        os.sched_setaffinity(0, {1})
    stages = ["sse", "json", "decode", "encode"]
    titles = {"sse": "sse", "json": "+ json", "decode": "+ decode", "encode": "+ encode", "provider": "provider path"}
    results: list[dict[str, Any]] = []
    loop = _new_loop()
    try:
        for shape, delivery, chunks in cases(["text", "tool", "reasoning"], ["per-chunk", "16KiB"]):
            results.append(measure_case(shape, delivery, chunks, stages, loop, args.repeat))
    finally:
        loop.close()
    print(f"### Translating a {CHUNKS:,}-chunk OpenAI stream to Anthropic SSE (CPU ms, min / median of "
          f"{args.repeat}; target < {TARGET_MS:g} ms)")  # fmt: skip
    print()
    print("| shape | delivery | reads | KB | " + " | ".join(titles[s] for s in [*stages, "provider"])
          + " | events out | verdict |")  # fmt: skip
    print("|---|---|--:|--:|" + "--:|" * (len(stages) + 1) + "--:|---|")
    for row in results:
        worst = max(row["encode"]["min_ms"], row["provider"]["min_ms"])
        figures = " | ".join(f"{row[s]['min_ms']:.1f} / {row[s]['median_ms']:.1f}" for s in [*stages, "provider"])
        verdict = "met" if worst < TARGET_MS else "**missed**"
        print(f"| {row['shape']} | {row['delivery']} | {row['reads']} | {row['bytes'] / 1024:.0f} | {figures} "
              f"| {row['provider']['out']} | {verdict} |")  # fmt: skip
    if args.json:
        with open(args.json, "w") as handle:
            json.dump(results, handle, indent=2)
    return 0


if __name__ == "__main__":
    sys.exit(main())
