"""The official Anthropic SDK against aimux over loopback (mock provider)."""

from __future__ import annotations

import anthropic
import pytest

from support.anthropic_grammar import check_anthropic_stream
from support.samples import BASH_TOOL, PNG_1X1


@pytest.fixture
def client(gateway_url: str) -> anthropic.Anthropic:
    return anthropic.Anthropic(base_url=gateway_url, api_key="sk-test-anthropic", max_retries=0, timeout=10)


def test_create_returns_a_message_echoing_the_prompt(client: anthropic.Anthropic) -> None:
    message = client.messages.create(
        model="claude-sonnet-4-5", max_tokens=256, messages=[{"role": "user", "content": "hello aimux"}]
    )
    assert message.type == "message" and message.role == "assistant"
    assert message.model == "claude-sonnet-4-5"
    assert message.stop_reason == "end_turn"
    assert "hello aimux" in message.content[0].text
    assert message.usage.input_tokens > 0 and message.usage.output_tokens > 0


def test_raw_response_carries_request_id_and_route_headers(client: anthropic.Anthropic) -> None:
    raw = client.messages.with_raw_response.create(
        model="claude-haiku-4-5", max_tokens=32, messages=[{"role": "user", "content": "hi"}]
    )
    assert raw.headers["request-id"].startswith("req_")
    assert raw.headers["x-aimux-provider"] == "mock"
    assert raw.parse().content


def test_stream_is_folded_by_the_sdk(client: anthropic.Anthropic) -> None:
    with client.messages.stream(
        model="claude-sonnet-4-5", max_tokens=256, messages=[{"role": "user", "content": "stream me please"}]
    ) as stream:
        events = [event.model_dump() for event in stream]  # raw + SDK helper events
        final = stream.get_final_message()
    assert "stream me please" in final.content[0].text
    assert final.usage.input_tokens > 0
    raw = [e for e in events if e["type"] in {"message_start", "content_block_start", "content_block_delta",
                                              "content_block_stop", "message_delta", "message_stop", "ping"}]
    check_anthropic_stream(raw)


def test_tool_use_round_trip(client: anthropic.Anthropic) -> None:
    question = {"role": "user", "content": "use the Bash tool to run `echo hi`"}
    first = client.messages.create(model="claude-sonnet-4-5", max_tokens=512, tools=[BASH_TOOL], messages=[question])
    assert first.stop_reason == "tool_use"
    tool_use = next(block for block in first.content if block.type == "tool_use")
    assert tool_use.name == "Bash" and tool_use.input["command"] == "echo hi"
    second = client.messages.create(
        model="claude-sonnet-4-5",
        max_tokens=512,
        tools=[BASH_TOOL],
        messages=[
            question,
            {"role": "assistant", "content": [block.model_dump(exclude_none=True) for block in first.content]},
            {"role": "user", "content": [{"type": "tool_result", "tool_use_id": tool_use.id, "content": "hi"}]},
        ],
    )
    assert second.stop_reason == "end_turn"
    assert "hi" in second.content[-1].text


def test_streamed_tool_use_accumulates_input(client: anthropic.Anthropic) -> None:
    with client.messages.stream(
        model="claude-sonnet-4-5",
        max_tokens=512,
        tools=[BASH_TOOL],
        messages=[{"role": "user", "content": "use the Bash tool to run `ls -la`"}],
    ) as stream:
        final = stream.get_final_message()
    tool_use = next(block for block in final.content if block.type == "tool_use")
    assert tool_use.input["command"] == "ls -la"
    assert final.stop_reason == "tool_use"


def test_thinking_blocks_come_first_with_a_signature(client: anthropic.Anthropic) -> None:
    with client.messages.stream(
        model="claude-opus-4-5",
        max_tokens=4096,
        thinking={"type": "enabled", "budget_tokens": 2048},
        messages=[{"role": "user", "content": "think about it"}],
    ) as stream:
        final = stream.get_final_message()
    assert final.content[0].type == "thinking"
    assert final.content[0].thinking and final.content[0].signature
    assert final.content[-1].type == "text"


def test_image_input_is_accepted(client: anthropic.Anthropic) -> None:
    message = client.messages.create(
        model="claude-sonnet-4-5",
        max_tokens=128,
        messages=[
            {
                "role": "user",
                "content": [
                    {"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": PNG_1X1}},
                    {"type": "text", "text": "describe this picture"},
                ],
            }
        ],
    )
    assert "describe this picture" in message.content[0].text


def test_count_tokens_grows_with_tools(client: anthropic.Anthropic) -> None:
    messages = [{"role": "user", "content": "how many tokens is this?"}]
    plain = client.messages.count_tokens(model="claude-sonnet-4-5", messages=messages)
    with_tools = client.messages.count_tokens(model="claude-sonnet-4-5", messages=messages, tools=[BASH_TOOL])
    assert 0 < plain.input_tokens < with_tools.input_tokens


def test_models_list_is_anthropic_shaped(client: anthropic.Anthropic) -> None:
    page = client.models.list()
    assert page.data and page.data[0].type == "model"
    assert client.models.retrieve(page.data[0].id).id == page.data[0].id


def test_errors_surface_as_typed_sdk_exceptions(client: anthropic.Anthropic) -> None:
    with pytest.raises(anthropic.BadRequestError) as bad:
        client.messages.create(model="claude-sonnet-4-5", max_tokens=16, messages=[])
    assert bad.value.status_code == 400
    assert bad.value.body["error"]["type"] == "invalid_request_error"
    assert "messages" in bad.value.body["error"]["message"]
    with pytest.raises(anthropic.RateLimitError) as limited:
        client.messages.create(
            model="claude-sonnet-4-5", max_tokens=16, messages=[{"role": "user", "content": "[[mock:error:429]]"}]
        )
    assert limited.value.response.headers.get("retry-after") is not None
    with pytest.raises(anthropic.InternalServerError) as overloaded:
        client.messages.create(
            model="claude-sonnet-4-5", max_tokens=16, messages=[{"role": "user", "content": "[[mock:error:529]]"}]
        )
    assert overloaded.value.status_code == 529
    assert overloaded.value.body["error"]["type"] == "overloaded_error"


def test_midstream_failure_is_an_error_event_not_a_clean_stop(client: anthropic.Anthropic) -> None:
    with pytest.raises(anthropic.APIStatusError), client.messages.stream(
        model="claude-sonnet-4-5",
        max_tokens=256,
        messages=[{"role": "user", "content": "tell me more [[mock:midstream-error]]"}],
    ) as stream:
        for _ in stream:
            pass


def test_legacy_version_and_x_api_key_are_accepted(gateway_url: str) -> None:
    legacy = anthropic.Anthropic(
        base_url=gateway_url,
        api_key="sk-test",
        max_retries=0,
        default_headers={"anthropic-version": "2023-06-01", "x-api-key": "sk-test"},
    )
    message = legacy.messages.create(
        model="claude-sonnet-4-5",
        max_tokens=64,
        extra_body={"temperature": 0.2},
        messages=[{"role": "user", "content": "hi"}],
    )
    assert message.content
