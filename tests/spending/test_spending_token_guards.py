"""Token guards over real HTTP, with both SDKs, against the fake Anthropic upstream: what the upstream
receives once a route caps tool results and images, the tokens removed in the log line and the
``TokensRemoved`` metric, and a request larger than every context window refused with a 400 in the
caller's dialect (naming the limit, before any upstream call) or sent to the configured route.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import anthropic
import openai
import pytest

from aimux_core.accounting.tokens import estimate_text_tokens
from aimux_core.settings import Settings
from fakes import AnthropicUpstream, Reply
from support.config_gateway import ServedConfig, serve_config
from support.samples import png_header

pytestmark = pytest.mark.timeout(30)

KEYS = {"GUARD_KEY": "sk-" + "ant-guards-upstream-0001"}
LOG = "\n".join(f"12:{i // 60:02d}:{i % 60:02d} INFO step {i} finished without incident" for i in range(2500))
IMAGE = {"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": png_header(1000, 1000)}}
SMALL_WINDOW = 8_000


def document(base_url: str, guards: dict[str, Any] | None) -> dict[str, Any]:
    model = {
        "provider": "up",
        "upstream_model": "claude-sonnet-4-5",
        "max_output": 1024,
        "capabilities": ["tools", "vision"],
    }
    default: dict[str, Any] = {"tiers": [["small"]]}
    if guards is not None:
        default["token_guards"] = guards
    return {
        "providers": {"up": {"preset": "anthropic", "base_url": base_url, "api_key_env": "GUARD_KEY"}},
        "models": {"small": {**model, "context_window": SMALL_WINDOW},
                   "large": {**model, "upstream_model": "claude-sonnet-4-5-1m", "context_window": 1_000_000}},
        "routes": {"default": default, "long": {"tiers": [["large"]]}},
        "long_context_threshold": 900_000,
    }  # fmt: skip


@pytest.fixture
def fake() -> Iterator[AnthropicUpstream]:
    with AnthropicUpstream(default=Reply(text="ok")) as upstream:
        yield upstream
        upstream.raise_for_errors()


def claude(served: ServedConfig) -> anthropic.Anthropic:
    return anthropic.Anthropic(base_url=served.url, api_key="sk-client", max_retries=0, timeout=10)


def oai(served: ServedConfig) -> openai.OpenAI:
    return openai.OpenAI(base_url=f"{served.url}/v1", api_key="sk-client", max_retries=0, timeout=10)


def tool_loop(result: Any) -> list[dict[str, Any]]:
    return [
        {"role": "user", "content": "look at the log"},
        {"role": "assistant", "content": [{"type": "tool_use", "id": "toolu_01", "name": "Bash",
                                           "input": {"command": "cat build.log"}}]},
        {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "toolu_01", "content": result}]},
    ]  # fmt: skip


def request_lines(out: str) -> list[dict[str, Any]]:
    return [line for line in map(json.loads, (x for x in out.splitlines() if x.startswith("{")))
            if line.get("message") == "request"]  # fmt: skip


def test_tool_results_are_capped_for_anthropic_clients(
    fake: AnthropicUpstream, capsys: pytest.CaptureFixture[str]
) -> None:
    emf = Settings.from_env({"AIMUX_EMF": "1"})
    with serve_config(document(fake.base_url, {"tool_result_max_tokens": 1000}), KEYS, settings=emf) as served:
        claude(served).messages.create(model="small", max_tokens=64, messages=tool_loop(LOG))
    sent = fake.last_request.json["messages"][2]["content"][0]["content"]
    assert sent.startswith(LOG[:40]) and sent.endswith(LOG[-40:]) and "removed from the middle" in sent
    assert estimate_text_tokens(sent) < 1200
    out = capsys.readouterr().out
    (line,) = request_lines(out)
    assert line["tokens_removed"] == estimate_text_tokens(LOG) - estimate_text_tokens(sent)
    assert line["status"] == 200
    (emf,) = [doc for doc in map(json.loads, (x for x in out.splitlines() if x.startswith("{"))) if "_aws" in doc]
    assert emf["TokensRemoved"] == [float(line["tokens_removed"])]


def test_tool_messages_are_capped_for_openai_clients(fake: AnthropicUpstream) -> None:
    with serve_config(document(fake.base_url, {"tool_result_max_tokens": 1000}), KEYS) as served:
        oai(served).chat.completions.create(model="small", max_tokens=64, messages=[
            {"role": "user", "content": "look at the log"},
            {"role": "assistant", "content": None, "tool_calls": [{"id": "call_1", "type": "function",
                                                                   "function": {"name": "Bash", "arguments": "{}"}}]},
            {"role": "tool", "tool_call_id": "call_1", "content": LOG},
        ], tools=[{"type": "function", "function": {"name": "Bash", "parameters": {"type": "object"}}}])  # fmt: skip
    block = fake.last_request.json["messages"][2]["content"][0]
    text = block["content"] if isinstance(block["content"], str) else block["content"][0]["text"]
    assert "removed from the middle" in text and estimate_text_tokens(text) < 1200


def test_without_guards_the_request_goes_as_sent(fake: AnthropicUpstream, capsys: pytest.CaptureFixture[str]) -> None:
    document_ = document(fake.base_url, None)
    document_["models"]["small"]["context_window"] = 200_000
    with serve_config(document_, KEYS) as served:
        claude(served).messages.create(model="small", max_tokens=64, messages=tool_loop(LOG))
    assert fake.last_request.json["messages"][2]["content"][0]["content"] == LOG
    assert request_lines(capsys.readouterr().out)[0]["tokens_removed"] == 0


def test_only_the_newest_images_are_sent(fake: AnthropicUpstream, capsys: pytest.CaptureFixture[str]) -> None:
    messages = [
        {"role": "user", "content": [IMAGE, {"type": "text", "text": "the first screenshot"}]},
        {"role": "assistant", "content": "I see it."},
        {"role": "user", "content": [IMAGE, IMAGE, {"type": "text", "text": "and two more"}]},
    ]
    with serve_config(document(fake.base_url, {"max_images": 2}), KEYS) as served:
        claude(served).messages.create(model="small", max_tokens=64, messages=messages)
    sent = fake.last_request.json["messages"]
    assert sent[0]["content"][0] == {"type": "text", "text": sent[0]["content"][0]["text"]}
    assert "only the 2 most recent images" in sent[0]["content"][0]["text"]
    assert [b["type"] for b in sent[2]["content"]] == ["image", "image", "text"]
    assert request_lines(capsys.readouterr().out)[0]["tokens_removed"] > 1000


def test_an_overflow_is_refused_in_the_anthropic_dialect(fake: AnthropicUpstream) -> None:
    with (
        serve_config(document(fake.base_url, {"context_overflow": "refuse"}), KEYS) as served,
        pytest.raises(anthropic.BadRequestError) as caught,
    ):
        claude(served).messages.create(model="small", max_tokens=64, messages=[{"role": "user", "content": LOG}])
    error = caught.value.body["error"]  # type: ignore[index]
    assert error["type"] == "invalid_request_error"
    assert error["message"].startswith("prompt is too long: about ") and f"> {SMALL_WINDOW} maximum" in error["message"]
    assert "route 'default'" in error["message"] and fake.requests == []


def test_an_overflow_is_refused_in_the_openai_dialect(fake: AnthropicUpstream) -> None:
    with (
        serve_config(document(fake.base_url, {"context_overflow": "refuse"}), KEYS) as served,
        pytest.raises(openai.BadRequestError) as caught,
    ):
        oai(served).chat.completions.create(model="small", messages=[{"role": "user", "content": LOG}])
    error = caught.value.body
    assert isinstance(error, dict) and error["code"] == "context_length_exceeded" and error["param"] == "messages"
    assert f"> {SMALL_WINDOW} maximum" in error["message"] and fake.requests == []


def test_an_overflow_goes_to_the_configured_route(fake: AnthropicUpstream) -> None:
    with serve_config(document(fake.base_url, {"context_overflow": "long"}), KEYS) as served:
        raw = claude(served).messages.with_raw_response.create(
            model="small", max_tokens=64, messages=[{"role": "user", "content": LOG}]
        )
    assert raw.headers["x-aimux-model"] == "claude-sonnet-4-5-1m"
    assert "route=long" in raw.headers["x-aimux-route"] and "context overflow" in raw.headers["x-aimux-route"]
    assert fake.last_request.json["model"] == "claude-sonnet-4-5-1m"


def test_capping_can_make_an_overflowing_request_fit(fake: AnthropicUpstream) -> None:
    """The window check runs on what the guards left: a capped tool result fits the small model."""
    guards = {"tool_result_max_tokens": 1000, "context_overflow": "refuse"}
    with serve_config(document(fake.base_url, guards), KEYS) as served:
        raw = claude(served).messages.with_raw_response.create(model="small", max_tokens=64, messages=tool_loop(LOG))
    assert raw.headers["x-aimux-model"] == "claude-sonnet-4-5" and "route=default" in raw.headers["x-aimux-route"]


def test_without_an_overflow_guard_the_old_answer_stays(fake: AnthropicUpstream) -> None:
    with (
        serve_config(document(fake.base_url, {"max_images": 5}), KEYS) as served,
        pytest.raises(anthropic.NotFoundError),
    ):
        claude(served).messages.create(model="small", max_tokens=64, messages=[{"role": "user", "content": LOG}])
