"""Render a ``Plan`` as a Messages stream or as a whole ``Message`` (see the package docstring)."""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import Iterator

from ...errors import UpstreamError
from ...wire.anthropic import (
    ContentBlock,
    ContentBlockDeltaEvent,
    ContentBlockStartEvent,
    ContentBlockStopEvent,
    Delta,
    EventStream,
    InputJsonDelta,
    Message,
    MessageDeltaBody,
    MessageDeltaEvent,
    MessageDeltaUsage,
    MessageStartEvent,
    MessageStopEvent,
    PingEvent,
    SignatureDelta,
    StreamEvent,
    TextBlock,
    TextDelta,
    ThinkingBlock,
    ThinkingDelta,
    ToolUseBlock,
    Usage,
)
from ..base import UpstreamCall
from .plan import Plan, PlannedBlock, plan_answer

# upstream status -> (status aimux answers with, Anthropic error kind, retryable)
_FAULTS: dict[int, tuple[int, str, bool]] = {
    400: (400, "invalid_request_error", False),
    401: (401, "authentication_error", False),
    403: (403, "permission_error", False),
    404: (404, "not_found_error", False),
    413: (413, "request_too_large", False),
    429: (429, "rate_limit_error", True),
    500: (500, "api_error", True),
    502: (502, "api_error", True),
    503: (503, "api_error", True),
    504: (504, "timeout_error", True),
    529: (529, "overloaded_error", True),
}


def simulated_error(upstream_status: int, *, midstream: bool = False) -> UpstreamError:
    """The ``UpstreamError`` a real adapter would raise for this upstream status."""
    default = (
        (upstream_status, "invalid_request_error", False)
        if upstream_status < 500
        else (upstream_status, "api_error", True)
    )
    status, kind, retryable = _FAULTS.get(upstream_status, default)
    where = "mid-stream" if midstream else "before the response"
    return UpstreamError(
        f"mock provider: simulated upstream {upstream_status} {where}",
        provider="mock",
        upstream_status=upstream_status,
        status=status,
        kind=kind,
        retryable=retryable,
        retry_after=1.0 if upstream_status == 429 else None,  # as a rate-limited upstream would say
    )


class MockProvider:
    """The built-in, in-process provider: deterministic answers, no network, no credentials."""

    name = "mock"

    def __init__(self, chunk_delay: float = 0.0) -> None:
        """``chunk_delay`` seconds are awaited before every delta, so streaming is observable."""
        self.chunk_delay = chunk_delay

    async def create(self, call: UpstreamCall) -> Message:
        plan = _checked_plan(call)
        if plan.midstream_status is not None:  # a non-streaming call fails as a whole
            raise simulated_error(plan.midstream_status, midstream=True)
        return render_message(plan, _message_id(), call.request.model)

    async def stream(self, call: UpstreamCall) -> EventStream:
        plan = _checked_plan(call)
        fail_after = _midstream_point(plan)
        texts = 0
        for event in render_events(plan, _message_id(), call.request.model):
            if fail_after is not None and (texts >= fail_after or isinstance(event, MessageDeltaEvent)):
                assert plan.midstream_status is not None
                raise simulated_error(plan.midstream_status, midstream=True)
            if isinstance(event, ContentBlockDeltaEvent):
                await asyncio.sleep(self.chunk_delay)  # sleep(0) still lets other tasks run
                texts += isinstance(event.delta, TextDelta)
            yield event


def render_events(plan: Plan, message_id: str, model: str) -> Iterator[StreamEvent]:
    """The stream Anthropic would send: message_start, ping, blocks one at a time, delta, stop."""
    yield MessageStartEvent(
        message=Message(
            id=message_id,
            model=model,
            content=[],
            stop_reason=None,
            stop_sequence=None,
            usage=Usage(
                input_tokens=plan.input_tokens,
                cache_creation_input_tokens=0,
                cache_read_input_tokens=0,
                output_tokens=1,
            ),
        )
    )
    yield PingEvent()
    for index, block in enumerate(plan.blocks):
        yield ContentBlockStartEvent(index=index, content_block=_opening(block))
        for piece in block.pieces:
            yield ContentBlockDeltaEvent(index=index, delta=_delta(block, piece))
        if block.kind == "thinking":
            yield ContentBlockDeltaEvent(index=index, delta=SignatureDelta(signature=block.signature))
        yield ContentBlockStopEvent(index=index)
    yield MessageDeltaEvent(
        delta=MessageDeltaBody(stop_reason=plan.stop_reason, stop_sequence=plan.stop_sequence),
        usage=MessageDeltaUsage(
            output_tokens=plan.output_tokens,
            input_tokens=plan.input_tokens,
            cache_creation_input_tokens=0,
            cache_read_input_tokens=0,
        ),
    )
    yield MessageStopEvent()


def render_message(plan: Plan, message_id: str, model: str) -> Message:
    """The non-streaming answer: by construction the fold of ``render_events`` for the same plan."""
    return Message(
        id=message_id,
        model=model,
        content=[_finished(block) for block in plan.blocks],
        stop_reason=plan.stop_reason,
        stop_sequence=plan.stop_sequence,
        usage=Usage(
            input_tokens=plan.input_tokens,
            output_tokens=plan.output_tokens,
            cache_creation_input_tokens=0,
            cache_read_input_tokens=0,
        ),
    )


def _checked_plan(call: UpstreamCall) -> Plan:
    plan = plan_answer(call.request)
    if plan.error_status is not None:
        raise simulated_error(plan.error_status)
    return plan


def _midstream_point(plan: Plan) -> int | None:
    """How many text deltas to send before failing: half of the first text block (at least one)."""
    if plan.midstream_status is None:
        return None
    first_text = next((b for b in plan.blocks if b.kind == "text"), None)
    if first_text is None:
        return 1 << 30  # no text: fail just before message_delta
    return max(1, len(first_text.pieces) // 2)


def _message_id() -> str:
    return "msg_" + secrets.token_hex(12)


def _opening(block: PlannedBlock) -> ContentBlock:
    if block.kind == "thinking":
        return ThinkingBlock(thinking="", signature="")
    if block.kind == "tool_use":
        return ToolUseBlock(id=block.tool_id, name=block.tool_name, input={})
    return TextBlock(text="")


def _delta(block: PlannedBlock, piece: str) -> Delta:
    if block.kind == "thinking":
        return ThinkingDelta(thinking=piece)
    if block.kind == "tool_use":
        return InputJsonDelta(partial_json=piece)
    return TextDelta(text=piece)


def _finished(block: PlannedBlock) -> ContentBlock:
    if block.kind == "thinking":
        return ThinkingBlock(thinking=block.content, signature=block.signature)
    if block.kind == "tool_use":
        return ToolUseBlock(id=block.tool_id, name=block.tool_name, input=dict(block.tool_input))
    return TextBlock(text=block.content)
