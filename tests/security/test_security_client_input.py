"""Malformed client bodies: a 400 in the caller's dialect naming the field's JSON path, never a 500.

The reported fault: a content block, delta or event whose ``type`` is not a string (``{}``, ``[]``, ``1``)
made the tagged-union dispatch raise ``TypeError: unhashable type`` inside pydantic, which surfaced as
an internal error on both surfaces. The dispatch (``wire.base.discriminator_tag``) now sends any such
value to the ``Other*`` member, whose ``type: str`` fails validation like any other wrong type.
"""

from __future__ import annotations

import gzip
import json
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from pydantic import ValidationError

from aimux_core.assembly import build_mock_gateway, local_app
from aimux_core.wire.anthropic import content_block_adapter, stream_event_adapter
from aimux_core.wire.openai import ChatCompletionRequest
from support.error_shapes import anthropic_error, openai_error
from support.server import serve

NOT_STRINGS: list[Any] = [{}, [], [1, "text"], {"text": "x"}, 1, 1.5, True, None]
ANTHROPIC = {"anthropic-version": "2023-06-01", "content-type": "application/json"}


@pytest.fixture(scope="module")
def url() -> Iterator[str]:
    with serve(local_app(build_mock_gateway())) as base:
        yield base


def _messages(url: str, body: Any, **headers: str) -> httpx.Response:
    content = body if isinstance(body, bytes) else json.dumps(body).encode()
    return httpx.post(f"{url}/v1/messages", content=content, headers={**ANTHROPIC, **headers}, timeout=10)


def _chat(url: str, body: Any, **headers: str) -> httpx.Response:
    content = body if isinstance(body, bytes) else json.dumps(body).encode()
    return httpx.post(f"{url}/v1/chat/completions", content=content, headers=headers, timeout=10)


@pytest.mark.parametrize("kind", NOT_STRINGS, ids=repr)
def test_a_block_type_that_is_not_a_string_is_a_400_naming_it(url: str, kind: Any) -> None:
    content = [{"type": "text", "text": "hi"}, {"type": kind, "text": "x"}]
    body = {"model": "m", "max_tokens": 8, "messages": [{"role": "user", "content": content}]}
    message = anthropic_error(_messages(url, body), 400, "invalid_request_error")
    assert message == "messages.0.content.1.type: Input should be a valid string"

    nested = [{"type": "tool_result", "tool_use_id": "toolu_1", "content": [{"type": kind}]}]
    body["messages"] = [{"role": "user", "content": nested}]
    assert anthropic_error(_messages(url, body), 400).startswith("messages.0.content.0.content.0.type: ")

    chat = {"model": "m", "messages": [{"role": "user", "content": [{"type": "text", "text": "a"}, {"type": kind}]}]}
    error = openai_error(_chat(url, chat), 400)
    assert error["type"] == "invalid_request_error" and error["param"] == "messages[0].content[1].type"
    assert error["message"] == "messages[0].content[1].type: Input should be a valid string"


def test_a_block_without_type_or_not_an_object(url: str) -> None:
    for block, path in [({"text": "x"}, "messages.0.content.0.type"), (5, "messages.0.content.0")]:
        body = {"model": "m", "max_tokens": 8, "messages": [{"role": "user", "content": [block]}]}
        assert anthropic_error(_messages(url, body), 400).startswith(f"{path}: ")
    for role, message in [({}, "should be one of"), (None, "should be one of"), ("missing", "Field required")]:
        turn = {"content": "x"} if role == "missing" else {"role": role, "content": "x"}
        error = openai_error(_chat(url, {"model": "m", "messages": [turn]}), 400)
        assert error["param"] == "messages[0].role" and message in error["message"]
        assert "{}" not in error["message"]  # the values allowed are listed, what was sent is not echoed


@pytest.mark.parametrize("kind", NOT_STRINGS, ids=repr)
def test_the_tag_dispatch_of_every_open_union_refuses_instead_of_raising(kind: Any) -> None:
    """Provider streams and answers go through the same dispatch: a ValidationError, never a TypeError."""
    cases = [
        (content_block_adapter.validate_python, {"type": kind}),
        (stream_event_adapter.validate_python, {"type": kind}),
        (stream_event_adapter.validate_python, {"type": "content_block_delta", "index": 0, "delta": {"type": kind}}),
        (stream_event_adapter.validate_python, {"type": "content_block_start", "index": 0,
                                                "content_block": {"type": kind}}),
        (stream_event_adapter.validate_json, json.dumps({"type": "content_block_delta", "index": 0,
                                                         "delta": {"type": kind}})),
        (ChatCompletionRequest.model_validate, {"model": "m", "messages": [{"role": "user",
                                                                            "content": [{"type": kind}]}]}),
    ]  # fmt: skip
    for validate, value in cases:
        with pytest.raises(ValidationError) as caught:
            validate(value)
        assert any(error["loc"][-1] == "type" for error in caught.value.errors()), caught.value.errors()


def test_odd_json_is_a_400_in_each_dialect(url: str) -> None:
    ok = {"model": "m", "max_tokens": 8, "messages": [{"role": "user", "content": "hi"}]}
    for raw, needle in [
        (b"", "not valid JSON"), (b"null", "JSON object"), (b"[]", "JSON object"), (b'"x"', "JSON object"),
        (b"\xff\xfe{}", "not valid JSON"), (b"[" * 100_000, "not valid JSON"),
        (b'{"model": "\\ud800"}', "not valid JSON"),
        (json.dumps(ok).replace('"max_tokens": 8', '"max_tokens": 8, "temperature": NaN').encode(),
         "temperature: Input should be a finite number"),
        (json.dumps(ok).replace('"max_tokens": 8', '"max_tokens": 8, "top_p": -Infinity').encode(), "top_p: "),
        (json.dumps(ok).replace('"max_tokens": 8', '"max_tokens": 8, "temperature": 1e999').encode(), "finite"),
        (json.dumps(ok).replace('"max_tokens": 8', '"max_tokens": ' + "9" * 5000).encode(), "number out of range"),
    ]:  # fmt: skip
        assert needle in anthropic_error(_messages(url, raw), 400, "invalid_request_error"), raw[:40]
        assert openai_error(_chat(url, raw), 400)["type"] == "invalid_request_error"
    assert _messages(url, {**ok, "messages": [{"role": "user", "content": "NaN or Infinity?"}]}).status_code == 200


def test_compressed_bodies_are_refused_not_inflated(url: str) -> None:
    body = gzip.compress(json.dumps({"model": "m", "max_tokens": 8, "messages": []}).encode())
    message = anthropic_error(_messages(url, body, **{"content-encoding": "gzip"}), 415, "invalid_request_error")
    assert "content-encoding" in message and "gzip" in message
    assert openai_error(_chat(url, body, **{"content-encoding": "gzip"}), 415)["type"] == "invalid_request_error"


def test_unknown_routes_and_methods_answer_in_the_callers_dialect(url: str) -> None:
    anthropic_error(httpx.get(f"{url}/v1/messages", timeout=10), 405, "invalid_request_error")
    anthropic_error(httpx.post(f"{url}/v1/nothing", headers=ANTHROPIC, timeout=10), 404, "not_found_error")
    assert openai_error(httpx.post(f"{url}/v1/nothing", timeout=10), 404)["message"] == "Invalid URL (POST /v1/nothing)"
    assert openai_error(httpx.get(f"{url}/v1/chat/completions", timeout=10), 405)["type"] == "invalid_request_error"
