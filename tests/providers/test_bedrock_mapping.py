"""Bedrock Converse mapping without the network: requests, responses, the stream decoder, errors.

Every mapped request is also checked against botocore's own parameter validator for Converse, so
what passes here is what a real boto3 client would send.
"""

from __future__ import annotations

import base64
import functools
import json
from pathlib import Path
from typing import Any

import pytest
from anthropic.lib.streaming._messages import accumulate_event

from aimux_core.errors import InvalidRequest, UpstreamError
from aimux_core.providers.bedrock_mapping import (
    EMPTY_ERROR_RESULT,
    STUB_TOOL_DESCRIPTION,
    converse_request,
    response_tool_names,
)
from aimux_core.providers.bedrock_response import (
    ConverseStreamDecoder,
    bedrock_error,
    converse_message,
    stop_reason,
)
from aimux_core.translate.tool_names import shorten_tool_name
from aimux_core.wire.accumulate import accumulate
from aimux_core.wire.anthropic import MessagesRequest, StreamEvent
from support.anthropic_grammar import check_anthropic_stream

FIXTURE = json.loads((Path(__file__).parents[1] / "fixtures" / "bedrock_converse_stream_events.json").read_text())
MODEL_ID = "us.anthropic.claude-sonnet-4-5-20250929-v1:0"
WEATHER = {
    "name": "get_weather",
    "description": "Get the weather",
    "input_schema": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
}
PNG = base64.b64encode(b"\x89PNG\r\n\x1a\n" + bytes(range(64))).decode()
SIGNATURE = "EqQBCkYIBRgCIkB/+abc==" + "x" * 40


def req(messages: Any = "hi", **body: Any) -> MessagesRequest:
    if isinstance(messages, str):
        messages = [{"role": "user", "content": messages}]
    return MessagesRequest.model_validate(
        {"model": "claude-sonnet-4-5", "max_tokens": 1024, "messages": messages, **body}
    )


@functools.cache
def converse_input_shape() -> Any:
    from botocore.session import get_session

    return get_session().get_service_model("bedrock-runtime").operation_model("Converse").input_shape


def mapped(request: MessagesRequest, **kwargs: Any) -> dict[str, Any]:
    """``converse_request`` plus botocore's validation of the result."""
    from botocore.validate import ParamValidator

    out = converse_request(request, MODEL_ID, **kwargs)
    report = ParamValidator().validate(out, converse_input_shape())
    assert not report.has_errors(), report.generate_report()
    return out


def decode(events: list[dict[str, Any]], *, tool_names: dict[str, str] | None = None) -> list[StreamEvent]:
    decoder = ConverseStreamDecoder(
        provider="bedrock", model="claude-sonnet-4-5", message_id="msg_1", input_tokens=300, tool_names=tool_names
    )
    out = [event for item in events for event in decoder.feed(item)]
    return out + decoder.finish()


def check_stream(events: list[StreamEvent]) -> None:
    dumped = [event.dump() for event in events]
    check_anthropic_stream(dumped)
    snapshot = None
    buffers: dict[int, bytes] = {}
    for event in dumped:  # the official SDK folds it to the same message
        snapshot = accumulate_event(event=event, current_snapshot=snapshot, json_bufs=buffers)  # type: ignore[arg-type]
    assert snapshot is not None
    ours = accumulate(events).dump()
    assert snapshot.to_dict()["content"] == ours["content"]
    assert snapshot.to_dict()["usage"] == ours["usage"]


# --------------------------------------------------------------------------- request


def test_the_fixture_request_is_what_the_canonical_request_maps_to() -> None:
    request = req(
        "What is the weather in Paris?",
        system="You are a weather bot.",
        max_tokens=2048,
        tools=[WEATHER],
        tool_choice={"type": "auto"},
        thinking={"type": "enabled", "budget_tokens": 1024},
    )
    assert mapped(request) == FIXTURE["request"]


