"""Bedrock Converse back to Anthropic: the non-stream message, stop reasons, the stream decoder, errors."""

from __future__ import annotations

import base64
from typing import Any

import pytest
from anthropic.lib.streaming._messages import accumulate_event
from bedrock_mapping_helpers import FIXTURE, SIGNATURE

from aimux_core.errors import UpstreamError
from aimux_core.providers.bedrock_response import (
    ConverseStreamDecoder,
    bedrock_error,
    converse_message,
    stop_reason,
)
from aimux_core.translate.tool_names import shorten_tool_name
from aimux_core.wire.accumulate import accumulate
from aimux_core.wire.anthropic import StreamEvent
from support.anthropic_grammar import check_anthropic_stream


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
        ("AccessDeniedException", 502, "api_error", True),  # the gateway's credentials: another target may serve
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
