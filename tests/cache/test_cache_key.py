"""The digest that names a request's entry: what changes the answer changes it, nothing else does."""

from __future__ import annotations

from typing import Any

from aimux_core.cache.cache_key import canonical_document, request_digest
from aimux_core.providers.base import RequestContext
from aimux_core.routing.select import Decision
from aimux_core.routing.table import Target
from aimux_core.wire.anthropic import MessagesRequest

BODY: dict[str, Any] = {"model": "m", "max_tokens": 10, "messages": [{"role": "user", "content": "hi"}]}
DEFAULT = Decision((Target("up", "m"),), "default", "default", "plain request")


def digest(
    body: dict[str, Any] | None = None,
    *,
    namespace: str = "anonymous",
    decision: Decision = DEFAULT,
    version: str | None = "2023-06-01",
    betas: list[str] | None = None,
) -> str:
    request = MessagesRequest.model_validate(body or BODY)
    context = RequestContext(request_id="req_1", anthropic_version=version, betas=betas or [])
    return request_digest(request, context, decision, namespace)


def test_stream_and_metadata_do_not_change_the_digest() -> None:
    assert digest({**BODY, "stream": True}) == digest(BODY)
    assert digest({**BODY, "stream": False, "metadata": {"user_id": "u-42"}}) == digest(BODY)


def test_every_field_that_changes_the_answer_changes_the_digest() -> None:
    variants = [
        {**BODY, "max_tokens": 11},
        {**BODY, "temperature": 0},
        {**BODY, "model": "other"},
        {**BODY, "system": "be brief"},
        {**BODY, "messages": [{"role": "user", "content": "hi!"}]},
        {**BODY, "stop_sequences": ["x"]},
        {**BODY, "tools": [{"name": "f", "input_schema": {"type": "object"}}]},
        {**BODY, "unknown_future_field": 1},
    ]
    digests = {digest(body) for body in variants} | {digest(BODY)}
    assert len(digests) == len(variants) + 1


def test_field_order_spacing_and_number_spelling_of_the_client_json_do_not_matter() -> None:
    reordered = {"messages": BODY["messages"], "max_tokens": 10, "model": "m", "temperature": 0.0}
    assert digest(reordered) == digest({**BODY, "temperature": 0})


def test_namespace_route_version_and_betas_are_part_of_the_name() -> None:
    base = digest()
    assert digest(namespace="project:ci") != base
    assert digest(decision=Decision(DEFAULT.targets, "default", "evals", "x")) != base
    assert digest(version="2026-10-21") != base
    assert digest(betas=["context-1m-2025-08-07"]) != base
    assert digest(betas=["a", "b"]) == digest(betas=["b", "a", "a"])


def test_an_explicit_choice_names_its_targets_and_the_served_target_is_not_in_the_name() -> None:
    first = Decision((Target("up", "m"),), "default", "explicit", "provider up")
    second = Decision((Target("other", "m"),), "default", "explicit", "provider other")
    assert digest(decision=first) != digest(decision=second)
    reordered = Decision((Target("b", "m"), Target("a", "m")), "default", "default", "weighted")
    assert digest(decision=reordered) == digest()  # a route's order (strategy, health) is not the request


def test_the_document_holds_no_field_left_out() -> None:
    request = MessagesRequest.model_validate({**BODY, "stream": True, "metadata": {"user_id": "u-42"}})
    text = canonical_document(request, RequestContext(request_id="r"), DEFAULT, "anonymous")
    assert b"u-42" not in text and b'"stream"' not in text
