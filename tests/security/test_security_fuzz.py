"""Property: whatever a client sends, ``aimux serve`` answers below 500, in the caller's dialect, and stays small.

Hypothesis builds requests from the real field names of both request models (read from their JSON
schemas) and the tag values the unions dispatch on: valid requests mutated at random paths (a wrong
type, a missing or extra field, an object where a tag belongs, deep nesting, large strings), arbitrary
JSON objects, and byte-level faults (not UTF-8, UTF-16, NaN, duplicate keys, lone surrogates, a gzip
body, truncation), with or without a valid key, over a real loopback port to ``aimux serve`` (auth on,
the mock provider) in its own process. Then: no answer >= 500, every error has the exact error shape
of the route's dialect, every stream ends properly, the process is alive and its RSS did not grow.

Reproducible and bounded for CI (the suite runs twice there): a fixed example budget, derandomized,
no example database. ``AIMUX_FUZZ_EXAMPLES`` raises the budget for a longer local run.
"""

from __future__ import annotations

import gzip
import json
import os
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from aimux_core.wire.anthropic import MessagesRequest
from aimux_core.wire.openai import ChatCompletionRequest
from support.error_shapes import anthropic_error, openai_error
from support.serve_process import ServeProcess, aimux_serve

pytestmark = pytest.mark.timeout(180)

EXAMPLES = int(os.environ.get("AIMUX_FUZZ_EXAMPLES", "500"))
RSS_GROWTH_LIMIT_MB = 16  # measured: under 1 MB for 500 to 3,000 examples


def _field_names(*models: Any) -> list[str]:
    names: set[str] = set()

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            names.update(node.get("properties", {}) if isinstance(node.get("properties"), dict) else ())
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    for model in models:
        walk(model.model_json_schema())
    return sorted(names)


FIELDS = [*_field_names(MessagesRequest, ChatCompletionRequest), "backend", "type"]
TAGS = [
    "text", "image", "document", "thinking", "redacted_thinking", "tool_use", "tool_result", "server_tool_use",
    "user", "assistant", "system", "developer", "tool", "function", "image_url", "input_audio", "file", "refusal",
    "enabled", "adaptive", "disabled", "auto", "any", "none", "required", "allowed_tools", "base64", "url",
    "ephemeral", "json_object", "json_schema", "low", "medium", "high", "image/png", "application/pdf",
    "data:image/png;base64,iVBORw0KGgo=", "mock", "", "aimux-mock", "claude-x",
]  # fmt: skip

ANTHROPIC_PATHS = ["/v1/messages", "/anthropic/v1/messages", "/v1/messages/count_tokens", "/v1/mock/messages"]
OPENAI_PATHS = ["/v1/chat/completions", "/chat/completions", "/openai/v1/chat/completions"]

ANTHROPIC_BODY: dict[str, Any] = {
    "model": "claude-x",
    "max_tokens": 16,
    "system": [{"type": "text", "text": "be brief", "cache_control": {"type": "ephemeral"}}],
    "messages": [
        {"role": "user", "content": [{"type": "text", "text": "hi"},
                                     {"type": "image", "source": {"type": "base64", "media_type": "image/png",
                                                                  "data": "iVBORw0KGgo="}}]},
        {"role": "assistant", "content": [{"type": "tool_use", "id": "toolu_1", "name": "t", "input": {"a": 1}}]},
        {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "toolu_1",
                                      "content": [{"type": "text", "text": "ok"}]}]},
    ],
    "tools": [{"name": "t", "description": "d",
               "input_schema": {"type": "object", "properties": {"a": {"type": "integer"}}}}],
    "tool_choice": {"type": "auto"},
    "thinking": {"type": "enabled", "budget_tokens": 8},
    "metadata": {"user_id": "u"},
    "stream": False,
}  # fmt: skip
PNG_URL = "data:image/png;base64,iVBORw0KGgo="
OPENAI_BODY: dict[str, Any] = {
    "model": "gpt-x",
    "messages": [
        {"role": "system", "content": "be brief"},
        {"role": "user", "content": [{"type": "text", "text": "hi"},
                                     {"type": "image_url", "image_url": {"url": PNG_URL}}]},
        {"role": "assistant", "content": None,
         "tool_calls": [{"id": "call_1", "type": "function", "function": {"name": "t", "arguments": "{\"a\": 1}"}}]},
        {"role": "tool", "tool_call_id": "call_1", "content": "ok"},
    ],
    "tools": [{"type": "function", "function": {"name": "t", "parameters": {"type": "object"}}}],
    "tool_choice": "auto",
    "max_tokens": 16,
    "stream": False,
    "stream_options": {"include_usage": True},
    "reasoning_effort": "low",
}  # fmt: skip


