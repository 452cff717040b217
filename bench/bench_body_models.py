#!/usr/bin/env python3
"""What the typed models cost on a request body and a JSON answer, against the floor's plain JSON.

Why: two of issue 17's directions would skip the canonical models where a body passes through
unchanged: forward the request without "the full typed model" (the recorded 47 KB Claude Code turn
named as the case that matters), and forward a same-dialect JSON answer "as bytes with the few fields
aimux must change spliced in". This prices the most either could save, in-process, one step at a
time, on the bodies the in-process harness sends (``bench_app_inprocess.py --body claude-code``):

- request, aimux: ``MessagesRequest.model_validate_json`` (the surface's parse, which is also the
  validation every request needs), ``build_body`` for first-party Anthropic (the dump plus the dict
  edits) and ``compact_json`` (the bytes sent);
- request, the bare floor: ``json.loads``, the model swapped, ``json.dumps`` (``bare_floor.py``);
- answer, aimux: ``parse_message`` (validated once into a ``Message``: the malformed-answer check,
  the usage accounting reads, the tool ids and model name) and ``dump_json`` (what the client gets);
- answer, spliced: ``json.loads`` for the usage plus the bytes (the least a splice must do: the
  answer must still be read to bill it), a lower bound of the direction.

CPU time (``time.process_time``) per call, best of ``--repeat`` loops of ``--number``; every call gets a
body object of its own where the live path would (fresh strings, as on the wire).
Run: ``.venv/bin/python bench/bench_body_models.py [--pin]``
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

BENCH_DIR = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH_DIR))
sys.path.insert(0, str(BENCH_DIR.parent / "layers" / "aimux_core"))

from request_shapes import claude_code_scenarios  # noqa: E402

from aimux_core.presets import PRESETS  # noqa: E402
from aimux_core.providers.anthropic import build_body, parse_message  # noqa: E402
from aimux_core.wire.anthropic import MessagesRequest  # noqa: E402
from aimux_core.wire.json_bytes import compact_json  # noqa: E402

UPSTREAM_MODEL = "claude-upstream"


def answer(text_chars: int) -> bytes:
    """A first-party Anthropic answer: text of ``text_chars`` characters and one tool call, full usage."""
    return json.dumps(
        {
            "id": "msg_01XFDUDYJgAACzvnptvVoYEL",
            "type": "message",
            "role": "assistant",
            "model": "claude-sonnet-4-5-20250929",
            "content": [
                {"type": "text", "text": ("I will list the files first. " * (text_chars // 29 + 1))[:text_chars]},
                {
                    "type": "tool_use",
                    "id": "toolu_01A09q90qw90lq917835lq9",
                    "name": "Bash",
                    "input": {"command": "ls -la", "description": "List the files"},
                },
            ],
            "stop_reason": "tool_use",
            "stop_sequence": None,
            "usage": {
                "input_tokens": 2095,
                "output_tokens": 503,
                "cache_creation_input_tokens": 0,
                "cache_read_input_tokens": 11000,
            },
        }
    ).encode()


def per_call(step: Callable[[], object], number: int, repeat: int) -> float:
    """Best CPU µs per call of ``step``."""
    step()
    best = float("inf")
    for _ in range(repeat):
        start = time.process_time()
        for _ in range(number):
            step()
        best = min(best, (time.process_time() - start) / number)
    return best * 1e6


def request_rows(number: int, repeat: int) -> list[tuple[str, float]]:
    body = next(shape for shape in claude_code_scenarios() if not shape.stream).body
    preset = PRESETS["anthropic"]
    parsed = MessagesRequest.model_validate_json(body)

    def floor() -> bytes:
        request: dict[str, Any] = json.loads(body)
        request["model"] = UPSTREAM_MODEL
        return json.dumps(request, separators=(",", ":")).encode()

    def built() -> dict[str, Any]:
        return build_body(parsed, UPSTREAM_MODEL, preset, provider="bench", stream=False, version="2023-06-01")

    upstream_body = built()
    return [
        (f"request ({len(body):,} B): validate (MessagesRequest.model_validate_json)", per_call(
            lambda: MessagesRequest.model_validate_json(body), number, repeat)),
        ("request: build_body (dump + edits)", per_call(built, number, repeat)),
        ("request: compact_json of the upstream body", per_call(lambda: compact_json(upstream_body), number, repeat)),
        ("request: the bare floor (json.loads, model swapped, json.dumps)", per_call(floor, number, repeat)),
    ]  # fmt: skip


def answer_rows(number: int, repeat: int) -> list[tuple[str, float]]:
    rows = []
    for chars in (20, 2000, 20000):
        raw = answer(chars)
        message = parse_message(raw, "bench", "claude-client", sign_thinking=False)
        rows += [
            (f"answer ({len(raw):,} B): parse_message", per_call(
                lambda raw=raw: parse_message(raw, "bench", "claude-client", sign_thinking=False), number, repeat)),
            ("answer: dump_json", per_call(message.dump_json, number, repeat)),
            ("answer: spliced, at least (json.loads for the usage)", per_call(
                lambda raw=raw: json.loads(raw)["usage"], number, repeat)),
        ]  # fmt: skip
    return rows


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--number", type=int, default=2000, help="calls per loop (default 2000)")
    parser.add_argument("--repeat", type=int, default=5, help="loops per step; the best is kept (default 5)")
    parser.add_argument("--pin", action="store_true", help="run on CPU 0")
    args = parser.parse_args(argv)
    if args.pin:
        os.sched_setaffinity(0, {0})
    print(f"# Python {sys.version.split()[0]}, best of {args.repeat} x {args.number}, CPU µs per call")
    for name, micros in request_rows(args.number, args.repeat) + answer_rows(args.number, args.repeat):
        print(f"{micros:8.1f}  {name}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
