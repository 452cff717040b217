"""The Markdown report of ``bench_upstream.py``, rendered from the same dict ``--json`` saves (``--render``).

Why the floors: aimux is judged by its CPU per request against a bare pass-through on the same stack
and machine, so the tables put them side by side with the issue's targets (printed, never asserted).
"""

from __future__ import annotations

import statistics
from typing import Any

from run_report import fmt_num, fmt_pct, fmt_signed, header_lines, yes_no
from upstream_scenarios import DIRECTIONS, Direction

# Targets from the issue; printed next to the figures, never asserted.
TARGET_PASSTHROUGH_RATIO = 1.5
TARGET_TRANSLATED_RATIO = 2.0
TARGET_RSS_MB = 100.0
TARGET_STARTUP_S = 1.0
LITELLM_CPU_MS = 25.0  # the measurement of LiteLLM's proxy, pinned to one core


def _find(cells: list[dict[str, Any]], target: str, route: str, stream: bool, conc: int) -> dict[str, Any] | None:
    for c in cells:
        if c["target"] == target and c["route"] == route and c["stream"] == stream and c["concurrency"] == conc:
            return c
    return None


def render(report: dict[str, Any]) -> str:
    """The Markdown report (stdout): every cell, then the comparison tables."""
    cells: list[dict[str, Any]] = report["cells"]
    out = header_lines("aimux against a fake HTTP upstream", report)
    out += [
        "- placement: " + ("gateway alone on CPU 0; fake upstream and load generator on CPU 1"
                           if report["pinned"] else "not pinned"),
        f"- {report['requests']} timed requests per cell after {report['warmup']} warm-up requests"
        + (f"; each cell the best of {report['repeat']} runs (least gateway CPU)" if report["repeat"] > 1 else "")
        + f"; fake upstream event gap {report['gap_ms']:g} ms",
        "",
        "All cells (ms; `gw CPU` = gateway CPU ms per request; `CPU 1` = fake + load generator, % of one core):",
        "",
        "| target | route | stream | conc | p50 | p99 | TTFB p50 | TTFB p99 | req/s | gw CPU ms/req | gw sys "
        "| gw util | CPU 1 | SSE events |",
        "|---|---|---|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|",
    ]  # fmt: skip
    for c in cells:
        out.append(
            f"| {c['target']} | {c['route']} | {yes_no(c['stream'])} | {c['concurrency']} "
            f"| {fmt_num(c['p50_ms'])} | {fmt_num(c['p99_ms'])} "
            f"| {fmt_num(c['ttfb_p50_ms'])} | {fmt_num(c['ttfb_p99_ms'])} "
            f"| {c['rps']:.0f} | **{fmt_num(c['server_cpu_ms'])}** | {fmt_pct(c.get('server_sys_share'))} "
            f"| {fmt_pct(c['server_util'])} | {c['cpu1_util']:.0%} "
            f"| {c['sse_events'] if c['sse_events'] is not None else '-'} |"
        )
    out += clients_table(report)
    out += added_latency_table(report)
    out += cpu_table(report)
    out += server_table(report)
    return "\n".join(out)


def _gateways(report: dict[str, Any]) -> tuple[list[str], list[str]]:
    targets = list(dict.fromkeys(c["target"] for c in report["cells"]))
    return [t for t in targets if t.startswith("floor")], [t for t in targets if t.startswith("aimux")]


def _floor_route(direction: Direction) -> str:
    """The floor row a direction is compared with: the pass-through of the client's dialect (same client side)."""
    return direction.client


def clients_table(report: dict[str, Any]) -> list[str]:
    rows = report.get("clients") or []
    if not rows:
        return []
    out = [
        "",
        "The upstream client alone: CPU us per call of `HttpTransport` against the fake (Anthropic answer; "
        "the stream is read to its end), in one process"
        + (" on CPU 0" if report["pinned"] else "")
        + "; `aimux` = `HttpTransport` without a client, as shipped (its aiohttp session, no httpx):",
        "",
        "| answer | httpx (httpcore) | httpx + httpx-aiohttp | aimux | httpx-aiohttp / httpx | aimux / httpx |",
        "|---|--:|--:|--:|--:|--:|",
    ]
    for row in rows:
        out.append(
            f"| {'stream (20 events)' if row['stream'] else 'JSON'} | {row['httpx']:.0f} | {row['httpx-aiohttp']:.0f} "
            f"| {row['aimux']:.0f} | {row['httpx-aiohttp'] / row['httpx']:.2f} | {row['aimux'] / row['httpx']:.2f} |"
        )
    return out


