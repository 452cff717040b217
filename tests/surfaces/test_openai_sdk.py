"""The official OpenAI SDK against aimux over loopback (mock provider)."""

from __future__ import annotations

import json

import openai
import pytest

from support.samples import PNG_1X1

BASH_FUNCTION = {
    "type": "function",
    "function": {
        "name": "Bash",
        "description": "Run a shell command",
        "parameters": {"type": "object", "properties": {"command": {"type": "string"}}, "required": ["command"]},
    },
}


@pytest.fixture
def client(gateway_url: str) -> openai.OpenAI:
    return openai.OpenAI(base_url=f"{gateway_url}/v1", api_key="sk-test-openai", max_retries=0, timeout=10)


def test_create_returns_a_chat_completion(client: openai.OpenAI) -> None:
    completion = client.chat.completions.create(
        model="gpt-4o",
        messages=[{"role": "system", "content": "be brief"}, {"role": "user", "content": "hello from openai"}],
    )
    assert completion.object == "chat.completion"
    assert completion.model == "gpt-4o"
    choice = completion.choices[0]
    assert choice.finish_reason == "stop"
    assert "hello from openai" in (choice.message.content or "")
    assert completion.usage and completion.usage.prompt_tokens > 0
    assert completion.usage.total_tokens == completion.usage.prompt_tokens + completion.usage.completion_tokens


def test_stream_chunks_with_usage(client: openai.OpenAI) -> None:
    stream = client.chat.completions.create(
        model="gpt-4o",
        messages=[{"role": "user", "content": "stream it"}],
        stream=True,
        stream_options={"include_usage": True},
    )
    chunks = list(stream)
    assert chunks[0].choices[0].delta.role == "assistant"
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert "stream it" in text
    finishes = [c.choices[0].finish_reason for c in chunks if c.choices and c.choices[0].finish_reason]
    assert finishes == ["stop"]
    assert chunks[-1].choices == [] and chunks[-1].usage and chunks[-1].usage.completion_tokens > 0


def test_stream_helper_accumulates(client: openai.OpenAI) -> None:
    with client.chat.completions.stream(
        model="gpt-4o", messages=[{"role": "user", "content": "accumulate me"}]
    ) as stream:
        final = stream.get_final_completion()
    assert "accumulate me" in (final.choices[0].message.content or "")


def test_tool_call_round_trip(client: openai.OpenAI) -> None:
    messages: list[dict] = [{"role": "user", "content": "use the Bash tool to run `echo hi`"}]
    first = client.chat.completions.create(model="gpt-4o", messages=messages, tools=[BASH_FUNCTION])
    choice = first.choices[0]
    assert choice.finish_reason == "tool_calls"
    call = choice.message.tool_calls[0]
    assert call.function.name == "Bash" and json.loads(call.function.arguments) == {"command": "echo hi"}
    messages += [
        choice.message.model_dump(exclude_none=True),
        {"role": "tool", "tool_call_id": call.id, "content": "hi"},
    ]
    second = client.chat.completions.create(model="gpt-4o", messages=messages, tools=[BASH_FUNCTION])
    assert second.choices[0].finish_reason == "stop"
    assert "hi" in second.choices[0].message.content


def test_streamed_tool_calls_accumulate(client: openai.OpenAI) -> None:
    with client.chat.completions.stream(
        model="gpt-4o",
        messages=[{"role": "user", "content": "use the Bash tool to run `pwd`"}],
        tools=[BASH_FUNCTION],
    ) as stream:
        final = stream.get_final_completion()
    call = final.choices[0].message.tool_calls[0]
    assert json.loads(call.function.arguments) == {"command": "pwd"}
    assert final.choices[0].finish_reason == "tool_calls"


def test_image_url_parts_are_accepted(client: openai.OpenAI) -> None:
    completion = client.chat.completions.create(
        model="gpt-4o",
        messages=[
            {
                "role": "user",
                "content": [
                    {"type": "text", "text": "what is in this image"},
                    {"type": "image_url", "image_url": {"url": f"data:image/png;base64,{PNG_1X1}"}},
                ],
            }
        ],
    )
    assert "what is in this image" in completion.choices[0].message.content


def test_reasoning_effort_returns_reasoning(client: openai.OpenAI) -> None:
    completion = client.chat.completions.create(
        model="o3", messages=[{"role": "user", "content": "reason"}], reasoning_effort="high"
    )
    message = completion.choices[0].message
    assert message.content
    assert (message.model_extra or {}).get("reasoning_content")


def test_models_list_is_openai_shaped(client: openai.OpenAI) -> None:
    models = client.models.list()
    assert models.data and models.data[0].object == "model"


def test_errors_surface_as_typed_sdk_exceptions(client: openai.OpenAI) -> None:
    with pytest.raises(openai.BadRequestError) as bad:
        client.chat.completions.create(model="gpt-4o", messages=[])
    assert bad.value.body["message"] and "messages" in bad.value.body["message"]
    with pytest.raises(openai.RateLimitError):
        client.chat.completions.create(model="gpt-4o", messages=[{"role": "user", "content": "[[mock:error:429]]"}])
    with pytest.raises(openai.InternalServerError) as overloaded:
        client.chat.completions.create(model="gpt-4o", messages=[{"role": "user", "content": "[[mock:error:529]]"}])
    assert overloaded.value.status_code == 503


def test_midstream_failure_is_an_error_chunk_without_done(client: openai.OpenAI) -> None:
    stream = client.chat.completions.create(
        model="gpt-4o", messages=[{"role": "user", "content": "go on [[mock:midstream-error]]"}], stream=True
    )
    with pytest.raises(openai.APIError):
        for _ in stream:
            pass
