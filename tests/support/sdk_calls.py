"""One call through either official SDK, streamed or not, checked and folded into an ``Answer``.

A streamed call also has its raw bytes (kept by the ``WireTap``) checked against the client
dialect's stream rules.
"""

from __future__ import annotations

from typing import Any

import anthropic
import openai

from support.client_answers import Answer, anthropic_answer, openai_answer
from support.stream_checks import check_anthropic_sse, check_openai_sse
from support.wire_tap import WireTap


def call_anthropic(client: anthropic.Anthropic, tap: WireTap, kwargs: dict[str, Any], *, stream: bool) -> Answer:
    if not stream:
        message = client.messages.create(**kwargs)
        assert message.model == kwargs["model"], "the answer names the model the client asked for"
        return anthropic_answer(message)
    with client.messages.stream(**kwargs) as events:
        message = events.get_final_message()
    check_anthropic_sse(tap.last.raw, model=kwargs["model"])
    return anthropic_answer(message)


def call_openai(client: openai.OpenAI, tap: WireTap, kwargs: dict[str, Any], *, stream: bool) -> Answer:
    if not stream:
        completion = client.chat.completions.create(**kwargs)
        assert completion.object == "chat.completion" and completion.model == kwargs["model"]
        return openai_answer(completion)
    with client.chat.completions.stream(**kwargs, stream_options={"include_usage": True}) as events:
        completion = events.get_final_completion()
    check_openai_sse(tap.last.raw, model=kwargs["model"], include_usage=True)
    return openai_answer(completion)
