"""Input-token estimates without a tokenizer and without calling any upstream.

``POST /v1/messages/count_tokens`` and the ``input_tokens`` of ``message_start`` need a number
before (or instead of) an upstream answer. Shipping a tokenizer would cost megabytes and
milliseconds per request, and Anthropic's current tokenizer is not public anyway, so aimux
estimates from character classes instead.

Text model: the UTF-8 bytes are mapped to four classes (letter, digit, whitespace, punctuation;
bytes >= 0x80 count as letters) and a handful of class patterns are counted with ``bytes.count``,
all in C. Tokens are a non-negative weighted sum of those counts, so appending text never lowers
an estimate. The weights were fitted against the Claude tokenizer that older ``anthropic``
releases shipped (bench/calibrate_tokens.py, bench/TOKENS.md): within +-10% per sample on English
prose and JSON schemas, about +-1% in aggregate. Non-ASCII text gets extra weight per multi-byte
character by script group and is rougher (about +-35%).

Requests: the texts of each section (system, each message, the tools) are weighed, long sections
cached by hash so a resent history costs a hash; framing, images (Anthropic's pixel formula),
documents, the tool-use system prompt and Anthropic-defined tools add fixed amounts.
"""

from __future__ import annotations

import base64
import binascii
import math
import re
import struct
from operator import mul
from typing import assert_never

from ..wire.anthropic import (
    ContentBlock,
    CountTokensRequest,
    DocumentBlock,
    ImageBlock,
    ImageSource,
    MessageParam,
    MessagesRequest,
    OtherBlock,
    RedactedThinkingBlock,
    TextBlock,
    ThinkingBlock,
    Tool,
    ToolResultBlock,
    ToolUseBlock,
    content_block_adapter,
)
from .schema_text import json_text, schema_text

# --------------------------------------------------------------------------- text model


_LETTER, _DIGIT, _SPACE, _PUNCT = 1, 2, 4, 8


def _class_table() -> bytes:
    table = bytearray([_PUNCT]) * 256  # punctuation and symbols
    for byte in range(256):
        char = chr(byte)
        if byte >= 0x80 or char.isalpha():
            table[byte] = _LETTER
        elif char.isdigit():
            table[byte] = _DIGIT
        elif char.isspace():
            table[byte] = _SPACE
    return bytes(table)


def _lead_table() -> bytes:
    """UTF-8 lead bytes by script group; continuation bytes and ASCII map to '.'."""
    table = bytearray(b"." * 256)
    table[0xC2:0xC6] = b"l" * 4  # Latin-1 supplement and Latin Extended-A: accented letters
    table[0xC6:0xE0] = b"2" * 26  # Greek, Cyrillic, Hebrew, Arabic, ...
    table[0xE0:0xF0] = b"3" * 16  # CJK, Indic, Thai, ...
    table[0xE2] = ord("e")  # general punctuation, arrows, box drawing: quotes, dashes, bullets
    table[0xF0:0x100] = b"4" * 16  # emoji and other astral characters
    return bytes(table)


_CLASSES = _class_table()
_LEADS = _lead_table()
_ASCII = bytes(range(128))

FEATURE_NAMES = (
    "bytes",  # every UTF-8 byte
    "words",  # a letter run after whitespace
    "punct_after_letter",
    "punct_after_space",
    "punct",
    "digits",
    "newlines",
    "long_word",  # each 6 letters of a run: long and rare words split into pieces
    "latin_accented",  # per character, by UTF-8 lead byte
    "two_byte",
    "three_byte",
    "typographic",
    "four_byte",
)
_PAIRS = tuple(bytes([prev << 4 | cur]) for prev, cur in ((_SPACE, _LETTER), (_LETTER, _PUNCT), (_SPACE, _PUNCT)))
_ONE_PUNCT, _ONE_DIGIT, _SIX_LETTERS = bytes([_PUNCT]), bytes([_DIGIT]), bytes([_LETTER]) * 6
_COEF = (0.02569, 0.64910, 1.10652, 0.41372, 0.32956, 1.06867, 1.00651, 0.47755)
_COEF_NON_ASCII = (3.34200, 0.53164, 0.58145, 0.86171, 1.73513)
_COEFFICIENTS = _COEF + _COEF_NON_ASCII
# Fitted by ``bench/calibrate_tokens.py --fit`` (non-negative least squares on relative error).


