"""Fake upstream LLM providers for aimux tests: real HTTP on loopback, real wire formats,
scriptable replies and faults.

    from fakes import Fault, Reply, ToolCall
    anthropic_upstream.enqueue(Fault.http(529), Reply(text="ok"))   # first 529, then success

Fixtures (``anthropic_upstream``, ``openai_upstream``, ``bedrock_upstream``, ``closed_port``)
live in :mod:`fakes.fixtures`; register them with ``pytest_plugins = ["fakes.fixtures"]``.
"""

from fakes.anthropic_upstream import AnthropicUpstream
from fakes.bedrock_upstream import BedrockUpstream
from fakes.httpserver import RecordedRequest, closed_port
from fakes.openai_upstream import OpenAIUpstream
from fakes.script import Fault, FaultKind, Quirk, Reply, StreamErrorStyle, ToolCall, Usage

__all__ = [
    "AnthropicUpstream",
    "BedrockUpstream",
    "Fault",
    "FaultKind",
    "OpenAIUpstream",
    "Quirk",
    "RecordedRequest",
    "Reply",
    "StreamErrorStyle",
    "ToolCall",
    "Usage",
    "closed_port",
]
