"""The conformance suite's test deployment and the tools to look at both ends of the wire.

Why not ``create_local_app()`` as is: the conformance suite must exercise the real adapters
(``AnthropicProvider``, ``OpenAIProvider``, ``BedrockProvider``) against servers that speak each
provider's dialect, so ``build_gateway`` puts one model per upstream into the catalog:

    catalog id       provider    preset            fake
    up-anthropic     anthropic   anthropic         AnthropicUpstream
    up-openai        openai      openai            OpenAIUpstream (under /v1)
    up-deepseek      deepseek    deepseek-openai   OpenAIUpstream (no /v1; reasoning is echoed back)
    up-bedrock       bedrock     bedrock           BedrockUpstream (boto3 ``endpoint_url``)

plus a ``-fast`` twin of each with short timeouts, for the cells proving that a stalled upstream
never hangs a client. An adapter that cannot be imported or constructed is recorded in
``BuiltGateway.missing`` so that only its cells fail, naming the reason, while the rest still run.

The rest of the module, in the order a cell uses it:

- ``WireTap``: an ``httpx2`` transport (the HTTP library both official SDKs use) that keeps the raw
  bytes of every response while the SDK parses them, so one call gives both the SDK's folded view
  and the exact bytes the gateway sent (which the grammar checks need);
- ``Answer`` (``anthropic_answer`` / ``openai_answer``): what a client ended up holding, in one
  shape for both dialects, and ``expected_answer`` for a scripted ``Reply``;
- ``check_anthropic_sse`` / ``check_openai_sse``: the stream rules of each client dialect;
- ``upstream_view``: what an upstream received, as dialect-neutral ``Turn``s;
- ``call_anthropic`` / ``call_openai``: one SDK call, streamed or not, checked and folded.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field, replace
from typing import Any

import anthropic
import httpx
import httpx2
import openai

from aimux_core.wire.sse import SSEParser
from fakes import Reply, Usage
from fakes.anthropic_upstream import AnthropicUpstream
from fakes.bedrock_upstream import BedrockUpstream
from fakes.openai_upstream import OpenAIUpstream
from support.anthropic_grammar import check_anthropic_stream, parse_anthropic_sse

UPSTREAM_KEYS = {
    "anthropic": "sk-" "ant-upstream-conformance-0001",
    "openai": "sk-openai-upstream-conformance-0001",
    "deepseek": "sk-deepseek-upstream-conformance-0001",
}
# Credentials boto3 reads from the environment (the fake records SigV4 signatures, never checks them).
AWS_ENV = {
    "AWS_ACCESS_KEY_ID": "test",
    "AWS_SECRET_ACCESS_KEY": "test",
    "AWS_DEFAULT_REGION": "us-east-1",
    "AWS_EC2_METADATA_DISABLED": "true",
    "AWS_CONFIG_FILE": "/dev/null",
    "AWS_SHARED_CREDENTIALS_FILE": "/dev/null",
}
AWS_UNSET = ("AWS_PROFILE", "AWS_SESSION_TOKEN", "AWS_ROLE_ARN", "AWS_WEB_IDENTITY_TOKEN_FILE", "AWS_REGION")
# Short enough that a stall is noticed at once, long enough for a loopback answer.
FAST_CONNECT, FAST_FIRST_BYTE, FAST_IDLE, FAST_TOTAL = 2.0, 0.6, 0.6, 1.0


@dataclass(frozen=True)
class Upstream:
    """One upstream of the test gateway: the catalog id a client asks for, what the fake must see."""

    key: str  # "anthropic" | "openai" | "deepseek" | "bedrock": also the provider name
    dialect: str  # "anthropic" | "openai" | "bedrock"
    model: str  # the catalog id clients send
    upstream_model: str  # the model id the upstream must receive
    preset: str

    @property
    def fast_model(self) -> str:
        return f"{self.model}-fast"

    @property
    def fast_provider(self) -> str:
        return f"{self.key}-fast"


UPSTREAMS: dict[str, Upstream] = {
    u.key: u
    for u in (
        Upstream("anthropic", "anthropic", "up-anthropic", "claude-sonnet-4-5-20250929", "anthropic"),
        Upstream("openai", "openai", "up-openai", "gpt-4.1-2025-04-14", "openai"),
        Upstream("deepseek", "openai", "up-deepseek", "deepseek-v4-flash", "deepseek-openai"),
        Upstream("bedrock", "bedrock", "up-bedrock", "us.anthropic.claude-sonnet-4-5-20250929-v1:0", "bedrock"),
    )
}


@dataclass
class Fakes:
    """The fake servers one gateway talks to (``deepseek`` is a second OpenAI-dialect fake)."""

    anthropic: AnthropicUpstream
    openai: OpenAIUpstream
    deepseek: OpenAIUpstream
    bedrock: BedrockUpstream

    def all(self) -> list[AnthropicUpstream | OpenAIUpstream | BedrockUpstream]:
        return [self.anthropic, self.openai, self.deepseek, self.bedrock]

    def of(self, key: str) -> Any:
        """The fake behind upstream ``key``."""
        return getattr(self, key)


def start_fakes() -> Fakes:
    """Start the four fakes; stop them with ``stop_fakes``."""
    started: list[Any] = []
    try:
        for fake in (AnthropicUpstream(), OpenAIUpstream(), OpenAIUpstream(base_path=""), BedrockUpstream()):
            started.append(fake.start())
    except BaseException:
        for fake in started:
            fake.stop()
        raise
    return Fakes(*started)


def stop_fakes(fakes: Fakes) -> None:
    for fake in fakes.all():
        fake.stop()


@dataclass
class BuiltGateway:
    """The adapters and catalog of a test deployment; ``fresh()`` makes a gateway over them.

    A fresh ``Gateway`` per test keeps routing state (``retry-after`` cooldowns, session pins)
    from leaking between cells, while the adapters, their pooled connections and the servers are
    shared. The default policy is one attempt and no session pinning: every client call is then
    exactly one upstream call to the model the client named, so a cell sees how that one upstream
    answer (or failure) reaches the client, not what failover made of it.
    """

    providers: dict[str, Any]
    catalog: Any
    default_model: str
    missing: dict[str, str] = field(default_factory=dict)  # provider name -> why it could not be built
    http_client: httpx.AsyncClient | None = None

    def fresh(self, *, max_attempts: int = 1, backoff_base: float = 0.01) -> Any:
        from aimux_core.gateway import Gateway
        from aimux_core.routing.dispatch import RetryPolicy
        from aimux_core.routing.table import table_for_catalog

        table = replace(table_for_catalog(self.catalog, self.default_model), session_pinning=False)
        policy = RetryPolicy(max_attempts=max_attempts, backoff_base=backoff_base, backoff_max=backoff_base * 4,
                             deadline=30.0)
        return Gateway(self.providers, table, policy=policy)


def _fast_timeouts() -> Any:
    from aimux_core.providers.transport import Timeouts

    return Timeouts(connect=FAST_CONNECT, first_byte=FAST_FIRST_BYTE, idle=FAST_IDLE, total=FAST_TOTAL)


def _make_provider(upstream: Upstream, name: str, fake: Any, client: httpx.AsyncClient, fast: bool) -> Any:
    """Construct the adapter for ``upstream`` exactly as a deployment would, pointed at its fake."""
    from aimux_core.providers.presets import preset
    from aimux_core.providers.transport import Timeouts

    timeouts = _fast_timeouts() if fast else Timeouts()
    if upstream.dialect == "anthropic":
        from aimux_core.providers.anthropic import AnthropicProvider

        return AnthropicProvider(name, preset(upstream.preset), UPSTREAM_KEYS[upstream.key],
                                 base_url=fake.base_url, timeouts=timeouts, client=client)
    if upstream.dialect == "openai":
        from aimux_core.providers.openai import OpenAIProvider

        return OpenAIProvider(name, preset(upstream.preset), UPSTREAM_KEYS[upstream.key],
                              base_url=fake.base_url, timeouts=timeouts, client=client)
    from aimux_core.providers.bedrock import BedrockProvider

    return BedrockProvider(name, preset(upstream.preset), region="us-east-1", endpoint_url=fake.base_url,
                           timeouts=timeouts)


def build_gateway(fakes: Fakes | Mapping[str, Any], *, fast_twins: bool = True) -> BuiltGateway:
    """Adapters and catalog routing one model (and its ``-fast`` twin) per upstream to its fake.

    ``fakes`` is all four fakes, or a mapping ``{upstream key: fake}`` for a smaller deployment
    (its first key is then the default model, the one every unknown name, Claude Code's
    ``claude-*`` among them, routes to). AWS credentials must be in the environment for Bedrock.
    """
    from aimux_core.routing.catalog import Catalog, ModelEntry

    by_key = {key: fakes.of(key) for key in UPSTREAMS} if isinstance(fakes, Fakes) else dict(fakes)
    client = httpx.AsyncClient(timeout=None, follow_redirects=False)
    keys = tuple(by_key)
    providers: dict[str, Any] = {}
    entries: list[ModelEntry] = []
    missing: dict[str, str] = {}
    for key in keys:
        upstream = UPSTREAMS[key]
        for fast in (False, True) if fast_twins else (False,):
            name = upstream.fast_provider if fast else upstream.key
            model = upstream.fast_model if fast else upstream.model
            try:
                providers[name] = _make_provider(upstream, name, by_key[key], client, fast)
            except Exception as exc:  # an adapter not written yet, or a constructor that changed
                missing[name] = f"{type(exc).__name__}: {exc}"
            entries.append(ModelEntry(id=model, provider=name, upstream_model=upstream.upstream_model,
                                      display_name=f"{upstream.preset} via conformance fake"))
    return BuiltGateway(providers, Catalog(entries), UPSTREAMS[keys[0]].model, missing, client)


# --------------------------------------------------------------------------- wire tap


@dataclass
class Exchange:
    """One HTTP exchange as the SDK saw it: status, headers and the body bytes it consumed."""

    method: str
    url: str
    status: int
    headers: Mapping[str, str]
    body: bytearray

    @property
    def raw(self) -> bytes:
        return bytes(self.body)


class _TeeStream(httpx2.SyncByteStream):
    def __init__(self, inner: Any, sink: bytearray) -> None:
        self._inner = inner
        self._sink = sink

    def __iter__(self) -> Iterator[bytes]:
        for chunk in self._inner:
            self._sink.extend(chunk)
            yield chunk

    def close(self) -> None:
        self._inner.close()


class WireTap(httpx2.BaseTransport):
    """Records every response body byte-for-byte as the SDK reads it (no buffering, so streaming
    behaviour, timeouts included, is exactly the SDK's own)."""

    def __init__(self) -> None:
        self._inner = httpx2.HTTPTransport()
        self.exchanges: list[Exchange] = []

    @property
    def last(self) -> Exchange:
        assert self.exchanges, "the client sent no request"
        return self.exchanges[-1]

    def handle_request(self, request: httpx2.Request) -> httpx2.Response:
        response = self._inner.handle_request(request)
        sink = bytearray()
        self.exchanges.append(Exchange(request.method, str(request.url), response.status_code,
                                       dict(response.headers), sink))
        return httpx2.Response(response.status_code, headers=response.headers,
                               stream=_TeeStream(response.stream, sink), extensions=response.extensions,
                               request=request)

    def close(self) -> None:
        self._inner.close()


# --------------------------------------------------------------------------- scenario pieces

SYSTEM_PROMPT = "You are terse. Answer in one line."
DEFAULT_REPLY = Reply(text="default reply from a conformance fake", usage=Usage(input_tokens=5, output_tokens=3))
READ_TOOL: dict[str, Any] = {
    "name": "Read",
    "description": "Read a file from the local filesystem",
    "input_schema": {
        "type": "object",
        "properties": {"file_path": {"type": "string"}, "limit": {"type": "integer"}},
        "required": ["file_path"],
    },
}


def openai_tool(tool: Mapping[str, Any]) -> dict[str, Any]:
    """An Anthropic client tool as the OpenAI function tool an OpenAI client would send."""
    return {"type": "function",
            "function": {"name": tool["name"], "description": tool["description"], "parameters": tool["input_schema"]}}


# --------------------------------------------------------------------------- what a client holds

_VALID_ANTHROPIC_ID = re.compile(r"[A-Za-z0-9_-]+")


@dataclass(frozen=True)
class Call:
    id: str
    name: str
    input: dict[str, Any]


@dataclass(frozen=True)
class Answer:
    """A final answer in one shape for both client dialects, streamed or not, so cells can compare
    the SDK's view with what the upstream said and stream with non-stream."""

    parts: tuple[str, ...]  # block types in order; OpenAI: reasoning?, text?, tool_call*
    text: str
    reasoning: str
    signature: str | None
    calls: tuple[Call, ...]
    stop: str | None
    usage: dict[str, int]

    def without_ids(self) -> Answer:
        return replace(self, calls=tuple(replace(c, id="") for c in self.calls))


def anthropic_answer(message: Any) -> Answer:
    """The Anthropic SDK's ``Message`` (from ``create`` or ``get_final_message``) as an ``Answer``."""
    texts, thoughts, signatures, calls = [], [], [], []
    for block in message.content:
        if block.type == "text":
            texts.append(block.text)
        elif block.type == "thinking":
            thoughts.append(block.thinking)
            signatures.append(block.signature)
        elif block.type == "tool_use":
            calls.append(Call(block.id, block.name, dict(block.input)))
    usage = message.usage
    return Answer(
        parts=tuple(block.type for block in message.content),
        text="".join(texts),
        reasoning="".join(thoughts),
        signature=signatures[-1] if signatures else None,
        calls=tuple(calls),
        stop=message.stop_reason,
        usage={"input_tokens": usage.input_tokens, "output_tokens": usage.output_tokens,
               "cache_read_input_tokens": usage.cache_read_input_tokens or 0,
               "cache_creation_input_tokens": usage.cache_creation_input_tokens or 0},
    )


def openai_answer(completion: Any) -> Answer:
    """The OpenAI SDK's ``ChatCompletion`` (from ``create`` or ``get_final_completion``) as an ``Answer``.

    ``content`` ``None`` and ``""`` both count as no text: the SDK's stream accumulator turns the
    first chunk's ``content: ""`` into ``""`` where the non-streamed answer says ``null``.
    """
    assert len(completion.choices) == 1, "exactly one choice"
    choice = completion.choices[0]
    message = choice.message
    reasoning = (message.model_extra or {}).get("reasoning_content") or ""
    calls = tuple(Call(c.id, c.function.name, json.loads(c.function.arguments)) for c in message.tool_calls or ())
    parts = (("reasoning",) if reasoning else ()) + (("text",) if message.content else ()) + ("tool_call",) * len(calls)
    usage = completion.usage
    assert usage is not None, "the completion carries usage"
    details = usage.prompt_tokens_details
    return Answer(
        parts=parts,
        text=message.content or "",
        reasoning=reasoning,
        signature=None,
        calls=calls,
        stop=choice.finish_reason,
        usage={"prompt_tokens": usage.prompt_tokens, "completion_tokens": usage.completion_tokens,
               "total_tokens": usage.total_tokens, "cached_tokens": (details.cached_tokens if details else 0) or 0},
    )


def anthropic_usage_of(usage: Usage) -> dict[str, int]:
    """The usage an Anthropic client must see for a scripted ``Usage`` (input excludes cache)."""
    return {"input_tokens": usage.input_tokens, "output_tokens": usage.output_tokens,
            "cache_read_input_tokens": usage.cache_read_input_tokens,
            "cache_creation_input_tokens": usage.cache_creation_input_tokens}


def openai_usage_of(usage: Usage) -> dict[str, int]:
    """The usage an OpenAI client must see (``prompt_tokens`` includes cache reads and writes)."""
    return {"prompt_tokens": usage.total_input, "completion_tokens": usage.output_tokens,
            "total_tokens": usage.total_input + usage.output_tokens, "cached_tokens": usage.cache_read_input_tokens}


def is_valid_anthropic_id(value: str) -> bool:
    return _VALID_ANTHROPIC_ID.fullmatch(value) is not None


# --------------------------------------------------------------------------- stream checks


def check_anthropic_sse(raw: bytes, *, model: str, allow_error: bool = False) -> list[dict[str, Any]]:
    """The gateway's Anthropic SSE, parsed and checked against the grammar (``event:`` lines
    included, which the SDK's folded view cannot show)."""
    assert raw, "empty stream body"
    assert b"[DONE]" not in raw, "the Messages API has no [DONE] sentinel"
    events = parse_anthropic_sse(raw)
    check_anthropic_stream(events, allow_error=allow_error)
    assert events[0]["message"]["model"] == model, "message_start must carry the model the client asked for"
    for event in events:
        if event["type"] == "content_block_start" and event["content_block"]["type"] == "tool_use":
            assert is_valid_anthropic_id(event["content_block"]["id"]), event["content_block"]["id"]
    return events


def check_openai_sse(raw: bytes, *, model: str, include_usage: bool, allow_error: bool = False) -> list[dict[str, Any]]:
    """The gateway's OpenAI SSE: ``data:`` lines only, one id and model throughout, the role first,
    exactly one ``finish_reason``, tool-call fragments keyed by ``index`` with id/name only in the
    first, the usage chunk (``choices: []``) last when asked for, then ``[DONE]`` — or, for an
    errored stream, a final ``{"error": ...}`` chunk and no ``[DONE]``. Returns the chunks."""
    assert raw, "empty stream body"
    parser = SSEParser()
    events = [*parser.feed(raw), *parser.finish()]
    assert all(e.event is None for e in events), "OpenAI streams carry no event: lines"
    data = [e.data for e in events]
    if allow_error:
        assert "[DONE]" not in data, "an errored stream must not end with [DONE]"
        error = json.loads(data[-1])
        assert set(error) == {"error"} and error["error"]["message"], f"last chunk is not an error: {error}"
        chunks = [json.loads(d) for d in data[:-1]]
    else:
        assert data[-1] == "[DONE]" and data.count("[DONE]") == 1, "stream must end with one data: [DONE]"
        chunks = [json.loads(d) for d in data[:-1]]
    assert all("error" not in c for c in chunks), "error chunk before the end"
    if not chunks:
        return chunks
    assert {c["id"] for c in chunks} == {chunks[0]["id"]}, "every chunk repeats one id"
    assert all(c["object"] == "chat.completion.chunk" and c["model"] == model for c in chunks)
    with_choices = [c for c in chunks if c["choices"]]
    if with_choices:
        assert with_choices[0]["choices"][0]["delta"].get("role") == "assistant", "the first delta carries the role"
    finishes = [c["choices"][0]["finish_reason"] for c in with_choices if c["choices"][0]["finish_reason"]]
    assert len(finishes) <= 1 if allow_error else len(finishes) == 1, f"finish_reason count: {finishes}"
    seen: set[int] = set()
    for chunk in with_choices:
        for fragment in chunk["choices"][0]["delta"].get("tool_calls") or ():
            index = fragment["index"]
            if index not in seen:
                seen.add(index)
                assert fragment.get("id") and fragment["function"].get("name"), "first fragment names the call"
                assert fragment.get("type") == "function"
            else:
                assert not fragment.get("id") and not fragment["function"].get("name"), "id/name only once"
    if include_usage and not allow_error:
        assert chunks[-1]["choices"] == [] and chunks[-1]["usage"], "usage chunk must come last, choices: []"
        assert all(c.get("usage") is None for c in chunks[:-1]), "only the last chunk carries usage"
    elif not allow_error:
        assert all(c["choices"] for c in chunks), "no usage chunk unless stream_options.include_usage"
    return chunks


# --------------------------------------------------------------------------- what an upstream received


@dataclass(frozen=True)
class Turn:
    """One upstream message in a dialect-neutral form.

    Parts: ``("text", text)``, ``("image", media_type, base64)``, ``("tool_call", id, name, input)``,
    ``("tool_result", id, text, is_error)``, ``("thinking", text, signature)``. OpenAI ``role: tool``
    messages stay separate turns (role ``tool``) so their position can be checked.
    """

    role: str
    parts: tuple[tuple[Any, ...], ...]

    def kinds(self) -> tuple[str, ...]:
        return tuple(p[0] for p in self.parts)


@dataclass(frozen=True)
class UpstreamView:
    """A request as the upstream received it, in terms every dialect shares."""

    dialect: str
    model: str
    stream: bool
    system: str
    turns: tuple[Turn, ...]
    tools: tuple[tuple[str, str | None, dict[str, Any]], ...]  # name, description, schema
    max_tokens: int | None
    body: dict[str, Any]
    headers: dict[str, str]


def upstream_view(dialect: str, request: Any, *, max_tokens_field: str = "max_tokens") -> UpstreamView:
    body = request.json
    assert isinstance(body, dict), f"upstream body is not a JSON object: {request.body[:200]!r}"
    if dialect == "anthropic":
        return _anthropic_view(body, request)
    if dialect == "openai":
        return _openai_view(body, request, max_tokens_field)
    return _bedrock_view(body, request)


def _anthropic_view(body: dict[str, Any], request: Any) -> UpstreamView:
    system = body.get("system") or ""
    if isinstance(system, list):
        system = "\n\n".join(b["text"] for b in system)
    turns = []
    for message in body["messages"]:
        content = message["content"]
        blocks = [{"type": "text", "text": content}] if isinstance(content, str) else content
        turns.append(Turn(message["role"], tuple(_anthropic_part(b) for b in blocks)))
    tools = tuple((t["name"], t.get("description"), t.get("input_schema") or {}) for t in body.get("tools") or ())
    return UpstreamView("anthropic", body["model"], body.get("stream") is True, system, tuple(turns), tools,
                        body.get("max_tokens"), body, request.headers)


def _anthropic_part(block: dict[str, Any]) -> tuple[Any, ...]:
    kind = block["type"]
    if kind == "text":
        return ("text", block["text"])
    if kind == "image":
        return ("image", block["source"].get("media_type"), block["source"].get("data"))
    if kind == "tool_use":
        return ("tool_call", block["id"], block["name"], block["input"])
    if kind == "tool_result":
        content = block.get("content")
        text = content if isinstance(content, str) else "".join(c.get("text", "") for c in content or ())
        return ("tool_result", block["tool_use_id"], text, bool(block.get("is_error")))
    if kind == "thinking":
        return ("thinking", block["thinking"], block.get("signature"))
    return (kind,)


def _openai_view(body: dict[str, Any], request: Any, max_tokens_field: str) -> UpstreamView:
    messages = list(body["messages"])
    system_parts = []
    while messages and messages[0]["role"] in ("system", "developer"):
        system_parts.append(_openai_text(messages.pop(0)["content"]))
    turns = []
    for message in messages:
        role = message["role"]
        parts: list[tuple[Any, ...]] = []
        if role == "tool":
            parts.append(("tool_result", message["tool_call_id"], _openai_text(message["content"]), False))
        else:
            reasoning = message.get("reasoning_content")
            if reasoning:
                parts.append(("thinking", reasoning, None))
            content = message.get("content")
            if isinstance(content, str):
                if content:
                    parts.append(("text", content))
            elif content:
                parts += [_openai_part(p) for p in content]
            for call in message.get("tool_calls") or ():
                arguments = call["function"]["arguments"]
                assert isinstance(arguments, str), "OpenAI tool-call arguments must be a JSON string"
                parts.append(("tool_call", call["id"], call["function"]["name"], json.loads(arguments)))
        turns.append(Turn(role, tuple(parts)))
    tools = tuple((t["function"]["name"], t["function"].get("description"), t["function"].get("parameters") or {})
                  for t in body.get("tools") or ())
    return UpstreamView("openai", body["model"], body.get("stream") is True, "\n\n".join(system_parts),
                        tuple(turns), tools, body.get(max_tokens_field), body, request.headers)


def _openai_text(content: Any) -> str:
    if isinstance(content, str):
        return content
    return "".join(p.get("text", "") for p in content or ())


def _openai_part(part: dict[str, Any]) -> tuple[Any, ...]:
    if part["type"] == "text":
        return ("text", part["text"])
    if part["type"] == "image_url":
        url = part["image_url"]["url"]
        match = re.fullmatch(r"data:([^;,]+);base64,(.*)", url, flags=re.DOTALL)
        return ("image", match.group(1), match.group(2)) if match else ("image", None, url)
    return (part["type"],)


def _bedrock_view(body: dict[str, Any], request: Any) -> UpstreamView:
    turns = []
    for message in body["messages"]:
        turns.append(Turn(message["role"], tuple(_bedrock_part(b) for b in message["content"])))
    tools = tuple((t["toolSpec"]["name"], t["toolSpec"].get("description"), t["toolSpec"]["inputSchema"]["json"])
                  for t in (body.get("toolConfig") or {}).get("tools") or () if "toolSpec" in t)
    system = "\n\n".join(b["text"] for b in body.get("system") or () if "text" in b)
    return UpstreamView("bedrock", BedrockUpstream.model_id(request), request.path.endswith("/converse-stream"),
                        system, tuple(turns), tools, (body.get("inferenceConfig") or {}).get("maxTokens"), body,
                        request.headers)


def _bedrock_part(block: dict[str, Any]) -> tuple[Any, ...]:
    if "text" in block:
        return ("text", block["text"])
    if "image" in block:
        image = block["image"]
        return ("image", f"image/{image['format']}", image["source"].get("bytes"))
    if "toolUse" in block:
        use = block["toolUse"]
        return ("tool_call", use["toolUseId"], use["name"], use["input"])
    if "toolResult" in block:
        result = block["toolResult"]
        text = "".join(c.get("text", "") for c in result.get("content") or ())
        return ("tool_result", result["toolUseId"], text, result.get("status") == "error")
    if "reasoningContent" in block:
        reasoning = block["reasoningContent"].get("reasoningText") or {}
        return ("thinking", reasoning.get("text"), reasoning.get("signature"))
    return tuple(block)


# --------------------------------------------------------------------------- one call, either SDK


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


def expected_answer(reply: Reply, client: str) -> Answer:
    """What a client must hold for a scripted reply, tool ids aside (see ``check_ids``)."""
    calls = tuple(Call("", c.name, c.arguments_object) for c in reply.tool_calls)
    reasoning = reply.full_reasoning if reply.reasoning is not None else ""
    text = ("text",) if reply.text is not None else ()
    if client == "anthropic":
        parts = (("thinking",) if reasoning else ()) + text + ("tool_use",) * len(calls)
        return Answer(parts, reply.full_text, reasoning, reply.signature if reasoning else None, calls,
                      "tool_use" if calls else "end_turn", anthropic_usage_of(reply.usage))
    parts = (("reasoning",) if reasoning else ()) + text + ("tool_call",) * len(calls)
    return Answer(parts, reply.full_text, reasoning, None, calls, "tool_calls" if calls else "stop",
                  openai_usage_of(reply.usage))


def check_ids(actual: Answer, upstream_ids: list[str | None], client: str) -> None:
    ids = [c.id for c in actual.calls]
    assert len(set(ids)) == len(ids), f"tool-call ids must be distinct: {ids}"
    for got, sent in zip(ids, upstream_ids, strict=True):
        assert sent is not None
        if client == "openai":
            assert got == sent, "OpenAI clients get the upstream's tool-call id unchanged"
        else:
            assert is_valid_anthropic_id(got), f"not a valid Anthropic tool_use id: {got!r}"
            if is_valid_anthropic_id(sent):
                assert got == sent, "a valid id is passed through unchanged"
