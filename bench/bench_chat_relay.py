#!/usr/bin/env python3
"""CPU of an OpenAI client's stream from an OpenAI-dialect upstream: the relay against the event path.

In-process, no sockets (``bench_translate.MemoryTransport`` hands ``OpenAIProvider.stream`` the prepared
reads), on a uvloop event loop: the real adapter under the chat surface's per-event work (the usage tally
and ``_ChatFrames``, as ``Exchange._encode`` runs them), once with ``RequestContext.chat_form`` set (the
relay, ``providers/openai_relay.py``) and once without (every chunk through canonical events), the two
alternated run by run so the machine's load falls on both alike. The streams are ``bench_translate``'s
(1,000 chunks: ``text``, ``reasoning``, ``tool``), read one chunk per read or in 16 KiB reads; the client
asked for usage and for reasoning. Figures: CPU ms per stream (``time.process_time``), min and median.

Run: ``.venv/bin/python bench/bench_chat_relay.py [--repeat 30] [--pin]``.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))

from bench_translate import MemoryTransport, _new_loop, _request, build_stream, reads


def stream_path(shape: str, relay: bool, loop: asyncio.AbstractEventLoop) -> Callable[[list[bytes]], int]:
    """One stream through the adapter and the chat surface's encoding; returns the bytes written."""
    from aimux_core.accounting.record import RequestTimer, StreamTally
    from aimux_core.presets import preset
    from aimux_core.providers.base import RequestContext, UpstreamCall
    from aimux_core.providers.openai import OpenAIProvider
    from aimux_core.surfaces.chat import _ChatFrames
    from aimux_core.translate.openai_stream_encode import ChatChunkEncoder, ChunkForm

    provider = OpenAIProvider("bench", preset("openai"), "sk-bench")
    form = ChunkForm(model="gpt-bench", created=1767225600, include_usage=True, include_reasoning=True)
    tools = ["write_file"] if shape == "tool" else []

    async def consume(chunks: list[bytes]) -> int:
        provider._transport = MemoryTransport(chunks)  # type: ignore[assignment]
        context = RequestContext(request_id="req_bench", chat_form=form if relay else None)
        encoder = _ChatFrames(ChatChunkEncoder(model=form.model, created=form.created, include_usage=True,
                                               include_reasoning=True, tool_names=tools))  # fmt: skip
        tally = StreamTally(RequestTimer())
        written = 0
        async for event in provider.stream(UpstreamCall(_request(shape), "gpt-4o-mini", context)):
            tally.observe(event)
            written += sum(len(frame) for frame in encoder.frames(event))
        return written + sum(len(frame) for frame in encoder.closing())

    return lambda chunks: loop.run_until_complete(consume(chunks))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--repeat", type=int, default=30, help="timed runs per path and case (default 30)")
    parser.add_argument("--pin", action="store_true", help="run on CPU 1")
    args = parser.parse_args(argv)
    if args.pin:
        os.sched_setaffinity(0, {1})
    loop = _new_loop()
    print("| stream | delivery | reads | event path ms (min / median) | relay ms (min / median) | saved (medians) |")
    print("|---|---|--:|--:|--:|--:|")
    try:
        for shape in ("text", "reasoning", "tool"):
            events = build_stream(shape)
            for delivery in ("per-chunk", "16KiB"):
                chunks = reads(events, delivery)
                paths = {relay: stream_path(shape, relay, loop) for relay in (False, True)}
                written = {relay: run(chunks) for relay, run in paths.items()}  # warm-up, and the same output
                assert written[False] == written[True], (shape, delivery, written)
                times: dict[bool, list[float]] = {False: [], True: []}
                for _ in range(args.repeat):
                    for relay, run in paths.items():
                        start = time.process_time()
                        run(chunks)
                        times[relay].append((time.process_time() - start) * 1e3)
                slow, fast = (statistics.median(times[r]) for r in (False, True))
                print(f"| {shape} | {delivery} | {len(chunks)} | {min(times[False]):.2f} / {slow:.2f} | "
                      f"{min(times[True]):.2f} / {fast:.2f} | {1 - fast / slow:.0%} |")  # fmt: skip
    finally:
        loop.close()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
