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
from typing import Any

from ..accounting.tokens import estimate_text_tokens, image_source_tokens
from ..errors import ContextWindowExceeded
from ..wire.anthropic import ImageBlock, MessageParam, MessagesRequest, TextBlock, ToolResultBlock

_SNAP_SHARE = 0.2  # a cut moves to a line break within the last (head) / first (tail) 20 % of what is kept
IMAGE_OMITTED = "[image omitted by aimux: this route sends only the {keep} most recent images (token guard max_images)]"


@dataclass(frozen=True, slots=True)
class Guarded:
    """A request after the guards, and the tokens they removed from it (0: unchanged, same object)."""

    request: MessagesRequest
    removed: int = 0


@dataclass(frozen=True, slots=True)
class TokenGuards:
    """One route's guards (built from ``config.sections.TokenGuardsConfig``); None fields are off.

    ``overflow``: a request larger than every target's context window is refused with a 400, or sent to
    ``overflow_route`` when one is named (``context_overflow: refuse | <route>`` in the configuration).
    """

    tool_result_max_tokens: int | None = None
    max_images: int | None = None
    overflow: bool = False
    overflow_route: str | None = None

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

    def overflow_error(self, route: str, context_window: int, estimate: int) -> ContextWindowExceeded:
        """The 400 for a request larger than every context window of ``route`` (``overflow_error``)."""
        return overflow_error(route, context_window, estimate)


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


def _count_images(turns: list[MessageParam]) -> int:
    """Images in ``turns``, those inside tool results included."""
    count = 0
    for turn in turns:
        if isinstance(turn.content, str):
            continue
        for block in turn.content:
            if isinstance(block, ImageBlock):
                count += 1
            elif isinstance(block, ToolResultBlock) and isinstance(block.content, list):
                count += sum(isinstance(part, ImageBlock) for part in block.content)
    return count


class _ImageDropper:
    """Replaces the first ``drop`` images it is shown by a note, counting the tokens that removes."""

    def __init__(self, drop: int, keep: int) -> None:
        self.left = drop
        self.note = IMAGE_OMITTED.format(keep=keep)
        self.note_tokens = estimate_text_tokens(self.note)
        self.removed = 0

    def blocks(self, blocks: list[Any]) -> list[Any] | None:
        """``blocks`` with their oldest images replaced (tool results' own included), or None if unchanged."""
        out: list[Any] | None = None
        for index, block in enumerate(blocks):
            if not self.left:
                break
            new = block
            if isinstance(block, ImageBlock):
                new = self._replace(block)
            elif isinstance(block, ToolResultBlock) and isinstance(block.content, list):
                parts = self.blocks(block.content)
                new = block.model_copy(update={"content": parts}) if parts is not None else block
            if new is not block:
                out = out if out is not None else list(blocks)
                out[index] = new
        return out

    def _replace(self, image: ImageBlock) -> TextBlock:
        self.left -= 1
        self.removed += max(0, image_source_tokens(image.source) - self.note_tokens)
        return TextBlock(text=self.note)


def _cap_images(turns: list[MessageParam], keep: int) -> tuple[list[MessageParam], int]:
    """``turns`` with only the ``keep`` most recent images, and the tokens removed."""
    total = _count_images(turns)
    if total <= keep:
        return turns, 0
    dropper = _ImageDropper(total - keep, keep)
    out = list(turns)
    for index, turn in enumerate(turns):
        if not dropper.left:
            break
        if isinstance(turn.content, str):
            continue
        blocks = dropper.blocks(turn.content)
        if blocks is not None:
            out[index] = turn.model_copy(update={"content": blocks})
    return out, dropper.removed


# --------------------------------------------------------------------------- context overflow


def overflow_error(route: str, context_window: int, estimate: int) -> ContextWindowExceeded:
    """The 400 for a request larger than every context window of ``route`` (its largest is
    ``context_window``), naming the limit."""
    return ContextWindowExceeded(
        f"prompt is too long: about {estimate} tokens > {context_window} maximum (the largest context window of "
        f"route {route!r}; token guard context_overflow: refuse)",
        param="messages",
    )
