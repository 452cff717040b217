"""``aimux_core.redaction``: exact values learned as keys are read, the caller's key per request, and the
shape scrub as a second line. The end-to-end proof (keys echoed by fake upstreams never reaching a client,
a log line or a metric) is ``test_secret_echo.py``."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterator

import pytest

from aimux_core import redaction
from aimux_core.config.secrets import KeySource, read_key
from aimux_core.errors import UpstreamError
from aimux_core.redaction import REDACTED, Redactor, learn_secret, redact, remember_caller_secret, scrub
from aimux_core.translate.upstream_errors import upstream_error

# Built from parts: no key-shaped literal sits in the source.
GEMINI = "AI" "za" + "SyPLANTED0gemini0key0" + "x" * 14
ZAI = "0f" * 16 + "." + "PLANTEDzaiSecret"


@pytest.fixture(autouse=True)
def fresh_secrets() -> Iterator[None]:
    redaction.SECRETS.forget_all()
    remember_caller_secret(None)
    yield
    redaction.SECRETS.forget_all()
    remember_caller_secret(None)


# --------------------------------------------------------------------------- exact values


def test_a_learned_value_is_replaced_whatever_its_shape() -> None:
    text = f"invalid key {ZAI} (also {GEMINI})"
    assert scrub(text) != text.replace(ZAI, REDACTED)  # the shape scrub alone does not know a Z.AI key
    learn_secret(ZAI)
    learn_secret(GEMINI)
    assert redact(text) == f"invalid key {REDACTED} (also {REDACTED})"


def test_a_value_that_contains_another_is_replaced_whole() -> None:
    short, long = "PLANTED-abcdefgh", "PLANTED-abcdefgh-and-more"
    learn_secret(short)
    learn_secret(long)
    assert redact(f"<{long}>") == f"<{REDACTED}>"


def test_short_values_are_not_learned() -> None:
    """A 3-character "key" (a local server's placeholder) would shred every message it occurs in."""
    learn_secret("abc")
    learn_secret("")
    learn_secret(None)
    assert "abc" not in redaction.SECRETS
    assert redact("abc abcdef") == "abc abcdef"


def test_read_key_teaches_the_redactor() -> None:
    key = read_key(KeySource(env="ZAI_API_KEY"), {"ZAI_API_KEY": f"  {ZAI}\n"})
    assert key == ZAI
    assert redact(f"echo {ZAI}") == f"echo {REDACTED}"


def test_an_upstream_error_echoing_a_learned_key_is_redacted() -> None:
    """The reported bug: a Gemini- or Z.AI-shaped key came back in the 502 message."""
    learn_secret(GEMINI)
    error = upstream_error("gemini", 401, {}, f'{{"error":{{"message":"API key not valid: {GEMINI}"}}}}')
    assert GEMINI not in error.message and GEMINI not in str(error)
    assert REDACTED in error.message


def test_every_error_message_is_redacted_when_made() -> None:
    learn_secret(ZAI)
    error = UpstreamError(f"upstream zai said {ZAI}", provider="zai")
    assert ZAI not in error.message and ZAI not in str(error) and ZAI not in repr(error.args)


# --------------------------------------------------------------------------- the caller's key


def test_the_callers_key_is_redacted_for_its_own_request_only() -> None:
    caller = "amx-" + "b" * 52

    async def request(key: str | None, seen: list[str]) -> None:
        remember_caller_secret(key)
        await asyncio.sleep(0)  # let the other request run in between
        seen.append(redact(f"echo {caller}"))

    async def both() -> tuple[list[str], list[str]]:
        mine: list[str] = []
        other: list[str] = []
        await asyncio.gather(request(caller, mine), request("some-other-key-0001", other))
        return mine, other

    mine, other = asyncio.run(both())
    assert mine == [f"echo {REDACTED}"]
    assert other == [scrub(f"echo {caller}")]  # no exact-value redaction: not this request's key
    assert redact(f"echo {caller}") == scrub(f"echo {caller}")  # nor outside any request


def test_a_foreign_shaped_caller_key_is_redacted_by_value() -> None:
    foreign = "my.team.gateway.credential.0001"  # no known shape: only the exact value can find it
    remember_caller_secret(foreign)
    assert redact(f"bad key {foreign}") == f"bad key {REDACTED}"


# --------------------------------------------------------------------------- log records


def test_log_records_are_redacted_once_installed(caplog: pytest.LogCaptureFixture) -> None:
    redaction.install_log_redaction()
    learn_secret(ZAI)
    logger = logging.getLogger("aimux.test.redaction")
    with caplog.at_level(logging.DEBUG, logger="aimux.test.redaction"):
        logger.warning("upstream said %s", ZAI)
        try:
            raise ValueError(f"bad answer {ZAI}")
        except ValueError:
            logger.exception("parse failed")
        logger.info("nothing secret here: %d", 42)
    assert ZAI not in caplog.text
    assert caplog.records[0].getMessage() == f"upstream said {REDACTED}"
    assert "ValueError: bad answer [redacted]" in caplog.records[1].getMessage()
    assert caplog.records[2].getMessage() == "nothing secret here: 42"
    assert caplog.records[2].args == (42,)  # untouched when nothing was found


# --------------------------------------------------------------------------- Redactor alone


def test_a_redactor_learns_while_being_read() -> None:
    redactor = Redactor()
    assert redactor.exact("text") == "text"
    redactor.learn("first-secret-value")
    assert redactor.exact("a first-secret-value b") == f"a {REDACTED} b"
    redactor.learn("second-secret-value")
    assert redactor.exact("first-secret-value second-secret-value") == f"{REDACTED} {REDACTED}"
    redactor.forget_all()
    assert redactor.exact("first-secret-value") == "first-secret-value"


# --------------------------------------------------------------------------- shapes (second line)


@pytest.mark.parametrize(
    "secret",
    [
        "sk-" "ant-api03-AbCdEf012345_-xyz",
        "sk-proj-0123456789abcdef",
        "sk-or-v1-0123456789abcdef",
        "amx-live-9f8e7d6c5b4a",
        "amx-0123456789",
        "AKIA" "IOSFODNN7EXAMPLE",
        "ASIAIOSFODNN7EXAMPLE",
        "Bearer eyJhbGciOiJIUzI1NiJ9.payload.sig",
        "gsk_" "0123456789abcdefABCD",
        "csk-" "0123456789abcdef",
        "AI" "zaSyA0123456789abcdefghijklmnopq",
    ],
)
def test_scrub_removes_key_shapes(secret: str) -> None:
    text = f"model {secret}; other"
    assert secret not in scrub(text)
    assert scrub(text).startswith("model [redacted]")


@pytest.mark.parametrize("benign", ["task-force-123456", "claude-sonnet-4-5", "desk-2024-01-01", "gpt-4o-mini",
                                    "max_tokens: Input should be a valid integer"])
def test_scrub_keeps_ordinary_names(benign: str) -> None:
    assert scrub(benign) == benign


@pytest.mark.parametrize(
    "text",
    [
        "BEARER abcdefgh12345",
        "bEaReR abcdefgh12345",
        "x-bearer\tabcdefgh12345==",
        "BearerK abcdefgh12345",
        "\u017fk-" "proj-0123456789abcdef",  # long s (U+017F): not the regex's "sk-"
        "\u017fecret=abcdefgh12345",  # nor its "secret" (the regex is ASCII-only)
        "ap\u0131_key=abcdefgh12345",  # dotless i
        "AKIA" "IOSFODNN7EXAMPL",  # one short
        "mask-0123456789",  # "sk-" preceded by a letter: the regex keeps it
        "\u0130stanbul bearer 0123456789",
        "API_KEY: 'abcdefgh12345'",
        "",
    ],
)
def test_scrub_shortcut_agrees_with_the_regex(text: str) -> None:
    """``scrub`` skips the regex for text with no possible match; it must never skip one that matches."""
    assert scrub(text) == redaction.shapes().sub(REDACTED, text)
