"""Identifiers and timestamps of batches, files and jobs.

Ids sort by creation time (12 hex digits of the creation millisecond, then 12 random ones), so a store
query over an owner's index partition lists them in creation order without reading the records, which
is what the list routes' ``before_id`` / ``after_id`` / ``after`` cursors need.
"""

from __future__ import annotations

import re
import secrets
import time
from datetime import UTC, datetime

ANTHROPIC_BATCH = "msgbatch_"
OPENAI_BATCH = "batch_"
FILE = "file-"
JOB = "job_"
_ID_TAIL = re.compile(r"^[0-9a-f]{24}$")


def new_id(prefix: str, now: float | None = None) -> str:
    millis = int((time.time() if now is None else now) * 1000)
    return f"{prefix}{millis:012x}{secrets.token_hex(6)}"


def has_shape(value: str, prefix: str) -> bool:
    """Whether ``value`` is an id aimux made with ``prefix`` (routes refuse anything else before a read)."""
    return value.startswith(prefix) and bool(_ID_TAIL.match(value[len(prefix) :]))


def rfc3339(epoch: float) -> str:
    """Anthropic's timestamps: ``2026-01-02T03:04:05.678901Z``."""
    return datetime.fromtimestamp(epoch, UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def item_sk(index: int) -> str:
    """The sort key of request ``index`` of a batch (fixed width: string order is index order)."""
    return f"item#{index:07d}"


ITEM_RANGE = ("item#", "item#~")
ALL = ("!", "~")  # every sort key of an index partition (ids and padded numbers are printable ASCII)
