"""What ``bench_upstream.py`` measures: the directions through aimux and the requests each target gets.

Why the model names differ per target: the direct cells talk to the fake upstream, which takes any
model, while the floors and aimux are sent aimux's model names, which the generated config maps to
the upstream's.
"""

from __future__ import annotations

import argparse
from dataclasses import dataclass

from request_shapes import Scenario, small_scenario

DUMMY_KEY = "sk-bench-not-a-real-key"
ANTHROPIC_MODEL, OPENAI_MODEL = "claude-bench", "gpt-bench"
UPSTREAM_ANTHROPIC_MODEL, UPSTREAM_OPENAI_MODEL = "claude-sonnet-4-5", "gpt-4o-mini"
DIALECTS = ("anthropic", "openai")

Route = tuple[str, Scenario]  # (route key as the report names it, the request sent)


@dataclass(frozen=True, slots=True)
class Direction:
    """A client dialect and the upstream dialect aimux talks to for it."""

    key: str
    client: str  # "anthropic" | "openai"
    upstream: str  # "anthropic" | "openai"

    @property
    def label(self) -> str:
        names = {"anthropic": "Anthropic", "openai": "OpenAI"}
        return f"{names[self.client]} → {names[self.upstream]}"

    @property
    def translated(self) -> bool:
        return self.client != self.upstream


DIRECTIONS = (
    Direction("a2a", "anthropic", "anthropic"),
    Direction("a2o", "anthropic", "openai"),
    Direction("o2o", "openai", "openai"),
)


def scenario(dialect: str, model: str, stream: bool, kind: str) -> Scenario:
    """One pre-encoded small request in ``dialect``, with the dummy key; ``kind`` names its route."""
    return small_scenario(dialect, model, stream, kind, DUMMY_KEY)


def stream_modes(args: argparse.Namespace) -> list[bool]:
    """The answers ``--stream`` asks for: False = JSON, True = streamed."""
    return [s for s in (False, True) if args.stream in ("both", "yes" if s else "no")]


def _dialect_routes(args: argparse.Namespace, models: dict[str, str]) -> list[Route]:
    return [(d, scenario(d, models[d], s, d)) for s in stream_modes(args) for d in DIALECTS]


def direct_routes(args: argparse.Namespace) -> list[Route]:
    """Straight to the fake upstream, one route per dialect."""
    return _dialect_routes(args, {"anthropic": UPSTREAM_ANTHROPIC_MODEL, "openai": UPSTREAM_OPENAI_MODEL})


def floor_routes(args: argparse.Namespace) -> list[Route]:
    """Through a pass-through floor, one route per dialect (the floor forwards to the same dialect)."""
    return _dialect_routes(args, {"anthropic": ANTHROPIC_MODEL, "openai": OPENAI_MODEL})


def aimux_routes(args: argparse.Namespace) -> list[Route]:
    """Through aimux, one route per ``--directions`` entry."""
    models = {"anthropic": ANTHROPIC_MODEL, "openai": OPENAI_MODEL}
    return [
        (d.key, scenario(d.client, models[d.upstream], s, d.key))
        for s in stream_modes(args)
        for d in DIRECTIONS
        if d.key in args.directions
    ]
