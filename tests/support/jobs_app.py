"""The client API with batches and async jobs, served on loopback, for the official SDKs.

``serve_jobs`` builds the app's ``Jobs`` up front (settings, store, blobs, queue of the test's choice;
default: the in-process queue and a folder under the test's ``tmp_path``), so a test controls how work
runs without environment variables. ``wait_for`` polls a condition with a bound and no timing claims.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, TypeVar

from support.server import serve

T = TypeVar("T")


@dataclass
class JobsServed:
    url: str
    app: Any
    jobs: Any


def job_settings(tmp_path: Path, **overrides: Any) -> Any:
    from aimux_core.jobs.settings import JobSettings

    fast = {"data_dir": tmp_path / "data", "poll_seconds": 0.2, "lease_seconds": 30.0, "webhook_backoff": (0.05,) * 8}
    return replace(JobSettings(), **(fast | overrides))


def ledgers() -> Any:
    """The live accounting the client API and the worker give their ``Jobs`` (metrics to this process)."""
    from aimux_core.accounting.metrics import Emission
    from aimux_core.surfaces.exchange import off_path_exchanges

    return off_path_exchanges(Emission())


@contextmanager
def serve_jobs(
    tmp_path: Path, gateway: Any = None, *, keys: Any = None, store: Any = None, settings: Any = None, **parts: Any
) -> Iterator[JobsServed]:
    from aimux_core.assembly import build_mock_gateway
    from aimux_core.jobs.build import build_jobs
    from aimux_core.surfaces.app import create_messages_app

    gateway = gateway if gateway is not None else build_mock_gateway()
    app = create_messages_app(gateway, keys)
    if store is None and keys is not None:
        store = keys.store
    jobs = build_jobs(gateway, settings or job_settings(tmp_path), ledgers=ledgers(), store=store, **parts)
    app.state.jobs = jobs
    with serve(app) as url:
        yield JobsServed(url, app, jobs)


def wait_for(condition: Callable[[], T], *, seconds: float = 30.0, every: float = 0.05) -> T:
    """``condition()``'s first truthy value; AssertionError when it stays falsy for ``seconds``."""
    deadline = time.monotonic() + seconds
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"still not true after {seconds:g} s: {condition}")
        time.sleep(every)


def gateway_for(document: dict[str, Any], env: dict[str, str] | None = None, store: Any = None) -> Any:
    """The gateway a configuration document describes (real adapters, admission), over ``store``."""
    from aimux_core.assembly import build_gateway
    from aimux_core.config.validate import validate_config
    from aimux_core.settings import Settings

    config = validate_config(dict(document), "test.yaml")
    return build_gateway(config, Settings(), env=dict(env or {}), store=store)