@dataclass
class Case:
    path: str
    body: bytes
    headers: dict[str, str] = field(default_factory=dict)
    keyed: bool = True
    method: str = "POST"

    @property
    def dialect(self) -> str:
        if "chat/completions" in self.path or self.path.startswith("/openai/"):
            return "openai"
        if "/messages" in self.path or self.path.startswith("/anthropic/"):
            return "anthropic"
        return "anthropic" if "anthropic-version" in self.headers or "x-api-key" in self.headers else "openai"


json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**70), 2**70) | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=12) | st.sampled_from(TAGS + FIELDS),
    lambda children: st.lists(children, max_size=4)
    | st.dictionaries(st.sampled_from(FIELDS) | st.text(max_size=6), children, max_size=4)
    | st.builds(lambda tag, rest: {"type": tag, **rest}, children, st.dictionaries(st.sampled_from(FIELDS), children,
                                                                                   max_size=3)),
    max_leaves=16,
)  # fmt: skip


def _paths(node: Any, prefix: tuple[Any, ...] = ()) -> Iterator[tuple[Any, ...]]:
    yield prefix
    if isinstance(node, dict):
        for key, value in node.items():
            yield from _paths(value, (*prefix, key))
    elif isinstance(node, list):
        for index, value in enumerate(node):
            yield from _paths(value, (*prefix, index))


def _mutate(body: Any, path: tuple[Any, ...], action: str, value: Any, name: str) -> Any:
    if not path:
        return value if action == "replace" else body
    parent = body
    for step in path[:-1]:
        parent = parent[step]
    last = path[-1]
    if action == "replace":
        parent[last] = value
    elif action == "delete":
        del parent[last]
    elif action == "add" and isinstance(parent[last], dict):
        parent[last][name] = value
    elif action == "add" and isinstance(parent[last], list):
        parent[last].append(value)
    elif action == "nest":
        nested: Any = parent[last]
        for _ in range(60):
            nested = [nested]
        parent[last] = nested
    elif action == "grow" and isinstance(parent[last], str):
        parent[last] = parent[last] * 1 + "x" * 150_000
    return body


@st.composite
def json_bodies(draw: st.DrawFn, dialect: str) -> Any:
    if draw(st.integers(0, 9)) == 0:  # now and then an arbitrary object, not a mutated valid request
        return draw(st.dictionaries(st.sampled_from(FIELDS), json_values, max_size=8))
    body = json.loads(json.dumps(OPENAI_BODY if dialect == "openai" else ANTHROPIC_BODY))
    body["stream"] = draw(st.booleans())
    for _ in range(draw(st.integers(0, 3))):
        paths = list(_paths(body))
        path = draw(st.sampled_from(paths))
        action = draw(st.sampled_from(["replace", "replace", "replace", "delete", "add", "nest", "grow"]))
        body = _mutate(body, path, action, draw(json_values), draw(st.sampled_from(FIELDS)))
    return body