def test_system_blocks_system_turns_cache_points_and_merged_turns() -> None:
    request = req(
        [
            {"role": "system", "content": "Turn-level system."},
            {"role": "user", "content": [{"type": "text", "text": "a", "cache_control": {"type": "ephemeral"}}]},
            {"role": "user", "content": [{"type": "text", "text": ""}, {"type": "text", "text": "b"}]},
            {"role": "assistant", "content": [{"type": "text", "text": ""}]},  # empty: dropped
            {"role": "user", "content": "c"},
        ],
        system=[
            {"type": "text", "text": "Base."},
            {"type": "text", "text": "Cached.", "cache_control": {"type": "ephemeral", "ttl": "1h"}},
            {"type": "text", "text": ""},
        ],
        cache_control={"type": "ephemeral"},
    )
    out = mapped(request)
    assert out["system"] == [
        {"text": "Base."},
        {"text": "Cached."},
        {"cachePoint": {"type": "default", "ttl": "1h"}},
        {"text": "Turn-level system."},
    ]
    assert out["messages"] == [
        {
            "role": "user",
            "content": [
                {"text": "a"},
                {"cachePoint": {"type": "default"}},
                {"text": "b"},
                {"text": "c"},
                {"cachePoint": {"type": "default"}},  # top-level cache_control: end of the prompt
            ],
        }
    ]


def test_images_documents_and_their_rejections() -> None:
    pdf = base64.b64encode(b"%PDF-1.4 tiny").decode()
    request = req(
        [
            {
                "role": "user",
                "content": [
                    {"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": PNG}},
                    {"type": "document", "source": {"type": "base64", "media_type": "application/pdf", "data": pdf},
                     "title": "Q3 report: final/v2!", "citations": {"enabled": True}},
                    {"type": "document", "source": {"type": "text", "media_type": "text/plain", "data": "notes"},
                     "title": "Q3 report: final/v2!", "context": "ctx"},
                    {"type": "document", "source": {"type": "content", "content": [{"type": "text", "text": "x"}]}},
                ],
            }
        ]
    )  # fmt: skip
    content = mapped(request)["messages"][0]["content"]
    assert content[0] == {"image": {"format": "png", "source": {"bytes": base64.b64decode(PNG)}}}
    assert content[1]["document"] == {
        "format": "pdf", "name": "Q3 report final v2", "source": {"bytes": b"%PDF-1.4 tiny"},
        "citations": {"enabled": True},
    }  # fmt: skip
    assert content[2]["document"] == {
        "format": "txt", "name": "Q3 report final v2 (2)", "source": {"bytes": b"notes"}, "context": "ctx"
    }  # fmt: skip
    assert content[3]["document"] == {"format": "txt", "name": "document", "source": {"bytes": b"x"}}

    url_image = {"type": "image", "source": {"type": "url", "url": "https://example.com/cat.png"}}
    with pytest.raises(InvalidRequest) as caught:
        converse_request(req([{"role": "user", "content": [{"type": "text", "text": "see"}, url_image]}]), MODEL_ID)
    assert caught.value.status == 400 and caught.value.param == "messages[0].content[1].source"
    assert "messages[0].content[1]" in caught.value.message and "base64" in caught.value.message
    bad = [
        {"type": "image", "source": {"type": "base64", "media_type": "image/bmp", "data": PNG}},
        {"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": "not base64!"}},
        {"type": "document", "source": {"type": "url", "url": "https://example.com/a.pdf"}},
    ]
    for block in bad:
        with pytest.raises(InvalidRequest):
            converse_request(req([{"role": "user", "content": [block]}]), MODEL_ID)


def tool_history(**body: Any) -> MessagesRequest:
    long_name = "mcp__a_very_long_server_name_for_testing__and_an_even_longer_tool_name_that_overflows"
    return req(
        [
            {"role": "user", "content": "weather?"},
            {
                "role": "assistant",
                "content": [
                    {"type": "thinking", "thinking": "think", "signature": SIGNATURE},
                    {"type": "redacted_thinking", "data": base64.b64encode(b"\x00\xffopaque").decode()},
                    {"type": "tool_use", "id": "toolu_1", "name": "get_weather", "input": {"city": "Paris"}},
                    {"type": "tool_use", "id": "toolu_2", "name": long_name, "input": {}},
                ],
            },
            {
                "role": "user",
                "content": [
                    {"type": "tool_result", "tool_use_id": "toolu_1", "content": "sunny"},
                    {"type": "tool_result", "tool_use_id": "toolu_2", "is_error": True, "content": []},
                    {"type": "tool_result", "tool_use_id": "toolu_3", "content": [
                        {"type": "text", "text": "img:"},
                        {"type": "image", "source": {"type": "base64", "media_type": "image/webp", "data": PNG}},
                    ]},
                    {"type": "tool_result", "tool_use_id": "toolu_4", "content": ""},
                ],
            },
        ],
        **body,
    )  # fmt: skip


