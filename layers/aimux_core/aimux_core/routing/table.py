"""The routing table: what selection reads, built once from the configuration.

A route is an ordered list of tiers; a tier is one or more targets that the route's strategy
orders among themselves (priority, weighted, round-robin, cheapest, lowest latency, least
connections). Tiers are walked in order: a later tier is a fallback, never a peer.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from fnmatch import fnmatchcase
from types import MappingProxyType
from typing import TYPE_CHECKING, Literal

from .catalog import Catalog, ModelEntry

if TYPE_CHECKING:
    from ..limits.token_guards import TokenGuards
    from ..presets import CacheTtl, PromptCaching

Strategy = Literal["priority", "weighted", "round_robin", "cheapest", "lowest_latency", "least_connections"]


@dataclass(frozen=True, slots=True)
class Target:
    """One provider + upstream model; ``entry`` carries its limits, capabilities and price."""

    provider: str
    model: str
    entry: ModelEntry | None = None
    # "provider/model": breakers, health and logs name the target by it, a dozen times per request
    key: str = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "key", f"{self.provider}/{self.model}")

    @property
    def label(self) -> str:
        """The name operators know it by: the catalog id when there is one."""
        return self.entry.id if self.entry is not None else self.key


@dataclass(frozen=True, slots=True)
class Route:
    """Tiers of targets, plus what applies to the route's requests: prompt caching (None: the providers'
    settings alone) and token guards (None: off)."""

    name: str
    tiers: tuple[tuple[Target, ...], ...]
    strategy: Strategy | None = None  # None: the table's default
    prompt_caching: PromptCaching | None = None
    prompt_cache_ttl: CacheTtl | None = None
    guards: TokenGuards | None = None

    @property
    def context_window(self) -> int:
        """The largest context window among the route's catalog targets (0 when none has an entry)."""
        return max((t.entry.context_window for tier in self.tiers for t in tier if t.entry is not None), default=0)


@dataclass(frozen=True, slots=True)
class RoutingTable:
    catalog: Catalog
    providers: frozenset[str]
    routes: Mapping[str, Route]
    aliases: tuple[tuple[str, str], ...] = ()  # (glob pattern on the client's model name, route name or model id)
    strategy: Strategy = "priority"
    long_context_threshold: int = 100_000
    session_pinning: bool = True
    provider_models: Mapping[str, tuple[Target, ...]] = field(default_factory=lambda: MappingProxyType({}))

    def target_for(self, model_id: str) -> Target | None:
        """A catalog model id as a target."""
        entry = self.catalog.get(model_id)
        return Target(entry.provider, entry.upstream_model, entry) if entry is not None else None

    def entry_for_name(self, name: str) -> tuple[ModelEntry, bool] | None:
        """The catalog entry a client's model name stands for, and whether the name is the entry's own
        (its id or one of its aliases); None when nothing configured names it.

        As selection resolves names (``select.py``): a catalog id or alias; ``provider/upstream-model`` of a
        configured model; an alias pattern (``claude-sonnet-*``) naming a model, or a route (its first
        target); and with only the built-in mock configured, every name (the mock answers them all).
        """
        entry = self.catalog.get(name)
        if entry is not None:
            return entry, True
        provider, slash, upstream = name.partition("/")
        if slash and provider in self.providers:
            known = next((t.entry for t in self.provider_models.get(provider, ()) if t.model == upstream), None)
            return (known, False) if known is not None else None
        for pattern, destination in self.aliases:
            if fnmatchcase(name, pattern):
                aliased = self.catalog.get(destination) or self._first_entry(destination)
                return (aliased, False) if aliased is not None else None
        if self.providers == {"mock"}:
            default = self._first_entry("default")
            return (default, False) if default is not None else None
        return None

    def _first_entry(self, route: str) -> ModelEntry | None:
        found = self.routes.get(route)
        return next((t.entry for tier in found.tiers for t in tier if t.entry is not None), None) if found else None


def table_for_catalog(catalog: Catalog, default_model: str) -> RoutingTable:
    """The simplest table: every scenario uses the default model, other catalog models follow as fallbacks."""
    default = catalog.get(default_model)
    if default is None:
        raise ValueError(f"default model {default_model!r} is not in the catalog")
    first = Target(default.provider, default.upstream_model, default)
    rest = tuple(Target(e.provider, e.upstream_model, e) for e in catalog if e.id != default.id)
    tiers = ((first,), rest) if rest else ((first,),)
    by_provider: dict[str, list[Target]] = {}
    for entry in catalog:
        by_provider.setdefault(entry.provider, []).append(Target(entry.provider, entry.upstream_model, entry))
    return RoutingTable(
        catalog=catalog,
        providers=frozenset(catalog.providers()),
        routes=MappingProxyType({"default": Route("default", tiers)}),
        provider_models=MappingProxyType({p: tuple(ts) for p, ts in by_provider.items()}),
    )