def _encode(body: Any, fault: str) -> tuple[bytes, dict[str, str]]:
    text = json.dumps(body, ensure_ascii=fault != "raw-unicode")
    raw = text.encode()
    if fault == "utf-16":
        return text.encode("utf-16"), {}
    if fault == "latin-1":
        return raw.replace(b'"', b'"\xe9\xff', 1), {}
    if fault == "nan":
        return raw.replace(b"16", b"NaN", 1).replace(b"true", b"Infinity", 1), {}
    if fault == "duplicate-keys":
        return raw.replace(b"{", b'{"model": ["x"], "messages": 1, ', 1), {}
    if fault == "lone-surrogate":
        return raw.replace(b'"hi"', b'"\\ud800hi\\udfff"', 1), {}
    if fault == "gzip":
        return gzip.compress(raw), {"content-encoding": "gzip"}
    if fault == "truncated":
        return raw[: len(raw) // 2], {}
    if fault == "deep":
        return b'{"metadata": ' + b"[" * 5000 + b"]" * 5000 + b", " + raw[1:], {}
    if fault == "oversize":  # past the 10 MB body cap (AIMUX_MAX_REQUEST_MB): 413
        return raw[:-1] + b" " * (10 * 2**20) + b"}", {}
    return raw, {}


BYTE_FAULTS = ["raw-unicode", "utf-16", "latin-1", "nan", "duplicate-keys", "lone-surrogate", "gzip", "truncated",
               "deep"]  # fmt: skip
FAULTS = ["none"] * 16 + BYTE_FAULTS * 2 + ["oversize"]  # an 11 MB body now and then: it costs time


@st.composite
def model_lookups(draw: st.DrawFn) -> Case:
    """``GET /v1/models`` (any prefix) with odd paging parameters or model ids."""
    prefix = draw(st.sampled_from(["/v1", "/anthropic/v1", "/openai/v1"]))
    values = st.sampled_from(["0", "1", "20", "1001", "-1", "x", "", "aimux-mock", "%00"])
    query = draw(st.dictionaries(st.sampled_from(["limit", "after_id", "before_id"]), values, max_size=3))
    target = draw(st.sampled_from(["", "/aimux-mock", "/nope", "/a/b/../c", "/%ff"]))
    url = f"{prefix}/models{target}" + ("?" + "&".join(f"{k}={v}" for k, v in query.items()) if query else "")
    headers = {"anthropic-version": "2023-06-01"} if draw(st.booleans()) else {}
    return Case(url, b"", headers, method="GET")


@st.composite
def cases(draw: st.DrawFn) -> Case:
    if draw(st.integers(0, 9)) == 0:
        return draw(model_lookups())
    dialect = draw(st.sampled_from(["anthropic", "openai"]))
    path = draw(st.sampled_from(OPENAI_PATHS if dialect == "openai" else ANTHROPIC_PATHS))
    fault = draw(st.sampled_from(FAULTS))
    body, headers = _encode(draw(json_bodies(dialect)), fault)
    headers["content-type"] = draw(st.sampled_from(["application/json", "application/json; charset=utf-8",
                                                     "text/plain", "application/x-www-form-urlencoded"]))  # fmt: skip
    if dialect == "anthropic":
        headers["anthropic-version"] = draw(st.sampled_from(["2023-06-01", "2026-10-21", "1999-01-01", ""]))
        if draw(st.booleans()):
            headers["anthropic-beta"] = draw(st.sampled_from(["", ",,", "interleaved-thinking-2025-05-14", "x" * 300]))
    if draw(st.integers(0, 5)) == 0:
        headers["x-aimux-provider"] = draw(st.sampled_from(["mock", "nope", "", "../x"]))
    keyed = draw(st.integers(0, 7)) != 0
    if not keyed:
        headers["x-api-key"] = draw(st.sampled_from(["", "sk-ant-foreign", "amx-" + "a" * 52]))
    return Case(path, body, headers, keyed)


def check_answer(case: Case, response: httpx.Response) -> None:
    assert response.status_code < 500, (case, response.status_code, response.text[:500])
    if not case.keyed:
        assert response.status_code == 401, (case, response.text[:300])
    if response.status_code >= 400:
        if case.dialect == "anthropic":
            anthropic_error(response)
        else:
            openai_error(response)
        return
    assert response.status_code == 200, response.text[:300]
    text = response.text
    if response.headers["content-type"].startswith("text/event-stream"):
        if case.dialect == "anthropic":
            assert "event: error" not in text and text.rstrip().endswith('data: {"type":"message_stop"}'), text[-300:]
        else:
            assert '{"error"' not in text and text.rstrip().endswith("data: [DONE]"), text[-300:]
    else:
        assert isinstance(response.json(), dict)


@dataclass
class FuzzTarget:
    served: ServeProcess
    http: httpx.Client
    key: str


@pytest.fixture(scope="module")
def target() -> Iterator[FuzzTarget]:
    with aimux_serve({"AIMUX_AUTH": "on"}) as served, httpx.Client(base_url=served.url, timeout=30) as http:
        created = http.post("/admin/keys", json={"name": "fuzz"})
        assert created.status_code == 201, created.text
        yield FuzzTarget(served, http, created.json()["api_key"])


def send(target: FuzzTarget, case: Case) -> httpx.Response:
    """Send ``case``; a keyed case carries the key as its dialect's clients do (Anthropic's: ``x-api-key``)."""
    if case.keyed:
        anthropic = case.dialect == "anthropic"
        case.headers.update({"x-api-key": target.key} if anthropic else {"authorization": f"Bearer {target.key}"})
    return target.http.request(case.method, case.path, content=case.body or None, headers=case.headers)


def test_no_client_input_makes_the_gateway_fail(target: FuzzTarget) -> None:
    # Warm up with one example of every kind (encodings, both dialects, a large body, a stream) so the
    # process has reached its working size before the baseline is taken.
    for fault in ["none", "utf-16", "gzip", "deep", "nan", "oversize"]:
        for dialect, path in (("anthropic", "/v1/messages"), ("openai", "/v1/chat/completions")):
            template = OPENAI_BODY if dialect == "openai" else ANTHROPIC_BODY
            for stream in (False, True):
                body, headers = _encode({**template, "stream": stream}, fault)
                check_answer(Case(path, body, headers), send(target, Case(path, body, headers)))
    big = _encode(_mutate(json.loads(json.dumps(ANTHROPIC_BODY)), ("system", 0, "text"), "grow", None, ""), "none")[0]
    check_answer(Case("/v1/messages", big), send(target, Case("/v1/messages", big)))
    baseline = target.served.rss_mb()

    @settings(max_examples=EXAMPLES, derandomize=True, database=None, deadline=None,
              suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large,
                                     HealthCheck.function_scoped_fixture])  # fmt: skip
    @given(case=cases())
    def any_request(case: Case) -> None:
        check_answer(case, send(target, case))

    any_request()
    assert target.served.alive()
    assert target.http.get("/healthz").status_code == 200
    grown = target.served.rss_mb() - baseline
    assert grown < RSS_GROWTH_LIMIT_MB, f"RSS grew by {grown:.1f} MB over {EXAMPLES} requests"
