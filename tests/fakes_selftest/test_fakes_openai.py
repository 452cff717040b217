"""The fake OpenAI-compatible upstream, driven by the official openai SDK over loopback: chunks
match the recorded grammar, provider quirks come out as scripted, faults surface as the SDK's
own exceptions."""

from __future__ import annotations

import json
import time
from typing import Any

import httpx2
import openai
import pytest

from fakes import Fault, OpenAIUpstream, Quirk, Reply, StreamErrorStyle, ToolCall, Usage

MESSAGES: list[Any] = [{"role": "user", "content": "hi"}]


def client(fake: OpenAIUpstream, *, read: float = 5.0) -> openai.OpenAI:
    return openai.OpenAI(base_url=fake.base_url, api_key="x", max_retries=0, timeout=httpx2.Timeout(5.0, read=read))


def raw_chunks(fake: OpenAIUpstream, *, include_usage: bool = True) -> tuple[bytes, list[Any]]:
    """The raw SSE body and its ``data:`` payloads (JSON-decoded, ``[DONE]`` kept as a string)."""
    body = {"model": "gpt-fake", "messages": MESSAGES, "stream": True}
    if include_usage:
        body["stream_options"] = {"include_usage": True}
    raw = httpx2.post(f"{fake.base_url}/chat/completions", json=body, headers={"authorization": "Bearer x"}).content
    payloads = []
    for line in raw.replace(b"\r\n", b"\n").split(b"\n"):
        if line.startswith(b"data: "):
            data = line[6:].decode()
            payloads.append(data if data == "[DONE]" else json.loads(data))
    return raw, payloads


def fold(chunks: list[Any]) -> dict[str, Any]:
    """Fold SDK chunks by tool-call index, the way a correct client does."""
    text, calls, finish, usage = "", {}, None, None
    for chunk in chunks:
        usage = chunk.usage or usage
        for choice in chunk.choices or []:
            text += choice.delta.content or ""
            finish = choice.finish_reason or finish
            for call in choice.delta.tool_calls or []:
                slot = calls.setdefault(call.index, {"id": None, "name": None, "arguments": ""})
                slot["id"] = call.id or slot["id"]
                slot["name"] = (call.function.name if call.function else None) or slot["name"]
                slot["arguments"] += (call.function.arguments if call.function else None) or ""
    return {"text": text, "calls": [calls[i] for i in sorted(calls)], "finish": finish, "usage": usage}


def test_create_with_reasoning_and_cache_usage(openai_upstream: OpenAIUpstream) -> None:
    usage = Usage(input_tokens=10, cache_read_input_tokens=90, output_tokens=5, reasoning_tokens=3)
    openai_upstream.enqueue(Reply(text="done", reasoning="because", usage=usage))
    completion = client(openai_upstream).chat.completions.create(model="glm-fake", messages=MESSAGES)
    message = completion.choices[0].message
    assert completion.object == "chat.completion" and completion.model == "glm-fake"
    assert message.content == "done" and message.model_extra["reasoning_content"] == "because"
    assert completion.choices[0].finish_reason == "stop"
    assert completion.usage is not None and completion.usage.prompt_tokens == 100
    assert completion.usage.prompt_tokens_details.cached_tokens == 90
    assert completion.usage.completion_tokens_details.reasoning_tokens == 3
    assert openai_upstream.last_request.path == "/v1/chat/completions"
    assert openai_upstream.last_request.headers["authorization"] == "Bearer x"


def test_non_streamed_tool_calls_keep_arguments_as_strings(openai_upstream: OpenAIUpstream) -> None:
    openai_upstream.enqueue(Reply(text=None, tool_calls=[ToolCall("a", {"x": 1}, id="call_1"), ToolCall("b", "")]))
    completion = client(openai_upstream).chat.completions.create(model="m", messages=MESSAGES)
    message = completion.choices[0].message
    assert message.content is None and completion.choices[0].finish_reason == "tool_calls"
    first = message.tool_calls[0]
    assert (first.id, first.function.name, first.function.arguments) == ("call_1", "a", '{"x":1}')
    assert message.tool_calls[1].function.arguments == ""


