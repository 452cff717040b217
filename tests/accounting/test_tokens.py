"""The token estimator: calibration guard, block coverage, images, Claude Code requests.

``PINNED`` holds reference counts measured with the Claude tokenizer shipped by
``anthropic==0.34.2`` (``bench/calibrate_tokens.py --record`` re-measures them; see
bench/TOKENS.md). The reference is never needed to run these tests.
"""

from __future__ import annotations

import base64
import json
import math
import struct
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from token_corpus import PROSE, TOOLS  # bench/: the calibration corpus these reference counts come from

from aimux_core.accounting import tokens
from aimux_core.accounting.tokens import estimate_input_tokens, estimate_text_tokens
from aimux_core.wire.anthropic import CountTokensRequest, MessagesRequest

FIXTURES = Path(__file__).parents[1] / "fixtures" / "claude_code"

# --------------------------------------------------------------------------- calibration guard

_TOOL = {tool["name"]: tool for tool in TOOLS}
_WEATHER_TOOL = _TOOL["get_weather"]
_EDIT_TOOL = _TOOL["edit_file"]
_TODO_SCHEMA = _TOOL["todo_write"]["input_schema"]
_FERRY = PROSE["narrative"]
_BALANCER = PROSE["explainer"]
_BOOKING = PROSE["user_request"]
_CRON = PROSE["assistant_answer"]
_PRINTING = PROSE["history"]
_GETTING_STARTED = PROSE["product_doc"]
_LETTER = PROSE["email"]

PINNED: list[tuple[str, str, int]] = [
    ("prose/ferry", _FERRY, 148),
    ("prose/balancer", _BALANCER, 128),
    ("prose/booking", _BOOKING, 139),
    ("prose/cron", _CRON, 155),
    ("prose/printing", _PRINTING, 121),
    ("prose/getting_started", _GETTING_STARTED, 139),
    ("prose/letter", _LETTER, 138),
    ("json/weather_tool", json.dumps(_WEATHER_TOOL), 148),
    ("json/edit_tool", json.dumps(_EDIT_TOOL), 186),
    ("json/todo_schema", json.dumps(_TODO_SCHEMA), 145),
    ("json/todo_schema_indented", json.dumps(_TODO_SCHEMA, indent=2), 202),
]
"""(label, text, reference tokens): English prose and JSON schemas, the +-10% categories."""


@pytest.mark.parametrize(("label", "text", "reference"), PINNED, ids=[p[0] for p in PINNED])
def test_pinned_reference_counts_within_ten_percent(label: str, text: str, reference: int) -> None:
    estimate = estimate_text_tokens(text)
    assert abs(estimate - reference) <= 0.10 * reference, (label, estimate, reference)


def test_pinned_aggregate_within_three_percent() -> None:
    reference = sum(r for _, _, r in PINNED)
    estimate = sum(estimate_text_tokens(t) for _, t, _ in PINNED)
    assert abs(estimate - reference) <= 0.03 * reference


# --------------------------------------------------------------------------- text


def test_empty_and_tiny_texts() -> None:
    assert estimate_text_tokens("") == 0
    assert estimate_text_tokens("a") == 1
    assert estimate_text_tokens(" ") == 1
    assert estimate_text_tokens("Hello world") == 2


def test_grows_with_length() -> None:
    counts = [estimate_text_tokens(_FERRY * n) for n in range(1, 6)]
    assert counts == sorted(counts) and len(set(counts)) == 5
    assert counts[4] == pytest.approx(5 * counts[0], rel=0.02)


@settings(max_examples=300, deadline=None)
@given(st.text(), st.text())
def test_appending_never_lowers_the_estimate(head: str, tail: str) -> None:
    assert estimate_text_tokens(head + tail) >= estimate_text_tokens(head)


@settings(max_examples=100, deadline=None)
@given(st.text(min_size=1))
def test_any_text_is_at_least_one_token(text: str) -> None:
    assert estimate_text_tokens(text) >= 1


def test_features_line_up_with_names() -> None:
    assert len(tokens.text_features("héllo, wörld — 你好 🎉\n42")) == len(tokens.FEATURE_NAMES)


def test_non_ascii_costs_more_per_character() -> None:
    chinese = "这个项目的目标是为小型企业提供一个简单可靠的记账工具。用户可以导入银行流水。"
    assert estimate_text_tokens(chinese) >= 0.7 * len(chinese)  # ~1 token per character
    russian = "Вечером над рекой поднялся туман, и огни на другом берегу стали расплывчатыми."  # noqa: RUF001
    assert estimate_text_tokens(russian) > estimate_text_tokens("x" * len(russian))
    assert estimate_text_tokens("🎉" * 10) >= 15


