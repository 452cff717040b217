"""The guarded floor: the bare floor plus the least that issue 17's guarantees cost, and nothing else.

Why: the issue asks for aimux at ≤ 1.5 times the bare floor (``bare_floor.py``) "with every guarantee kept".
This app measures what the guarantees alone cost when each is done the cheapest way we know, with no
architecture around them: if it is already near or past 1.5 times the floor, the target is out of reach for
any gateway that keeps them, and the part of aimux's ratio above this app's is what aimux's own design
costs. Same server (uvicorn, a bare ASGI callable), same upstream client (one ``aiohttp`` session), same
routes and model mapping as ``bare_floor.py``; on top, per request:

- **bad input named in the caller's format**: the body validated into aimux's wire model
  (``MessagesRequest`` / ``ChatCompletionRequest``, pydantic-core), the model swapped on the model and
  the upstream body dumped from it;
- **a schema break fails over, never a 200 with nothing**: an Anthropic answer validated into aimux's
  ``Message``; an OpenAI answer parsed and its ``choices[0].message`` and ``usage`` checked by hand;
- **streams**: every event parsed (an ``error`` event or a malformed payload must become an error in the
  caller's dialect), the end checked (a truncated stream must not end cleanly), the bytes before the
  first content held back (failover before the first content), then one ``send`` per upstream read;
- **usage and cost for every request**: the usage read, priced, added to per-target counters;
- **breaker and health**: the outcome and latency recorded per target (in memory, as ``aimux serve``);
- **the log line**: one JSON line per request (ids, target, status, tokens, cost, latency), flushed.

Not here, and paid by aimux only: authentication and limits (off in the benchmark for aimux too),
metrics, routing strategies, per-provider normalisation, the response cache. Factory:
``uvicorn passthrough_floor:create_guarded_aiohttp_app --factory`` (``guarded-aiohttp``).
"""

from __future__ import annotations

import json
import os
import sys
import time
import uuid
from collections import Counter
from collections.abc import Awaitable, Callable
from typing import Any

from bare_floor import MODELS, Receive, Scope, Send, answered_by_floor, forwarded_headers, read_body
from pydantic_core import from_json

from aimux_core.wire.anthropic import Message, MessagesRequest
from aimux_core.wire.openai import ChatCompletionRequest

PRICE = {"input": 3.0, "output": 15.0}  # USD per million tokens
_CONTENT = (b'"content_block_start"', b'"delta":{"content"', b'"delta":{"role"')


class Books:
    """Per-target usage, cost and health counters: what a gateway keeps for every request."""

    def __init__(self) -> None:
        self.counts: Counter[str] = Counter()
        self.latency: dict[str, list[float]] = {}

    def settle(self, target: str, status: int, started: float, usage: dict[str, Any] | None) -> None:
        usage = usage or {}
        tokens_in = int(usage.get("input_tokens") or usage.get("prompt_tokens") or 0)
        tokens_out = int(usage.get("output_tokens") or usage.get("completion_tokens") or 0)
        cost = (tokens_in * PRICE["input"] + tokens_out * PRICE["output"]) / 1e6
        elapsed_ms = (time.perf_counter() - started) * 1000
        self.counts[f"{target}:requests"] += 1
        self.counts[f"{target}:{'ok' if status < 400 else 'failed'}"] += 1  # the breaker's books
        self.counts[f"{target}:input"] += tokens_in
        self.counts[f"{target}:output"] += tokens_out
        window = self.latency.setdefault(target, [])
        window.append(elapsed_ms)
        del window[:-100]  # the recent latencies routing orders by
        line = {"level": "INFO", "message": "request", "request_id": uuid.uuid4().hex, "target": target,
                "status": status, "input_tokens": tokens_in, "output_tokens": tokens_out,
                "cost_usd": round(cost, 9), "latency_ms": round(elapsed_ms, 1)}  # fmt: skip
        sys.stdout.write(json.dumps(line, separators=(",", ":")) + "\n")
        sys.stdout.flush()