def test_history_blocks_thinking_byte_exact_and_tool_results() -> None:
    out = mapped(tool_history(tools=[WEATHER]))
    assistant, results = out["messages"][1]["content"], out["messages"][2]["content"]
    assert assistant[0] == {"reasoningContent": {"reasoningText": {"text": "think", "signature": SIGNATURE}}}
    assert assistant[1] == {"reasoningContent": {"redactedContent": b"\x00\xffopaque"}}
    assert assistant[2] == {"toolUse": {"toolUseId": "toolu_1", "name": "get_weather", "input": {"city": "Paris"}}}
    assert len(assistant[3]["toolUse"]["name"]) <= 64
    assert results[0] == {"toolResult": {"toolUseId": "toolu_1", "content": [{"text": "sunny"}]}}
    assert results[1] == {
        "toolResult": {"toolUseId": "toolu_2", "content": [{"text": EMPTY_ERROR_RESULT}], "status": "error"}
    }
    assert results[2]["toolResult"]["content"] == [
        {"text": "img:"}, {"image": {"format": "webp", "source": {"bytes": base64.b64decode(PNG)}}}
    ]  # fmt: skip
    assert results[3] == {"toolResult": {"toolUseId": "toolu_4", "content": []}}
    # the referenced tool missing from `tools` gets a stub spec (Converse requires toolConfig coverage)
    specs = [tool["toolSpec"] for tool in out["toolConfig"]["tools"]]
    assert [spec["name"] for spec in specs] == ["get_weather", assistant[3]["toolUse"]["name"]]
    assert specs[1]["description"] == STUB_TOOL_DESCRIPTION
    assert "toolChoice" not in out["toolConfig"]


@pytest.mark.parametrize(
    ("choice", "expected"),
    [
        ({"type": "auto"}, {"auto": {}}),
        ({"type": "any", "disable_parallel_tool_use": True}, {"any": {}}),
        ({"type": "tool", "name": "get_weather"}, {"tool": {"name": "get_weather"}}),
    ],
)
def test_tool_choice(choice: dict[str, Any], expected: dict[str, Any]) -> None:
    cached = {**WEATHER, "cache_control": {"type": "ephemeral"}}
    out = mapped(req(tools=[cached, {"type": "web_search_20250305", "name": "web_search"}], tool_choice=choice))
    assert out["toolConfig"]["toolChoice"] == expected
    assert out["toolConfig"]["tools"][1] == {"cachePoint": {"type": "default"}}
    assert len(out["toolConfig"]["tools"]) == 2  # the schema-less server tool is dropped


def test_tool_choice_none_and_tool_config_requirements() -> None:
    assert "toolConfig" not in mapped(req(tools=[WEATHER], tool_choice={"type": "none"}))
    assert "toolConfig" not in mapped(req(tools=[{"type": "web_search_20250305", "name": "web_search"}]))
    kept = mapped(tool_history(tools=[WEATHER], tool_choice={"type": "none"}))["toolConfig"]
    assert kept["tools"][0]["toolSpec"]["name"] == "get_weather" and "toolChoice" not in kept
    stubs = mapped(tool_history())["toolConfig"]["tools"]  # no tools at all, but tool blocks in history
    assert [t["toolSpec"]["description"] for t in stubs] == [STUB_TOOL_DESCRIPTION] * 2
    results_only = req([{"role": "user", "content": [{"type": "tool_result", "tool_use_id": "t", "content": "x"}]}])
    assert mapped(results_only)["toolConfig"]["tools"][0]["toolSpec"]["name"] == "aimux_no_tools"
    with pytest.raises(InvalidRequest) as caught:
        converse_request(req(tools=[WEATHER], tool_choice={"type": "tool", "name": "web_search"}), MODEL_ID)
    assert caught.value.param == "tool_choice.name"


