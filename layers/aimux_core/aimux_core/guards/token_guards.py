"""Token guards: opt-in, per-route limits on what a request may carry upstream.

Agents resend their whole history every turn, so one huge tool result (a log, a minified bundle, a
`cat` of a generated file) or a pile of screenshots is paid for again on every later turn, and a
conversation that outgrew every context window only earns the provider's 400. A route may set
(``token_guards`` in its configuration):

- ``tool_result_max_tokens``: each ``tool_result``'s text is cut to about N tokens. Its head and tail
  are kept (the command, the error at the end) and the middle is replaced by a marker saying how many
  tokens were removed and why. Cutting is deterministic, so the same history is cut the same way on
  every turn and its prompt-cache prefix stays valid.
- ``max_images``: only the N most recent images are sent (tool results included); each older one is
  replaced by a short text saying it was left out. (When a new image pushes an old one out, the prefix
  changes from that image on: one cache write.)
- ``context_overflow``: a request larger than every target's context window (the routing estimate,
  ``accounting/tokens.py``) is refused with a 400 naming the limit (``refuse``), or sent to another
  route, e.g. a long-context one, instead of earning the provider's 400.

``TokenGuards.apply`` returns the guarded request (a copy: the client's parsed request is not
modified) and the tokens it removed, the figure the log line and the ``TokensRemoved`` metric report.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from ..accounting.tokens import estimate_text_tokens, image_source_tokens
from ..errors import ContextWindowExceeded
from ..wire.anthropic import ImageBlock, MessageParam, MessagesRequest, TextBlock, ToolResultBlock

if TYPE_CHECKING:
    from ..routing.select import Decision
    from ..routing.table import Route

OVERFLOW_REFUSE = "refuse"
_SNAP_SHARE = 0.2  # a cut moves to a line break within the last (head) / first (tail) 20 % of what is kept
IMAGE_OMITTED = "[image omitted by aimux: this route sends only the {keep} most recent images (token guard max_images)]"


@dataclass(frozen=True, slots=True)
class Guarded:
    """A request after the guards, and the tokens they removed from it (0: unchanged, same object)."""

    request: MessagesRequest
    removed: int = 0


@dataclass(frozen=True, slots=True)
class TokenGuards:
    """One route's guards (``config.sections.TokenGuardsConfig``); None fields are off."""

    tool_result_max_tokens: int | None = None
    max_images: int | None = None
    context_overflow: str | None = None  # "refuse" or a route name

    def apply(self, request: MessagesRequest) -> Guarded:
        """``request`` with its tool results and images capped (the request itself when nothing was)."""
        removed = 0
        turns = request.messages
        if self.tool_result_max_tokens is not None:
            turns, cut = _cap_tool_results(turns, self.tool_result_max_tokens)
            removed += cut
        if self.max_images is not None:
            turns, dropped = _cap_images(turns, self.max_images)
            removed += dropped
        if turns is request.messages:
            return Guarded(request)
        return Guarded(request.model_copy(update={"messages": turns}), max(0, removed))


# --------------------------------------------------------------------------- tool results


