"""The framework floor for ``bench_gateway.py --server floor``: uvicorn + Starlette with canned answers.

uvicorn loads it as ``bench_gateway:create_floor_app`` (the name the reports print), so the server
process imports the entry script, which re-exports it.
"""

from __future__ import annotations

import json
from typing import Any


def create_floor_app() -> Any:
    """The floor to compare aimux with: uvicorn + Starlette, ``json.loads`` of the body, canned answers.

    Why: the issue's reference figures (bare FastAPI + httpx pass-through ~3-5 CPU ms, LiteLLM ~25)
    include an upstream HTTP call, which the mock does not make. Running the same load against this
    app on the same machine shows how much of aimux's figure is the HTTP stack it stands on and how
    much is its own work (validation, routing, the mock's planning, encoding). Answers carry the same
    number of SSE events as the mock's small answers (12 Anthropic, 10 OpenAI) and the markers the
    load generator checks. Imported by uvicorn in the server process only (``--server floor``).
    """
    from starlette.applications import Starlette
    from starlette.requests import Request
    from starlette.responses import JSONResponse, Response, StreamingResponse
    from starlette.routing import Route

    text = "Mock reply to: a canned answer of about the same size as the mock's."
    words = [w + " " for w in text.split()]
    pieces = [" ".join(words[i : i + 2]) for i in range(0, 14, 2)]  # 7 deltas
    usage = {"input_tokens": 20, "output_tokens": 18}
    message = {
        "id": "msg_floor", "type": "message", "role": "assistant", "model": "floor",
        "content": [{"type": "text", "text": text}], "stop_reason": "end_turn", "stop_sequence": None,
        "usage": usage,
    }  # fmt: skip
    completion = {
        "id": "chatcmpl-floor", "object": "chat.completion", "created": 0, "model": "floor",
        "choices": [{"index": 0, "message": {"role": "assistant", "content": text}, "finish_reason": "stop"}],
        "usage": {"prompt_tokens": 20, "completion_tokens": 18, "total_tokens": 38},
    }  # fmt: skip

    def sse(event: str, data: dict[str, Any]) -> bytes:
        return f"event: {event}\ndata: {json.dumps(data, separators=(',', ':'))}\n\n".encode()

    def chunk(delta: dict[str, Any], finish: str | None = None, usage: dict[str, int] | None = None) -> bytes:
        choices = [{"index": 0, "delta": delta, "finish_reason": finish}] if usage is None else []
        data = {"id": "chatcmpl-floor", "object": "chat.completion.chunk", "model": "floor", "choices": choices}
        if usage is not None:
            data["usage"] = usage
        return f"data: {json.dumps(data, separators=(',', ':'))}\n\n".encode()

    async def anthropic_events() -> Any:
        yield sse("message_start", {"type": "message_start", "message": {**message, "content": []}})
        yield sse("content_block_start", {"type": "content_block_start", "index": 0,
                                          "content_block": {"type": "text", "text": ""}})  # fmt: skip
        for piece in pieces:
            yield sse("content_block_delta", {"type": "content_block_delta", "index": 0,
                                              "delta": {"type": "text_delta", "text": piece}})  # fmt: skip
        yield sse("content_block_stop", {"type": "content_block_stop", "index": 0})
        yield sse("message_delta", {"type": "message_delta", "delta": {"stop_reason": "end_turn"}, "usage": usage})
        yield sse("message_stop", {"type": "message_stop"})

    async def openai_events() -> Any:
        yield chunk({"role": "assistant", "content": ""})
        for piece in pieces[:6]:
            yield chunk({"content": piece})
        yield chunk({}, finish="stop")
        yield chunk({}, usage=completion["usage"])
        yield b"data: [DONE]\n\n"

    async def messages(request: Request) -> Response:
        body = json.loads(await request.body())
        if body.get("stream"):
            return StreamingResponse(anthropic_events(), media_type="text/event-stream")
        return JSONResponse(message)

    async def chat(request: Request) -> Response:
        body = json.loads(await request.body())
        if body.get("stream"):
            return StreamingResponse(openai_events(), media_type="text/event-stream")
        return JSONResponse(completion)

    async def healthz(request: Request) -> Response:
        return JSONResponse({"status": "ok"})

    return Starlette(
        routes=[
            Route("/healthz", healthz, methods=["GET"]),
            Route("/v1/messages", messages, methods=["POST"]),
            Route("/v1/chat/completions", chat, methods=["POST"]),
        ]
    )
