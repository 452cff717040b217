"""``anthropic-beta`` flags and the request fields that need them, forwarded or stripped together.

A beta flag turns on request fields: ``context-management-2025-06-27`` gives ``context_management``
its meaning, ``effort-2025-11-24`` ``output_config.effort`` and so on (``BETA_FIELDS``). An upstream
that receives such a field without its flag rejects it (first-party Anthropic, Bedrock) or
misreads it, so a flag and its fields travel together. For each flag the client sent:

    forwarded (preset ``beta_policy`` / ``allowed_betas``)      flag and fields sent
    not forwarded, but in the preset's ``native_betas``         fields sent (the upstream takes
                                                                them without the flag: DeepSeek's
                                                                ``output_config.effort``)
    not forwarded                                               flag and fields stripped

Fields of flags the client did not send are the client's business and stay as they are (a field
that became generally available needs no flag). The table lists only flags whose fields aimux
knows; an unknown flag can only be forwarded or dropped as a header.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from types import MappingProxyType
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ..presets import ProviderPreset

# A field path: keys from the top of the request body; "*" walks every item of a list (tools).
FieldPath = tuple[str, ...]

_STRUCTURED_OUTPUTS: tuple[FieldPath, ...] = (("output_config", "format"), ("tools", "*", "strict"))
BETA_FIELDS: Mapping[str, tuple[FieldPath, ...]] = MappingProxyType(
    {
        "context-management-2025-06-27": (("context_management",),),
        "effort-2025-11-24": (("output_config", "effort"),),
        "structured-outputs-2025-11-13": _STRUCTURED_OUTPUTS,
        "structured-outputs-2025-12-15": _STRUCTURED_OUTPUTS,
        "advanced-tool-use-2025-11-20": (
            ("tools", "*", "defer_loading"),
            ("tools", "*", "input_examples"),
            ("tools", "*", "allowed_callers"),
        ),
        "mcp-client-2025-04-04": (("mcp_servers",),),
        "code-execution-2025-08-25": (("container",),),
        "thinking-display-updates-2026-08-18": (("thinking", "display"),),
    }
)


def client_betas(values: Iterable[str]) -> list[str]:
    """The flags of ``anthropic-beta`` header values (comma-separated, repeatable), in order, once each."""
    seen: dict[str, None] = {}
    for value in values:
        for flag in value.split(","):
            flag = flag.strip()
            if flag:
                seen.setdefault(flag, None)
    return list(seen)


def forwarded_betas(preset: ProviderPreset, betas: Iterable[str]) -> list[str]:
    """The client's flags this upstream may see, in order, without repeats (``preset.beta_policy``)."""
    if preset.beta_policy == "drop":
        return []
    flags = client_betas(betas)
    if preset.beta_policy == "forward":
        return flags
    return [flag for flag in flags if flag in preset.allowed_betas]


def strip_unforwarded_fields(
    body: dict[str, Any], sent: Iterable[str], forwarded: Iterable[str], native: frozenset[str] = frozenset()
) -> list[str]:
    """Remove from ``body`` the fields of every flag the client ``sent`` that is neither ``forwarded``
    nor ``native``; an ``output_config`` left empty goes too. Returns the removed paths (dotted)."""
    kept = set(forwarded) | native
    removed: list[str] = []
    for flag in client_betas(sent):
        if flag in kept:
            continue
        for path in BETA_FIELDS.get(flag, ()):
            if _remove(body, path):
                removed.append(".".join(path))
    if body.get("output_config") == {}:
        del body["output_config"]
    return removed


def _remove(node: Any, path: FieldPath) -> bool:
    head, rest = path[0], path[1:]
    if head == "*":
        return any([_remove(item, rest) for item in node]) if isinstance(node, list) else False
    if not isinstance(node, dict) or head not in node:
        return False
    if not rest:
        del node[head]
        return True
    return _remove(node[head], rest)
