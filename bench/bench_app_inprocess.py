#!/usr/bin/env python3
"""CPU per request of the whole local app (``aimux serve``'s ASGI app), driven in-process, against a real upstream.

Why: the socket harness (``bench_floor_ratio.py``) moves by up to 40 % between rounds of the same code on
this two-core machine, so the few-percent changes the issue-17 table is made of cannot be seen there. This
builds the app exactly as ``aimux serve`` does (``build_gateway`` + ``create_local_app``, auth off, the
in-memory store) and calls it as an ASGI server would, with the fast fake upstream (``fast_upstream.py``) in
its own process on loopback: everything aimux does per request is measured (Starlette, routing, admission,
the upstream client over a real socket, the relay, accounting, the log line), uvicorn's HTTP parsing is not
(the floor pays it too). CPU time of this process (``time.process_time``) per request, best of ``--repeat``
runs of ``--number`` requests, for each direction (a2a, o2o, a2o) as JSON and as a 15-event stream.

For a paired A/B against another tree, run it alternately with ``PYTHONPATH=<tree>/layers/aimux_core``;
``--pin`` puts this process on CPU 0 and the upstream on CPU 1, as the socket harness does.
``--concurrency 16`` keeps that many requests in flight (the socket table's c=16); ``--without PART ...``
prices parts of the request by removing them (``ablation.py``); ``--profile DIR`` keeps a cProfile of each
row (where the time goes; the profiler inflates Python calls, so never a figure).
Run: ``.venv/bin/python bench/bench_app_inprocess.py [--number N] [--repeat R] [--only a2a]``
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import cProfile
import dataclasses
import json
import os
import pstats
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

BENCH_DIR = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH_DIR))

from ablation import PARTS, remove  # noqa: E402
from request_shapes import Scenario, claude_code_scenarios, compact_json  # noqa: E402
from server_process import HOST, stop_servers_on_signals  # noqa: E402
from upstream_processes import KEY_ENV, fake_process, write_config  # noqa: E402
from upstream_scenarios import DIRECTIONS, DUMMY_KEY, scenario  # noqa: E402

Message = dict[str, Any]
ASGIApp = Callable[[Message, Callable[[], Awaitable[Message]], Callable[[Message], Awaitable[None]]], Awaitable[None]]
Headers = list[tuple[bytes, bytes]]
MODELS = {"anthropic": "claude-bench", "openai": "gpt-bench"}


def build_app(config: Path) -> ASGIApp:
    """The app ``aimux serve --config`` serves, auth off, built the way ``cli._serve`` builds it."""
    os.environ.update({"AIMUX_AUTH": "off", KEY_ENV: DUMMY_KEY, "AIMUX_LOG_LEVEL": "WARNING"})
    from aimux_core.assembly import build_gateway, build_keyring
    from aimux_core.collector import tune_for_serving
    from aimux_core.config import resolve_config
    from aimux_core.settings import Settings
    from aimux_core.surfaces.admin_access import AdminAccess
    from aimux_core.surfaces.app import create_local_app

    settings = Settings.from_env()
    gateway = build_gateway(resolve_config(os.environ, path=str(config), settings=settings), settings)
    store = gateway.admission.ledger.store if gateway.admission is not None else None
    keys = build_keyring(settings, store=store)
    app = create_local_app(gateway, None, admin_keys=keys, admin_access=AdminAccess(settings), settings=settings)
    tune_for_serving(settings)
    return app  # type: ignore[return-value]


class Lifespan:
    """The ASGI lifespan protocol around the runs, as uvicorn drives it (the upstream session opens here)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app, self.inbox = app, asyncio.Queue[dict[str, Any]]()
        self.outbox = asyncio.Queue[dict[str, Any]]()
        self.task: asyncio.Task[None] | None = None

    async def _phase(self, kind: str) -> None:
        await self.inbox.put({"type": f"lifespan.{kind}"})
        answer = await self.outbox.get()
        if answer["type"] != f"lifespan.{kind}.complete":
            raise RuntimeError(f"lifespan {kind}: {answer}")

    async def __aenter__(self) -> Lifespan:
        scope = {"type": "lifespan", "asgi": {"version": "3.0", "spec_version": "2.0"}, "state": {}}
        self.task = asyncio.create_task(self.app(scope, self.inbox.get, self.outbox.put))
        await self._phase("startup")
        return self

    async def __aexit__(self, *_: object) -> None:
        await self._phase("shutdown")
        if self.task is not None:
            await self.task


