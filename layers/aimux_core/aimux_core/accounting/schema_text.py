"""A JSON schema's text as the token estimate weighs it, remembered by content (``accounting/tokens.py``).

Agents send the same tools on every turn, and encoding their schemas was most of estimating a coding
agent's request (a recorded Claude Code turn: 12 schemas, 31 KB, ~70 µs of ~115). The text is
``json.JSONEncoder`` with its default separators (what the estimate was calibrated on); the key is the
schema's compact JSON from pydantic-core, three times cheaper to make. For values parsed from JSON
(strings, numbers, booleans, null, lists, objects) two schemas with the same compact JSON have the same
text: both encoders keep key order and tell ``1`` from ``1.0`` and ``true``. A full memo is emptied.
"""

from __future__ import annotations

import json
from typing import Any

from pydantic_core import PydanticSerializationError, to_json

json_text = json.JSONEncoder(ensure_ascii=False, check_circular=False, default=str).encode
"""The estimate's JSON text of any value (what ``accounting/tokens.py`` weighs)."""
_MEMO: dict[bytes, str] = {}
_MAX_ENTRIES = 1024


def schema_text(schema: Any) -> str:
    """``json_text(schema)``, remembered for repeated schemas."""
    try:
        key = to_json(schema)
    except (PydanticSerializationError, ValueError):  # not plain JSON data (NaN, a stray object): no memo
        return json_text(schema)
    text = _MEMO.get(key)
    if text is None:
        text = json_text(schema)
        if len(_MEMO) >= _MAX_ENTRIES:
            _MEMO.clear()
        _MEMO[key] = text
    return text
