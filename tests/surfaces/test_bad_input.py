"""Bad input gets a clear 4xx in the caller's own dialect, naming what is wrong."""

from __future__ import annotations

import json

import httpx
import pytest

ANTHROPIC_HEADERS = {"anthropic-version": "2023-06-01", "x-api-key": "sk-test", "content-type": "application/json"}
OPENAI_HEADERS = {"authorization": "Bearer sk-test", "content-type": "application/json"}
HELLO = [{"role": "user", "content": "hi"}]


def _anthropic(url: str, body: bytes | dict, path: str = "/v1/messages", **headers: str) -> httpx.Response:
    content = body if isinstance(body, bytes) else json.dumps(body).encode()
    return httpx.post(url + path, content=content, headers={**ANTHROPIC_HEADERS, **headers}, timeout=10)


def _openai(url: str, body: bytes | dict) -> httpx.Response:
    content = body if isinstance(body, bytes) else json.dumps(body).encode()
    return httpx.post(url + "/v1/chat/completions", content=content, headers=OPENAI_HEADERS, timeout=10)


def _anthropic_error(response: httpx.Response, status: int, kind: str) -> str:
    assert response.status_code == status, response.text
    body = response.json()
    assert body["type"] == "error" and body["error"]["type"] == kind
    assert body["request_id"] == response.headers["request-id"]
    return body["error"]["message"]


def _openai_error(response: httpx.Response, status: int) -> dict:
    assert response.status_code == status, response.text
    error = response.json()["error"]
    assert set(error) == {"message", "type", "param", "code"}
    return error


@pytest.mark.parametrize(
    ("body", "needle"),
    [
        (b"{not json", "not valid JSON"),
        (b"[1, 2]", "JSON object"),
        ({"max_tokens": 10, "messages": HELLO}, "model"),
        ({"model": "m", "max_tokens": 10}, "messages"),
        ({"model": "m", "messages": HELLO}, "max_tokens"),
        ({"model": "m", "max_tokens": "ten", "messages": HELLO}, "max_tokens"),
        ({"model": "m", "max_tokens": -1, "messages": HELLO}, "max_tokens"),
        ({"model": "m", "max_tokens": 10, "messages": []}, "messages"),
        ({"model": "m", "max_tokens": 10, "messages": [{"role": "robot", "content": "x"}]}, "messages.0.role"),
        ({"model": "m", "max_tokens": 10, "messages": [{"role": "user", "content": 5}]}, "messages.0.content"),
        (
            {"model": "m", "max_tokens": 10, "messages": [{"role": "user", "content": [{"type": "text"}]}]},
            "messages.0.content.0.text",
        ),
        (
            {
                "model": "m",
                "max_tokens": 10,
                "messages": [{"role": "user", "content": [{"type": "tool_result", "tool_use_id": "toolu_x"}]}],
            },
            "tool_use_id",
        ),
        ({"model": "m", "max_tokens": 10, "messages": HELLO, "tools": [{"name": "t"}]}, "tools.0.input_schema"),
    ],
)
def test_anthropic_bad_requests_name_the_field(gateway_url: str, body: bytes | dict, needle: str) -> None:
    message = _anthropic_error(_anthropic(gateway_url, body), 400, "invalid_request_error")
    assert needle in message


def test_sampling_parameters_are_refused_under_the_2026_version(gateway_url: str) -> None:
    body = {"model": "m", "max_tokens": 10, "messages": HELLO, "temperature": 0.5}
    message = _anthropic_error(_anthropic(gateway_url, body, **{"anthropic-version": "2026-10-21"}), 400,
                               "invalid_request_error")
    assert "temperature" in message
    assert _anthropic(gateway_url, body).status_code == 200


def test_count_tokens_bad_input(gateway_url: str) -> None:
    response = _anthropic(gateway_url, {"model": "m"}, path="/v1/messages/count_tokens?beta=true")
    assert "messages" in _anthropic_error(response, 400, "invalid_request_error")


def test_oversized_body_is_413_in_both_dialects(gateway_url: str) -> None:
    huge = {"model": "m", "max_tokens": 10, "messages": [{"role": "user", "content": "x" * (11 * 1024 * 1024)}]}
    message = _anthropic_error(_anthropic(gateway_url, huge), 413, "request_too_large")
    assert "AIMUX_MAX_REQUEST_MB" in message
    error = _openai_error(_openai(gateway_url, {"model": "m", "messages": huge["messages"]}), 413)
    assert error["code"] == "request_too_large"


@pytest.mark.parametrize(
    ("body", "needle"),
    [
        (b"{oops", "not valid JSON"),
        ({"messages": HELLO}, "model"),
        ({"model": "gpt-4o"}, "messages"),
        ({"model": "gpt-4o", "messages": []}, "messages"),
        ({"model": "gpt-4o", "messages": [{"role": "user"}]}, "messages[0].content"),
        ({"model": "gpt-4o", "messages": HELLO, "n": 3}, "n"),
        ({"model": "gpt-4o", "messages": [{"role": "tool", "tool_call_id": "call_1", "content": "x"}]}, "tool"),
    ],
)
def test_openai_bad_requests_name_the_field(gateway_url: str, body: bytes | dict, needle: str) -> None:
    error = _openai_error(_openai(gateway_url, body), 400)
    assert error["type"] == "invalid_request_error"
    assert needle in error["message"]


def test_unknown_routes_and_methods_do_not_500(gateway_url: str) -> None:
    assert httpx.get(gateway_url + "/v1/messages", timeout=10).status_code == 405
    assert httpx.post(gateway_url + "/v1/nothing", timeout=10).status_code == 404


def test_keys_and_prompt_text_never_appear_in_error_bodies(gateway_url: str) -> None:
    secret_prompt = "TOP-SECRET-PROMPT-TEXT"
    body = {"model": "m", "max_tokens": "x", "messages": [{"role": "user", "content": secret_prompt}]}
    response = _anthropic(gateway_url, body, **{"x-api-key": "sk-ant-SECRETKEY"})
    assert secret_prompt not in response.text and "SECRETKEY" not in response.text
