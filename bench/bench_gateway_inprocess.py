#!/usr/bin/env python3
"""CPU per request of the gateway and a real Anthropic adapter, in-process: no sockets, no load generator.

Why: the socket benchmarks (``bench_gateway.py``, ``bench_upstream.py``) need two cores to themselves, and
on a shared machine their per-request figures move by ±20 %; a change of a few percent to the hot path
cannot be seen there. This drives ``Gateway.create`` / ``Gateway.open_stream`` (selection, admission with
auth off, dispatch, the real ``AnthropicProvider`` building its body, parsing its answer), then builds the
request record and writes its metrics and log line (``record_served`` + ``publish``, to ``/dev/null``), as a
surface does. The upstream is an ``httpx.MockTransport`` answering canned bytes: what is measured is aimux.
CPU time (``time.process_time``) per request, best of ``--repeat`` runs of ``--number`` requests.

Rows: the recorded Claude Code turn (its own cache breakpoints: left alone) as JSON and as a stream; the
same coding conversation without breakpoints after 10 tool turns (automatic prompt caching plans and
places breakpoints, where the adapter has that code); a small one-line request.

For a paired A/B against another tree, run it alternately with ``PYTHONPATH=<tree>/layers/aimux_core``.
Run: ``.venv/bin/python bench/bench_gateway_inprocess.py [--number N] [--repeat R]``
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import sys
import time
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))  # the conversation builder lives with the tests

from aimux_core.accounting.metrics import Emission  # noqa: E402
from aimux_core.accounting.record import RequestTimer, StreamTally  # noqa: E402
from aimux_core.assembly import build_gateway  # noqa: E402
from aimux_core.config.validate import validate_config  # noqa: E402
from aimux_core.providers.base import RequestContext  # noqa: E402
from aimux_core.routing.select import RequestMeta  # noqa: E402
from aimux_core.state import MemoryStore  # noqa: E402
from aimux_core.surfaces.recording import publish, record_served  # noqa: E402
from aimux_core.wire.anthropic import MessagesRequest  # noqa: E402
from support.coding_session import anthropic_body  # noqa: E402

FIXTURE = ROOT / "tests" / "fixtures" / "claude_code" / "request_tool_turn1.json"
USAGE = {"input_tokens": 12, "cache_creation_input_tokens": 0, "cache_read_input_tokens": 30000, "output_tokens": 40}
MESSAGE = json.dumps({"id": "msg_bench", "type": "message", "role": "assistant", "model": "claude-sonnet-4-5",
                      "content": [{"type": "text", "text": "Reading the module now."}], "stop_reason": "end_turn",
                      "stop_sequence": None, "usage": USAGE}).encode()  # fmt: skip


def _sse() -> bytes:
    events = [
        {"type": "message_start", "message": {"id": "msg_bench", "type": "message", "role": "assistant",
                                              "model": "claude-sonnet-4-5", "content": [], "stop_reason": None,
                                              "stop_sequence": None, "usage": {**USAGE, "output_tokens": 1}}},
        {"type": "content_block_start", "index": 0, "content_block": {"type": "text", "text": ""}},
        *[{"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": word}}
          for word in ("Reading ", "the ", "module ", "now", ".")],
        {"type": "content_block_stop", "index": 0},
        {"type": "message_delta", "delta": {"stop_reason": "end_turn", "stop_sequence": None},
         "usage": {"output_tokens": 40}},
        {"type": "message_stop"},
    ]  # fmt: skip
    return b"".join(f"event: {e['type']}\ndata: {json.dumps(e)}\n\n".encode() for e in events)


SSE = _sse()
EMISSION = Emission()


def _answer(request: httpx.Request) -> httpx.Response:
    streaming = json.loads(request.content).get("stream") is True
    if streaming:  # a fresh byte stream each time: the transport reads the raw body
        return httpx.Response(200, headers={"content-type": "text/event-stream"}, stream=httpx.ByteStream(SSE))
    return httpx.Response(200, headers={"content-type": "application/json"}, stream=httpx.ByteStream(MESSAGE))


def gateway() -> Any:
    price = {"input": 3, "output": 15, "cache_read": 0.3, "cache_write": 3.75}
    config = validate_config({
        "providers": {"anthropic": {"preset": "anthropic", "base_url": "http://upstream.invalid",
                                    "api_key_env": "BENCH_KEY"}},
        "models": {"claude-sonnet-4-5": {"provider": "anthropic", "upstream_model": "claude-sonnet-4-5-20250929",
                                         "context_window": 200_000, "max_output": 64_000, "price": price}},
    }, "bench.yaml")  # fmt: skip
    client = httpx.AsyncClient(transport=httpx.MockTransport(_answer))
    return build_gateway(config, env={"BENCH_KEY": "sk-bench"}, client=client, store=MemoryStore())


def requests() -> dict[str, tuple[MessagesRequest, str | None]]:
    recorded = json.loads(FIXTURE.read_text())
    claude_code = dict(recorded["body"], model="claude-sonnet-4-5")
    session = recorded["headers"].get("X-Claude-Code-Session-Id")
    small = {"model": "claude-sonnet-4-5", "max_tokens": 256, "messages": [{"role": "user", "content": "Hi there"}]}
    return {
        "claude-code JSON": (MessagesRequest.model_validate({**claude_code, "stream": False}), session),
        "claude-code stream": (MessagesRequest.model_validate(claude_code), session),
        "no breakpoints, 10 tool turns JSON": (MessagesRequest.model_validate(anthropic_body(10)), None),
        "small JSON": (MessagesRequest.model_validate(small), None),
    }


async def one(gw: Any, request: MessagesRequest, session: str | None, stream: bool) -> None:
    context = RequestContext("req_bench", anthropic_version="2023-06-01", session_id=session)
    meta = RequestMeta(session_id=session)
    timer = RequestTimer()
    if stream:
        opened = await gw.open_stream(request, context, meta)
        tally = StreamTally(timer)
        async for event in opened.events:
            tally.observe(event)
        served, tokens, usage = opened.served, tally.tokens, None
    else:
        message, served = await gw.create(request, context, meta)
        tokens, usage = None, message.usage
    publish(record_served(request_id="req_bench", surface="anthropic", served=served, timer=timer, usage=usage,
                          tokens=tokens, stream=stream), EMISSION)  # fmt: skip


async def measure(number: int, repeat: int) -> dict[str, float]:
    gw = gateway()
    results: dict[str, float] = {}
    for name, (request, session) in requests().items():
        stream = name.endswith("stream")
        for _ in range(20):
            await one(gw, request, session, stream)
        best = float("inf")
        for _ in range(repeat):
            started = time.process_time()
            for _ in range(number):
                await one(gw, request, session, stream)
            best = min(best, (time.process_time() - started) / number * 1000)
        results[name] = best
    await gw.drain()
    return results


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--number", type=int, default=300, help="requests per run (default 300)")
    parser.add_argument("--repeat", type=int, default=5, help="runs per row; the least CPU is kept (default 5)")
    parser.add_argument("--json", action="store_true", help="print the figures as one JSON object")
    args = parser.parse_args()
    os.environ.setdefault("AIMUX_EMF", "0")
    with open(os.devnull, "w") as null, contextlib.redirect_stdout(null):  # the log lines are written, not shown
        results = asyncio.run(measure(args.number, args.repeat))
    if args.json:
        print(json.dumps(results))
    else:
        for name, ms in results.items():
            print(f"{name}: {ms:.3f} ms CPU per request")
    return 0


if __name__ == "__main__":
    sys.exit(main())