def test_code_and_json_are_denser_than_prose() -> None:
    code = "def f(x):\n    return {'a': x[0], 'b': x[1:]}  # pick\n" * 10
    assert len(code) / estimate_text_tokens(code) < len(_FERRY) / estimate_text_tokens(_FERRY)


# --------------------------------------------------------------------------- requests


def _request(**body: Any) -> CountTokensRequest:
    body.setdefault("model", "claude-sonnet-4-5")
    body.setdefault("messages", [{"role": "user", "content": "Hello"}])
    return CountTokensRequest.model_validate(body)


def _user(*blocks: dict[str, Any]) -> list[dict[str, Any]]:
    return [{"role": "user", "content": list(blocks)}]


BASE = estimate_input_tokens(_request())


def test_minimal_request_has_framing() -> None:
    assert BASE == tokens.REQUEST_OVERHEAD + tokens.MESSAGE_OVERHEAD + 1


def test_system_as_string_or_blocks() -> None:
    as_string = estimate_input_tokens(_request(system=_BALANCER))
    as_blocks = estimate_input_tokens(_request(system=[{"type": "text", "text": _BALANCER}]))
    assert as_string == as_blocks
    assert as_string == pytest.approx(BASE + estimate_text_tokens(_BALANCER), abs=1)


def test_each_message_adds_its_framing_and_text() -> None:
    two = _request(messages=[{"role": "user", "content": _FERRY}, {"role": "assistant", "content": _CRON}])
    expected = tokens.REQUEST_OVERHEAD + 2 * tokens.MESSAGE_OVERHEAD
    assert estimate_input_tokens(two) == pytest.approx(
        expected + estimate_text_tokens(_FERRY) + estimate_text_tokens(_CRON), abs=1
    )


@pytest.mark.parametrize(
    "block",
    [
        {"type": "text", "text": "The build failed on the linker step."},
        {"type": "thinking", "thinking": "The user wants the linker output first.", "signature": "c2ln"},
        {"type": "redacted_thinking", "data": "RW5jcnlwdGVkIHRoaW5raW5n" * 20},
        {"type": "tool_use", "id": "toolu_01", "name": "Bash", "input": {"command": "make -j4 2>&1 | tail"}},
        {"type": "tool_result", "tool_use_id": "toolu_01", "content": "ld: cannot find -lssl"},
        {"type": "tool_result", "tool_use_id": "toolu_01", "content": [{"type": "text", "text": "exit 1"}]},
        {"type": "image", "source": {"type": "url", "url": "https://example.com/a.png"}},
        {"type": "document", "source": {"type": "text", "media_type": "text/plain", "data": "Release notes"}},
        {"type": "web_search_tool_result", "tool_use_id": "srvtoolu_1", "content": [{"title": "Linker errors"}]},
    ],
    ids=lambda block: block["type"] + ("" if isinstance(block.get("content", ""), str) else "-blocks"),
)
def test_every_block_type_contributes(block: dict[str, Any]) -> None:
    with_block = estimate_input_tokens(_request(messages=_user({"type": "text", "text": "Hello"}, block)))
    assert with_block > BASE + tokens.BLOCK_OVERHEAD


def test_tool_use_input_and_tool_result_text_are_counted() -> None:
    small = {"type": "tool_use", "id": "t", "name": "Bash", "input": {"command": "ls"}}
    large = {"type": "tool_use", "id": "t", "name": "Bash", "input": {"command": "ls", "why": _FERRY}}
    assert estimate_input_tokens(_request(messages=_user(large))) - estimate_input_tokens(
        _request(messages=_user(small))
    ) == pytest.approx(estimate_text_tokens(_FERRY), abs=4)
    result = {"type": "tool_result", "tool_use_id": "t", "content": _PRINTING}
    assert estimate_input_tokens(_request(messages=_user(result))) >= estimate_text_tokens(_PRINTING) + 10