def test_stream_folds_text_and_parallel_tool_calls(openai_upstream: OpenAIUpstream) -> None:
    calls = [ToolCall("get_weather", {"city": "Edinburgh"}), ToolCall("now", ""), ToolCall("f", fragments=("{", "}"))]
    openai_upstream.enqueue(Reply(text="Checking.", tool_calls=calls, chunk_size=4))
    chunks = list(client(openai_upstream).chat.completions.create(
        model="m", messages=MESSAGES, stream=True, stream_options={"include_usage": True}))
    folded = fold(chunks)
    assert folded["text"] == "Checking." and folded["finish"] == "tool_calls"
    assert [(c["name"], c["arguments"]) for c in folded["calls"]] == [
        ("get_weather", '{"city":"Edinburgh"}'), ("now", ""), ("f", "{}")]
    assert all(c["id"].startswith("call_") for c in folded["calls"])
    assert folded["usage"].total_tokens == 40 and chunks[-1].choices == []


def test_stream_grammar_matches_the_recordings(openai_upstream: OpenAIUpstream) -> None:
    openai_upstream.enqueue(Reply(text=["I'm", " here"]))
    raw, payloads = raw_chunks(openai_upstream)
    assert raw.endswith(b"data: [DONE]\n\n") and b"event:" not in raw
    first, *middle, finish, usage, done = payloads
    assert first["choices"][0]["delta"] == {"role": "assistant", "content": "", "refusal": None}
    assert [m["choices"][0]["delta"] for m in middle] == [{"content": "I'm"}, {"content": " here"}]
    assert finish["choices"][0] == {"index": 0, "delta": {}, "logprobs": None, "finish_reason": "stop"}
    assert usage["choices"] == [] and usage["usage"]["total_tokens"] == 40 and done == "[DONE]"
    assert {p["object"] for p in payloads[:-1]} == {"chat.completion.chunk"}
    assert len({p["id"] for p in payloads[:-1]}) == 1
    openai_upstream.enqueue(Reply(text="x"))
    _, without_usage = raw_chunks(openai_upstream, include_usage=False)
    assert all("usage" not in p for p in without_usage[:-1]) and without_usage[-2]["choices"][0]["finish_reason"]


def test_tool_first_chunk_matches_the_recording(openai_upstream: OpenAIUpstream) -> None:
    openai_upstream.enqueue(Reply(text=None, tool_calls=[ToolCall("GetWeatherArgs", {"city": "Edinburgh"})]))
    _, payloads = raw_chunks(openai_upstream)
    delta = payloads[0]["choices"][0]["delta"]
    assert delta["role"] == "assistant" and delta["content"] is None and delta["refusal"] is None
    (first,) = delta["tool_calls"]
    assert first["index"] == 0 and first["type"] == "function" and first["id"].startswith("call_")
    assert first["function"] == {"name": "GetWeatherArgs", "arguments": ""}
    later = [p["choices"][0]["delta"]["tool_calls"][0] for p in payloads[1:-3]]
    assert all(set(fragment) == {"index", "function"} for fragment in later)


def test_reasoning_field_and_base_path_are_configurable() -> None:
    with OpenAIUpstream(base_path="/api/paas/v4", reasoning_field="reasoning") as fake:
        assert fake.base_url.endswith("/api/paas/v4")
        fake.enqueue(Reply(text="ok", reasoning=["thin", "king"]))
        chunks = list(client(fake).chat.completions.create(model="m", messages=MESSAGES, stream=True))
        reasoning = "".join((c.choices[0].delta.model_extra or {}).get("reasoning") or "" for c in chunks)
        assert reasoning == "thinking" and fake.last_request.path == "/api/paas/v4/chat/completions"
        fake.raise_for_errors()


@pytest.mark.parametrize(
    ("status", "exc", "error_type"),
    [
        (429, openai.RateLimitError, "requests"),
        (500, openai.InternalServerError, "server_error"),
        (502, openai.InternalServerError, "server_error"),
        (503, openai.InternalServerError, "server_error"),
        (529, openai.InternalServerError, "server_error"),
        (401, openai.AuthenticationError, "invalid_request_error"),
    ],
)
def test_http_errors_use_the_openai_error_shape(
    openai_upstream: OpenAIUpstream, status: int, exc: type[Exception], error_type: str
) -> None:
    openai_upstream.enqueue(Fault.http(status, retry_after=2 if status == 429 else None))
    with pytest.raises(exc) as caught:
        client(openai_upstream).chat.completions.create(model="m", messages=MESSAGES)
    error = caught.value
    assert isinstance(error, openai.APIStatusError) and error.status_code == status
    assert set(error.body) == {"message", "type", "param", "code"} and error.body["type"] == error_type
    if status == 429:
        assert error.response.headers["retry-after"] == "2" and error.body["code"] == "rate_limit_exceeded"


