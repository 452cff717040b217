"""A multi-turn coding conversation built from the recorded Claude Code request shapes
(``tests/fixtures/claude_code/request_tool_turn1.json``): its system prompt, its 12 tool schemas and its
first user turn, then a tool loop of ``Read`` calls whose results are deterministic source files.

Claude Code places its own cache breakpoints; Cursor, Continue and OpenAI-SDK clients send the same kind
of conversation with none. So the shapes here carry no ``cache_control`` at all:

- ``anthropic_body(turns)``: the conversation as an Anthropic Messages body after ``turns`` tool round
  trips (for planning tests);
- ``OpenAISession``: the same conversation as an OpenAI-SDK client drives it (system message,
  function tools, ``tool`` messages), one request per turn (``bench/bench_prompt_cache.py`` and
  ``tests/spending``).
"""

from __future__ import annotations

import copy
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

FIXTURE = Path(__file__).resolve().parents[1] / "fixtures" / "claude_code" / "request_tool_turn1.json"
MODEL = "claude-sonnet-4-5"


def _recorded() -> dict[str, Any]:
    body: dict[str, Any] = json.loads(FIXTURE.read_text())["body"]
    return body


def _strip_markers(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _strip_markers(v) for k, v in value.items() if k != "cache_control"}
    if isinstance(value, list):
        return [_strip_markers(v) for v in value]
    return value


def system_text() -> str:
    """The recorded system prompt (its blocks and the ``system`` turn Claude Code sends), as one text."""
    body = _recorded()
    parts = [block["text"] for block in body["system"]]
    parts += [m["content"] for m in body["messages"] if m["role"] == "system" and isinstance(m["content"], str)]
    return "\n\n".join(parts)


def tools() -> list[dict[str, Any]]:
    """The recorded tool definitions (Anthropic shape) that have a schema, without markers."""
    return [_strip_markers(t) for t in _recorded()["tools"] if t.get("input_schema") and not t.get("defer_loading")]


def first_user_text() -> str:
    body = _recorded()
    first = next(m for m in body["messages"] if m["role"] == "user")
    content = first["content"]
    return content if isinstance(content, str) else "\n".join(b["text"] for b in content if b.get("type") == "text")


def source_file(n: int, lines: int = 80) -> str:
    """A deterministic Python module, the result of the ``n``-th ``Read``."""
    body = [f"# module_{n}.py: part of the service under review", "from __future__ import annotations", ""]
    for i in range(lines):
        body.append(f"def handler_{n}_{i}(request: dict[str, object]) -> dict[str, object]:")
        body.append(f"    return {{'status': {200 + i % 5}, 'module': {n}, 'handler': {i}}}")
    return "\n".join(body)


def read_call(n: int) -> dict[str, str]:
    return {"file_path": f"/repo/src/module_{n}.py"}


def anthropic_body(turns: int, *, model: str = MODEL) -> dict[str, Any]:
    """The conversation as an Anthropic Messages body after ``turns`` tool round trips, no breakpoints."""
    messages: list[dict[str, Any]] = [{"role": "user", "content": first_user_text()}]
    for n in range(turns):
        call_id = f"toolu_{n:04d}"
        messages.append({"role": "assistant", "content": [
            {"type": "text", "text": f"Reading module {n}."},
            {"type": "tool_use", "id": call_id, "name": "Read", "input": read_call(n)},
        ]})  # fmt: skip
        messages.append({"role": "user", "content": [
            {"type": "tool_result", "tool_use_id": call_id, "content": source_file(n)},
        ]})  # fmt: skip
    return {"model": model, "max_tokens": 4096, "system": system_text(), "tools": tools(), "messages": messages}


def openai_tools() -> list[dict[str, Any]]:
    return [
        {"type": "function", "function": {"name": t["name"], "description": t.get("description", ""),
                                          "parameters": t["input_schema"]}}
        for t in tools()
    ]  # fmt: skip


@dataclass
class OpenAISession:
    """The conversation as an OpenAI-SDK client drives it: ``messages`` grows by each answer and result."""

    messages: list[dict[str, Any]] = field(default_factory=list)
    tools: list[dict[str, Any]] = field(default_factory=openai_tools)

    def __post_init__(self) -> None:
        if not self.messages:
            self.messages = [
                {"role": "system", "content": system_text()},
                {"role": "user", "content": first_user_text()},
            ]

    def request(self) -> dict[str, Any]:
        """The keyword arguments of ``client.chat.completions.create`` for the next turn."""
        return {"model": MODEL, "max_tokens": 1024, "messages": copy.deepcopy(self.messages), "tools": self.tools}

    def answered(self, message: Any, turn: int) -> None:
        """Append the assistant's answer and, for each tool call, the ``Read`` result."""
        calls = message.tool_calls or []
        self.messages.append({
            "role": "assistant", "content": message.content or None,
            "tool_calls": [{"id": c.id, "type": "function",
                            "function": {"name": c.function.name, "arguments": c.function.arguments}} for c in calls],
        } if calls else {"role": "assistant", "content": message.content or ""})  # fmt: skip
        for call in calls:
            self.messages.append({"role": "tool", "tool_call_id": call.id, "content": source_file(turn)})


def script_tool_loop(fake: Any, turns: int) -> None:
    """Script ``fake`` (any fake upstream) to answer ``turns`` ``Read`` calls, then a closing text."""
    from fakes import Reply, ToolCall, Usage

    fake.enqueue(
        *[Reply(text=f"Reading module {n}.", tool_calls=[ToolCall("Read", read_call(n), id=f"toolu_{n:04d}")],
                usage=Usage(output_tokens=60)) for n in range(turns)],
        Reply(text="All modules reviewed.", usage=Usage(output_tokens=200)),
    )  # fmt: skip


def replay_openai(client: Any, turns: int) -> list[Any]:
    """Drive the conversation through an ``openai.OpenAI`` client: ``turns`` tool round trips and the
    closing answer; the ``usage`` of each of the ``turns + 1`` requests."""
    session = OpenAISession()
    usages = []
    for turn in range(turns + 1):
        completion = client.chat.completions.create(**session.request())
        usages.append(completion.usage)
        session.answered(completion.choices[0].message, turn)
    return usages