async def one_request(app: ASGIApp, path: str, headers: Headers, body: bytes, end: bytes | None) -> None:
    """One request through the app; raises unless it answered 200 with a whole body (a stream: its end marker)."""
    scope = {
        "type": "http", "asgi": {"version": "3.0", "spec_version": "2.4"}, "http_version": "1.1", "method": "POST",
        "scheme": "http", "path": path, "raw_path": path.encode(), "query_string": b"", "root_path": "",
        "headers": headers, "client": (HOST, 50000), "server": (HOST, 8080), "state": {},
    }  # fmt: skip
    sent = False
    status = 0
    chunks: list[bytes] = []

    async def receive() -> dict[str, Any]:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        await asyncio.Event().wait()  # the client stays connected
        raise AssertionError("unreachable")

    async def send(message: dict[str, Any]) -> None:
        nonlocal status
        if message["type"] == "http.response.start":
            status = message["status"]
        elif message["type"] == "http.response.body":
            chunks.append(message.get("body", b""))

    await app(scope, receive, send)
    whole = b"".join(chunks)
    if status != 200 or (end is not None and end not in whole) or (end is None and not whole.endswith(b"}")):
        raise RuntimeError(f"{path}: status {status}, body {whole[:300]!r}")


def shapes(args: argparse.Namespace) -> list[tuple[str, str, Headers, bytes, bytes | None]]:
    """(row name, path, headers, body, stream end marker) of each row asked for."""
    rows = []
    for direction in DIRECTIONS:
        if args.only and direction.key not in args.only:
            continue
        if args.body == "claude-code" and direction.client != "anthropic":
            continue
        for stream in [s for s in (False, True) if args.stream in ("both", "yes" if s else "no")]:
            if args.body == "claude-code":
                shape = claude_code_shape(MODELS[direction.upstream], stream)
            else:
                shape = scenario(direction.client, MODELS[direction.upstream], stream, direction.key)
            headers = [(k.lower().encode(), v.encode()) for k, v in shape.headers]
            headers.append((b"content-length", str(len(shape.body)).encode()))
            name = f"{direction.key} {'stream' if stream else 'JSON'}"
            rows.append((name, shape.path, headers, shape.body, shape.end_marker))
    return rows


def claude_code_shape(model: str, stream: bool) -> Scenario:
    """The recorded Claude Code tool turn (``request_shapes.claude_code_scenarios``) asking for ``model``,
    without its query string (the floors route by path alone)."""
    recorded = next(shape for shape in claude_code_scenarios() if shape.stream == stream)
    body = json.loads(recorded.body)
    body["model"] = model
    return dataclasses.replace(recorded, path=recorded.path.partition("?")[0], body=compact_json(body))


async def measure(apps: dict[str, ASGIApp], args: argparse.Namespace) -> dict[str, dict[str, float]]:
    """Best CPU seconds per request, by row and app; the apps take turns within each row's runs.

    With ``--calls``: instead, Python function calls per request (``cProfile``'s count over ``--number``
    requests after the warm-up), a figure that does not move with the machine's load.
    """
    results: dict[str, dict[str, float]] = {}
    for name, path, headers, body, end in shapes(args):
        best = dict.fromkeys(apps, float("inf"))
        for app in apps.values():
            for _ in range(args.warmup):
                await one_request(app, path, headers, body, end)
        if args.calls or args.profile:
            results[name] = {
                label: await calls_per_request(
                    app, args.number, path, headers, body, end, profile_path(args, name, label)
                )
                for label, app in apps.items()
            }
            continue
        for _ in range(args.repeat):
            for label, app in apps.items():
                start = time.process_time()
                await requests(app, args.number, args.concurrency, path, headers, body, end)
                best[label] = min(best[label], (time.process_time() - start) / args.number)
        results[name] = best
    return results


async def requests(
    app: ASGIApp, number: int, concurrency: int, path: str, headers: Headers, body: bytes, end: bytes | None
) -> None:
    """``number`` requests, ``concurrency`` of them in flight at once (each of that many workers in turn)."""

    async def worker(count: int) -> None:
        for _ in range(count):
            await one_request(app, path, headers, body, end)

    if concurrency <= 1:
        await worker(number)
        return
    share, extra = divmod(number, concurrency)
    await asyncio.gather(*(worker(share + (index < extra)) for index in range(concurrency)))


def profile_path(args: argparse.Namespace, row: str, label: str) -> Path | None:
    """Where ``--profile DIR`` keeps one row's profile of one app (``a2a-JSON-aimux.pstats``)."""
    if args.profile is None:
        return None
    args.profile.mkdir(parents=True, exist_ok=True)
    return args.profile / f"{row.replace(' ', '-')}-{label}.pstats"


async def calls_per_request(
    app: ASGIApp, number: int, path: str, headers: Headers, body: bytes, end: bytes | None, keep: Path | None = None
) -> float:
    """Python function calls (builtins included) per request, counted by ``cProfile``; ``keep``: the
    profile is also written there (``pstats`` format: ``python -m pstats FILE``, snakeviz...)."""
    profile = cProfile.Profile()
    profile.enable()
    for _ in range(number):
        await one_request(app, path, headers, body, end)
    profile.disable()
    if keep is not None:
        profile.dump_stats(keep)
    stats: dict[Any, tuple[int, ...]] = pstats.Stats(profile).stats  # type: ignore[attr-defined]
    return sum(entry[1] for entry in stats.values()) / number


