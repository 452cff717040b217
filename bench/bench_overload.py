"""A short upstream overload, as users live it: SDK clients direct vs the same clients through aimux.

A fake provider (``tests/fakes``) answers every request with a 529 (or a 429 with ``retry-after:
1``) for ``--outage`` seconds, then recovers and answers each request in ``--latency`` seconds.
``--clients`` threads, each with its own official SDK client with the SDK's default retries, call it
in a loop for ``--window`` seconds; the same number of clients call ``aimux serve`` (a child process,
single-provider route, default settings) in front of a twin fake whose outage starts at the same
instant. Counted: SDK calls answered and SDK calls failed (after the SDK's own retries) within the
window, and the requests each fake received (the load the overloaded upstream took).

``--ref`` runs aimux from a git ref (``git archive`` into a temporary directory) as well as from this
working tree, alternating them round by round so both live through the same minutes of the machine::

    .venv/bin/python bench/bench_overload.py --ref main --repeat 2             # the bench/README.md table
    .venv/bin/python bench/bench_overload.py --faults 529 --window 20 --json   # quicker, machine-readable
"""

from __future__ import annotations

import argparse
import contextlib
import json
import subprocess
import sys
import tempfile
import textwrap
from collections.abc import Iterator
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "bench"))
sys.path.insert(0, str(ROOT / "tests"))

from server_process import HOST, ServerProcess, free_port, scrubbed_env, stop_servers_on_signals  # noqa: E402

from support.overload import (  # noqa: E402
    MODEL,
    UPSTREAM_KEY,
    UPSTREAM_KEY_ENV,
    Dialect,
    Scenario,
    Tally,
    run,
)


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--clients", type=int, default=16, help="SDK clients per group (default 16)")
    parser.add_argument("--outage", type=float, default=5.0, help="seconds the fake answers the fault (default 5)")
    parser.add_argument("--window", type=float, default=30.0, help="seconds the clients call (default 30)")
    parser.add_argument("--latency", type=float, default=1.0, help="seconds per answer once recovered (default 1)")
    parser.add_argument("--faults", default="529,429", help="comma-separated: 529, 429 (with retry-after: 1)")
    parser.add_argument("--dialects", default="anthropic,openai", help="SDK and upstream dialect pairs")
    parser.add_argument("--ref", help="also run aimux from this git ref (e.g. main), alternating with the tree")
    parser.add_argument("--repeat", type=int, default=1, help="rounds per cell (default 1)")
    parser.add_argument("--json", action="store_true", help="print the raw results as JSON too")
    return parser.parse_args(argv)


@contextlib.contextmanager
def source_of(ref: str) -> Iterator[Path]:
    """``layers/aimux_core`` of git ``ref``, unpacked in a temporary directory."""
    with tempfile.TemporaryDirectory(prefix=f"aimux-{ref.replace('/', '-')}-") as tmp:
        archive = subprocess.run(["git", "archive", ref, "layers/aimux_core"], cwd=ROOT, capture_output=True,
                                 check=True).stdout  # fmt: skip
        subprocess.run(["tar", "-x", "-C", tmp], input=archive, check=True)
        yield Path(tmp) / "layers" / "aimux_core"


def aimux_serve(source: Path) -> Any:
    """A ``front`` for ``support.overload.run``: ``aimux serve`` from ``source``, in a child process."""

    @contextlib.contextmanager
    def front(base_url: str, dialect: Dialect) -> Iterator[str]:
        port = free_port()
        with tempfile.NamedTemporaryFile("w", suffix=".yaml", prefix="aimux-overload-") as config:
            config.write(textwrap.dedent(f"""\
                providers:
                  upstream: {{dialect: {dialect}, base_url: "{base_url}", api_key_env: {UPSTREAM_KEY_ENV}}}
                models:
                  {MODEL}: {{provider: upstream, upstream_model: {MODEL}}}
            """))
            config.flush()
            env = {**scrubbed_env(), "PYTHONPATH": str(source), UPSTREAM_KEY_ENV: UPSTREAM_KEY, "AIMUX_AUTH": "off",
                   "AIMUX_LOG_LEVEL": "WARNING"}  # fmt: skip
            command = [sys.executable, "-c", "import sys; from aimux_core.cli import main; sys.exit(main())",
                       "serve", "--config", config.name, "--host", HOST, "--port", str(port)]  # fmt: skip
            with ServerProcess("aimux", command, env, port, pin_cpu=None):
                yield f"http://{HOST}:{port}"

    return front


def table(rows: list[dict[str, Any]]) -> str:
    lines = [
        "| aimux | SDK / fault | clients calling the fake directly: answered / failed | through aimux: answered / "
        "failed | requests the fake received (direct / aimux) |",
        "|---|---|---|---|---|",
    ]
    for row in rows:
        d, a = row["direct"], row["aimux"]
        lines.append(
            f"| {row['variant']} | {row['dialect']} / {row['fault']} | {d['ok']} / {d['failed']} | "
            f"**{a['ok']} / {a['failed']}** | {d['upstream_requests']} / {a['upstream_requests']} |"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    stop_servers_on_signals()
    tree = ROOT / "layers" / "aimux_core"
    rows: list[dict[str, Any]] = []
    with contextlib.ExitStack() as stack:
        variants = {"this tree": tree}
        if args.ref:
            variants = {args.ref: stack.enter_context(source_of(args.ref)), **variants}
        for _ in range(args.repeat):
            for dialect in args.dialects.split(","):
                for fault in args.faults.split(","):
                    scenario = Scenario(dialect=dialect, fault=fault, clients=args.clients,  # type: ignore[arg-type]
                                        outage=args.outage, window=args.window, latency=args.latency)  # fmt: skip
                    for variant, source in variants.items():
                        tallies: dict[str, Tally] = run(scenario, front=aimux_serve(source))
                        row = {"variant": variant, "dialect": dialect, "fault": fault,
                               **{name: tally.as_dict() for name, tally in tallies.items()}}  # fmt: skip
                        rows.append(row)
                        print(table([row]).splitlines()[-1], flush=True)
    print(f"\n{args.clients} clients per group, {args.outage:g} s outage, {args.window:g} s window, "
          f"{args.latency:g} s per answer once recovered\n")  # fmt: skip
    print(table(rows))
    if args.json:
        print(json.dumps(rows, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
