"""The pieces long work runs on (``Jobs``): gateway, store, blobs, queue, settings, accounting, worker.

    deployed (queue URL, bucket)   SQS + S3; the worker function (or ``aimux worker``) handles the messages
    local                          an in-process ``LocalQueue`` handled by this process's ``Worker``, blobs
                                   under ``AIMUX_DATA_DIR`` (``./.aimux``)

The client API builds its ``Jobs`` on the first batch or async request (``surfaces/jobs_http.py``
``jobs_of``), on the gateway and store it already serves with; the worker function's is built by the
composition root (``assembly.worker_handler``) at its first invocation; ``build.build_jobs`` assembles it.
Nothing here runs at import time.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

from ..state.clock import Clock, SystemClock
from .blobs import Blobs
from .files import FileBook
from .items import NO_OWNER, Answer, RunContext, run
from .ledger import Ledgers
from .queue import Queue
from .records import BatchBook
from .settings import JobSettings

if TYPE_CHECKING:
    from ..gateway import Gateway
    from ..keys.record import ApiKeyRecord
    from ..limits.project import Project
    from ..limits.project_directory import ProjectDirectory
    from ..state.store import Store
    from .queue import Message


class MessageHandler(Protocol):
    """What handles the queue's messages (``worker.Worker``, built with the ``Jobs`` by ``build.build_jobs``)."""

    async def handle(self, message: Message) -> None: ...

    async def tick(self) -> None: ...

    async def handle_records(self, records: Sequence[dict[str, Any]]) -> list[str]: ...


@dataclass
class Jobs:
    gateway: Gateway
    store: Store
    blobs: Blobs
    queue: Queue
    settings: JobSettings
    ledgers: Ledgers
    clock: Clock = field(default_factory=SystemClock)
    worker: MessageHandler | None = None
    _projects: ProjectDirectory | None = field(default=None, init=False, repr=False)

    @property
    def book(self) -> BatchBook:
        return BatchBook(self.store, self.clock)

    @property
    def files(self) -> FileBook:
        return FileBook(self.store, self.blobs, self.clock)

    async def owner_key(self, owner: str) -> ApiKeyRecord | None:
        """The current record of the key that sent the work (None: auth was off, or the key is gone)."""
        if owner == NO_OWNER:
            return None
        from ..keys.admin import record_by_id  # the key admin module: only for work sent with a key

        return await record_by_id(self.store, owner)

    async def project_of(self, key: ApiKeyRecord) -> Project | None:
        """The project whose limits apply to ``key``'s work, exactly as for its live requests
        (``keys.ring.project_of``: None without one or once it is gone; ``Overloaded`` when the store cannot
        be read and there is no copy yet). The directory is this ``Jobs``'s own, built on first use."""
        from ..keys.ring import project_in  # the key rules: only for work sent with a key
        from ..limits.project_directory import ProjectDirectory

        if self._projects is None:
            self._projects = ProjectDirectory(self.store, self.clock)
        return await project_in(self._projects, key)

    async def run(
        self,
        key: ApiKeyRecord | None,
        context: RunContext,
        body: dict[str, Any],
        request_id: str,
        *,
        attempt: int,
        owner: str,
    ) -> Answer:
        """``items.run`` with this ``Jobs``'s gateway, accounting and project directory (raises ``Retry``)."""
        ledger = self.ledgers(context.dialect, request_id)
        return await run(
            self.gateway,
            key,
            context,
            body,
            request_id,
            ledger=ledger,
            projects=self.project_of,
            attempt=attempt,
            owner=owner,
        )
