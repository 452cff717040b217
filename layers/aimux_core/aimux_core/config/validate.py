"""Turning plain data into an ``AimuxConfig``, and pydantic's errors into ``ConfigError`` lines.

Each error becomes ``<source>: <path>: <message>`` with the path as the file spells it and, for a
file, the line. Messages never contain the offending value (it could be a key in the wrong place).
"""

from __future__ import annotations

import difflib
from collections.abc import Iterator
from functools import cache
from typing import Any

import yaml
from pydantic import BaseModel, ValidationError

from . import provider, schema, sections
from .errors import ConfigError, ConfigProblems, Problem
from .yamlfile import locate


def validate_config(data: Any, source: str, root: yaml.Node | None = None) -> schema.AimuxConfig:
    """The configuration in ``data``; ``ConfigError`` listing every problem, paths included."""
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise ConfigError.single(source, "the configuration must be a mapping (providers:, models:, routes:, ...)")
    try:
        config = schema.AimuxConfig.model_validate(data)
    except ValidationError as exc:
        problems = []
        for problem in _problems(exc):
            loc, line = locate(root, problem.loc) if root is not None else (problem.loc, None)
            problems.append(Problem(loc, problem.message, line))
        raise ConfigError(source, _unique(problems)) from None
    return config.with_source(source)


def _problems(exc: ValidationError) -> Iterator[Problem]:
    for error in exc.errors(include_url=False, include_input=False):
        loc = tuple(error["loc"])
        raised = (error.get("ctx") or {}).get("error")
        if isinstance(raised, ConfigProblems):
            for problem in raised.problems:
                yield Problem(loc + problem.loc, problem.message)
        else:
            yield Problem(loc, _message(error["type"], loc, error["msg"], error.get("ctx") or {}))


def _message(kind: str, loc: tuple[Any, ...], text: str, ctx: dict[str, Any]) -> str:
    if kind == "extra_forbidden" and loc and isinstance(loc[-1], str):
        close = difflib.get_close_matches(loc[-1], _field_names(), n=1, cutoff=0.75)
        hint = f" (did you mean {close[0]!r}?)" if close else ""
        return f"unknown field {loc[-1]!r}{hint}"
    if kind == "missing":
        return "required field is missing"
    if kind == "too_short":
        return "cannot be empty" if ctx.get("min_length") == 1 else f"needs at least {ctx.get('min_length')} items"
    if text.startswith("Value error, "):
        return text.removeprefix("Value error, ")
    return text[:1].lower() + text[1:]


@cache
def _field_names() -> tuple[str, ...]:
    """Every field name of every config section, for 'did you mean' hints."""
    names: set[str] = set()
    for module in (schema, provider, sections):
        for value in vars(module).values():
            if isinstance(value, type) and issubclass(value, BaseModel):
                names.update(value.model_fields)
    return tuple(sorted(names))


def _unique(problems: list[Problem]) -> list[Problem]:
    seen: set[tuple[Any, ...]] = set()
    unique = []
    for problem in problems:
        key = (problem.loc, problem.message)
        if key not in seen:
            seen.add(key)
            unique.append(problem)
    return unique