def test_inference_and_additional_fields() -> None:
    out = mapped(
        req(
            max_tokens=0,
            temperature=0.2,
            top_p=0.9,
            top_k=40,
            stop_sequences=["END"],
            thinking={"type": "adaptive"},
            output_config={"effort": "high"},
            metadata={"user_id": "user_abc_account_1234-5678_session_x"},
            service_tier="auto",
        ),
        betas=["interleaved-thinking-2025-05-14", "interleaved-thinking-2025-05-14"],
    )
    assert out["inferenceConfig"] == {"maxTokens": 1, "temperature": 0.2, "topP": 0.9, "stopSequences": ["END"]}
    assert out["additionalModelResponseFieldPaths"] == ["/stop_sequence"]
    assert out["additionalModelRequestFields"] == {
        "top_k": 40,
        "thinking": {"type": "adaptive"},
        "output_config": {"effort": "high"},
        "anthropic_beta": ["interleaved-thinking-2025-05-14"],
    }
    assert out["requestMetadata"] == {"user_id": "user_abc_account_1234-5678_session_x"}
    assert "requestMetadata" not in mapped(req(metadata={"user_id": '{"device_id": "x"}'}))
    assert set(mapped(req())) == {"modelId", "messages", "inferenceConfig"}


def test_response_tool_names_restore_shortened_names() -> None:
    long_name = "mcp__server__" + "t" * 80
    request = req(tools=[{**WEATHER, "name": long_name}])
    short = mapped(request)["toolConfig"]["tools"][0]["toolSpec"]["name"]
    assert short == shorten_tool_name(long_name) != long_name
    assert response_tool_names(request) == {short: long_name}


# --------------------------------------------------------------------------- response


def converse_response(**extra: Any) -> dict[str, Any]:
    return {
        "output": {
            "message": {
                "role": "assistant",
                "content": [
                    {"reasoningContent": {"reasoningText": {"text": "hmm", "signature": SIGNATURE}}},
                    {"reasoningContent": {"redactedContent": b"\x01\x02"}},
                    {"text": "Let me check."},
                    {"citationsContent": {"content": [{"text": "cited"}], "citations": []}},
                    {"toolUse": {"toolUseId": "tooluse_1", "name": "get_weather", "input": {"city": "Paris"}}},
                ],
            }
        },
        "stopReason": "tool_use",
        "usage": {"inputTokens": 10, "outputTokens": 4, "totalTokens": 49, "cacheReadInputTokens": 30,
                  "cacheWriteInputTokens": 5},
        **extra,
    }  # fmt: skip


def test_converse_message() -> None:
    message = converse_message(converse_response(), model="claude-sonnet-4-5", message_id="msg_x").dump()
    assert message["content"] == [
        {"type": "thinking", "thinking": "hmm", "signature": SIGNATURE},
        {"type": "redacted_thinking", "data": base64.b64encode(b"\x01\x02").decode()},
        {"type": "text", "text": "Let me check."},
        {"type": "text", "text": "cited"},
        {"type": "tool_use", "id": "tooluse_1", "name": "get_weather", "input": {"city": "Paris"}},
    ]
    assert (message["id"], message["model"], message["stop_reason"]) == ("msg_x", "claude-sonnet-4-5", "tool_use")
    assert message["usage"] == {
        "input_tokens": 10, "output_tokens": 4, "cache_creation_input_tokens": 5, "cache_read_input_tokens": 30
    }  # fmt: skip
    stopped = converse_message(
        converse_response(stopReason="stop_sequence", additionalModelResponseFields={"stop_sequence": "END"}),
        model="m",
        message_id="msg_y",
    )
    assert (stopped.stop_reason, stopped.stop_sequence) == ("stop_sequence", "END")


@pytest.mark.parametrize(
    ("bedrock", "anthropic"),
    [
        ("end_turn", "end_turn"),
        ("tool_use", "tool_use"),
        ("max_tokens", "max_tokens"),
        ("stop_sequence", "stop_sequence"),
        ("model_context_window_exceeded", "model_context_window_exceeded"),
        ("guardrail_intervened", "refusal"),
        ("content_filtered", "refusal"),
        ("malformed_model_output", "end_turn"),
        ("malformed_tool_use", "end_turn"),
        ("something_new", "end_turn"),
        (None, "end_turn"),
    ],
)
def test_stop_reasons(bedrock: str | None, anthropic: str) -> None:
    assert stop_reason(bedrock) == anthropic


# --------------------------------------------------------------------------- stream decoder


