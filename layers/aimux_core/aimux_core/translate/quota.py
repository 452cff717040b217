"""Subscription quota exhaustion: a target that is out of plan quota until an announced reset.

Coding plans answer with a quota error when a 5-hour or weekly allowance runs out. That is not a
fault: the target is fine and will be again at a known time, so dispatch cools it down until then
instead of counting a breaker failure, and the client sees a 429 if nothing else can serve.

Recognised shapes:
- Codes a preset names (``ProviderPreset.quota_codes``): Z.AI / Zhipu GLM coding plans,
  ``{"error": {"code": "1308".."1321", "message": "... reset at
  2026-08-25 07:41:44"}}`` (also ISO timestamps with a zone). A time without a zone is read as
  China Standard Time (UTC+8), the provider's home zone: if that guess is wrong the cooldown ends
  early and the next quota answer simply cools the target again, never longer than announced.
- Anthropic subscription traffic: ``anthropic-ratelimit-unified-reset`` (Unix seconds) on a 429.
- Moonshot Kimi and others: a 403/429 whose message speaks of a weekly/monthly/usage quota or
  limit being reached/exhausted, with or without a reset time.

Without an announced reset the cooldown is ``DEFAULT_COOLDOWN`` seconds; announced cooldowns are
capped at ``MAX_COOLDOWN`` (a week) so a bad timestamp cannot disable a target for longer.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

DEFAULT_COOLDOWN = 900.0
MAX_COOLDOWN = 7 * 24 * 3600.0
_CHINA = timezone(timedelta(hours=8))
_TIMESTAMP = r"(\d{4}-\d{2}-\d{2}[ T]\d{2}:\d{2}(?::\d{2})?(?:\.\d+)?(?:Z|[+-]\d{2}:?\d{2})?)"
_RESET_AT = re.compile(r"reset(?:s)?\s*(?:at|on)?\s*[:\uff1a]?\s*" + _TIMESTAMP, re.IGNORECASE)
_CJK_RESET = re.compile(r"(\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2})\s*重置")
_QUOTA_WORDS = re.compile(
    r"(weekly|monthly|daily|5[- ]?hour|usage|quota|plan)\b.{0,40}\b(limit|quota|allowance)\b.{0,40}"
    r"(reached|exceeded|exhausted|used up)|(quota|allowance)\s+(exceeded|exhausted)|使用上限|额度",
    re.IGNORECASE,
)


def quota_cooldown(
    status: int, headers: Mapping[str, str], body: bytes | str, now: float | None = None
) -> float | None:
    """Seconds to cool the target down for, when this error answer is a quota exhaustion; else None."""
    if status not in (403, 429):
        return None
    now = time.time() if now is None else now
    unified = headers.get("anthropic-ratelimit-unified-reset")
    if status == 429 and unified:
        try:
            return _bounded(float(unified) - now)
        except ValueError:
            pass
    text = body.decode("utf-8", errors="replace") if isinstance(body, bytes) else body
    error = _error_object(text)
    code = str(error.get("code", "")) if error else ""
    message = str(error.get("message", "")) if error else text
    from ..presets import QUOTA_CODES  # every provider's table: on the first error answer, not at cold start

    if code in QUOTA_CODES or _QUOTA_WORDS.search(message):
        reset = _announced_reset(message)
        return _bounded(reset - now) if reset is not None else DEFAULT_COOLDOWN
    return None


def _error_object(text: str) -> dict[str, Any] | None:
    try:
        parsed = json.loads(text)
    except ValueError:
        return None
    if not isinstance(parsed, dict):
        return None
    error = parsed.get("error", parsed)
    return error if isinstance(error, dict) else None


def _announced_reset(message: str) -> float | None:
    match = _RESET_AT.search(message) or _CJK_RESET.search(message)
    if match is None:
        return None
    raw = match.group(1).replace(" ", "T", 1)
    try:
        when = datetime.fromisoformat(raw.replace("Z", "+00:00"))
    except ValueError:
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=_CHINA)
    return when.astimezone(UTC).timestamp()


def _bounded(seconds: float) -> float:
    return min(MAX_COOLDOWN, max(1.0, seconds))
