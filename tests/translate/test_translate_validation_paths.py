"""Validation errors name the field by the client's own JSON path, in the client's own path style."""

from __future__ import annotations

import json

import pytest
from pydantic import ValidationError

from aimux_core.translate.errors import field_path, format_path, invalid_request_from_validation
from aimux_core.wire.anthropic import MessagesRequest
from aimux_core.wire.openai import ChatCompletionRequest


def test_union_members_and_tags_are_not_part_of_the_path() -> None:
    document = {"messages": [{"role": "user", "content": [{"type": "text", "text": {"text": 1}}]}],
                "tools": [{"type": "function", "function": {"name": 5}}, {"type": "function", "function": {}}]}
    loc = ("messages", 0, "user", "content", "list[...]", 0, "text", "text")
    assert field_path(loc, document) == ["messages", 0, "content", 0, "text"]
    # a tag that also names a field of the object (OpenAI tools): the next item decides
    assert field_path(("tools", 0, "function", "name"), document) == ["tools", 0, "function", "name"]
    assert field_path(("tools", 1, "function", "name"), document, missing=True) == ["tools", 1, "function", "name"]
    # without the document only pydantic's member names go
    assert field_path(("system", "list[TextBlock]", 0, "text"), None) == ["system", 0, "text"]


def test_path_styles() -> None:
    assert format_path(["messages", 0, "content", 1, "type"], "openai") == "messages[0].content[1].type"
    assert format_path(["messages", 0, "content", 1, "type"], "dotted") == "messages.0.content.1.type"
    assert format_path(["tools", 0, "function", "name"], "openai") == "tools[0].function.name"
    assert format_path([], "openai") == ""


@pytest.mark.parametrize(
    ("body", "anthropic", "openai"),
    [
        ({"messages": [{"role": "user", "content": [{"type": "text", "text": 5}]}]},
         "messages.0.content.0.text", "messages[0].content[0].text"),
        ({"messages": [{"role": "user", "content": [{"type": "image_url"}]}], "system": [{"type": "text"}]},
         "system.0.text", None),
        ({"messages": [{"role": "user", "content": "x"}], "tools": [{"type": "function", "function": {"name": 5}}]},
         None, "tools[0].function.name"),
    ],
)  # fmt: skip
def test_real_validation_failures_name_the_json_path(body: dict, anthropic: str | None, openai: str | None) -> None:
    raw = json.dumps({"model": "m", "max_tokens": 8, **body})
    for model, style, expected in ((MessagesRequest, "dotted", anthropic), (ChatCompletionRequest, "openai", openai)):
        if expected is None:
            continue
        with pytest.raises(ValidationError) as caught:
            model.model_validate_json(raw)
        error = invalid_request_from_validation(caught.value, document=json.loads(raw), style=style)  # type: ignore[arg-type]
        assert error.param == expected and error.message.startswith(f"{expected}: ")