def test_the_fixture_stream_decodes_to_the_expected_events() -> None:
    events = decode(FIXTURE["events"])
    assert [(e.type, getattr(e, "index", None)) for e in events] == [
        ("message_start", None),
        ("content_block_start", 0), ("content_block_delta", 0), ("content_block_delta", 0),
        ("content_block_delta", 0), ("content_block_stop", 0),
        ("content_block_start", 1), ("content_block_delta", 1), ("content_block_stop", 1),
        ("content_block_start", 2), ("content_block_delta", 2), ("content_block_delta", 2), ("content_block_stop", 2),
        ("message_delta", None), ("message_stop", None),
    ]  # fmt: skip
    dumped = [e.dump() for e in events]
    assert dumped[0]["message"]["usage"] == {
        "input_tokens": 300, "output_tokens": 1, "cache_creation_input_tokens": 0, "cache_read_input_tokens": 0
    }  # fmt: skip
    assert dumped[1]["content_block"] == {"type": "thinking", "thinking": "", "signature": ""}
    assert dumped[4]["delta"] == {"type": "signature_delta", "signature": "ErUBCkYIBRgCIkD...example..."}
    assert dumped[9]["content_block"] == {
        "type": "tool_use", "id": "tooluse_kZJMlvQmRJ6eAyJE5GIl7Q", "name": "get_weather", "input": {}
    }  # fmt: skip
    assert dumped[13]["delta"] == {"stop_reason": "tool_use", "stop_sequence": None}
    assert dumped[13]["usage"]["input_tokens"] == 412 and dumped[13]["usage"]["output_tokens"] == 96
    check_stream(events)


def test_the_fold_of_the_stream_equals_the_non_stream_message() -> None:
    """The fixture stream and the Converse response with the same content give the same Message."""
    folded = accumulate(decode(FIXTURE["events"])).dump()
    response = {
        "output": {"message": {"role": "assistant", "content": [
            {"reasoningContent": {"reasoningText": {"text": "The user wants Paris weather; call get_weather.",
                                                    "signature": "ErUBCkYIBRgCIkD...example..."}}},
            {"text": "Let me check."},
            {"toolUse": {"toolUseId": "tooluse_kZJMlvQmRJ6eAyJE5GIl7Q", "name": "get_weather",
                         "input": {"city": "Paris"}}},
        ]}},
        "stopReason": "tool_use",
        "usage": FIXTURE["events"][-1]["metadata"]["usage"],
    }  # fmt: skip
    assert folded == converse_message(response, model="claude-sonnet-4-5", message_id="msg_1").dump()


def delta(index: int, body: dict[str, Any]) -> dict[str, Any]:
    return {"contentBlockDelta": {"contentBlockIndex": index, "delta": body}}


END = [{"messageStop": {"stopReason": "end_turn"}}, {"metadata": {"usage": {"inputTokens": 5, "outputTokens": 2}}}]


def test_synthesised_starts_and_stops_redacted_and_signature_only_blocks() -> None:
    events = decode(
        [
            {"messageStart": {"role": "assistant"}},
            delta(0, {"reasoningContent": {"redactedContent": b"\x00\x01"}}),
            delta(0, {"reasoningContent": {"redactedContent": b"\x02"}}),  # collected into one block
            {"contentBlockStop": {"contentBlockIndex": 0}},
            delta(1, {"reasoningContent": {"signature": "sig-only"}}),  # display "omitted"
            delta(2, {"text": "a"}),  # new index without a stop for index 1: closed first
            delta(2, {"text": ""}),
            {"contentBlockStart": {"contentBlockIndex": 3, "start": {"toolResult": {"toolUseId": "x"}}}},
            delta(3, {"toolResult": [{"text": "server side"}]}),  # skipped kind
            {"contentBlockStop": {"contentBlockIndex": 3}},
            delta(4, {"text": "b"}),
            delta(4, {"citation": {"title": "t"}}),
            {"contentBlockStop": {"contentBlockIndex": 4}},
            *END,
            delta(9, {"text": "after the end is ignored"}),
        ]
    )
    check_stream(events)
    message = accumulate(events).dump()
    assert message["content"] == [
        {"type": "redacted_thinking", "data": base64.b64encode(b"\x00\x01\x02").decode()},
        {"type": "thinking", "thinking": "", "signature": "sig-only"},
        {"type": "text", "text": "a"},
        {"type": "text", "text": "b"},
    ]
    assert message["usage"]["input_tokens"] == 5 and message["stop_reason"] == "end_turn"