def text_features(text: str) -> tuple[int, ...]:
    """The counts the text model weighs, in ``FEATURE_NAMES`` order (calibration uses this).

    Class transitions are counted on a string whose byte i is ``class[i-1] << 4 | class[i]``,
    built with one big-integer shift: a single-byte count there beats a two-byte ``count``. The
    text starts after (virtual) whitespace, so a first word counts like any other.
    """
    raw = text.encode("utf-8", "surrogatepass")
    classes = raw.translate(_CLASSES)
    merged = int.from_bytes(classes, "little")
    pairs = (merged | merged << 12 | _SPACE << 4).to_bytes(len(classes) + 2, "little")
    counts = (
        len(raw),
        *map(pairs.count, _PAIRS),
        classes.count(_ONE_PUNCT),
        classes.count(_ONE_DIGIT),
        text.count("\n"),
        classes.count(_SIX_LETTERS),
    )
    if text.isascii():
        return (*counts, 0, 0, 0, 0, 0)
    leads = raw.translate(_LEADS, _ASCII)  # mostly-English text leaves little to scan
    return (*counts, *map(leads.count, (b"l", b"2", b"3", b"e", b"4")))


def _weigh(features: tuple[int, ...], separators: int = 0) -> float:
    """Unrounded tokens; ``separators`` newlines that only join pieces are left out (framing)."""
    total: float = sum(map(mul, _COEFFICIENTS, features))  # features has one count per coefficient
    return total - separators * (_COEF[0] + _COEF[6])


def estimate_text_tokens(text: str) -> int:
    """Tokens in a piece of text (at least 1 for any non-empty text)."""
    if not text:
        return 0
    return max(1, int(_weigh(text_features(text)) + 0.5))


# --------------------------------------------------------------------------- fixed amounts

# Framing (assumed; the legacy prompt format is the guide): "\n\nHuman:" and "\n\nAssistant:" are
# 4 tokens each on the reference tokenizer.
REQUEST_OVERHEAD = 4  # the closing assistant-turn marker
MESSAGE_OVERHEAD = 4  # role marker per message
BLOCK_OVERHEAD = 1  # between content blocks of one message
TOOL_USE_OVERHEAD = 8  # around a tool call's name and JSON input
TOOL_RESULT_OVERHEAD = 6  # around a tool result's content
TOOL_OVERHEAD = 6  # around one tool definition
# Documented by Anthropic: the tool-use system prompt added when tools are present (Claude 4
# family: 346 tokens for tool_choice auto/none, 313 for any/tool) and the hidden definitions of
# Anthropic-defined tools, by type prefix.
TOOL_PROMPT_AUTO = 346
TOOL_PROMPT_FORCED = 313
ANTHROPIC_TOOL_TOKENS = {"bash": 245, "text_editor": 700, "str_replace": 700, "computer": 735}
IMAGE_MAX_TOKENS = 1600  # also the cost of an image whose size cannot be read (URL, file, format)
IMAGE_MAX_EDGE = 1568
PDF_PAGE_TOKENS = 2500  # page text (1,500-3,000 by Anthropic's docs) plus the page image
PDF_BYTES_PER_PAGE = 60_000  # pages of a PDF whose page objects are compressed out of sight
REDACTED_CHARS_PER_TOKEN = 5.5  # encrypted thinking: 0.75 byte per base64 char, ~4 bytes a token
_JPEG_SCAN_CHARS = (8_192, 174_764)  # base64 prefixes searched for a JPEG frame: 6 KiB, 128 KiB