def test_tools_add_their_schema_and_the_tool_prompt() -> None:
    plain = estimate_input_tokens(_request())
    with_tool = estimate_input_tokens(_request(tools=[_WEATHER_TOOL]))
    schema_text = estimate_text_tokens(json.dumps(_WEATHER_TOOL))
    assert with_tool - plain == pytest.approx(tokens.TOOL_PROMPT_AUTO + tokens.TOOL_OVERHEAD + schema_text, rel=0.1)
    two = estimate_input_tokens(_request(tools=[_WEATHER_TOOL, _EDIT_TOOL]))
    assert two > with_tool + 50
    forced = estimate_input_tokens(_request(tools=[_WEATHER_TOOL], tool_choice={"type": "any"}))
    assert with_tool - forced == tokens.TOOL_PROMPT_AUTO - tokens.TOOL_PROMPT_FORCED


def test_deferred_and_anthropic_defined_tools() -> None:
    deferred = dict(_WEATHER_TOOL, defer_loading=True)
    assert estimate_input_tokens(_request(tools=[deferred])) == BASE
    bash = estimate_input_tokens(_request(tools=[{"type": "bash_20250124", "name": "bash"}]))
    assert bash == BASE + tokens.TOOL_PROMPT_AUTO + tokens.ANTHROPIC_TOOL_TOKENS["bash"]
    search = estimate_input_tokens(_request(tools=[{"type": "web_search_20250305", "name": "web_search"}]))
    assert search > BASE + tokens.TOOL_PROMPT_AUTO


def test_structured_output_schema_is_counted() -> None:
    fmt = {"type": "json_schema", "schema": _TODO_SCHEMA}
    assert estimate_input_tokens(_request(output_config={"format": fmt})) > BASE + 50


# --------------------------------------------------------------------------- images and documents


def _png(width: int, height: int) -> str:
    ihdr = struct.pack(">II", width, height) + b"\x08\x02\x00\x00\x00"
    raw = b"\x89PNG\r\n\x1a\n" + struct.pack(">I", 13) + b"IHDR" + ihdr + b"\x00" * 4 + b"\x00" * 64
    return base64.b64encode(raw).decode()


def _gif(width: int, height: int) -> str:
    return base64.b64encode(b"GIF89a" + struct.pack("<HH", width, height) + b"\x00" * 40).decode()


def _jpeg(width: int, height: int, exif_bytes: int = 0) -> str:
    app1 = b"\xff\xe1" + struct.pack(">H", exif_bytes + 2) + b"\x00" * exif_bytes
    sof = b"\xff\xc0" + struct.pack(">HBHHB", 17, 8, height, width, 3) + b"\x00" * 9
    return base64.b64encode(b"\xff\xd8" + app1 + sof + b"\xff\xd9").decode()


def _webp(kind: bytes, width: int, height: int) -> str:
    if kind == b"VP8X":
        body = b"\x00" * 4 + (width - 1).to_bytes(3, "little") + (height - 1).to_bytes(3, "little")
    elif kind == b"VP8L":
        bits = (width - 1) | (height - 1) << 14
        body = b"\x2f" + bits.to_bytes(4, "little")
    else:
        body = b"\x00" * 6 + struct.pack("<HH", width, height)
    chunk = kind + struct.pack("<I", len(body)) + body
    return base64.b64encode(b"RIFF" + struct.pack("<I", 4 + len(chunk)) + b"WEBP" + chunk + b"\x00" * 8).decode()


@pytest.mark.parametrize(
    ("data", "size"),
    [
        (_png(200, 200), (200, 200)),
        (_gif(640, 480), (640, 480)),
        (_jpeg(1024, 768), (1024, 768)),
        (_jpeg(800, 600, exif_bytes=60_000), (800, 600)),  # frame header past the first few KiB
        (_webp(b"VP8X", 1000, 500), (1000, 500)),
        (_webp(b"VP8L", 300, 200), (300, 200)),
        (_webp(b"VP8 ", 320, 240), (320, 240)),
    ],
    ids=["png", "gif", "jpeg", "jpeg-exif", "webp-vp8x", "webp-vp8l", "webp-vp8"],
)
def test_image_size_from_header(data: str, size: tuple[int, int]) -> None:
    assert tokens.image_size(data) == size


def test_image_formula_and_resize() -> None:
    assert tokens.image_tokens_for_size(200, 200) == 54  # Anthropic's table: ~54
    assert tokens.image_tokens_for_size(1000, 1000) == 1334  # ~1,334
    assert tokens.image_tokens_for_size(1092, 1092) == 1590  # ~1,590
    assert 1500 <= tokens.image_tokens_for_size(4000, 3000) <= tokens.IMAGE_MAX_TOKENS  # scaled down
    assert tokens.image_tokens_for_size(3000, 100) == math.ceil(1568 * 52 / 750)  # long edge capped at 1,568
    assert tokens.image_tokens_for_size(1, 1) == 1


