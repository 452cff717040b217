"""Token guards, the pure parts: how a tool result is cut (head and tail kept, a marker saying what went),
which images go, what counts as overflowing every context window, and that nothing is copied or changed
when no limit is exceeded."""

from __future__ import annotations

from typing import Any

from aimux_core.accounting.tokens import estimate_text_tokens
from aimux_core.limits.token_guards import TokenGuards, cap_text
from aimux_core.routing.select import Decision
from aimux_core.wire.anthropic import MessagesRequest
from support.coding_session import source_file
from support.samples import png_header

LOG = "\n".join(f"2026-12-05T10:{i // 60:02d}:{i % 60:02d} INFO worker-{i % 7} done batch {i}" for i in range(3000))
# A PNG header saying 1000 x 1000 px: ~1,334 tokens by Anthropic's formula (only the header is read).
IMAGE = {"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": png_header(1000, 1000)}}


def request(*messages: dict[str, Any]) -> MessagesRequest:
    return MessagesRequest.model_validate({"model": "m", "max_tokens": 64, "messages": list(messages)})


def result(content: Any, tool_id: str = "toolu_1") -> dict[str, Any]:
    return {"type": "tool_result", "tool_use_id": tool_id, "content": content}


def test_a_long_text_keeps_its_head_and_tail_and_says_what_was_removed() -> None:
    capped, removed = cap_text(LOG, 1000)
    head, tail = LOG.splitlines()[0], LOG.splitlines()[-1]
    assert capped.startswith(head) and capped.endswith(tail)
    assert "tokens removed from the middle of this tool result by aimux" in capped
    assert "kept to 1000 tokens" in capped
    total = estimate_text_tokens(LOG)
    assert removed == total - estimate_text_tokens(capped) and removed > total * 0.8
    assert 900 <= estimate_text_tokens(capped) <= 1150
    kept_lines = [line for line in capped.splitlines() if line.startswith("2026")]
    assert all(line in LOG.splitlines() for line in kept_lines), "cuts fall on line breaks"


def test_cutting_is_deterministic_so_cached_prefixes_stay_valid() -> None:
    assert cap_text(LOG, 700) == cap_text(LOG, 700)


def test_short_texts_are_untouched() -> None:
    text = source_file(1, lines=5)
    assert cap_text(text, 10_000) == (text, 0)


def test_guards_cap_each_tool_result_and_nothing_else() -> None:
    original = request(
        {"role": "user", "content": LOG},
        {"role": "assistant", "content": [{"type": "tool_use", "id": "toolu_1", "name": "Bash", "input": {}}]},
        {"role": "user", "content": [result(LOG), result([{"type": "text", "text": LOG}, IMAGE], "toolu_2"),
                                     {"type": "text", "text": LOG}]},
    )  # fmt: skip
    guarded = TokenGuards(tool_result_max_tokens=500).apply(original)
    turns = guarded.request.messages
    assert turns[0].content == LOG and turns[2].content[2].text == LOG  # type: ignore[union-attr]
    first, second = turns[2].content[0], turns[2].content[1]  # type: ignore[index]
    assert estimate_text_tokens(first.content) < 700  # type: ignore[union-attr, arg-type]
    assert estimate_text_tokens(second.content[0].text) < 700 and second.content[1].type == "image"  # type: ignore[union-attr, index]
    assert guarded.removed > 2 * (estimate_text_tokens(LOG) - 700)
    assert original.messages[2].content[0].content == LOG, "the client's request is not modified"  # type: ignore[union-attr]


def test_nothing_exceeded_returns_the_same_request() -> None:
    original = request({"role": "user", "content": [result("short")]})
    guarded = TokenGuards(tool_result_max_tokens=500, max_images=3).apply(original)
    assert guarded.request is original and guarded.removed == 0


def test_only_the_newest_images_are_kept() -> None:
    original = request(
        {"role": "user", "content": [IMAGE, {"type": "text", "text": "first"}]},
        {"role": "assistant", "content": "seen"},
        {"role": "user", "content": [result([IMAGE]), IMAGE, {"type": "text", "text": "latest"}]},
    )
    guarded = TokenGuards(max_images=1).apply(original)
    first, _, last = guarded.request.messages
    assert first.content[0].type == "text" and "only the 1 most recent images" in first.content[0].text  # type: ignore[union-attr]
    assert last.content[0].content[0].type == "text"  # type: ignore[union-attr]
    assert last.content[1].type == "image"  # type: ignore[union-attr]
    assert guarded.removed == 2 * (1334 - estimate_text_tokens(first.content[0].text))  # type: ignore[union-attr]
    assert TokenGuards(max_images=0).apply(original).request.messages[2].content[1].type == "text"  # type: ignore[union-attr]


def test_overflow_means_every_target_was_too_small_or_unfit() -> None:
    def decision(*dropped: tuple[str, str]) -> Decision:
        return Decision((), "default", "default", "", dropped)

    assert decision(("a", "context window 8000 < ~20000 tokens")).overflowed
    assert decision(("a", "context window 8000 < ~20000 tokens"), ("b", "no vision")).overflowed
    assert not decision(("a", "no tools")).overflowed
