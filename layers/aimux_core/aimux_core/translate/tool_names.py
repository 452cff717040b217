"""Reversible, stateless rewriting of tool names and tool-call ids between dialects.

Both sides restrict names and ids to ``[a-zA-Z0-9_-]`` (OpenAI also caps names at 64 chars), but
real traffic breaks the rules: Claude Code MCP tools (``mcp__server__tool``) exceed 64 chars, and
Kimi emits call ids such as ``functions.Bash:0``. aimux rewrites them without keeping a table:

- **Names**: a name that is already valid is left alone. Otherwise invalid characters become
  ``_`` and the name is cut to leave room for ``_`` + 8 hex chars of its SHA-256, so the short
  name is deterministic. The reverse uses the request's own tool list: ``tool_name_map(names)``
  maps every short name back to its original.
- **Ids**: a valid id is left alone; anything else (and any id that happens to start with the
  prefix) becomes ``ID_PREFIX`` + base64url(utf-8 id) without padding, which is itself valid and
  decodes back exactly. The mapping is a bijection, so no state is needed in either direction.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import re
from collections.abc import Iterable

MAX_TOOL_NAME = 64
ID_PREFIX = "aimux-"

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


def encode_tool_id(tool_id: str) -> str:
    """Any id → a valid ``[a-zA-Z0-9_-]+`` id (identity unless it has to change)."""
    if _VALID.fullmatch(tool_id) and not tool_id.startswith(ID_PREFIX):
        return tool_id
    return ID_PREFIX + base64.urlsafe_b64encode(tool_id.encode()).decode().rstrip("=")


def decode_tool_id(tool_id: str) -> str:
    """The inverse of ``encode_tool_id``; ids aimux did not rewrite come back unchanged."""
    if not tool_id.startswith(ID_PREFIX):
        return tool_id
    payload = tool_id[len(ID_PREFIX) :]
    try:
        raw = base64.b64decode(payload + "=" * (-len(payload) % 4), altchars=b"-_", validate=True)
        original = raw.decode()
    except (binascii.Error, UnicodeDecodeError, ValueError):
        return tool_id
    # Only an exact image of ``encode_tool_id`` is decoded; anything else is someone's real id.
    return original if encode_tool_id(original) == tool_id else tool_id
