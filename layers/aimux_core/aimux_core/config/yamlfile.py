"""Reading the YAML file: safe loading, duplicate keys as errors, and line numbers for error paths.

The file is parsed twice (it is small): once into plain data, once into the node tree that keeps
each value's position, so a validation error's path can be given the line it is on.
"""

from __future__ import annotations

from typing import Any

import yaml
from yaml.constructor import ConstructorError

from .errors import ConfigError, Loc


class _StrictLoader(yaml.SafeLoader):
    """``SafeLoader`` that refuses a key written twice in one mapping (YAML would keep the last)."""

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
        seen: set[Any] = set()
        for key_node, _ in node.value:
            if key_node.tag == "tag:yaml.org,2002:merge":
                continue
            key = self.construct_object(key_node, deep=True)
            if isinstance(key, str | int | float | bool) and key in seen:
                raise ConstructorError(None, None, f"duplicate key {key!r}", key_node.start_mark)
            seen.add(key) if isinstance(key, str | int | float | bool) else None
        return super().construct_mapping(node, deep=deep)


def parse(text: str, source: str) -> tuple[Any, yaml.Node | None]:
    """The document's data and its node tree; ``ConfigError`` (with the line) for invalid YAML."""
    try:
        data = yaml.load(text, Loader=_StrictLoader)  # a SafeLoader subclass: no arbitrary objects
        root = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark is not None else None
        what = exc.problem or exc.context or "invalid YAML"
        raise ConfigError.single(source, f"invalid YAML: {what}", line=line) from None
    except yaml.YAMLError as exc:
        raise ConfigError.single(source, f"invalid YAML: {type(exc).__name__}") from None
    return data, root


def locate(root: yaml.Node | None, loc: Loc) -> tuple[Loc, int | None]:
    """The part of ``loc`` the file actually spells out, and the line it ends on.

    Segments that are not in the file are skipped: the ``tiers`` of a route written as a plain list,
    the index of a tier written as a single name. A key missing from a mapping is kept (it is the
    field to add) and ends the walk.
    """
    node, kept = root, []
    line = root.start_mark.line + 1 if root is not None else None
    for part in loc:
        if node is None:
            kept.append(part)
        elif isinstance(node, yaml.MappingNode):
            match = next(((k, v) for k, v in node.value if isinstance(k, yaml.ScalarNode) and k.value == str(part)),
                         None)  # fmt: skip
            kept.append(part)
            if match is None:
                node = None
            else:
                line, node = match[0].start_mark.line + 1, match[1]
        elif isinstance(node, yaml.SequenceNode) and isinstance(part, int) and 0 <= part < len(node.value):
            kept.append(part)
            node = node.value[part]
            line = node.start_mark.line + 1
    return tuple(kept), line
