"""The conformance matrix: {Anthropic SDK, OpenAI SDK} x {anthropic, openai, deepseek, bedrock upstream}
x {stream, non-stream} x {text, tools, parallel tools, thinking, images}.

Each cell scripts the upstream's answer on its fake, calls the gateway through an official SDK,
and checks three things:

1. the client holds exactly what the upstream said (text, reasoning, tool names/inputs, stop
   reason, usage under the documented mapping), as the SDK folds it; tool ids may be rewritten
   only where the client's dialect forbids the upstream's characters;
2. the stream on the wire is well-formed for the client (Anthropic grammar incl. ``event:``
   lines; OpenAI chunk rules, usage chunk, ``[DONE]``), and a streamed cell's answer equals the
   non-streamed answer to the same script (each stream cell makes both calls);
3. the upstream received a correct request in its own dialect (``fake.requests``).

``deepseek`` is an OpenAI-dialect upstream whose reasoning must be echoed back, and which takes
no images; ``openai`` returns no reasoning text (Chat Completions never does).
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

import anthropic
import openai
import pytest

from fakes import Reply, ToolCall, Usage
from support.client_answers import Answer, check_ids, expected_answer, openai_answer
from support.gateway_builder import UPSTREAM_KEYS, UPSTREAMS
from support.samples import BASH_TOOL, PNG_1X1
from support.scenario import READ_TOOL, SYSTEM_PROMPT, openai_tool
from support.sdk_calls import call_anthropic, call_openai
from support.stream_checks import check_openai_sse
from support.upstream_view import Turn, UpstreamView, upstream_view
from support.wire_tap import WireTap

CLIENTS = ("anthropic", "openai")
UPSTREAM_NAMES = ("anthropic", "openai", "deepseek", "bedrock")
MODES = ("non-stream", "stream")
FEATURES = ("text", "tools", "parallel_tools", "thinking", "images")

USAGE = Usage(input_tokens=31, output_tokens=17, cache_read_input_tokens=200, cache_creation_input_tokens=40)
BASH_INPUT: dict[str, Any] = {
    "command": "printf 'h\u00e9llo \"w\\u00f6rld\"\\n' | wc -c",
    "description": "Count bytes \u2713",
    "env": {"LANG": "C.UTF-8", "flags": [1, 2.5, True, None], "nested": {"empty": {}, "list": []}},
}
READ_INPUT: dict[str, Any] = {"file_path": "/tmp/\u00fcn\u00efcode/\u0444\u0430\u0439\u043b.txt", "limit": 20}
# Tool-call ids as each upstream mints them. The OpenAI-dialect parallel case uses a Kimi-style id
# (``functions.Read:1``), which is not a valid Anthropic id and must be rewritten for Anthropic clients.
TOOL_IDS = {
    "anthropic": ("toolu_01BashConformance0001", "toolu_01ReadConformance0002"),
    "openai": ("call_BashConformance0001", "functions.Read:1"),
    "deepseek": ("call_00_deepseekBash0001", "call_01_deepseekRead0002"),
    "bedrock": ("tooluse_BashConformance0001", "tooluse_ReadConformance0002"),
}
SIGNATURE = "ErUBCkYIBRgCIkD3+x/Zq0conformance/signature+bytes==Eg"
REASONING = ["The user wants ", "6\u00d77. That is ", "42 \u2014 no doubt."]
MAX_TOKENS = {"thinking": 4096}
BUDGET_TOKENS = 2048


@dataclass(frozen=True)
class Scenario:
    feature: str
    prompt: str
    tools: tuple[dict[str, Any], ...]
    image: bool
    thinking: bool
    reply: Reply

    @property
    def max_tokens(self) -> int:
        return MAX_TOKENS.get(self.feature, 1024)


def scenario(feature: str, upstream: str) -> Scenario:
    """The request and the scripted upstream answer for one feature on one upstream."""
    bash_id, read_id = TOOL_IDS[upstream]
    if feature == "text":
        reply = Reply(text=["Hel", "lo, conformance ", "suite \u00fc \U0001f30d", "!"], usage=USAGE)
        return Scenario(feature, "Say hello to the conformance suite.", (), False, False, reply)
    if feature == "tools":
        reply = Reply(text="I'll count the bytes.", tool_calls=[ToolCall("Bash", BASH_INPUT, id=bash_id)],
                      usage=USAGE, chunk_size=7)
        return Scenario(feature, "How many bytes is h\u00e9llo?", (BASH_TOOL,), False, False, reply)
    if feature == "parallel_tools":
        calls = [ToolCall("Bash", BASH_INPUT, id=bash_id), ToolCall("Read", READ_INPUT, id=read_id)]
        reply = Reply(text=None, tool_calls=calls, usage=USAGE, chunk_size=5)
        return Scenario(feature, "Count the bytes and read the file, in parallel.", (BASH_TOOL, READ_TOOL),
                        False, False, reply)
    if feature == "thinking":
        if upstream == "openai":  # Chat Completions returns no reasoning text: only the effort goes up
            reply = Reply(text="The answer is 42.", usage=USAGE)
        else:
            signature = None if upstream == "deepseek" else SIGNATURE
            reply = Reply(text="The answer is 42.", reasoning=REASONING, signature=signature, usage=USAGE)
        return Scenario(feature, "What is 6 times 7? Think first.", (), False, True, reply)
    if feature == "images":
        reply = Reply(text="A single transparent pixel.", usage=USAGE)
        return Scenario(feature, "What is in this picture?", (), True, False, reply)
    raise AssertionError(feature)


# --------------------------------------------------------------------------- client calls


def anthropic_kwargs(s: Scenario, model: str) -> dict[str, Any]:
    content: Any = s.prompt
    if s.image:
        content = [{"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": PNG_1X1}},
                   {"type": "text", "text": s.prompt}]
    kwargs: dict[str, Any] = {"model": model, "max_tokens": s.max_tokens, "system": SYSTEM_PROMPT,
                              "messages": [{"role": "user", "content": content}]}
    if s.tools:
        kwargs["tools"] = list(s.tools)
    if s.thinking:
        kwargs["thinking"] = {"type": "enabled", "budget_tokens": BUDGET_TOKENS}
    return kwargs


def openai_kwargs(s: Scenario, model: str) -> dict[str, Any]:
    content: Any = s.prompt
    if s.image:
        content = [{"type": "text", "text": s.prompt},
                   {"type": "image_url", "image_url": {"url": f"data:image/png;base64,{PNG_1X1}"}}]
    kwargs: dict[str, Any] = {"model": model, "max_completion_tokens": s.max_tokens,
                              "messages": [{"role": "system", "content": SYSTEM_PROMPT},
                                           {"role": "user", "content": content}]}
    if s.tools:
        kwargs["tools"] = [openai_tool(t) for t in s.tools]
    if s.thinking:
        kwargs["reasoning_effort"] = "high"
    return kwargs


# --------------------------------------------------------------------------- expectations


def check_answer(actual: Answer, s: Scenario, client: str, upstream: str) -> None:
    expected = expected_answer(s.reply, client)
    if client == "anthropic" and upstream == "deepseek" and expected.reasoning:
        # Unsigned reasoning reaches Anthropic clients with an aimux provenance signature (never a
        # fake Anthropic one), so Claude Code keeps it and aimux can echo it back next turn.
        assert actual.signature and actual.signature.startswith("aimux1."), actual.signature
        expected = replace(expected, signature=actual.signature)
    assert actual.without_ids() == expected
    check_ids(actual, [c.id for c in s.reply.tool_calls], client)


def max_tokens_field(upstream: str) -> str:
    return "max_completion_tokens" if upstream == "openai" else "max_tokens"


def check_upstream_request(view: UpstreamView, s: Scenario, client: str, upstream: str, *, stream: bool) -> None:
    """The request the upstream received, in its own dialect."""
    target = UPSTREAMS[upstream]
    assert view.model == target.upstream_model
    assert view.stream is stream
    assert view.system == SYSTEM_PROMPT
    assert view.max_tokens == s.max_tokens
    image = ("image", "image/png", PNG_1X1)
    text = ("text", s.prompt)
    parts = ((image, text) if client == "anthropic" else (text, image)) if s.image else (text,)
    assert view.turns == (Turn("user", parts),)
    assert [(name, description) for name, description, _ in view.tools] == [
        (t["name"], t["description"]) for t in s.tools
    ]
    for (_, _, schema), tool in zip(view.tools, s.tools, strict=True):
        assert schema.get("properties") == tool["input_schema"]["properties"]
        assert schema.get("required") == tool["input_schema"]["required"]
    check_thinking_request(view, s, client)
    check_auth(view, upstream)
    body = view.body
    if view.dialect == "openai":
        assert max_tokens_field(upstream) in body and not (
            "max_tokens" in body and "max_completion_tokens" in body
        ), "exactly one max-tokens field, the one the upstream accepts"
        if stream:
            assert body.get("stream_options") == {"include_usage": True}, "streams must ask for usage"


def check_thinking_request(view: UpstreamView, s: Scenario, client: str) -> None:
    body = view.body
    if not s.thinking:
        assert "thinking" not in body and "reasoning_effort" not in body
        assert "thinking" not in (body.get("additionalModelRequestFields") or {})
        return
    if view.dialect == "openai":
        # Anthropic budget 2048 -> the "low" bucket; an OpenAI client's effort passes through.
        assert body.get("reasoning_effort") == ("low" if client == "anthropic" else "high")
        return
    thinking = body.get("thinking") if view.dialect == "anthropic" else (
        body.get("additionalModelRequestFields") or {}).get("thinking")
    if client == "anthropic":
        assert thinking == {"type": "enabled", "budget_tokens": BUDGET_TOKENS}
    else:
        assert thinking == {"type": "adaptive"}, thinking
        effort = (body.get("output_config") if view.dialect == "anthropic" else
                  (body.get("additionalModelRequestFields") or {}).get("output_config")) or {}
        assert effort.get("effort") == "high"


def check_auth(view: UpstreamView, upstream: str) -> None:
    headers = view.headers
    for value in headers.values():
        assert "sk-client-" not in value, "the client's own key must never reach an upstream"
    if view.dialect == "anthropic":
        key = UPSTREAM_KEYS[upstream]
        assert headers.get("x-api-key") == key or headers.get("authorization") == f"Bearer {key}"
        assert headers.get("anthropic-version")
    elif view.dialect == "openai":
        assert headers.get("authorization") == f"Bearer {UPSTREAM_KEYS[upstream]}"
    else:
        assert headers.get("authorization", "").startswith("AWS4-HMAC-SHA256 ")


def upstream_requests(fake: Any) -> list[Any]:
    return fake.message_requests if hasattr(fake, "message_requests") else list(fake.requests)


# --------------------------------------------------------------------------- the matrix


@pytest.mark.parametrize("feature", FEATURES)
@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("upstream", UPSTREAM_NAMES)
@pytest.mark.parametrize("client_dialect", CLIENTS)
def test_cell(client_dialect: str, upstream: str, mode: str, feature: str, aimux: Any, tap: WireTap,
              request: pytest.FixtureRequest) -> None:
    aimux.require(upstream)
    target = UPSTREAMS[upstream]
    fake = aimux.fakes.of(upstream)
    s = scenario(feature, upstream)
    stream = mode == "stream"
    client = request.getfixturevalue(f"{client_dialect}_client")
    build = anthropic_kwargs if client_dialect == "anthropic" else openai_kwargs
    call = call_anthropic if client_dialect == "anthropic" else call_openai
    kwargs = build(s, target.model)

    if s.image and upstream == "deepseek":  # the preset says this upstream takes no images
        error = anthropic.BadRequestError if client_dialect == "anthropic" else openai.BadRequestError
        with pytest.raises(error) as raised:
            call(client, tap, kwargs, stream=stream)
        assert raised.value.status_code == 400
        assert not upstream_requests(fake), "an unsupported image must be refused before any upstream call"
        return

    fake.enqueue(s.reply)
    answer = call(client, tap, kwargs, stream=stream)
    assert tap.last.headers.get("x-aimux-provider") == upstream, "served by the provider the catalog names"
    check_answer(answer, s, client_dialect, upstream)
    sent = upstream_requests(fake)
    assert len(sent) == 1, f"exactly one upstream request per client call, got {len(sent)}"
    check_upstream_request(upstream_view(target.dialect, sent[0], max_tokens_field=max_tokens_field(upstream)),
                           s, client_dialect, upstream, stream=stream)

    if stream:  # the same script, not streamed: the client must end up with the same answer
        fake.enqueue(s.reply)
        twin = call(client, tap, kwargs, stream=False)
        assert twin == answer, "stream and non-stream disagree"


STOP_CASES = {
    # scripted stop (Anthropic vocabulary) -> (Anthropic client stop_reason, OpenAI client finish_reason)
    "max_tokens": ("max_tokens", "length"),
    "end_turn": ("end_turn", "stop"),
}


@pytest.mark.parametrize("stop", sorted(STOP_CASES))
@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("upstream", UPSTREAM_NAMES)
@pytest.mark.parametrize("client_dialect", CLIENTS)
def test_stop_reason_mapping(client_dialect: str, upstream: str, mode: str, stop: str, aimux: Any, tap: WireTap,
                             request: pytest.FixtureRequest) -> None:
    """A truncated answer stays truncated in the client's vocabulary (``max_tokens`` / ``length``)."""
    aimux.require(upstream)
    target = UPSTREAMS[upstream]
    fake = aimux.fakes.of(upstream)
    reply = Reply(text="This answer was cut sho", stop_reason=stop, usage=USAGE)
    fake.enqueue(reply)
    stream = mode == "stream"
    anthropic_stop, openai_finish = STOP_CASES[stop]
    if client_dialect == "anthropic":
        client: anthropic.Anthropic = request.getfixturevalue("anthropic_client")
        answer = call_anthropic(client, tap, {"model": target.model, "max_tokens": 64,
                                              "messages": [{"role": "user", "content": "Write a long essay."}]},
                                stream=stream)
        assert (answer.stop, answer.text) == (anthropic_stop, reply.full_text)
        return
    oclient: openai.OpenAI = request.getfixturevalue("openai_client")
    kwargs = {"model": target.model, "max_completion_tokens": 64,
              "messages": [{"role": "user", "content": "Write a long essay."}]}
    if stream and openai_finish == "length":
        # The SDK's stream helper refuses to hand over a truncated completion; it is attached to the error.
        with pytest.raises(openai.LengthFinishReasonError) as raised, \
                oclient.chat.completions.stream(**kwargs, stream_options={"include_usage": True}) as events:
            events.get_final_completion()
        check_openai_sse(tap.last.raw, model=target.model, include_usage=True)
        answer = openai_answer(raised.value.completion)
    else:
        answer = call_openai(oclient, tap, kwargs, stream=stream)
    assert (answer.stop, answer.text) == (openai_finish, reply.full_text)
