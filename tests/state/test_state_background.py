"""``BackgroundWrites``: the writes made after an answer, waited for at the end of an invocation."""

from __future__ import annotations

import asyncio
import logging

import pytest

from aimux_core.state.background import BackgroundWrites
from aimux_core.state.store import StoreUnavailable

pytestmark = [pytest.mark.anyio, pytest.mark.timeout(10)]


async def test_drain_returns_once_writes_are_done_even_when_no_callback_ran_yet() -> None:
    # On Python 3.12+ awaiting gather() over finished tasks may not yield to the loop; a drain that
    # waited for the done callbacks to empty its set spun forever (seen on 3.13).
    writes = BackgroundWrites(logging.getLogger("test"))
    done: list[int] = []

    async def write(n: int) -> None:
        done.append(n)

    for n in range(3):
        writes.later(write(n), "write")
    await asyncio.wait_for(writes.drain(), 5)
    assert sorted(done) == [0, 1, 2]
    await asyncio.wait_for(writes.drain(), 5)  # nothing pending: returns at once


async def test_writes_started_while_draining_are_waited_for() -> None:
    writes = BackgroundWrites(logging.getLogger("test"))
    done: list[str] = []

    async def second() -> None:
        done.append("second")

    async def first() -> None:
        await asyncio.sleep(0)
        writes.later(second(), "second")
        done.append("first")

    writes.later(first(), "first")
    await asyncio.wait_for(writes.drain(), 5)
    assert done == ["first", "second"]


async def test_a_failed_write_is_logged_by_name_and_error_type_only(caplog: pytest.LogCaptureFixture) -> None:
    writes = BackgroundWrites(logging.getLogger("test.background"))

    async def store_down() -> None:
        raise StoreUnavailable("secret-value-in-message")

    async def broken() -> None:
        raise ValueError("prompt text in message")

    with caplog.at_level(logging.WARNING, logger="test.background"):
        writes.later(store_down(), "spend record")
        writes.later(broken(), "health record")
        await asyncio.wait_for(writes.drain(), 5)
        await asyncio.sleep(0)  # let the done callbacks log
    text = caplog.text
    assert "spend record not written: state store StoreUnavailable" in text
    assert "health record failed: ValueError" in text
    assert "secret-value-in-message" not in text and "prompt text" not in text