def _check_chat_answer(answer: Any) -> dict[str, Any] | None:
    """The usage of a chat completion whose first choice has a message (else the fault a gateway raises)."""
    choices = answer.get("choices") if isinstance(answer, dict) else None
    if not isinstance(choices, list) or not choices or not isinstance(choices[0].get("message"), dict):
        raise ValueError("answered without a choice message")
    usage = answer.get("usage")
    if not isinstance(usage, dict):
        raise ValueError("answered without usage")
    return usage


class StreamCheck:
    """Every event of a stream parsed; its usage kept, an error event or malformed payload raised, its end seen."""

    def __init__(self) -> None:
        self.usage: dict[str, Any] = {}
        self.ended = False
        self._tail = b""

    def feed(self, chunk: bytes) -> None:
        data = self._tail + chunk
        cut = data.rfind(b"\n\n")
        self._tail, complete = (data, b"") if cut < 0 else (data[cut + 2 :], data[:cut])
        for frame in complete.split(b"\n\n"):
            start = frame.find(b"data: ")
            if start < 0:
                continue
            payload = frame[start + 6 :]
            if payload == b"[DONE]":
                self.ended = True
                continue
            event = from_json(payload)
            kind = event.get("type") or event.get("object")
            if kind == "error" or "error" in event:
                raise ValueError("the upstream sent an error mid-stream")
            if kind == "message_stop":
                self.ended = True
            usage = event.get("usage") or (event.get("message") or {}).get("usage")
            if isinstance(usage, dict):
                self.usage.update(usage)


def create_guarded_aiohttp_app() -> Callable[[Scope, Receive, Send], Awaitable[None]]:
    """The ASGI callable (session opened on lifespan start, as in ``bare_floor``)."""
    import aiohttp

    base = os.environ["AIMUX_FLOOR_UPSTREAM"].rstrip("/")
    state: dict[str, Any] = {}
    books = Books()

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        if await answered_by_floor(state, scope, receive, send):
            return
        started = time.perf_counter()
        body = await read_body(receive)
        anthropic = scope["path"] == "/v1/messages"
        request = (MessagesRequest if anthropic else ChatCompletionRequest).model_validate_json(body)
        target = MODELS.get(request.model, request.model)
        request.model = target
        headers = forwarded_headers(scope)
        session: aiohttp.ClientSession = state["session"]
        forwarded = request.model_dump_json(exclude_unset=True).encode()
        async with session.post(base + scope["path"], data=forwarded, headers=headers) as answer:
            content_type = answer.headers.get("content-type", "application/json").encode()
            if content_type.startswith(b"text/event-stream"):
                check, held = StreamCheck(), []  # held: the bytes before the first content (failover)
                async for chunk in answer.content.iter_any():
                    check.feed(chunk)
                    if held is not None:
                        held.append(chunk)
                        if not any(marker in chunk for marker in _CONTENT):
                            continue
                        await send({"type": "http.response.start", "status": answer.status,
                                    "headers": [(b"content-type", content_type)]})  # fmt: skip
                        chunk, held = b"".join(held), None
                    await send({"type": "http.response.body", "body": chunk, "more_body": True})
                if not check.ended:
                    raise ValueError("the stream ended before its end event")
                await send({"type": "http.response.body", "body": b""})
                books.settle(target, answer.status, started, check.usage)
                return
            data = await answer.read()
            if anthropic:
                usage = Message.model_validate_json(data).usage.model_dump()
            else:
                usage = _check_chat_answer(from_json(data))
            await send({"type": "http.response.start", "status": answer.status, "headers": [
                (b"content-type", content_type), (b"content-length", str(len(data)).encode())]})  # fmt: skip
            await send({"type": "http.response.body", "body": data})
            books.settle(target, answer.status, started, usage)

    return app