def added_latency_table(report: dict[str, Any]) -> list[str]:
    cells = report["cells"]
    floors, aimuxes = _gateways(report)
    out = [
        "",
        "Added latency = via the gateway - direct to the fake upstream (ms; the direct row of the upstream's "
        "dialect). Streams: TTFB = first SSE event, total = last byte.",
        "",
        "| direction | stream | conc | gateway | p50 added | p99 added | TTFB p50 added | TTFB p99 added |",
        "|---|---|--:|---|--:|--:|--:|--:|",
    ]
    for d in DIRECTIONS:
        for stream in (False, True):
            for conc in report["concurrency"]:
                direct = _find(cells, "direct", d.upstream, stream, conc)
                if direct is None:
                    continue
                for target in [*aimuxes, *floors]:
                    route = d.key if target.startswith("aimux") else _floor_route(d)
                    via = _find(cells, target, route, stream, conc)
                    if via is None:
                        continue

                    def diff(key: str, via: dict[str, Any] = via, direct: dict[str, Any] = direct) -> float | None:
                        return None if via[key] is None or direct[key] is None else via[key] - direct[key]

                    out.append(
                        f"| {d.label} | {yes_no(stream)} | {conc} | {target} "
                        f"| {fmt_signed(diff('p50_ms'))} | {fmt_signed(diff('p99_ms'))} "
                        f"| {fmt_signed(diff('ttfb_p50_ms'))} | {fmt_signed(diff('ttfb_p99_ms'))} |"
                    )
    return out


def cpu_table(report: dict[str, Any]) -> list[str]:
    """aimux's CPU per request against the floors, with the issue's verdict.

    The verdict uses the faster of the two httpx floors (plain and ``httpx-aiohttp``: the issue's
    "keep the faster"), i.e. the same client API aimux uses; the ratio to aiohttp used directly,
    without httpx, is shown for information.
    """
    cells = report["cells"]
    floors, aimuxes = _gateways(report)
    httpx_floors = [f for f in floors if f in ("floor httpx", "floor httpx-aiohttp")]
    if not aimuxes or not httpx_floors:
        return []
    out = [
        "",
        "Gateway CPU ms per request. Verdict against the faster httpx floor (the pass-through of the client's "
        f"dialect); target <= {TARGET_PASSTHROUGH_RATIO:g}x for pass-through directions, <= "
        f"{TARGET_TRANSLATED_RATIO:g}x translated; LiteLLM ~ {LITELLM_CPU_MS:g} ms:",
        "",
        f"| direction | stream | conc | {' | '.join(aimuxes)} | {' | '.join(floors)} "
        f"| {aimuxes[0]} / faster httpx floor | target | {aimuxes[0]} / floor aiohttp | LiteLLM / {aimuxes[0]} |",
        "|---|---|--:|" + "--:|" * (len(aimuxes) + len(floors) + 1) + "---|--:|--:|",
    ]
    for d in DIRECTIONS:
        for stream in (False, True):
            for conc in report["concurrency"]:
                mine = [_find(cells, a, d.key, stream, conc) for a in aimuxes]
                base = {f: _find(cells, f, _floor_route(d), stream, conc) for f in floors}
                if mine[0] is None:
                    continue
                own = mine[0]["server_cpu_ms"]
                httpx_cpu = [base[f]["server_cpu_ms"] for f in httpx_floors if base[f] is not None]
                limit = TARGET_TRANSLATED_RATIO if d.translated else TARGET_PASSTHROUGH_RATIO
                ratio = own / min(httpx_cpu) if httpx_cpu else None
                verdict = "-" if ratio is None else ("met" if ratio <= limit else "**missed**")
                raw = base.get("floor aiohttp")
                raw_ratio = own / raw["server_cpu_ms"] if raw is not None else None
                out.append(
                    f"| {d.label} | {yes_no(stream)} | {conc} | "
                    + " | ".join(f"**{fmt_num(m['server_cpu_ms'])}**" if m else "-" for m in mine)
                    + " | "
                    + " | ".join(fmt_num(b["server_cpu_ms"]) if b else "-" for b in base.values())
                    + f" | {fmt_num(ratio)}x | <= {limit:g}x {verdict} | {fmt_num(raw_ratio)}x "
                    f"| {LITELLM_CPU_MS / own:.0f}x |"
                )
    return out


def server_table(report: dict[str, Any]) -> list[str]:
    cells = report["cells"]
    out = [
        "",
        "Per process: throughput at concurrency 16 (one process; `util` = its CPU ÷ wall), RSS after all its "
        f"load (target < {TARGET_RSS_MB:g} MB), start-up = spawn to first 200 on `/healthz` "
        f"(target < {TARGET_STARTUP_S:g} s):",
        "",
        "| process | req/s json (util) | req/s stream (util) | RSS MB after load | peak RSS MB | start-up s min "
        "| start-up s median |",
        "|---|---|---|--:|--:|--:|--:|",
    ]
    sat = max(report["concurrency"])
    for fact in report["servers"]:
        name = fact["name"]
        rows = []
        for stream in (False, True):
            mine = [c for c in cells if c["target"] == name and c["stream"] == stream and c["concurrency"] == sat]
            rows.append(", ".join(f"{c['route']} {c['rps']:.0f} ({c['server_util']:.0%})" for c in mine) or "-")
        starts = fact["startup_s"]
        out.append(
            f"| {name} | {rows[0]} | {rows[1]} | {fmt_num(fact['rss_mb'], 1)} | {fmt_num(fact['hwm_mb'], 1)} "
            f"| {fmt_num(min(starts) if starts else None)} | {fmt_num(statistics.median(starts) if starts else None)} |"
        )
    return out
