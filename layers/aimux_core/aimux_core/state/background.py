"""State writes made after the answer: background tasks that can be waited for.

The client never waits for them; a Lambda invocation does, at its end (``Gateway.drain`` via
``surfaces/invocation.py``), so none is frozen or lost with the execution environment. A write that
fails is logged by name and its error's type (never its values) and dropped: the answer it follows
has already been given.

A write starts at once, in the caller's turn (an *eager* task, Python 3.12+): it runs until its first
real wait, and one that never waits (the in-process store of ``aimux serve``; a write skipped for
nothing to do) is finished before ``later`` returns, without being scheduled on the loop at all. Its
code still runs in its own task and context (``asyncio.current_task``, timeouts and context variables
are the task's, as with ``ensure_future``). On Python 3.11 it is an ordinary task, started by the loop.
"""

from __future__ import annotations

import asyncio
import logging
import sys
from collections.abc import Awaitable, Coroutine
from typing import Any, TypeVar

from .store import StoreError


class BackgroundWrites:
    """Runs each write as a task, logs its failure, and lets ``drain`` wait for all of them."""

    def __init__(self, log: logging.Logger) -> None:
        self._log = log
        self._pending: set[asyncio.Future[Any]] = set()

    def later(self, work: Awaitable[Any], what: str) -> None:
        """Start ``work`` now, without waiting for it; ``what`` names it in the log if it fails."""
        task = start_now(work)
        if task.done():  # finished in its first step: nothing to wait for, nothing to schedule
            self._done(task, what)
            return
        self._pending.add(task)
        task.add_done_callback(lambda done: self._done(done, what))

    async def drain(self) -> None:
        """Wait until no write is pending, writes started meanwhile included.

        The finished tasks are dropped here, not only by their done callbacks: awaiting ``gather``
        over tasks that are already done may not yield to the loop (seen on Python 3.13), so the callbacks
        would never run and the loop would spin.
        """
        while self._pending:
            batch = list(self._pending)
            await asyncio.gather(*batch, return_exceptions=True)
            self._pending.difference_update(batch)

    def _done(self, task: asyncio.Future[Any], what: str) -> None:
        self._pending.discard(task)
        if task.cancelled():
            return
        error = task.exception()
        if isinstance(error, StoreError):
            self._log.warning("%s not written: state store %s", what, type(error).__name__)
        elif error is not None:
            self._log.error("%s failed: %s", what, type(error).__name__)


_EAGER = sys.version_info >= (3, 12)
T = TypeVar("T")
A = TypeVar("A")
B = TypeVar("B")


def start_now(work: Awaitable[T]) -> asyncio.Future[T]:
    """``work`` as a task, run eagerly where the interpreter can (see the module docstring)."""
    if _EAGER and isinstance(work, Coroutine):
        return asyncio.Task(work, loop=asyncio.get_running_loop(), eager_start=True)  # type: ignore[call-arg,unused-ignore]
    return asyncio.ensure_future(work)


async def both(first: Awaitable[A], second: Awaitable[B]) -> tuple[A, B]:
    """Run two calls concurrently; both finish before the first error is raised.

    ``second`` runs as a task started at once (eagerly where the interpreter can: ``start_now``),
    ``first`` in this task: one task instead of ``gather``'s two, and none to schedule when the store
    answers without waiting (the local store) on Python 3.12+.
    """
    other = start_now(second)
    try:
        a = await first
    except asyncio.CancelledError:
        other.cancel()
        raise
    except Exception:  # not GeneratorExit: a coroutine closed unfinished (its loop gone) may not wait
        await asyncio.wait((other,))
        if not other.cancelled():
            other.exception()  # retrieved: the first error is the one raised
        raise
    return a, await other
