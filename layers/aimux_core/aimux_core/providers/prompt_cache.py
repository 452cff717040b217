"""Automatic prompt caching: cache breakpoints where they pay off, and OpenAI's ``prompt_cache_key``.

Why: Cursor, Continue and OpenAI-SDK traffic carries no ``cache_control``, so every turn of a coding
session pays the full input price for the same 10-30k-token prefix on Anthropic and Bedrock. Anthropic
bills a cache write at 1.25x the input price (2x with the 1-hour TTL) and a cache read at 0.1x: a
breakpoint on a prefix pays off as soon as that prefix is read once more within the TTL
(1.25 + 0.1 < 2 x 1; the 1-hour TTL needs two reads: 2 + 0.2 < 3), and costs only its write premium
when it is never read.

Breakpoints (Anthropic-dialect and Bedrock targets, only for requests that carry none of their own,
``uses_prompt_cache``: a client that places its own, like Claude Code, is left alone):

- the last tool (the tool definitions change least often);
- the last system block;
- the last block of the last turn: the growing conversation prefix the next turn reads back;
- the last block of the user turn that ended the previous request: the previous turn's write is found
  even when this turn added more blocks than the ~20 Anthropic looks back from a breakpoint (an agent
  turn with many tool results).

At most four, each only on a prefix of at least the model's minimum cacheable length
(``min_cacheable_tokens``; the catalog's ``cache_min_tokens`` overrides it): Anthropic ignores shorter
ones anyway, so a plan never holds a breakpoint that cannot pay. Thinking blocks cannot carry
``cache_control``: a turn's last markable block is used. The TTL is 5 minutes unless ``1h`` is
configured.

Modes (``PromptCaching``): ``auto`` caches every request, ``multi_turn`` only conversations (a
request with an assistant turn: a one-shot request never reads its write back), ``off`` nothing. The
provider's setting (preset default: ``auto`` for first-party Anthropic, Bedrock and OpenAI) and the
route's are combined by ``stricter``: a route can turn caching down for its traffic, never force it onto
a provider configured ``off``.

OpenAI-dialect targets cache on their own; a preset with ``prompt_cache_key`` (OpenAI) gets one from
the session (``x-claude-code-session-id``, else ``metadata.user_id``), else from the key id and the
system prompt's start, hashed (no session id or prompt text leaves as is), so one session's turns land
on the machine that holds its prefix.

Plans are made per target, in the adapter, from the request that target gets: the canonical request
shared by the attempts is never modified.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from ..accounting.pricing import uses_prompt_cache
from ..accounting.tokens import message_tokens, system_tokens, tools_tokens
from ..presets import CacheTtl, PromptCaching, ProviderPreset
from ..wire.anthropic import MessageParam, MessagesRequest, Tool

if TYPE_CHECKING:
    from .base import RequestContext, UpstreamCall

MAX_BREAKPOINTS = 4
DEFAULT_MIN_TOKENS = 1024
_STRICTNESS: dict[str, int] = {"auto": 0, "multi_turn": 1, "off": 2}
_MARKABLE = frozenset({"text", "image", "document", "tool_use", "tool_result", "search_result"})
_KEY_PREFIX = "aimux-"
_SYSTEM_PREFIX_CHARS = 2048


def stricter(route: PromptCaching | None, provider: PromptCaching) -> PromptCaching:
    """The mode that applies: the stricter of the route's (None: no opinion) and the provider's."""
    if route is None or _STRICTNESS[provider] >= _STRICTNESS[route]:
        return provider
    return route


def may_place_breakpoints(route: PromptCaching | None, presets: Iterable[object]) -> bool:
    """Whether any of these targets' adapters may add breakpoints under the route's mode: an
    Anthropic-dialect or Bedrock preset whose mode, combined with the route's, is not ``off``. (The
    cost of such an answer may include cache writes, billed above the input rate.)"""
    return any(
        isinstance(preset, ProviderPreset)
        and preset.dialect in ("anthropic", "bedrock")
        and stricter(route, preset.prompt_caching) != "off"
        for preset in presets
    )


def min_cacheable_tokens(model: str) -> int:
    """Anthropic's minimum cacheable prompt length for an upstream model id (Bedrock ids too).

    4096 for Claude Opus 4.5/4.6 and Haiku 4.5, 2048 for Haiku 3/3.5, 1024 for the others (Sonnet,
    Opus 4/4.1). A newer model with another minimum is set in the catalog (``cache_min_tokens``); a
    breakpoint below the real minimum is ignored by Anthropic, never an error.
    """
    name = model.lower().replace(".", "-")
    if "haiku" in name:
        return 4096 if "haiku-4" in name else 2048
    if "opus-4-5" in name or "opus-4-6" in name:
        return 4096
    return DEFAULT_MIN_TOKENS


def caches_on_bedrock(model: str) -> bool:
    """Claude on Bedrock takes ``cachePoint`` blocks everywhere; other Bedrock models get none."""
    return "claude" in model.lower()


@dataclass(frozen=True, slots=True)
class CachePlan:
    """Where the breakpoints go: after the last tool, after the last system block, and after the last
    markable block of each of ``messages`` (indexes into the request the plan was made from)."""

    tools: bool
    system: bool
    messages: tuple[int, ...]
    ttl: CacheTtl = "5m"

    @property
    def count(self) -> int:
        return int(self.tools) + int(self.system) + len(self.messages)

    def control(self) -> dict[str, str]:
        """The ``cache_control`` value of each breakpoint."""
        return {"type": "ephemeral", "ttl": "1h"} if self.ttl == "1h" else {"type": "ephemeral"}


def is_conversation(request: MessagesRequest) -> bool:
    """A request that continues a conversation (it holds an assistant turn)."""
    return any(turn.role == "assistant" for turn in request.messages)


def plan_breakpoints(
    request: MessagesRequest, *, mode: PromptCaching, min_tokens: int, ttl: CacheTtl = "5m"
) -> CachePlan | None:
    """The breakpoints for ``request`` (see the module docstring), or None when none belong there."""
    if mode == "off" or (mode == "multi_turn" and not is_conversation(request)) or uses_prompt_cache(request):
        return None
    # Prefix sizes only grow, so sizes are summed only until the minimum is reached: with an agent's tool
    # descriptions above it, neither their schemas nor the system prompt nor any message is weighed.
    total = tools_tokens(request, schemas=False)
    if total < min_tokens:
        total = tools_tokens(request)
    tools = _last_cacheable_tool(request.tools) is not None and total >= min_tokens
    if total < min_tokens:
        total += system_tokens(request)
    system = _has_system(request.system) and total >= min_tokens
    marked: list[int] = []
    last = _last_turn(request.messages)
    if last is not None:
        previous = _previous_turn_end(request.messages, last)
        weighed = 0  # messages summed into ``total`` so far
        for end in (i for i in (previous, last) if i is not None):
            while total < min_tokens and weighed <= end:
                total += message_tokens(request.messages[weighed])
                weighed += 1
            if total >= min_tokens:
                marked.append(end)
    if not (tools or system or marked):
        return None
    return CachePlan(tools, system, tuple(marked), ttl)


@dataclass(frozen=True, slots=True)
class CacheSettings:
    """What one attempt's plan is made with: the mode that applies, the model's minimum, the TTL."""

    mode: PromptCaching
    min_tokens: int
    ttl: CacheTtl = "5m"

    def plan(self, request: MessagesRequest) -> CachePlan | None:
        return plan_breakpoints(request, mode=self.mode, min_tokens=self.min_tokens, ttl=self.ttl)


def settings_for_call(call: UpstreamCall, preset: ProviderPreset) -> CacheSettings | None:
    """The settings of one attempt (the route's and the provider's mode and TTL, the target's minimum),
    None when caching is off for it or the whole request is below the minimum (the gateway's estimate)."""
    context = call.context
    mode = stricter(context.prompt_caching, preset.prompt_caching)
    if mode == "off":
        return None
    minimum = call.cache_min_tokens or min_cacheable_tokens(call.model)
    if context.input_estimate is not None and context.input_estimate < minimum:
        return None
    return CacheSettings(mode, minimum, context.prompt_cache_ttl or preset.prompt_cache_ttl)


def mark_body(body: dict[str, Any], plan: CachePlan) -> None:
    """Put ``plan``'s breakpoints into an Anthropic Messages body (a fresh dump of the planned request)."""
    control = plan.control()
    if plan.tools:
        tool = next((t for t in reversed(body.get("tools") or ()) if not t.get("defer_loading")), None)
        if tool is not None:
            tool["cache_control"] = dict(control)
    if plan.system:
        system = body.get("system")
        if isinstance(system, str):
            body["system"] = [{"type": "text", "text": system, "cache_control": dict(control)}]
        elif isinstance(system, list):
            block = next((b for b in reversed(system) if b.get("text")), None)
            if block is not None:
                block["cache_control"] = dict(control)
    messages = body["messages"]
    for index in plan.messages:
        turn = messages[index]
        content = turn["content"]
        if isinstance(content, str):
            turn["content"] = [{"type": "text", "text": content, "cache_control": dict(control)}]
            continue
        block = next((b for b in reversed(content) if _markable_dict(b)), None)
        if block is not None:
            block["cache_control"] = dict(control)


def prompt_cache_key(request: MessagesRequest, context: RequestContext) -> str:
    """OpenAI's ``prompt_cache_key`` for this request: the session, else the key and the system prompt's
    start; hashed with the caller's key id, so no session id, prompt text or tenant mix leaves aimux."""
    key_id = getattr(context.key, "id", None) or ""
    session = context.session_id or (request.metadata.user_id if request.metadata is not None else None)
    if session:
        seed = f"session\0{key_id}\0{session}"
    else:
        seed = f"system\0{key_id}\0{_system_text(request)[:_SYSTEM_PREFIX_CHARS]}"
    return _KEY_PREFIX + hashlib.sha256(seed.encode("utf-8", "surrogatepass")).hexdigest()[:32]


def wants_cache_key(call: UpstreamCall, preset: ProviderPreset) -> bool:
    """Whether this attempt gets a ``prompt_cache_key`` (preset accepts one, and the mode allows it)."""
    if not preset.prompt_cache_key:
        return False
    mode = stricter(call.context.prompt_caching, preset.prompt_caching)
    return mode == "auto" or (mode == "multi_turn" and is_conversation(call.request))


# --------------------------------------------------------------------------- helpers


def _last_cacheable_tool(tools: list[Tool] | None) -> Tool | None:
    """The last tool a breakpoint can go on (deferred tools are loaded on demand: not part of the prefix)."""
    return next((tool for tool in reversed(tools or ()) if not tool.defer_loading), None)


def _has_system(system: Any) -> bool:
    if isinstance(system, str):
        return bool(system)
    return any(block.text for block in system or ())


def _system_text(request: MessagesRequest) -> str:
    system = request.system
    if isinstance(system, str):
        return system
    return "\n".join(block.text for block in system or ())


def _markable(turn: MessageParam) -> bool:
    """Whether a turn has a block that can carry ``cache_control`` (not thinking, not empty text)."""
    content = turn.content
    if isinstance(content, str):
        return bool(content)
    return any(block.type in _MARKABLE and (block.type != "text" or block.text) for block in content)  # type: ignore[union-attr]


def _markable_dict(block: dict[str, Any]) -> bool:
    kind = block.get("type")
    return kind in _MARKABLE and (kind != "text" or bool(block.get("text")))


def _last_turn(turns: list[MessageParam]) -> int | None:
    """The last user or assistant turn that can carry a breakpoint (``system`` turns are folded
    elsewhere by some adapters, so they never hold one)."""
    for index in range(len(turns) - 1, -1, -1):
        turn = turns[index]
        if turn.role != "system":
            return index if _markable(turn) else None
    return None


def _previous_turn_end(turns: list[MessageParam], last: int) -> int | None:
    """The user turn that ended the previous request: the last user turn before the latest assistant turn."""
    index = last - 1
    while index >= 0 and turns[index].role != "assistant":
        index -= 1
    index -= 1
    while index >= 0:
        turn = turns[index]
        if turn.role == "user":
            return index if _markable(turn) else None
        if turn.role == "assistant":
            return None
        index -= 1
    return None
