"""The requests the benchmarks send: a small body per dialect and the recorded Claude Code turn.

Why pre-encoded: the load generator must spend as little CPU per request as it can, so every
request is built and JSON-encoded once, then sent again and again.
"""

from __future__ import annotations

import copy
import json
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
FIXTURE = ROOT / "tests" / "fixtures" / "claude_code" / "request_tool_turn1.json"
PROMPT = "Summarise the trade-offs of connection pooling in two sentences."
# Recorded Claude Code headers that are hop-by-hop or that the raw client cannot honour (it does
# not decode gzip; the gateway does not compress anyway).
DROPPED_FIXTURE_HEADERS = {"connection", "accept-encoding", "content-length", "host"}
ANTHROPIC_STREAM_END = b"event: message_stop"
OPENAI_STREAM_END = b"data: [DONE]"


@dataclass(frozen=True, slots=True)
class Scenario:
    """One request shape, pre-encoded once so the client spends nothing on JSON per request."""

    dialect: str  # "anthropic" | "openai"
    body_kind: str  # "small" | "claude-code" (bench_upstream: the route it measures)
    stream: bool
    path: str
    headers: tuple[tuple[str, str], ...]
    body: bytes
    # A stream is only counted as complete when this terminator is in the body.
    end_marker: bytes | None

    def wire_request(self, host: str, port: int) -> bytes:
        """The full HTTP/1.1 request (head and body) as the raw client sends it."""
        lines = [f"POST {self.path} HTTP/1.1", f"Host: {host}:{port}"]
        lines += [f"{name}: {value}" for name, value in self.headers]
        lines.append(f"Content-Length: {len(self.body)}")
        return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + self.body


def with_api_key(scenario: Scenario, api_key: str) -> Scenario:
    """The same request sent with ``api_key`` (as ``x-api-key`` or a bearer token, as it came)."""
    headers = tuple(
        (name, api_key if name.lower() == "x-api-key" else f"Bearer {api_key}" if name.lower() == "authorization"
         else value)
        for name, value in scenario.headers
    )  # fmt: skip
    return replace(scenario, headers=headers)


def with_header(scenario: Scenario, name: str, value: str) -> Scenario:
    """The same request with one more header (``bench_gateway.py --response-cache``: ``x-aimux-cache``)."""
    return replace(scenario, headers=(*scenario.headers, (name, value)))


def label(scenario: Scenario) -> str:
    """How progress lines name a scenario, and what ``bench_gateway.py --only`` matches."""
    return f"{scenario.dialect} {scenario.body_kind} {'stream' if scenario.stream else 'non-stream'}"


def compact_json(body: dict[str, Any]) -> bytes:
    """JSON as JavaScript's ``JSON.stringify`` writes it (what Claude Code and most SDKs send)."""
    return json.dumps(body, separators=(",", ":"), ensure_ascii=False).encode()


def small_scenario(dialect: str, model: str, stream: bool, body_kind: str, api_key: str) -> Scenario:
    """One small request (one user turn, ``max_tokens`` 256) in ``dialect``, streamed or not."""
    body: dict[str, Any] = {"model": model, "max_tokens": 256, "messages": [{"role": "user", "content": PROMPT}]}
    if dialect == "anthropic":
        headers: tuple[tuple[str, str], ...] = (
            ("Content-Type", "application/json"), ("anthropic-version", "2023-06-01"), ("x-api-key", api_key),
        )  # fmt: skip
        path, marker = "/v1/messages", ANTHROPIC_STREAM_END
        if stream:
            body["stream"] = True
    else:
        headers = (("Content-Type", "application/json"), ("Authorization", f"Bearer {api_key}"))
        path, marker = "/v1/chat/completions", OPENAI_STREAM_END
        if stream:
            body.update(stream=True, stream_options={"include_usage": True})
    return Scenario(dialect, body_kind, stream, path, headers, compact_json(body), marker if stream else None)


def claude_code_scenarios(fixture: Path = FIXTURE) -> list[Scenario]:
    """The recorded Claude Code tool turn (47 KB, its headers and query), non-streamed and streamed."""
    recorded = json.loads(fixture.read_text(encoding="utf-8"))
    headers = tuple(
        (name, value) for name, value in recorded["headers"].items() if name.lower() not in DROPPED_FIXTURE_HEADERS
    )
    path = recorded["path"] + (f"?{recorded['query']}" if recorded.get("query") else "")
    scenarios = []
    for stream in (False, True):
        body = copy.deepcopy(recorded["body"])
        body["stream"] = stream
        marker = ANTHROPIC_STREAM_END if stream else None
        scenarios.append(Scenario("anthropic", "claude-code", stream, path, headers, compact_json(body), marker))
    return scenarios


def gateway_scenarios(fixture: Path = FIXTURE) -> list[Scenario]:
    """The request shapes the issue asks of the gateway: a small body per dialect and the Claude Code shape."""
    models = {"anthropic": "claude-sonnet-4-5", "openai": "gpt-4o-mini"}
    small = [
        small_scenario(dialect, models[dialect], stream, "small", "bench-key")
        for dialect in ("anthropic", "openai")
        for stream in (False, True)
    ]
    return small + claude_code_scenarios(fixture)
