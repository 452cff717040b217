"""Keys never leave the gateway: the exact values aimux knows, and anything shaped like a key.

Every text that can reach a client (error bodies, stream error events), a log line or a metric goes
through ``redact``, which has two lines of defence:

1. **Exact values**, whatever their shape (a Gemini ``AIza…`` key, a Z.AI ``<id>.<secret>`` key,
   a JWT-like MiniMax key): every provider key aimux reads is learned as it is read
   (``config.secrets.read_key`` and the SSM listing call ``learn_secret``; SSM values arrive lazily,
   so the set grows while the process runs), Bedrock's AWS credentials from the environment, and the
   caller's own key for the request being served (``remember_caller_secret``: a context variable, so
   concurrent requests never see each other's key).
2. **Shapes** (``scrub``): ``sk-…``, ``amx-…``, AWS access key ids, bearer tokens, ``AIza…``,
   ``gsk_…``, ``csk-…``, ``xai-…`` and ``api_key=…``/``token: …`` pairs, for keys aimux never held
   (a caller's key pasted into a prompt that an upstream echoes back).

Cost: the exact values are one compiled alternation, rebuilt only when a new value is learned (a
handful of times per process). Text shorter than the shortest known value skips it, and the shape
scrub first runs a few substring tests, so the ids and names that make up a log line cost a few
hundred nanoseconds each. Only error paths and the log line call this; answers are never scanned
(model output is the caller's content, not ours to rewrite).

``install_log_redaction`` extends the same rule to every ``logging`` record created in the process
(a record's formatted message and traceback), so a library or aimux module that logs an upstream's
text cannot print a key either.
"""

from __future__ import annotations

import functools
import logging
import re
import threading
import traceback
from contextvars import ContextVar
from typing import Any

REDACTED = "[redacted]"
MIN_SECRET_CHARS = 8  # shorter values are not secrets worth the damage of replacing them everywhere


@functools.cache
def shapes() -> re.Pattern[str]:
    """The key-shape pattern, compiled on first use (about 1 ms: kept off the cold-start import)."""
    return re.compile(
        r"(?<![A-Za-z0-9])(?:sk|amx|csk|xai)-[A-Za-z0-9_\-]{6,}"  # Anthropic/OpenAI/OpenRouter, aimux, Cerebras, xAI
        r"|(?<![A-Za-z0-9])gsk_[A-Za-z0-9]{8,}"  # Groq
        r"|(?<![A-Za-z0-9])AIza[A-Za-z0-9_\-]{20,}"  # Google
        r"|(?<![A-Z0-9])(?:AKIA|ASIA)[0-9A-Z]{16}"  # AWS access key ids
        r"|(?i:bearer)\s+[A-Za-z0-9._~+/\-]{8,}=*"
        r"|(?i:api[_-]?key|token|secret)[\"']?\s*[:=]\s*[\"']?[A-Za-z0-9._\-]{8,}",
        re.ASCII,  # case-insensitive parts match ASCII letters only: the lower-case marker test in scrub is exact
    )


def scrub(text: str) -> str:
    """``text`` with anything shaped like an API key, AWS key id, bearer token or ``key=value`` replaced.

    Every match contains one of the markers tested first (the case-insensitive parts accept ASCII
    letters only, which ``lower()`` maps to the marker's letters), and substring tests are several
    times cheaper than the regex, so text without any (nearly all of it) is returned as it is.
    """
    if "sk-" in text or "amx-" in text or "xai-" in text or "gsk_" in text or "AIza" in text or "AKIA" in text:
        return shapes().sub(REDACTED, text)
    if "ASIA" in text:
        return shapes().sub(REDACTED, text)
    lowered = text.lower()
    if "bearer" in lowered or "api" in lowered or "token" in lowered or "secret" in lowered:
        return shapes().sub(REDACTED, text)
    return text


class _Known:
    """One immutable snapshot of the learned values: swapped whole, so readers need no lock."""

    __slots__ = ("pattern", "shortest", "values")

    def __init__(
        self, values: frozenset[str] = frozenset(), pattern: re.Pattern[str] | None = None, shortest: int = 0
    ) -> None:
        self.values = values
        self.pattern = pattern
        self.shortest = shortest


class Redactor:
    """Exact-value redaction for a growing set of secrets (one per process: ``SECRETS``)."""

    __slots__ = ("_known", "_lock")

    def __init__(self) -> None:
        self._known = _Known()
        self._lock = threading.Lock()

    def learn(self, secret: str | None) -> None:
        """Redact ``secret`` from now on (ignored when shorter than ``MIN_SECRET_CHARS``)."""
        value = (secret or "").strip()
        if len(value) < MIN_SECRET_CHARS or value in self._known.values:
            return
        with self._lock:
            values = self._known.values | {value}
            ordered = sorted(values, key=len, reverse=True)  # a value containing another is replaced whole
            self._known = _Known(values, re.compile("|".join(map(re.escape, ordered))), len(ordered[-1]))

    def forget_all(self) -> None:
        """Drop every learned value (tests)."""
        with self._lock:
            self._known = _Known()

    def __contains__(self, value: object) -> bool:
        return value in self._known.values

    def exact(self, text: str) -> str:
        """``text`` with every learned value replaced."""
        known = self._known
        if known.pattern is None or len(text) < known.shortest:
            return text
        return known.pattern.sub(REDACTED, text)


SECRETS = Redactor()
"""The process's learned secrets: provider keys as they are read, Bedrock's AWS credentials."""

_caller: ContextVar[str | None] = ContextVar("aimux_caller_secret", default=None)


def learn_secret(secret: str | None) -> None:
    """Redact ``secret`` everywhere from now on (provider keys, as they are read)."""
    SECRETS.learn(secret)


def remember_caller_secret(secret: str | None) -> None:
    """The key the caller presented (``x-api-key`` / ``Authorization``) for the request being served.

    A context variable: each request (one asyncio task and the tasks it starts) sees only its own.
    """
    value = (secret or "").strip()
    _caller.set(value if len(value) >= MIN_SECRET_CHARS else None)


def redact(text: str) -> str:
    """``text`` without any learned secret, the current caller's key, or anything shaped like a key."""
    text = SECRETS.exact(text)
    caller = _caller.get()
    if caller is not None and caller in text:
        text = text.replace(caller, REDACTED)
    return scrub(text)


# --------------------------------------------------------------------------- logging

_installed = False
_install_lock = threading.Lock()


def install_log_redaction() -> None:
    """Redact every ``logging`` record made in this process from now on (idempotent).

    A record whose formatted message or traceback holds a secret gets the redacted text as its
    message (the traceback folded into it, since formatters would otherwise re-render the original
    exception); every other record is left exactly as it was made.
    """
    global _installed
    with _install_lock:
        if _installed:
            return
        previous = logging.getLogRecordFactory()

        def factory(*args: Any, **kwargs: Any) -> logging.LogRecord:
            record = previous(*args, **kwargs)
            _redact_record(record)
            return record

        logging.setLogRecordFactory(factory)
        _installed = True


def _redact_record(record: logging.LogRecord) -> None:
    try:
        message = record.getMessage()
    except Exception:  # a bad format string is the logging module's own error to report
        return
    clean = redact(message)
    if record.exc_info and record.exc_info[0] is not None:
        trace = "".join(traceback.format_exception(*record.exc_info))
        clean_trace = redact(trace)
        if clean_trace != trace:
            clean = f"{clean}\n{clean_trace.rstrip()}"
            record.exc_info = None
            record.exc_text = None
    if clean != message:
        record.msg = clean
        record.args = None