def test_openai_and_openrouter_mid_stream_errors_raise(openai_upstream: OpenAIUpstream) -> None:
    for style in (StreamErrorStyle.OPENAI, StreamErrorStyle.OPENROUTER):
        openai_upstream.enqueue(Fault.stream_error(2, style=style, message="upstream died"))
        with pytest.raises(openai.APIError, match="upstream died"):
            for _ in client(openai_upstream).chat.completions.create(model="m", messages=MESSAGES, stream=True):
                pass
    openai_upstream.enqueue(Fault.stream_error(2, style="openrouter", error_type="server_error"))
    _, payloads = raw_chunks(openai_upstream)
    assert payloads[2]["error"]["code"] == "server_error" and payloads[2]["choices"][0]["finish_reason"] == "error"
    assert payloads[-1] == "[DONE]"
    openai_upstream.enqueue(Fault.stream_error(2))
    raw, payloads = raw_chunks(openai_upstream)
    assert set(payloads[-1]) == {"error"} and b"[DONE]" not in raw


def test_vllm_error_object_is_not_an_sdk_error(openai_upstream: OpenAIUpstream) -> None:
    openai_upstream.enqueue(Fault.stream_error(2, style="vllm", message="bad", status=400))
    _, payloads = raw_chunks(openai_upstream)
    assert payloads[2] == {"object": "error", "message": "bad", "type": "server_error", "param": None, "code": 400}
    assert payloads[-1] == "[DONE]"


@pytest.mark.parametrize("quirk", list(Quirk), ids=str)
def test_quirks_shape_the_chunks(openai_upstream: OpenAIUpstream, quirk: Quirk) -> None:
    calls = [ToolCall("a", {"k": 1}), ToolCall("b", {"k": 2})]
    reply = Reply(text="hey", tool_calls=calls, chunk_size=3, quirks=frozenset({quirk}))
    openai_upstream.enqueue(reply)
    raw, payloads = raw_chunks(openai_upstream)
    chunks = [p for p in payloads if p != "[DONE]"]
    fragments = [tc for c in chunks for ch in c["choices"] or [] for tc in ch["delta"].get("tool_calls", [])]
    if quirk is Quirk.SSE_COMMENTS:
        assert raw.startswith(b": OPENROUTER PROCESSING\n\ndata: ")
    elif quirk is Quirk.CRLF:
        assert b"\n" not in raw.replace(b"\r\n", b"") and raw.endswith(b"data: [DONE]\r\n\r\n")
    elif quirk is Quirk.TOOL_CALL_NO_INDEX:
        assert fragments and all("index" not in f for f in fragments)
    elif quirk is Quirk.TOOL_CALLS_SAME_INDEX:
        assert {f["index"] for f in fragments} == {0} and len({f["id"] for f in fragments if "id" in f}) == 2
    elif quirk is Quirk.FINISH_WITH_CONTENT:
        assert chunks[-2]["choices"][0]["delta"] and chunks[-2]["choices"][0]["finish_reason"] == "tool_calls"
    elif quirk is Quirk.USAGE_CHOICES_NULL:
        assert chunks[-1]["choices"] is None and chunks[-1]["usage"]["total_tokens"] == 40
    elif quirk is Quirk.CHUNK_USAGE_NULL:
        assert all(c["usage"] is None for c in chunks[:-1]) and chunks[-1]["usage"]
    if quirk not in (Quirk.TOOL_CALL_NO_INDEX, Quirk.TOOL_CALLS_SAME_INDEX):  # those need a smarter folder
        openai_upstream.enqueue(reply)
        folded = fold(list(client(openai_upstream).chat.completions.create(
            model="m", messages=MESSAGES, stream=True, stream_options={"include_usage": True})))
        assert folded["text"] == "hey" and [c["arguments"] for c in folded["calls"]] == ['{"k":1}', '{"k":2}']