def test_decoder_edge_cases() -> None:
    # no messageStart: synthesised; metadata before messageStop still ends the stream properly
    events = decode([delta(0, {"text": "x"}), {"metadata": {"usage": {"inputTokens": 1, "outputTokens": 1}}},
                     {"messageStop": {"stopReason": "max_tokens"}}])  # fmt: skip
    check_stream(events)
    assert accumulate(events).stop_reason == "max_tokens"
    long_name = "mcp__server__" + "t" * 80
    short = shorten_tool_name(long_name)
    start = {"contentBlockStart": {"contentBlockIndex": 0, "start": {"toolUse": {"toolUseId": "t1", "name": short}}}}
    events = decode([start, delta(0, {"toolUse": {"input": ""}}), *END], tool_names={short: long_name})
    assert accumulate(events).content[0].dump() == {"type": "tool_use", "id": "t1", "name": long_name, "input": {}}


@pytest.mark.parametrize(
    ("name", "status", "kind", "retryable"),
    [
        ("throttlingException", 429, "rate_limit_error", True),
        ("serviceUnavailableException", 529, "overloaded_error", True),
        ("internalServerException", 500, "api_error", True),
        ("modelStreamErrorException", 500, "api_error", True),
        ("validationException", 400, "invalid_request_error", False),
    ],
)
def test_in_stream_exception_events(name: str, status: int, kind: str, retryable: bool) -> None:
    decoder = ConverseStreamDecoder(provider="bedrock", model="m", message_id="msg_1", input_tokens=3)
    assert decoder.feed({"messageStart": {"role": "assistant"}})
    with pytest.raises(UpstreamError) as caught:
        decoder.feed({name: {"message": "boom"}})
    error = caught.value
    assert (error.status, error.kind, error.retryable, error.provider) == (status, kind, retryable, "bedrock")
    assert "boom" in error.message


@pytest.mark.parametrize("cut", [1, 3, len(FIXTURE["events"]) - 1])
def test_a_truncated_stream_is_an_error(cut: int) -> None:
    with pytest.raises(UpstreamError) as caught:
        decode(FIXTURE["events"][:cut])
    assert caught.value.retryable and caught.value.status == 500


def test_tool_input_without_a_start_is_an_error() -> None:
    with pytest.raises(UpstreamError):
        decode([{"messageStart": {"role": "assistant"}}, delta(0, {"toolUse": {"input": "{}"}})])


# --------------------------------------------------------------------------- errors


@pytest.mark.parametrize(
    ("code", "status", "kind", "retryable"),
    [
        ("ThrottlingException", 429, "rate_limit_error", True),
        ("ValidationException", 400, "invalid_request_error", False),
        ("AccessDeniedException", 502, "api_error", False),
        ("ResourceNotFoundException", 404, "not_found_error", False),
        ("ModelTimeoutException", 504, "timeout_error", True),
        ("ServiceUnavailableException", 529, "overloaded_error", True),
        ("InternalServerException", 500, "api_error", True),
        ("ModelNotReadyException", 529, "overloaded_error", True),
    ],
)
def test_bedrock_error_codes(code: str, status: int, kind: str, retryable: bool) -> None:
    error = bedrock_error("bedrock", code, "detail", http_status=418)
    assert (error.status, error.kind, error.retryable, error.upstream_status) == (status, kind, retryable, 418)


def test_bedrock_error_fallbacks_and_scrubbing() -> None:
    assert bedrock_error("bedrock", "TeapotException", "x", http_status=503).status == 529
    assert bedrock_error("bedrock", "TeapotException", "x").status == 500
    long_input = bedrock_error("bedrock", "ValidationException", "Input is too long for requested model.")
    assert "prompt is too long" in long_input.message
    leaky = bedrock_error("bedrock", "AccessDeniedException", "key AKIA" "ABCDEFGHIJKLMNOP is not allowed")
    assert "AKIA" not in leaky.message and leaky.status == 502
    throttled = bedrock_error("bedrock", "ThrottlingException", "slow down", headers={"retry-after": "3"})
    assert throttled.retry_after == 3.0
