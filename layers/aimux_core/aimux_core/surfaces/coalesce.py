"""One client send per upstream read: the frames that are ready together leave together.

Why: a streamed answer is encoded one canonical event at a time, and each frame handed to the ASGI
server costs a ``send`` (Starlette's wrappers, uvicorn's ``transport.write``, a syscall): ~15 µs,
the largest per-event cost of a stream. An upstream delivers several events per network read (fast
models, tool-call arguments, the closing ``content_block_stop`` + ``message_delta`` +
``message_stop``), and the decoder turns one read into several events without waiting. So
``coalesced`` joins every chunk the body produces *without suspending* into one, and sends it the
moment the body would wait (for the upstream's next read, or its end).

What it keeps: the bytes and their order are unchanged (only the chunk boundaries move, which HTTP
chunked framing and SSE ignore); no chunk waits on a later one, so the time to the first byte and to
every event is what it was (a frame is held only while the body is still running on the CPU, never
across a wait); cancellation (the client left) and errors reach the body as they did.

How it sees "would wait": it drives the body's ``__anext__`` awaitable one step itself. A step that
finishes with a value produced it without suspending; a step that hands back a future means the body
waits, so the frames collected so far are yielded first, then the same step is resumed by awaiting
``_Resumed`` (which gives the event loop that future, exactly as the body's own ``await`` would have).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Generator
from typing import Any


class _Resumed:
    """Await the rest of a coroutine already started by hand, whose last step yielded ``pending``."""

    __slots__ = ("_pending", "_step")

    def __init__(self, step: Any, pending: Any) -> None:
        self._step = step  # the body's __anext__ awaitable (send/throw protocol)
        self._pending = pending

    def __await__(self) -> Generator[Any, None, bytes]:
        pending = self._pending
        while True:
            try:
                yield pending
            except BaseException as exc:  # cancellation (the client left) goes to the body, as before
                try:
                    pending = self._step.throw(exc)
                except StopIteration as done:
                    return done.value  # type: ignore[no-any-return]
                continue
            try:
                pending = self._step.send(None)
            except StopIteration as done:
                return done.value  # type: ignore[no-any-return]


async def coalesced(body: AsyncIterator[bytes]) -> AsyncIterator[bytes]:
    """``body``'s bytes, joined into one chunk per run of chunks produced without waiting."""
    ready: list[bytes] = []
    try:
        while True:
            awaitable: Awaitable[bytes] = body.__anext__()
            step = awaitable if hasattr(awaitable, "send") else awaitable.__await__()
            try:
                try:
                    pending = step.send(None)
                except StopIteration as done:
                    ready.append(done.value)
                    continue
                if ready:  # the body waits now: what it produced so far leaves in one send
                    yield _joined(ready)
                    ready = []
                ready.append(await _Resumed(step, pending))
            except StopAsyncIteration:
                break
            except Exception:
                if ready:  # frames before a failure still leave, in order
                    yield _joined(ready)
                    ready = []
                raise
        if ready:
            yield _joined(ready)
    finally:
        aclose = getattr(body, "aclose", None)
        if aclose is not None:
            await aclose()


def _joined(chunks: list[bytes]) -> bytes:
    return chunks[0] if len(chunks) == 1 else b"".join(chunks)