def cap_text(text: str, max_tokens: int) -> tuple[str, int]:
    """``text`` cut to about ``max_tokens`` (head and tail kept, a marker between) and the tokens removed."""
    tokens = estimate_text_tokens(text)
    if tokens <= max_tokens:
        return text, 0
    keep = int(len(text) * max_tokens / tokens)
    head_end = _snap_back(text, keep // 2)
    tail_start = _snap_forward(text, len(text) - (keep - keep // 2))
    if tail_start <= head_end:
        return text, 0
    middle = estimate_text_tokens(text[head_end:tail_start])
    marker = (
        f"\n[... about {middle} tokens removed from the middle of this tool result by aimux "
        f"(token guard: tool results are kept to {max_tokens} tokens) ...]\n"
    )
    capped = text[:head_end] + marker + text[tail_start:]
    return capped, max(0, tokens - estimate_text_tokens(capped))


def _snap_back(text: str, end: int) -> int:
    """``end`` moved back to just after a line break, if one is near."""
    cut = text.rfind("\n", end - int(end * _SNAP_SHARE), end)
    return cut + 1 if cut >= 0 else end


def _snap_forward(text: str, start: int) -> int:
    """``start`` moved forward to a line break, if one is near."""
    cut = text.find("\n", start, start + int((len(text) - start) * _SNAP_SHARE))
    return cut if cut >= 0 else start


def _cap_tool_results(turns: list[MessageParam], max_tokens: int) -> tuple[list[MessageParam], int]:
    removed = 0
    out: list[MessageParam] | None = None
    for index, turn in enumerate(turns):
        if isinstance(turn.content, str) or turn.role != "user":
            continue
        blocks: list[Any] | None = None
        for b, block in enumerate(turn.content):
            if not isinstance(block, ToolResultBlock) or not block.content:
                continue
            capped, cut = _cap_result(block, max_tokens)
            if cut:
                blocks = blocks if blocks is not None else list(turn.content)
                blocks[b] = capped
                removed += cut
        if blocks is not None:
            out = out if out is not None else list(turns)
            out[index] = turn.model_copy(update={"content": blocks})
    return (out, removed) if out is not None else (turns, 0)


def _cap_result(block: ToolResultBlock, max_tokens: int) -> tuple[ToolResultBlock, int]:
    """One tool result with its text capped; several text parts share the budget by their size."""
    content = block.content
    if isinstance(content, str):
        text, cut = cap_text(content, max_tokens)
        return (block.model_copy(update={"content": text}), cut) if cut else (block, 0)
    parts = content or []
    sizes = [estimate_text_tokens(p.text) if isinstance(p, TextBlock) else 0 for p in parts]
    total = sum(sizes)
    if total <= max_tokens:
        return block, 0
    removed = 0
    kept: list[Any] = []
    for part, size in zip(parts, sizes, strict=True):
        if isinstance(part, TextBlock) and size:
            text, cut = cap_text(part.text, max(1, max_tokens * size // total))
            removed += cut
            part = part.model_copy(update={"text": text}) if cut else part
        kept.append(part)
    return (block.model_copy(update={"content": kept}), removed) if removed else (block, 0)


# --------------------------------------------------------------------------- images


def _image_positions(turns: list[MessageParam]) -> list[tuple[int, int, int | None]]:
    """(turn, block, part inside a tool result or None) of every image, oldest first."""
    found: list[tuple[int, int, int | None]] = []
    for t, turn in enumerate(turns):
        if isinstance(turn.content, str):
            continue
        for b, block in enumerate(turn.content):
            if isinstance(block, ImageBlock):
                found.append((t, b, None))
            elif isinstance(block, ToolResultBlock) and isinstance(block.content, list):
                found += [(t, b, p) for p, part in enumerate(block.content) if isinstance(part, ImageBlock)]
    return found


def _cap_images(turns: list[MessageParam], keep: int) -> tuple[list[MessageParam], int]:
    positions = _image_positions(turns)
    if len(positions) <= keep:
        return turns, 0
    note = IMAGE_OMITTED.format(keep=keep)
    note_tokens = estimate_text_tokens(note)
    removed = 0
    out = list(turns)
    for t, b, p in positions[: len(positions) - keep]:
        blocks = list(out[t].content)
        if p is None:
            removed += max(0, image_source_tokens(blocks[b].source) - note_tokens)
            blocks[b] = TextBlock(text=note)
        else:
            result = blocks[b]
            parts = list(result.content)
            removed += max(0, image_source_tokens(parts[p].source) - note_tokens)
            parts[p] = TextBlock(text=note)
            blocks[b] = result.model_copy(update={"content": parts})
        out[t] = out[t].model_copy(update={"content": blocks})
    return out, removed


# --------------------------------------------------------------------------- context overflow


def overflowed(decision: Decision) -> bool:
    """No target left, and some were dropped for being too small (the others could not serve the request
    either: no vision, no tools). Targets that are only down are never dropped (``routing.select``)."""
    return not decision.targets and any(why.startswith("context window") for _, why in decision.dropped)


def overflow_error(route: Route, estimate: int) -> ContextWindowExceeded:
    """The 400 for a request larger than every context window of ``route``, naming the limit."""
    windows = [t.entry.context_window for tier in route.tiers for t in tier if t.entry is not None]
    limit = max(windows, default=0)
    return ContextWindowExceeded(
        f"prompt is too long: about {estimate} tokens > {limit} maximum (the largest context window of route "
        f"{route.name!r}; token guard context_overflow: refuse)",
        param="messages",
    )