def floor_app(kind: str, upstream_port: int) -> ASGIApp:
    """The bare or guarded floor of ``bench_floor_ratio.py``, pointed at the same upstream."""
    os.environ["AIMUX_FLOOR_UPSTREAM"] = f"http://{HOST}:{upstream_port}"
    if kind == "bare":
        from bare_floor import create_bare_aiohttp_app

        return create_bare_aiohttp_app()  # type: ignore[return-value]
    from guarded_floor import create_guarded_aiohttp_app

    return create_guarded_aiohttp_app()  # type: ignore[return-value]


async def run(args: argparse.Namespace, config: Path, upstream_port: int) -> dict[str, dict[str, float]]:
    apps = {kind: build_app(config) if kind == "aimux" else floor_app(kind, upstream_port) for kind in args.apps}
    async with contextlib.AsyncExitStack() as stack:
        for app in apps.values():
            await stack.enter_async_context(Lifespan(app))
        return await measure(apps, args)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--number", type=int, default=1000, help="requests per run (default 1000)")
    parser.add_argument(
        "--concurrency", type=int, default=1, help="requests in flight at once (default 1; the issue's table: 1, 16)"
    )
    parser.add_argument(
        "--body",
        choices=("small", "claude-code"),
        default="small",
        help="the request: a small one, or the recorded 47 KB Claude Code turn (Anthropic clients' rows only)",
    )
    parser.add_argument(
        "--models", type=int, default=2, help="models configured (default 2; more: ones no request asks for)"
    )
    parser.add_argument("--repeat", type=int, default=5, help="runs per row; the best is kept (default 5)")
    parser.add_argument("--warmup", type=int, default=200, help="requests before the runs of each row (default 200)")
    parser.add_argument("--only", nargs="*", default=[], help="directions to run (a2a, o2o, a2o; default all)")
    parser.add_argument(
        "--stream", choices=("both", "no", "yes"), default="both", help="JSON (no), streams (yes), both"
    )
    parser.add_argument(
        "--apps",
        nargs="+",
        choices=("aimux", "bare", "guarded"),
        default=["aimux"],
        help="what to measure, taking turns: aimux's app and/or the floors (default aimux)",
    )
    parser.add_argument(
        "--without",
        nargs="*",
        default=[],
        choices=sorted(PARTS),
        help="price parts of aimux's request: these become no-ops in aimux's app (bench/ablation.py)",
    )
    parser.add_argument("--calls", action="store_true", help="count Python calls per request instead of timing")
    parser.add_argument(
        "--profile",
        type=Path,
        metavar="DIR",
        help="as --calls, and keep each row's cProfile of each app in DIR (ROW-APP.pstats; times inflated by the "
        "profiler, for finding where time goes, never for figures)",
    )
    parser.add_argument("--pin", action="store_true", help="this process on CPU 0, the upstream on CPU 1")
    parser.add_argument(
        "--gap-ms",
        type=float,
        default=0.0,
        help="the upstream waits this long between stream events (each event its own read, as from a model "
        "writing tokens; default 0: back to back)",
    )
    args = parser.parse_args(argv)
    stop_servers_on_signals()
    remove(args.without)
    if args.pin:
        os.sched_setaffinity(0, {0})
    with fake_process(1 if args.pin else None, args.gap_ms) as upstream, tempfile.TemporaryFile() as log:
        config = write_config(upstream.port, models=args.models)
        saved = os.dup(1)
        os.dup2(log.fileno(), 1)  # the log lines go to a file, as ``aimux serve``'s do in the socket harness
        try:
            results = asyncio.run(run(args, config, upstream.port))
        finally:
            sys.stdout.flush()
            os.dup2(saved, 1)
            os.close(saved)
            config.unlink(missing_ok=True)
    import aimux_core

    without = f", without: {' '.join(args.without)}" if args.without else ""
    print(
        f"# aimux_core from {Path(aimux_core.__file__).parent}, best of {args.repeat} x {args.number}, "
        f"{args.concurrency} in flight, {args.models} models, {args.body} body, {args.gap_ms:g} ms between events"
        f"{without}"
    )
    unit, scale = ("Python calls", 1.0) if args.calls or args.profile else ("µs CPU", 1e6)
    print(f"# {unit} per request" + ("; ÷ bare: the ratio to the bare floor" if "bare" in args.apps else ""))
    print(f"{'row':<12}" + "".join(f"{label:>10}" for label in args.apps))
    for name, best in results.items():
        cells = "".join(f"{best[label] * scale:10.1f}" for label in args.apps)
        if "bare" in best:
            cells += "".join(f"   {label} {best[label] / best['bare']:.2f}x" for label in args.apps if label != "bare")
        print(f"{name:<12}{cells}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
