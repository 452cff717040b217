"""``BackgroundWrites``: the writes made after an answer, waited for at the end of an invocation."""

from __future__ import annotations

import asyncio
import contextvars
import logging
import sys

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
        await asyncio.sleep(0)  # a real wait: drain must still be waiting when it ends
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


@pytest.mark.skipif(sys.version_info < (3, 12), reason="eager tasks need Python 3.12+ (an ordinary task on 3.11)")
async def test_a_write_that_never_waits_is_finished_before_later_returns() -> None:
    writes = BackgroundWrites(logging.getLogger("test"))
    done: list[str] = []

    async def write() -> None:
        done.append("written")

    writes.later(write(), "write")
    assert done == ["written"]  # no turn of the loop needed: nothing was scheduled
    assert not writes._pending


async def test_a_write_runs_in_its_own_task_and_context_even_when_started_at_once() -> None:
    # An eager start must not run the write as part of the caller's task: a timeout or a cancel scope
    # inside it would otherwise act on the request, and a context variable it sets would leak into it.
    writes = BackgroundWrites(logging.getLogger("test"))
    var: contextvars.ContextVar[str] = contextvars.ContextVar("var", default="caller")
    seen: list[object] = []
    caller = asyncio.current_task()

    async def write() -> None:
        seen.append(asyncio.current_task())
        var.set("write")
        async with asyncio.timeout(0.01):
            await asyncio.sleep(1)  # times out: the write's own task is cancelled, not the caller

    writes.later(write(), "write")
    await asyncio.wait_for(writes.drain(), 5)
    assert seen and seen[0] is not caller and seen[0] is not None
    assert var.get() == "caller"
    assert asyncio.current_task() is caller and not caller.cancelling()
