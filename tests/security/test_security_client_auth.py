"""With auth on, every client route wants a key, and refuses an anonymous caller before reading its body.

The routes are read from the apps' own route tables (the client API, and the client half of the local
one-process app), so a route added later without authentication fails here. ``PUBLIC_ROUTES`` is the
one place that lets a route answer without a key.

Each refusal is checked in the dialect of the route (``support.error_shapes``), with a body that would be
a 400 (malformed) or a 413 (too large) if it were read: getting 401 proves the body was never parsed.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Iterator
from dataclasses import dataclass

import httpx
import pytest
from starlette.applications import Starlette
from starlette.routing import Route

from aimux_core.assembly import build_mock_gateway, local_app
from aimux_core.keys import KeyRing, create_key, generate_key
from aimux_core.state import FakeClock
from aimux_core.surfaces.app import create_messages_app
from support.error_shapes import anthropic_error, openai_error
from support.server import serve
from support.spy_store import SpyStore

pytestmark = pytest.mark.timeout(120)

PUBLIC_ROUTES = frozenset({"/healthz", "/health"})
"""Client routes that answer without a key (readiness probes). Add a public route here, deliberately."""

MALFORMED = b'{"model": {"type": {}}, "messages": [{"role": "user", "content": [{"type": []}]}], "max_tokens": "x"}'
OVERSIZED = b"{" + b" " * (11 * 1024 * 1024) + b"}"  # over the default 10 MB body cap
ANTHROPIC = {"anthropic-version": "2023-06-01"}
NAMED_OBJECT = re.compile(r"\{(batch_id|file_id|job_id)\}")  # routes that address one stored object
OPENAI_ONLY = re.compile(r"^/v1/(files|batches)\b")  # OpenAI's Files and Batch APIs answer in its dialect only


@dataclass
class Served:
    url: str
    app: Starlette
    store: SpyStore
    key: str


def route_table(app: Starlette) -> list[tuple[str, str]]:
    """``(method, path template)`` of every route of ``app`` (HEAD is GET's twin and left out)."""
    table = []
    for route in app.routes:
        assert isinstance(route, Route), f"a client route that is not a plain Route: {route!r}"
        table += [(method, route.path) for method in sorted(route.methods or ()) if method != "HEAD"]
    return table


def concrete(template: str) -> str:
    """A path for ``template`` with its parameters filled in (``{provider}`` = the mock provider)."""
    return re.sub(r"\{(\w+)(:\w+)?\}", lambda m: "mock" if m.group(1) == "provider" else "aimux-mock", template)


def dialects_of(path: str) -> list[str]:
    """The dialects a route answers in: its own, or both on the paths the two APIs share (by headers)."""
    if path.startswith("/openai/") or path.endswith("/chat/completions") or OPENAI_ONLY.match(path):
        return ["openai"]
    if path.startswith("/anthropic/") or "/messages" in path:
        return ["anthropic"]
    return ["anthropic", "openai"]


def as_key(presented: str, dialect: str) -> dict[str, str]:
    """The header each dialect's clients send a key in (``x-api-key`` also marks an Anthropic caller)."""
    return {"x-api-key": presented} if dialect == "anthropic" else {"authorization": f"Bearer {presented}"}


def check_refusal(response: httpx.Response, dialect: str, status: int = 401) -> str:
    if dialect == "anthropic":
        return anthropic_error(response, status, "authentication_error" if status == 401 else None)
    error = openai_error(response, status)
    assert error["type"] == "invalid_request_error" and error["code"] == "invalid_api_key", error
    return str(error["message"])


def _serve_with_keys(local: bool) -> Iterator[Served]:
    store = SpyStore(FakeClock())
    keys = KeyRing(store, cache_seconds=0)  # no cache: every authenticated request costs one read
    plaintext, _ = asyncio.run(create_key(keys, name="walker", allowed_models=["aimux-*", "claude-*"]))
    if local:
        app = local_app(build_mock_gateway(), keys)
        client_app = app.client  # type: ignore[attr-defined]
    else:
        app = client_app = create_messages_app(build_mock_gateway(), keys)
    with serve(app) as url:
        yield Served(url, client_app, store, plaintext)


@pytest.fixture(scope="module", params=["client app", "local app"])
def served(request: pytest.FixtureRequest) -> Iterator[Served]:
    yield from _serve_with_keys(local=request.param == "local app")


def test_the_walk_sees_the_routes_it_must(served: Served) -> None:
    table = set(route_table(served.app))
    for expected in [
        ("POST", "/v1/messages"), ("POST", "/anthropic/v1/messages/count_tokens"), ("POST", "/chat/completions"),
        ("POST", "/v1/{provider}/chat/completions"), ("GET", "/v1/models"),
        ("GET", "/openai/v1/models/{model_id:path}"), ("GET", "/healthz"),
    ]:  # fmt: skip
        assert expected in table


def test_every_client_route_refuses_an_anonymous_caller_before_reading_the_body(served: Served) -> None:
    reads = served.store.gets
    with httpx.Client(base_url=served.url, timeout=30) as http:
        for method, template in route_table(served.app):
            path = concrete(template)
            if template in PUBLIC_ROUTES:
                assert http.request(method, path).status_code == 200
                continue
            for dialect in dialects_of(template):
                headers = ANTHROPIC if dialect == "anthropic" else {}
                bodies = [MALFORMED, b"", OVERSIZED] if method == "POST" else [None]
                for body in bodies:
                    missing = http.request(method, path, content=body, headers=headers)
                    assert "missing API key" in check_refusal(missing, dialect), (method, path)
                for presented in ("sk-ant-not-ours", generate_key()):  # foreign (no lookup), unknown (one lookup)
                    keyed = {**headers, **as_key(presented, dialect)}
                    wrong = http.request(method, path, content=MALFORMED, headers=keyed)
                    assert "invalid API key" in check_refusal(wrong, dialect), (method, path)
    unknown_keys_sent = sum(len(dialects_of(t)) for m, t in route_table(served.app) if t not in PUBLIC_ROUTES)
    assert served.store.gets - reads == unknown_keys_sent  # one lookup per well-formed key, none for the rest


def test_with_a_key_the_same_routes_parse_and_answer(served: Served) -> None:
    with httpx.Client(base_url=served.url, timeout=30, headers={"x-api-key": served.key}) as http:
        for method, template in route_table(served.app):
            path = concrete(template)
            openai = dialects_of(template) == ["openai"]
            if NAMED_OBJECT.search(template):  # a batch, file or job this key does not have: 404, in the dialect
                answer = http.request(method, path, content=MALFORMED if method == "POST" else None)
                _ = openai_error(answer, 404) if openai else anthropic_error(answer, 404, "not_found_error")
                continue
            if method == "GET":
                assert http.get(path).status_code == 200, path
                continue
            malformed = http.post(path, content=MALFORMED)
            if openai:
                assert openai_error(malformed, 400)["type"] == "invalid_request_error"
            else:
                anthropic_error(malformed, 400, "invalid_request_error")


def test_one_key_lookup_per_request_as_before(served: Served) -> None:
    body = {"model": "claude-x", "max_tokens": 8, "messages": [{"role": "user", "content": "hi"}]}
    with httpx.Client(base_url=served.url, timeout=30, headers={"x-api-key": served.key}) as http:
        for path, payload in [("/v1/messages", body), ("/v1/chat/completions", {**body, "max_tokens": None}),
                              ("/v1/messages/count_tokens", body), ("/v1/models", None)]:  # fmt: skip
            reads = served.store.gets
            answer = http.request("POST" if payload else "GET", path, json=payload)
            assert answer.status_code == 200, answer.text
            assert served.store.gets - reads == 1, path


def test_models_need_a_key_and_show_only_what_the_key_may_use(served: Served) -> None:
    with httpx.Client(base_url=served.url, timeout=30) as http:
        for prefix in ("/v1", "/anthropic/v1", "/openai/v1"):
            for path in (f"{prefix}/models", f"{prefix}/models/aimux-mock"):
                dialect = "openai" if prefix == "/openai/v1" else "anthropic"
                check_refusal(http.get(path, headers=ANTHROPIC if dialect == "anthropic" else {}), dialect)
        listed = http.get("/v1/models", headers={"authorization": f"Bearer {served.key}"})
        assert [m["id"] for m in listed.json()["data"]] == ["aimux-mock"]


def test_a_key_limited_to_some_models_does_not_see_the_others() -> None:
    keys = KeyRing(SpyStore(FakeClock()))
    limited, _ = asyncio.run(create_key(keys, name="narrow", allowed_models=["claude-*"]))
    with serve(create_messages_app(build_mock_gateway(), keys)) as url:
        listed = httpx.get(f"{url}/v1/models", headers={"authorization": f"Bearer {limited}"}, timeout=10)
        assert listed.status_code == 200 and listed.json()["data"] == []
        hidden = httpx.get(f"{url}/v1/models/aimux-mock", headers={"x-api-key": limited, **ANTHROPIC}, timeout=10)
        anthropic_error(hidden, 404, "not_found_error")
