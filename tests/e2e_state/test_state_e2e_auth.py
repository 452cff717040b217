"""Virtual keys end to end: 401 for a missing or unknown key, 403 for a disabled key or a model it may not use.

Each refusal is checked as the caller's own SDK sees it (the exception class and status) and in the error
shape of the caller's dialect: Anthropic ``{"type": "error", "error": {"type": ...}}``, OpenAI
``{"error": {"type", "code", "param", "message"}}``. Both ways of presenting a key are covered
(``x-api-key`` and ``Authorization: Bearer``), because clients differ in which one they send.
"""

from __future__ import annotations

import anthropic
import httpx
import openai
import pytest
from state_e2e_support import HTTP_TIMEOUT, PROMPT, Deployment, anthropic_client, openai_client, run

from aimux_core.keys import disable_key, generate_key

pytestmark = pytest.mark.timeout(60)


def _messages(url: str, headers: dict[str, str], model: str = "big") -> httpx.Response:
    body = {"model": model, "max_tokens": 16, "messages": PROMPT}
    return httpx.post(f"{url}/v1/messages", json=body, headers=headers, timeout=HTTP_TIMEOUT)


def _chat(url: str, headers: dict[str, str], model: str = "big") -> httpx.Response:
    body = {"model": model, "messages": PROMPT}
    return httpx.post(f"{url}/v1/chat/completions", json=body, headers=headers, timeout=HTTP_TIMEOUT)


def test_missing_key_is_401_in_both_dialects(deployment: Deployment) -> None:
    anthropic_answer = _messages(deployment.url, {"anthropic-version": "2023-06-01"})
    assert anthropic_answer.status_code == 401
    body = anthropic_answer.json()
    assert body["type"] == "error"
    assert body["error"]["type"] == "authentication_error"
    assert "missing API key" in body["error"]["message"]

    openai_answer = _chat(deployment.url, {})
    assert openai_answer.status_code == 401
    error = openai_answer.json()["error"]
    assert error["code"] == "invalid_api_key"
    assert "missing API key" in error["message"]


def test_unknown_key_is_401_through_the_sdks(deployment: Deployment) -> None:
    unknown = generate_key()  # well-formed, never stored: costs a store read, finds nothing
    with pytest.raises(anthropic.AuthenticationError) as anthropic_error:
        anthropic_client(deployment.url, unknown).messages.create(model="big", max_tokens=16, messages=PROMPT)
    assert anthropic_error.value.status_code == 401
    assert anthropic_error.value.body["error"]["type"] == "authentication_error"  # type: ignore[index]

    with pytest.raises(openai.AuthenticationError) as openai_error:
        openai_client(deployment.url, unknown).chat.completions.create(model="big", messages=PROMPT)
    assert openai_error.value.status_code == 401
    assert openai_error.value.code == "invalid_api_key"

    garbled = _messages(deployment.url, {"x-api-key": "sk-ant-not-an-aimux-key"})
    assert garbled.status_code == 401
    assert garbled.json()["error"]["message"] == "invalid API key"


def test_valid_key_is_accepted_as_x_api_key_and_as_bearer(deployment: Deployment) -> None:
    plaintext, _ = deployment.make_key()
    by_header = _messages(deployment.url, {"x-api-key": plaintext})
    by_bearer = _messages(deployment.url, {"authorization": f"Bearer {plaintext}"})
    assert (by_header.status_code, by_bearer.status_code) == (200, 200)

    sdk_key = anthropic_client(deployment.url, plaintext).messages.create(model="big", max_tokens=16, messages=PROMPT)
    sdk_token = anthropic_client(deployment.url, auth_token=plaintext).messages.create(
        model="big", max_tokens=16, messages=PROMPT
    )
    assert sdk_key.content and sdk_token.content
    completion = openai_client(deployment.url, plaintext).chat.completions.create(model="big", messages=PROMPT)
    assert completion.choices[0].message.content


def test_disabled_key_is_403_in_both_dialects(deployment: Deployment) -> None:
    plaintext, record = deployment.make_key()
    assert _messages(deployment.url, {"x-api-key": plaintext}).status_code == 200
    run(disable_key(deployment.keys, record.id))  # the serving ring: its cache is refreshed at once

    with pytest.raises(anthropic.PermissionDeniedError) as anthropic_error:
        anthropic_client(deployment.url, plaintext).messages.create(model="big", max_tokens=16, messages=PROMPT)
    assert anthropic_error.value.status_code == 403
    body = anthropic_error.value.body
    assert body["error"] == {"type": "permission_error", "message": "this API key is disabled"}  # type: ignore[index]

    with pytest.raises(openai.PermissionDeniedError) as openai_error:
        openai_client(deployment.url, plaintext).chat.completions.create(model="big", messages=PROMPT)
    assert openai_error.value.status_code == 403
    assert openai_error.value.type == "permission_error"
    assert "disabled" in openai_error.value.message

    counted = httpx.post(
        f"{deployment.url}/v1/messages/count_tokens",
        json={"model": "big", "messages": PROMPT},
        headers={"x-api-key": plaintext},
        timeout=HTTP_TIMEOUT,
    )
    assert counted.status_code == 403  # count_tokens authenticates too


def test_model_outside_the_allow_list_is_403(deployment: Deployment) -> None:
    plaintext, _ = deployment.make_key(allowed_models=["sm*"])
    assert _messages(deployment.url, {"x-api-key": plaintext}, model="small").status_code == 200

    with pytest.raises(anthropic.PermissionDeniedError) as anthropic_error:
        anthropic_client(deployment.url, plaintext).messages.create(model="big", max_tokens=16, messages=PROMPT)
    error = anthropic_error.value.body["error"]  # type: ignore[index]
    assert error["type"] == "permission_error"
    assert error["message"] == "model 'big' is not allowed for this API key"

    with pytest.raises(openai.PermissionDeniedError) as openai_error:
        openai_client(deployment.url, plaintext).chat.completions.create(model="big", messages=PROMPT)
    assert openai_error.value.type == "permission_error"
    assert openai_error.value.param == "model"
    assert "'big' is not allowed" in openai_error.value.message
