"""The Markdown report of ``bench_gateway.py``, rendered from the same dict that ``--json`` saves."""

from __future__ import annotations

import statistics
from typing import Any

from run_report import fmt_num, header_lines, yes_no

# Targets from the issue; printed next to the figures, never asserted.
TARGET_CPU_MS_NONSTREAM = 2.0
TARGET_IMPORT_MS = 400.0


def render_markdown(report: dict[str, Any]) -> str:
    """The Markdown report (stdout): the request table, then the cold import tables, each with its target."""
    out = header_lines("aimux gateway benchmark", report)
    load: list[dict[str, Any]] = report.get("load") or []
    if load:
        out += [
            f"- gateway: `{report['server_command']}`"
            + (" pinned to CPU 0, load generator on CPU 1" if report["pinned"] else " (not pinned)"),
            f"- client: {report['client']}; {report['requests']} timed requests per row after "
            f"{report['warmup']} warm-up requests"
            + (f"; each row the best of {report['repeat']} runs" if report["repeat"] > 1 else ""),
            "",
            "| dialect | body | stream | conc | p50 ms | p99 ms | TTFB p50 ms | TTFB p99 ms | req/s "
            "| server CPU ms/req | server CPU util | client CPU ms/req | req KB | resp KB | SSE events |",
            "|---|---|---|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|",
        ]
        for r in load:
            out.append(
                f"| {r['dialect']} | {r['body']} | {yes_no(r['stream'])} | {r['concurrency']} "
                f"| {fmt_num(r['p50_ms'])} | {fmt_num(r['p99_ms'])} | {fmt_num(r['ttfb_p50_ms'])} "
                f"| {fmt_num(r['ttfb_p99_ms'])} | {r['rps']:.0f} | **{fmt_num(r['server_cpu_ms_per_req'])}** "
                f"| {r['server_cpu_util']:.0%} | {fmt_num(r['client_cpu_ms_per_req'])} "
                f"| {r['request_bytes'] / 1024:.1f} | {r['response_bytes'] / 1024:.1f} "
                f"| {r['sse_events'] if r['sse_events'] is not None else '-'} |"
            )
        nonstream = [r for r in load if not r["stream"]]
        if nonstream:
            worst = max(nonstream, key=lambda r: r["server_cpu_ms_per_req"])
            verdict = "met" if worst["server_cpu_ms_per_req"] < TARGET_CPU_MS_NONSTREAM else "MISSED"
            out += [
                "",
                f"Target: under {TARGET_CPU_MS_NONSTREAM:g} server CPU ms per non-streaming request: "
                f"**{verdict}** (worst row: {worst['dialect']} {worst['body']} c={worst['concurrency']}, "
                f"{worst['server_cpu_ms_per_req']:.2f} ms).",
            ]
    imp: dict[str, Any] | None = report.get("import")
    if imp:
        median_wall = statistics.median(imp["wall_ms"])
        verdict = "met" if median_wall < TARGET_IMPORT_MS else "MISSED"
        rows = [
            ("`import app` wall, plain interpreter (perf_counter)", imp["wall_ms"]),
            ("`import app` total, `-X importtime` (sum of top-level cumulative)", imp["importtime_ms"]),
            ("`import app` wall inside the `-X importtime` run (perf_counter)", imp["importtime_wall_ms"]),
            ("whole process, spawn to exit, plain (interpreter start included)", imp["process_ms"]),
        ]
        out += [
            "",
            f"Cold import of `functions/messages/app.py` ({imp['runs']} fresh interpreters each, .pyc present, "
            f"{imp['modules']} modules imported by `import app`):",
            "",
            "| measure | min ms | median ms |",
            "|---|--:|--:|",
            *(f"| {name} | {min(v):.0f} | {statistics.median(v):.0f} |" for name, v in rows),
            "",
            f"Target: cold import under {TARGET_IMPORT_MS:g} ms (median plain wall): **{verdict}** "
            f"({median_wall:.0f} ms).",
            "",
            "Top imports by cumulative time (median over the `-X importtime` runs, ms):",
            "",
            "| module | cumulative ms | | module | self ms |",
            "|---|--:|---|---|--:|",
        ]
        for (cum_name, cum_ms), (self_name, self_ms) in zip(imp["top_cumulative"], imp["top_self"], strict=False):
            out.append(f"| {cum_name} | {cum_ms:.1f} | | {self_name} | {self_ms:.1f} |")
    return "\n".join(out)