def image_tokens_for_size(width: int, height: int) -> int:
    """Anthropic's formula: ``width * height / 750`` after the resize to the model's limits.

    Images with a long edge over 1,568 px, or over ~1.15 megapixels (~1,600 tokens), are scaled
    down keeping the aspect ratio before they are billed.
    """
    if width <= 0 or height <= 0:
        return IMAGE_MAX_TOKENS
    scale = min(1.0, IMAGE_MAX_EDGE / max(width, height), math.sqrt(IMAGE_MAX_TOKENS * 750 / (width * height)))
    width, height = max(1, int(width * scale)), max(1, int(height * scale))
    return min(IMAGE_MAX_TOKENS, math.ceil(width * height / 750))


def image_size(data: str) -> tuple[int, int] | None:
    """Width and height from the header of a base64 PNG, GIF, WebP or JPEG; None if unreadable.

    Only a prefix is decoded: a PNG/GIF/WebP header sits in the first 30 bytes, a JPEG frame
    header after its metadata segments (usually within the first 64 KiB).
    """
    try:
        head = base64.b64decode(data[:64], validate=False)
        if head.startswith(b"\x89PNG\r\n\x1a\n") and head[12:16] == b"IHDR":
            return struct.unpack(">II", head[16:24])
        if head[:6] in (b"GIF87a", b"GIF89a"):
            return struct.unpack("<HH", head[6:10])
        if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
            return _webp_size(head)
        if head[:2] == b"\xff\xd8":
            for chars in _JPEG_SCAN_CHARS:
                size = _jpeg_size(base64.b64decode(data[:chars], validate=False))
                if size is not None or chars >= len(data):
                    return size
    except (binascii.Error, ValueError, struct.error):
        return None
    return None


def _webp_size(head: bytes) -> tuple[int, int] | None:
    kind = head[12:16]
    if kind == b"VP8 " and len(head) >= 30:
        width, height = struct.unpack("<HH", head[26:30])
        return width & 0x3FFF, height & 0x3FFF
    if kind == b"VP8L" and len(head) >= 25:
        bits = int.from_bytes(head[21:25], "little")
        return (bits & 0x3FFF) + 1, ((bits >> 14) & 0x3FFF) + 1
    if kind == b"VP8X" and len(head) >= 30:
        return int.from_bytes(head[24:27], "little") + 1, int.from_bytes(head[27:30], "little") + 1
    return None


def _jpeg_size(raw: bytes) -> tuple[int, int] | None:
    """Walk the marker segments to the first start-of-frame (SOF0-SOF15 but DHT/JPG/DAC)."""
    pos = 2
    while pos + 9 <= len(raw):
        if raw[pos] != 0xFF:
            return None
        marker = raw[pos + 1]
        if marker == 0xFF:  # fill byte
            pos += 1
            continue
        if 0xC0 <= marker <= 0xCF and marker not in (0xC4, 0xC8, 0xCC):
            height, width = struct.unpack(">HH", raw[pos + 5 : pos + 9])
            return width, height
        if marker in (0xD8, 0x01) or 0xD0 <= marker <= 0xD7:  # no length field
            pos += 2
            continue
        pos += 2 + int.from_bytes(raw[pos + 2 : pos + 4], "big")
    return None


def image_source_tokens(source: ImageSource) -> int:
    if source.type == "base64" and source.data:
        size = image_size(source.data)
        if size is not None:
            return image_tokens_for_size(*size)
    return IMAGE_MAX_TOKENS


_PDF_PAGE = re.compile(rb"/Type\s*/Page(?![a-zA-Z])")


