"""Bedrock Converse request mapping: system, content blocks, history, tools, inference and extra fields.

Every mapped request is also checked against botocore's own parameter validator for Converse, so
what passes here is what a real boto3 client would send.
"""

from __future__ import annotations

import base64
import functools
from typing import Any

import pytest
from bedrock_mapping_helpers import FIXTURE, SIGNATURE

from aimux_core.errors import InvalidRequest
from aimux_core.providers.bedrock_mapping import (
    EMPTY_ERROR_RESULT,
    STUB_TOOL_DESCRIPTION,
    converse_request,
    response_tool_names,
)
from aimux_core.translate.tool_names import shorten_tool_name
from aimux_core.wire.anthropic import MessagesRequest

MODEL_ID = "us.anthropic.claude-sonnet-4-5-20250929-v1:0"
WEATHER = {
    "name": "get_weather",
    "description": "Get the weather",
    "input_schema": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
}
PNG = base64.b64encode(b"\x89PNG\r\n\x1a\n" + bytes(range(64))).decode()


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
