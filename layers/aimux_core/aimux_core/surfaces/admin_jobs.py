"""Admin routes for long work: webhook results no attempt could deliver (the dead letters).

    GET  /admin/jobs/dead-letters                    every parked result: job id, key id, webhook (no
                                                     query string), attempts, last error, when parked
    POST /admin/jobs/dead-letters/{letter}/redeliver  deliver it again (the receiver was fixed); the letter
                                                     is removed and the job's webhook status is pending

Access is the admin app's (``admin_access.py``). Locally the routes see the same in-process jobs as the
client API (``create_local_app`` passes them); deployed, the admin function builds its own on the state
table and queue.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from fastapi import FastAPI, HTTPException

if TYPE_CHECKING:
    from ..jobs.runtime import Jobs


def add_job_routes(app: FastAPI, jobs: Callable[[], Jobs]) -> None:
    @app.get("/admin/jobs/dead-letters")
    async def dead_letters() -> dict[str, Any]:
        """Async-job results whose webhook refused every delivery attempt, oldest first."""
        # the jobs package: with the first dead-letter call, not the admin app's cold start
        from ..jobs.async_jobs import dead_letters as letters
        from ..jobs.ids import rfc3339

        data = [
            {
                "id": str(item["sk"]),
                "job_id": item.get("job_id"),
                "key_id": item.get("owner"),
                "webhook": item.get("webhook"),
                "attempts": item.get("attempts"),
                "last_error": item.get("last_error"),
                "parked_at": rfc3339(float(item.get("parked_at") or 0)),
            }
            for item in await letters(jobs())
        ]
        return {"object": "list", "data": data}

    @app.post("/admin/jobs/dead-letters/{letter}/redeliver")
    async def redeliver(letter: str) -> dict[str, Any]:
        """Send a parked result to its webhook again."""
        # the jobs package: with the first dead-letter call, not the admin app's cold start
        from ..jobs.async_jobs import redeliver as again

        if len(letter) > 80 or not await again(jobs(), letter):
            raise HTTPException(404, f"no dead letter {letter[:80]!r}")
        return {"id": letter, "redelivering": True}
