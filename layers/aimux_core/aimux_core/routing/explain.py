"""``aimux route explain``: the routing decision for a request, without sending it anywhere.

Accepts a request body (Anthropic Messages or OpenAI Chat Completions) or a recorded request
(``{"path", "headers", "body"}``, as in the Claude Code fixtures), so an operator can ask "where
would this go, and why?" against a configuration before deploying it.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from ..accounting.tokens import estimate_input_tokens
from ..errors import InvalidRequest
from ..translate.errors import invalid_request_from_validation
from ..translate.openai_request import chat_to_messages
from ..wire.anthropic import MessagesRequest
from ..wire.openai import ChatCompletionRequest
from .select import Decision, HealthView, RequestMeta, Selector
from .table import RoutingTable

_DEFAULT_MAX_TOKENS = 4096


def load_request(path: Path) -> tuple[MessagesRequest, RequestMeta]:
    """The canonical request and routing inputs from a body or a recorded request file."""
    document = json.loads(path.read_text())
    if not isinstance(document, dict):
        raise InvalidRequest(f"{path}: expected a JSON object")
    headers = {k.lower(): v for k, v in (document.get("headers") or {}).items()}
    body = document.get("body", document)
    request_path = str(document.get("path", ""))
    provider = headers.get("x-aimux-provider") or _path_provider(request_path) or body.get("backend")
    session = headers.get("x-claude-code-session-id")
    try:
        if "chat/completions" in request_path or _looks_like_openai(body):
            chat = ChatCompletionRequest.model_validate(body)
            request = chat_to_messages(chat, default_max_tokens=_DEFAULT_MAX_TOKENS)
        else:
            request = MessagesRequest.model_validate({"max_tokens": _DEFAULT_MAX_TOKENS, **body})
    except ValidationError as exc:
        raise invalid_request_from_validation(exc, document=body) from None
    if not session and request.metadata is not None:
        session = request.metadata.user_id
    return request, RequestMeta(explicit_provider=provider or None, session_id=session)


def _path_provider(path: str) -> str | None:
    parts = [p for p in path.split("/") if p]
    if len(parts) >= 3 and parts[0] == "v1" and parts[1] not in ("messages", "chat", "models"):
        return parts[1]
    return None


_OPENAI_ONLY_FIELDS = frozenset({"max_completion_tokens", "reasoning_effort", "response_format", "n", "functions"})


def _looks_like_openai(body: dict[str, Any]) -> bool:
    """Chat Completions shapes that the Messages API does not have."""
    if _OPENAI_ONLY_FIELDS & body.keys():
        return True
    for message in body.get("messages", []):
        if not isinstance(message, dict):
            continue
        if message.get("role") in ("developer", "tool", "function") or "tool_calls" in message:
            return True
        content = message.get("content")
        if isinstance(content, list) and any(isinstance(p, dict) and p.get("type") == "image_url" for p in content):
            return True
    return False


def explain(request: MessagesRequest, meta: RequestMeta, table: RoutingTable) -> Decision:
    estimate = estimate_input_tokens(request)
    return Selector(table).select(request, meta, HealthView(), estimated_tokens=estimate)


def describe(decision: Decision) -> list[str]:
    """The decision as lines for a terminal. A scenario is printed only when its route was used;
    otherwise the line says what decided (an explicit choice, the model or alias named, a budget
    step-down, or the default route)."""
    found = decision.classification
    if decision.decided_by == "scenario":
        first = f"scenario: {decision.scenario}" + (f" ({found.reason})" if found else "")
    else:
        first = f"decided:  {decision.decided_by}"
    lines = [first, f"route:    {decision.route}", f"reason:   {decision.reason}"]
    if found is not None:
        lines.append(f"input:    ~{found.estimated_tokens} tokens")
    lines.append("targets (in the order dispatch tries them):")
    lines += [f"  {i}. {t.label}  [{t.provider} / {t.model}]" for i, t in enumerate(decision.targets, 1)]
    if not decision.targets:
        lines.append("  (none)")
    if decision.dropped:
        lines.append("dropped:")
        lines += [f"  - {label}: {why}" for label, why in decision.dropped]
    return lines