def test_images_in_requests() -> None:
    def with_image(source: dict[str, Any]) -> int:
        return estimate_input_tokens(_request(messages=_user({"type": "image", "source": source})))

    png = {"type": "base64", "media_type": "image/png", "data": _png(200, 200)}
    assert with_image(png) == BASE - 1 + tokens.BLOCK_OVERHEAD + 54
    assert with_image({"type": "base64", "media_type": "image/png", "data": "not an image"}) > 1600
    assert with_image({"type": "file", "file_id": "file_1"}) == with_image({"type": "url", "url": "https://x/y"})
    in_result = {"type": "tool_result", "tool_use_id": "t", "content": [{"type": "image", "source": png}]}
    assert estimate_input_tokens(_request(messages=_user(in_result))) >= BASE + 54


def test_pdf_documents_by_page() -> None:
    pdf = b"%PDF-1.4\n" + b"1 0 obj << /Type /Page >> endobj\n" * 3 + b"2 0 obj << /Type /Pages >> endobj\n"
    source = {"type": "base64", "media_type": "application/pdf", "data": base64.b64encode(pdf).decode()}
    three = estimate_input_tokens(_request(messages=_user({"type": "document", "source": source})))
    assert three == BASE - 1 + tokens.BLOCK_OVERHEAD + 3 * tokens.PDF_PAGE_TOKENS


def test_other_documents() -> None:
    def with_document(source: dict[str, Any], **extra: str) -> int:
        return estimate_input_tokens(_request(messages=_user({"type": "document", "source": source, **extra})))

    url = with_document({"type": "url", "url": "https://example.com/report.pdf"})
    assert url == BASE - 1 + tokens.BLOCK_OVERHEAD + tokens.PDF_PAGE_TOKENS
    assert with_document({"type": "url", "url": "https://x/r.pdf"}, title=_FERRY) > url + 100
    content = {
        "type": "content",
        "content": [{"type": "text", "text": _CRON}, {"type": "image", "source": _png_source()}],
    }
    assert with_document(content) >= BASE + estimate_text_tokens(_CRON) + 54
    assert with_document({"type": "content", "content": _CRON}) >= BASE + estimate_text_tokens(_CRON)
    opaque = base64.b64encode(b"%PDF-1.7\n" + b"\x00" * 3 * tokens.PDF_BYTES_PER_PAGE).decode()
    pdf = with_document({"type": "base64", "media_type": "application/pdf", "data": opaque})
    assert pdf == BASE - 1 + tokens.BLOCK_OVERHEAD + 3 * tokens.PDF_PAGE_TOKENS  # pages from the size


def _png_source() -> dict[str, str]:
    return {"type": "base64", "media_type": "image/png", "data": _png(200, 200)}


# --------------------------------------------------------------------------- Claude Code requests


def _fixture(name: str) -> CountTokensRequest | MessagesRequest:
    body = json.loads((FIXTURES / name).read_text())["body"]
    return (MessagesRequest if "max_tokens" in body else CountTokensRequest).model_validate(body)


@pytest.mark.parametrize(
    ("name", "low", "high"),
    [
        ("request_plain.json", 8_500, 11_500),
        ("request_tool_turn1.json", 8_500, 11_500),
        ("request_tool_turn2.json", 8_500, 11_500),
        ("request_nonstream_fallback.json", 8_500, 11_500),
        ("request_count_tokens_tools.json", 6_500, 9_000),
        ("request_title_background.json", 550, 850),
    ],
)
def test_claude_code_requests_in_a_sane_band(name: str, low: int, high: int) -> None:
    # Bands: +-15% around the reference total that calibrate_tokens.py reports for each fixture.
    assert low <= estimate_input_tokens(_fixture(name)) <= high


def test_claude_code_follow_up_turn_costs_more() -> None:
    turn1 = estimate_input_tokens(_fixture("request_tool_turn1.json"))
    turn2 = estimate_input_tokens(_fixture("request_tool_turn2.json"))
    assert turn1 < turn2 < turn1 + 100  # a short tool call and its result


def test_cache_changes_nothing_but_speed() -> None:
    request = _fixture("request_tool_turn2.json")
    tokens._CACHE.clear()
    cold = estimate_input_tokens(request)
    assert tokens._CACHE  # long sections remembered
    assert estimate_input_tokens(request) == cold
    assert len(tokens._CACHE) <= tokens._CACHE_MAX_ENTRIES
