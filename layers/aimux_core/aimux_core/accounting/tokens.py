"""Token estimates without a tokenizer (first cut; calibrated version pending)."""

from __future__ import annotations

import json

from ..wire.anthropic import CountTokensRequest, MessagesRequest


def estimate_text_tokens(text: str) -> int:
    """Tokens in a piece of text."""
    return max(1, (len(text) + 3) // 4) if text else 0


def estimate_input_tokens(request: CountTokensRequest | MessagesRequest) -> int:
    """Input tokens of a whole request (system, messages, tools)."""
    payload = request.model_dump(mode="json", exclude_unset=True, include={"system", "messages", "tools"})
    return max(1, estimate_text_tokens(json.dumps(payload)))
