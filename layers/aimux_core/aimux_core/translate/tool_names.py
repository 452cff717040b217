"""Reversible, stateless rewriting of tool names and tool-call ids between dialects.

Both sides restrict names and ids to ``[a-zA-Z0-9_-]`` (OpenAI also caps names at 64 chars), but
real traffic breaks the rules: Claude Code MCP tools (``mcp__server__tool``) exceed 64 chars, and
Kimi emits call ids such as ``functions.Bash:0``. aimux rewrites them without keeping a table:

- **Names**: a name that is already valid is left alone. Otherwise invalid characters become
  ``_`` and the name is cut to leave room for ``_`` + 8 hex chars of its SHA-256, so the short
  name is deterministic. The reverse uses the request's own tool list: ``tool_name_map(names)``
  maps every short name back to its original.
- **Ids**: a valid id is left alone; anything else (and any id that happens to start with a
  prefix) becomes ``ID_PREFIX`` + base64url(utf-8 id) without padding, which is itself valid and
  decodes back exactly. The mapping is a bijection, so no state is needed in either direction.
- **Thought signatures** (Gemini's ``extra_content.google.thought_signature`` on a tool call, which
  Gemini 3 wants back on that call next turn): they ride inside the id every client echoes,
  ``SIGNED_ID_PREFIX`` + base64url(id NUL signature). ``decode_tool_id`` gives the upstream's own
  id back, ``thought_signature_of`` the signature, ``unsigned_tool_id`` the id without it (for
  upstreams that cap id length: Bedrock takes 64 characters).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import re
from collections.abc import Iterable

MAX_TOOL_NAME = 64
ID_PREFIX = "aimux-"
SIGNED_ID_PREFIX = "aimuxs-"

_VALID = re.compile(r"[a-zA-Z0-9_-]+")
_INVALID_CHAR = re.compile(r"[^a-zA-Z0-9_-]")
_HASH_LEN = 8


def is_valid_tool_name(name: str) -> bool:
    return 0 < len(name) <= MAX_TOOL_NAME and _VALID.fullmatch(name) is not None


def shorten_tool_name(name: str) -> str:
    """A name every OpenAI-style and Anthropic API accepts; identity for names that are valid."""
    if is_valid_tool_name(name):
        return name
    digest = hashlib.sha256(name.encode()).hexdigest()[:_HASH_LEN]
    stem = _INVALID_CHAR.sub("_", name)[: MAX_TOOL_NAME - _HASH_LEN - 1]
    return f"{stem}_{digest}"


def tool_name_map(names: Iterable[str]) -> dict[str, str]:
    """``{short name: original}`` for the names that ``shorten_tool_name`` changes.

    Build it once per request from the tool list the client sent; names not in the map are
    already original.
    """
    mapping: dict[str, str] = {}
    for name in names:
        short = shorten_tool_name(name)
        if short != name:
            mapping[short] = name
    return mapping


def restore_tool_name(name: str, mapping: dict[str, str]) -> str:
    return mapping.get(name, name)


def encode_tool_id(tool_id: str, thought_signature: str | None = None) -> str:
    """Any id → a valid ``[a-zA-Z0-9_-]+`` id (identity unless it has to change or carries a signature)."""
    if thought_signature:
        return SIGNED_ID_PREFIX + _b64(f"{tool_id}\0{thought_signature}")
    if _VALID.fullmatch(tool_id) and not tool_id.startswith((ID_PREFIX, SIGNED_ID_PREFIX)):
        return tool_id
    return ID_PREFIX + _b64(tool_id)


def decode_tool_id(tool_id: str) -> str:
    """The inverse of ``encode_tool_id``: the upstream's own id; ids aimux did not rewrite come back unchanged."""
    return _decoded(tool_id)[0]


def thought_signature_of(tool_id: str) -> str | None:
    """The thought signature an id carries (``encode_tool_id(id, signature)``), if any."""
    return _decoded(tool_id)[1]


def unsigned_tool_id(tool_id: str) -> str:
    """The id without its thought signature (still valid, still unique); other ids unchanged."""
    original, signature = _decoded(tool_id)
    return encode_tool_id(original) if signature is not None else tool_id


def _b64(text: str) -> str:
    return base64.urlsafe_b64encode(text.encode()).decode().rstrip("=")


def _decoded(tool_id: str) -> tuple[str, str | None]:
    signed = tool_id.startswith(SIGNED_ID_PREFIX)
    if not signed and not tool_id.startswith(ID_PREFIX):
        return tool_id, None
    payload = tool_id[len(SIGNED_ID_PREFIX if signed else ID_PREFIX) :]
    try:
        raw = base64.b64decode(payload + "=" * (-len(payload) % 4), altchars=b"-_", validate=True)
        text = raw.decode()
    except (binascii.Error, UnicodeDecodeError, ValueError):
        return tool_id, None
    original, signature = text.split("\0", 1) if signed and "\0" in text else (text, None)
    # Only an exact image of ``encode_tool_id`` is decoded; anything else is someone's real id.
    if encode_tool_id(original, signature) != tool_id or (signed and not signature):
        return tool_id, None
    return original, signature
