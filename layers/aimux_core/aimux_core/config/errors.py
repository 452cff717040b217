"""Configuration errors that name the path to the bad field, never the value that was there.

A ``Problem`` is one complaint at one location (``("routes", "default", "tiers", 1)``). Validators
that check several fields at once raise ``ConfigProblems`` (a ``ValueError``, so pydantic reports
it like any validation error and keeps the exception for ``load`` to unpack with exact paths).
``ConfigError`` is what callers see: one line per problem, ``file: path: message (line N)``.
Values are never echoed, because the value might be an API key pasted in the wrong place.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

Loc = tuple[str | int, ...]

_PLAIN_KEY = re.compile(r"^[A-Za-z_][A-Za-z0-9_-]*$")


@dataclass(frozen=True, slots=True)
class Problem:
    loc: Loc
    message: str
    line: int | None = None


def format_loc(loc: Sequence[str | int]) -> str:
    """``("routes", "default", 1)`` → ``routes.default[1]``; odd keys are quoted: ``aliases["claude-*"]``."""
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        elif _PLAIN_KEY.match(part):
            out += f".{part}" if out else part
        else:
            out += f"[{json.dumps(part)}]"
    return out or "(top level)"


class ConfigProblems(ValueError):
    """Raised inside validators: several problems, each with its path relative to the validated object."""

    def __init__(self, problems: Iterable[Problem]) -> None:
        self.problems = tuple(problems)
        super().__init__("; ".join(f"{format_loc(p.loc)}: {p.message}" for p in self.problems))


class ConfigError(Exception):
    """An unusable configuration: the file (or source) and every problem found, one per line."""

    def __init__(self, source: str, problems: Iterable[Problem]) -> None:
        self.source = source
        self.problems = tuple(problems)
        super().__init__("\n".join(self.lines()))

    def lines(self) -> list[str]:
        lines = []
        for problem in self.problems:
            where = f" (line {problem.line})" if problem.line else ""
            path = f"{format_loc(problem.loc)}: " if problem.loc else ""
            lines.append(f"{self.source}: {path}{problem.message}{where}")
        return lines

    @classmethod
    def single(cls, source: str, message: str, loc: Loc = (), line: int | None = None) -> ConfigError:
        return cls(source, [Problem(loc, message, line)])