def pdf_tokens(data: str) -> int:
    """Pages x ``PDF_PAGE_TOKENS``; pages counted from the page objects, else from the size."""
    try:
        raw = base64.b64decode(data, validate=False)
    except (binascii.Error, ValueError):
        return PDF_PAGE_TOKENS
    pages = len(_PDF_PAGE.findall(raw)) or max(1, len(raw) // PDF_BYTES_PER_PAGE)
    return pages * PDF_PAGE_TOKENS


# --------------------------------------------------------------------------- requests


def _document(block: DocumentBlock, texts: list[str]) -> int:
    texts.extend(t for t in (block.title, block.context) if t)
    kind, data = block.source.get("type"), block.source.get("data")
    if kind == "text" and isinstance(data, str):
        texts.append(data)
        return 0
    if kind == "base64" and isinstance(data, str):
        return pdf_tokens(data)
    if kind == "content":  # custom content: a string or text/image blocks
        content = block.source.get("content")
        if isinstance(content, str):
            texts.append(content)
            return 0
        items = [content_block_adapter.validate_python(c) for c in content or () if isinstance(c, dict)]
        return sum(_block(item, texts) for item in items)
    return PDF_PAGE_TOKENS  # url or file: the size is unknown here


def _block(block: ContentBlock, texts: list[str]) -> int:
    """Append the texts of one content block; return its fixed (non-text) tokens."""
    if isinstance(block, TextBlock):
        texts.append(block.text)
        return BLOCK_OVERHEAD
    if isinstance(block, ToolUseBlock):
        texts.append(block.name)
        texts.append(json_text(block.input))
        return TOOL_USE_OVERHEAD
    if isinstance(block, ToolResultBlock):
        fixed = TOOL_RESULT_OVERHEAD
        if isinstance(block.content, str):
            texts.append(block.content)
        elif block.content:
            fixed += sum(_block(inner, texts) for inner in block.content)
        return fixed
    if isinstance(block, ThinkingBlock):  # the signature is not model input
        texts.append(block.thinking)
        return BLOCK_OVERHEAD
    if isinstance(block, RedactedThinkingBlock):
        return BLOCK_OVERHEAD + round(len(block.data) / REDACTED_CHARS_PER_TOKEN)
    if isinstance(block, ImageBlock):
        return BLOCK_OVERHEAD + image_source_tokens(block.source)
    if isinstance(block, DocumentBlock):
        return BLOCK_OVERHEAD + _document(block, texts)
    if isinstance(block, OtherBlock):  # server tool results, search results, future block types
        payload = block.model_dump(mode="json", exclude_unset=True)
        texts.append(json_text({k: v for k, v in payload.items() if k not in ("type", "cache_control")}))
        return BLOCK_OVERHEAD  # their JSON, less the type tag
    assert_never(block)


def _tool(tool: Tool, texts: list[str]) -> int:
    if tool.defer_loading:  # loaded only when tool search finds it
        return 0
    if tool.type and tool.input_schema is None:  # Anthropic-defined tool: bash_20250124, ...
        for prefix, tokens in ANTHROPIC_TOOL_TOKENS.items():
            if tool.type.startswith(prefix):
                return tokens
        extra = tool.model_dump(mode="json", exclude_unset=True, exclude={"cache_control"})
        texts.append(json_text(extra))
        return TOOL_OVERHEAD
    # Name, description and schema as separate pieces: the prose is weighed (and cached) as prose,
    # and only the schema pays for JSON encoding.
    texts.append(tool.name)
    if tool.description:
        texts.append(tool.description)
    texts.append(schema_text(tool.input_schema or {}))
    return TOOL_OVERHEAD


def request_parts(request: CountTokensRequest | MessagesRequest) -> tuple[list[list[str]], int]:
    """The texts the model reads, by section (system, each message, tools, output schema), and the
    fixed tokens around them (framing, images, documents, the tool-use prompt)."""
    sections: list[list[str]] = []
    fixed = REQUEST_OVERHEAD
    system = request.system
    if isinstance(system, str):
        sections.append([system])
    elif system:
        sections.append([block.text for block in system])
    for message in request.messages:
        fixed += MESSAGE_OVERHEAD
        if isinstance(message.content, str):
            sections.append([message.content])
        else:
            texts: list[str] = []
            fixed += sum(_block(block, texts) for block in message.content)
            sections.append(texts)
    active = [tool for tool in request.tools or () if not tool.defer_loading]
    if active:
        choice = request.tool_choice.type if request.tool_choice else "auto"
        fixed += TOOL_PROMPT_FORCED if choice in ("any", "tool") else TOOL_PROMPT_AUTO
        texts = []
        fixed += sum(_tool(tool, texts) for tool in active)
        sections.append(texts)
    output_format = request.output_config.format if request.output_config else None
    if output_format:  # structured output: its schema is shown to the model
        sections.append([json_text(output_format)])
    return sections, fixed


_CACHE: dict[tuple[int, int, int], float] = {}
_CACHE_MIN_CHARS = 1024
_CACHE_MAX_ENTRIES = 4096


def _section_tokens(text: str, separators: int) -> float:
    """Unrounded tokens of a long section, remembered by (hash, length).

    Agents resend the same system prompt, tools and history on every turn, and hashing a string
    costs a few percent of weighing it. Keys hold no reference to the text; a full cache is
    simply emptied.
    """
    key = (hash(text), len(text), separators)
    tokens = _CACHE.get(key)
    if tokens is None:
        tokens = _weigh(text_features(text), separators=separators)
        if len(_CACHE) >= _CACHE_MAX_ENTRIES:
            _CACHE.clear()
        _CACHE[key] = tokens
    return tokens


def estimate_input_tokens(request: CountTokensRequest | MessagesRequest) -> int:
    """Input tokens of a whole request: the fixed amounts plus its texts.

    Long sections are weighed (and cached) one by one, short ones together in a single pass.
    """
    sections, fixed = request_parts(request)
    total = 0.0
    short: list[str] = []
    short_separators = 0
    for section in sections:
        texts = [t for t in section if t]
        if not texts:
            continue
        text = texts[0] if len(texts) == 1 else "\n".join(texts)
        if len(text) >= _CACHE_MIN_CHARS:
            total += _section_tokens(text, len(texts) - 1)
        else:
            short.append(text)
            short_separators += len(texts) - 1
    if short:
        separators = short_separators + len(short) - 1
        total += _weigh(text_features("\n".join(short)), separators=separators)
    return fixed + (max(1, int(total + 0.5)) if total > 0 else 0)


def tools_tokens(request: CountTokensRequest | MessagesRequest, *, schemas: bool = True) -> int:
    """Estimated tokens of the tools section: the tool-use prompt and every loaded tool definition.

    ``schemas=False`` leaves the input schemas out (no JSON encoding): a cheaper lower bound, for callers
    that only need to know whether the section reaches some size.
    """
    active = [tool for tool in request.tools or () if not tool.defer_loading]
    if not active:
        return 0
    choice = request.tool_choice.type if request.tool_choice else "auto"
    texts: list[str] = []
    tokens = float(TOOL_PROMPT_FORCED if choice in ("any", "tool") else TOOL_PROMPT_AUTO)
    if schemas:
        tokens += sum(_tool(tool, texts) for tool in active)
    else:
        tokens += TOOL_OVERHEAD * len(active)
        texts += [text for tool in active for text in (tool.name, tool.description) if text]
    return int(tokens + _texts_tokens(texts) + 0.5)


def system_tokens(request: CountTokensRequest | MessagesRequest) -> int:
    """Estimated tokens of the top-level system prompt."""
    system = request.system
    if isinstance(system, str):
        return int(_texts_tokens([system]) + 0.5)
    return int(_texts_tokens([block.text for block in system]) + 0.5) if system else 0


def message_tokens(message: MessageParam) -> int:
    """Estimated tokens of one message (its role marker included)."""
    if isinstance(message.content, str):
        return int(MESSAGE_OVERHEAD + _texts_tokens([message.content]) + 0.5)
    texts: list[str] = []
    fixed = MESSAGE_OVERHEAD + sum(_block(block, texts) for block in message.content)
    return int(fixed + _texts_tokens(texts) + 0.5)


def _texts_tokens(texts: list[str]) -> float:
    """Unrounded tokens of one section's texts (long sections through the hash cache)."""
    texts = [t for t in texts if t]
    if not texts:
        return 0.0
    text = texts[0] if len(texts) == 1 else "\n".join(texts)
    if len(text) >= _CACHE_MIN_CHARS:
        return _section_tokens(text, len(texts) - 1)
    return _weigh(text_features(text), separators=len(texts) - 1)
