"""The streamed answer's ASGI response: body chunks sent as produced, the body cancelled when the client leaves.

Why not Starlette's ``StreamingResponse``: under an ASGI server of spec < 2.4 (uvicorn says 2.3) it runs
the body and a disconnect listener in an anyio task group, and anyio's cancel scopes, task handles and
``sniffio`` lookups cost ~8 % of a 20-event stream's CPU (bench/README.md, issue 17). This response does
the same with one plain asyncio task:

- the body runs in the request's own task; one listener task waits on ``receive`` for
  ``http.disconnect`` and, if the client leaves before the answer is complete, cancels the request's
  task, so the body (and through it the upstream call) is cancelled where it waits, as before;
- a cancellation caused by that disconnect ends the response quietly (``Task.uncancel``: the server
  and the middleware around see a finished response, as with the task group); any other cancellation
  propagates;
- the body iterator is always closed (``aclose``) before the response returns, so its ``finally``
  blocks (the request's record, the upstream response) run now, not when it is collected;
- under a server of ASGI spec 2.4 or later, which reports a client gone by raising ``OSError`` from
  ``send`` (and may never send ``http.disconnect`` while the response runs), there is no listener: that
  error ends the response quietly, as the disconnect does (Starlette does the same, raising
  ``ClientDisconnect``).

Contract of the body: an async iterator of ``bytes``; an exception it raises propagates after the
chunks before it were sent (the surfaces turn failures into a final error frame themselves).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Mapping

from starlette.responses import Response
from starlette.types import Receive, Scope, Send


class SseResponse(Response):
    """``200 text/event-stream`` (or ``media_type``) with ``body``'s chunks, see the module docstring."""

    def __init__(
        self, body: AsyncIterator[bytes], *, media_type: str, headers: Mapping[str, str], status_code: int = 200
    ) -> None:
        self.body_iterator = body
        self.status_code = status_code
        self.media_type = media_type
        self.background = None
        self.init_headers(headers)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        task = asyncio.current_task()
        assert task is not None, "an ASGI response runs in a task"
        watch = _Disconnect(task)
        listener = None if _reports_disconnect_by_error(scope) else asyncio.ensure_future(watch.listen(receive))
        try:
            await send({"type": "http.response.start", "status": self.status_code, "headers": self.raw_headers})
            async for chunk in self.body_iterator:
                await send({"type": "http.response.body", "body": chunk, "more_body": True})
            await send({"type": "http.response.body", "body": b"", "more_body": False})
        except asyncio.CancelledError:
            if not (watch.cancelled_us and task.uncancel() == 0):
                raise  # not (only) the client leaving: whoever cancelled the request sees it cancelled
            # the client left: the answer ends here, quietly
        except OSError:
            if listener is not None:
                raise
            # spec 2.4: the client left (send raised); the answer ends here, quietly
        finally:
            watch.finished = True
            if listener is not None:
                listener.cancel()
            await _close(self.body_iterator)


def _reports_disconnect_by_error(scope: Scope) -> bool:
    """Whether the server speaks ASGI spec 2.4 or later (see the module docstring)."""
    version = scope.get("asgi", {}).get("spec_version", "2.0")
    try:
        return tuple(int(part) for part in str(version).split(".")) >= (2, 4)
    except ValueError:
        return False


class _Disconnect:
    """Cancels the response's task when the client disconnects before the answer is complete."""

    __slots__ = ("cancelled_us", "finished", "task")

    def __init__(self, task: asyncio.Task[object]) -> None:
        self.task = task
        self.finished = False
        self.cancelled_us = False

    async def listen(self, receive: Receive) -> None:
        while (await receive())["type"] != "http.disconnect":
            pass
        if not self.finished:
            self.cancelled_us = True
            self.task.cancel()


async def _close(body: AsyncIterator[bytes]) -> None:
    """Close an async generator body that did not run to its end (a no-op on one that did)."""
    aclose = getattr(body, "aclose", None)
    if aclose is not None:
        await aclose()