def test_transport_faults(openai_upstream: OpenAIUpstream) -> None:
    sdk = client(openai_upstream)
    openai_upstream.enqueue(Fault.reset(3))
    with pytest.raises(openai.APIConnectionError):
        for _ in sdk.chat.completions.create(model="m", messages=MESSAGES, stream=True):
            pass
    openai_upstream.enqueue(Fault.disconnect())
    with pytest.raises(openai.APIConnectionError):
        sdk.chat.completions.create(model="m", messages=MESSAGES)
    openai_upstream.enqueue(Fault.truncate(2))
    _, payloads = raw_chunks(openai_upstream)
    assert len(payloads) == 2 and "[DONE]" not in payloads
    openai_upstream.enqueue(Fault.malformed_json())
    with pytest.raises(ValueError, match="line 1"):
        sdk.chat.completions.create(model="m", messages=MESSAGES)


def test_stalls_are_bounded(openai_upstream: OpenAIUpstream) -> None:
    started = time.monotonic()
    openai_upstream.enqueue(Fault.stall(30), Fault.stall(30, after_events=2))
    with pytest.raises(openai.APITimeoutError):
        client(openai_upstream, read=0.25).chat.completions.create(model="m", messages=MESSAGES)
    with pytest.raises(openai.APITimeoutError):
        for _ in client(openai_upstream, read=0.25).chat.completions.create(model="m", messages=MESSAGES,
                                                                             stream=True):
            pass
    assert time.monotonic() - started < 10  # the read timeout, not the 30 s stall


def test_strict_mode_requires_model_and_messages(openai_upstream: OpenAIUpstream) -> None:
    response = httpx2.post(f"{openai_upstream.base_url}/chat/completions", json={"model": "m"})
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "missing_required_parameter"
    assert httpx2.post(f"{openai_upstream.origin}/elsewhere", json={}).status_code == 404


# --------------------------------------------------------------------------- provider request checks


def _tool_turn(**assistant_extra: Any) -> list[Any]:
    call = {"id": "call_1", "type": "function", "function": {"name": "f", "arguments": "{}"}}
    return [{"role": "user", "content": "hi"},
            {"role": "assistant", "content": None, "tool_calls": [{**call, **assistant_extra.pop("call", {})}],
             **assistant_extra},
            {"role": "tool", "tool_call_id": "call_1", "content": "ok"}]


def test_deepseek_refuses_a_tool_turn_without_its_reasoning() -> None:
    with OpenAIUpstream(require_reasoning_echo=True) as fake:
        with pytest.raises(openai.BadRequestError, match="reasoning_content") as refused:
            client(fake).chat.completions.create(model="deepseek-v4-flash", messages=_tool_turn())
        assert refused.value.status_code == 400
        answer = client(fake).chat.completions.create(model="deepseek-v4-flash",
                                                      messages=_tool_turn(reasoning_content="I will call f."))
        assert answer.choices[0].message.content == "Hello!"
        off = client(fake).chat.completions.create(model="deepseek-v4-flash", messages=_tool_turn(),
                                                   extra_body={"thinking": {"type": "disabled"}})
        assert off.choices[0].message.content == "Hello!"


def test_gemini_signs_the_first_call_and_checks_it_on_the_way_back() -> None:
    with OpenAIUpstream(thought_signatures=True) as fake:
        fake.enqueue(Reply(text=None, tool_calls=[ToolCall("f", {}, id="call_1"), ToolCall("g", {}, id="call_2")]))
        calls = client(fake).chat.completions.create(model="gemini-3", messages=MESSAGES).choices[0].message.tool_calls
        issued = fake.issued_signatures["call_1"]
        assert [(c.model_extra or {}).get("extra_content") for c in calls] == [
            {"google": {"thought_signature": issued}}, None]
        for extra, ok in [({}, False), ({"extra_content": {"google": {"thought_signature": "forged"}}}, False),
                          ({"extra_content": {"google": {"thought_signature": issued}}}, True)]:
            messages = _tool_turn(call=extra)
            if ok:
                client(fake).chat.completions.create(model="gemini-3", messages=messages)
            else:
                with pytest.raises(openai.BadRequestError, match="thought_signature"):
                    client(fake).chat.completions.create(model="gemini-3", messages=messages)
        skip = {"google": {"thought_signature": "skip_thought_signature_validator"}}
        foreign = _tool_turn(call={"id": "toolu_other", "extra_content": skip})
        client(fake).chat.completions.create(model="gemini-3", messages=foreign)
