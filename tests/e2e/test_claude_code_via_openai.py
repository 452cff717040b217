"""The real Claude Code CLI through aimux to an OpenAI-dialect upstream (the fake OpenAI API).

Claude Code speaks Anthropic Messages (streaming, thinking, a dozen tools, system prompt blocks,
``?beta=true``); the upstream speaks Chat Completions. The tool round trip proves the whole loop:
the upstream answers turn 1 with a ``Bash`` call, Claude Code runs it (``--allowedTools Bash``),
turn 2 reaches the upstream with the output as a ``role: tool`` message right after the assistant's
``tool_calls``, and the upstream's final text ends up in the CLI's JSON result.

The upstream's call id is Kimi-style (``functions.Bash:0``), which Claude Code would reject as a
``tool_use`` id: aimux must rewrite it for Claude Code and restore it on the way back.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import pytest

from claude_cli import claude_binary, run_claude
from fakes import OpenAIUpstream, Reply, ToolCall, Usage
from fakes.httpserver import RecordedRequest, Response
from fakes.script import ReplyQueue
from support.gateway_builder import UPSTREAM_KEYS, UPSTREAMS, build_gateway
from support.server import serve

BINARY = claude_binary()
pytestmark = [
    pytest.mark.skipif(
        BINARY is None,
        reason="Claude Code CLI not installed (make node-tools installs @anthropic-ai/claude-code into tests/e2e; "
        "npm could not install it here)",
    ),
    pytest.mark.timeout(180),
]

MARKER = "aimux-e2e"
CALL_ID = "functions.Bash:0"
BACKGROUND_TEXT = "aimux e2e session"
PLAIN_ANSWER = "Hello from the OpenAI-dialect upstream, via aimux."


def final_text(tool_output: str) -> str:
    return f"The command printed: {tool_output.strip()}"


class ContentScriptedUpstream(OpenAIUpstream):
    """Answers by what a request contains rather than by arrival order.

    Claude Code may interleave small background requests (titles, summaries, quota probes) with
    its main loop, so a FIFO script would be racy. Main-loop requests are the ones offering the
    ``Bash`` tool; everything else gets a short text.
    """

    def __init__(self, choose: Callable[[dict[str, Any]], Reply]) -> None:
        super().__init__()
        self._choose = choose

    async def play(self, request: RecordedRequest, response: Response, *, streaming: bool,
                   queue: ReplyQueue | None = None, renderer: Any = None) -> None:
        if queue is None:
            queue = ReplyQueue(self._choose(request.json))
        await super().play(request, response, streaming=streaming, queue=queue, renderer=renderer)


def offers_bash(body: dict[str, Any]) -> bool:
    return any(tool.get("function", {}).get("name") == "Bash" for tool in body.get("tools") or ())


def tool_loop(body: dict[str, Any]) -> Reply:
    """Turn 1: run ``echo aimux-e2e`` with Bash. Turn 2 (a tool result is last): report its output."""
    if not offers_bash(body):
        return Reply(text=BACKGROUND_TEXT, usage=Usage(input_tokens=40, output_tokens=4))
    last = body["messages"][-1]
    if last["role"] == "tool":
        content = last["content"] if isinstance(last["content"], str) else "".join(
            part.get("text", "") for part in last["content"])
        return Reply(text=final_text(content), usage=Usage(input_tokens=900, output_tokens=12))
    return Reply(text=None, tool_calls=[ToolCall("Bash", {"command": f"echo {MARKER}"}, id=CALL_ID)],
                 usage=Usage(input_tokens=850, output_tokens=20))


def plain(body: dict[str, Any]) -> Reply:
    return Reply(text=PLAIN_ANSWER if offers_bash(body) else BACKGROUND_TEXT)


@pytest.fixture
def gateway_to() -> Iterator[Callable[[Callable[[dict[str, Any]], Reply]], tuple[str, OpenAIUpstream]]]:
    """``gateway_to(choose)`` -> (aimux's base URL, the fake OpenAI upstream it routes every model to)."""
    from aimux_core.assembly import local_app

    fakes: list[OpenAIUpstream] = []
    with ExitStack() as stack:

        def start(choose: Callable[[dict[str, Any]], Reply]) -> tuple[str, OpenAIUpstream]:
            fake = stack.enter_context(ContentScriptedUpstream(choose))
            fakes.append(fake)
            built = build_gateway({"openai": fake}, fast_twins=False)
            assert not built.missing, built.missing
            return stack.enter_context(serve(local_app(built.fresh()))), fake

        yield start
    for fake in fakes:
        fake.raise_for_errors()


def chat_requests(fake: OpenAIUpstream) -> list[dict[str, Any]]:
    return [r.json for r in fake.requests if r.path.endswith("/chat/completions")]


def check_upstream_basics(fake: OpenAIUpstream) -> None:
    """Every request Claude Code caused reached the upstream in its own dialect, with aimux's key."""
    assert fake.requests, "Claude Code's requests never reached the upstream"
    for request in fake.requests:
        assert request.path == "/v1/chat/completions"
        assert request.headers.get("authorization") == f"Bearer {UPSTREAM_KEYS['openai']}"
        assert "local-test-token" not in json.dumps(dict(request.headers)), "the client's token must not leak"
        body = request.json
        assert body["model"] == UPSTREAMS["openai"].upstream_model
        assert "max_tokens" not in body, "the openai preset takes max_completion_tokens"


def test_print_mode_answer_via_openai_upstream(gateway_to: Any, tmp_path: Path) -> None:
    url, fake = gateway_to(plain)
    result = run_claude(BINARY, url, "say hello", tmp_path)  # type: ignore[arg-type]
    assert result["is_error"] is False, result
    assert result["result"] == PLAIN_ANSWER
    check_upstream_basics(fake)


def test_tool_round_trip_via_openai_upstream(gateway_to: Any, tmp_path: Path) -> None:
    url, fake = gateway_to(tool_loop)
    result = run_claude(
        BINARY,  # type: ignore[arg-type]
        url,
        f"use the Bash tool to run `echo {MARKER}`",
        tmp_path,
        "--allowedTools",
        "Bash",
    )
    assert result["is_error"] is False, result
    assert result["num_turns"] == 2, result
    assert result["result"] == final_text(MARKER), result["result"]
    check_upstream_basics(fake)

    loop = [body for body in chat_requests(fake) if offers_bash(body)]
    assert len(loop) == 2, f"expected the two turns of the tool loop, got {len(loop)}"
    first, second = loop
    assert first["stream"] is True and first["stream_options"] == {"include_usage": True}
    assert not any(m["role"] in ("tool", "assistant") for m in first["messages"])

    messages = second["messages"]
    at = next(i for i, m in enumerate(messages) if m["role"] == "assistant" and m.get("tool_calls"))
    assistant, tool = messages[at], messages[at + 1]
    assert [(c["id"], c["type"], c["function"]["name"], json.loads(c["function"]["arguments"]))
            for c in assistant["tool_calls"]] == [(CALL_ID, "function", "Bash", {"command": f"echo {MARKER}"})]
    assert tool["role"] == "tool" and tool["tool_call_id"] == CALL_ID, "the tool result must follow the call"
    output = tool["content"] if isinstance(tool["content"], str) else "".join(p["text"] for p in tool["content"])
    assert output.strip() == MARKER, "the tool message carries what Bash printed"
