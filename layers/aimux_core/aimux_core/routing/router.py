"""Which provider and upstream model serve a request.

Resolution order: an exact catalog id; then an explicit ``provider/model``; then the default
model, so that any name a client sends (Claude Code's ``claude-*`` names among them) gets an
answer. The response keeps the name the client asked for.
"""

from __future__ import annotations

from dataclasses import dataclass

from ..errors import NotFound
from .catalog import Catalog, ModelEntry


@dataclass(frozen=True, slots=True)
class Target:
    provider: str
    model: str
    reason: str
    entry: ModelEntry | None = None


class Router:
    def __init__(self, catalog: Catalog, default_model: str) -> None:
        default = catalog.get(default_model)
        if default is None:
            raise ValueError(f"default model {default_model!r} is not in the catalog")
        self.catalog = catalog
        self.default_id = default_model
        self._default = default
        self._providers = set(catalog.providers())

    def resolve(self, model: str) -> Target:
        entry = self.catalog.get(model)
        if entry is not None:
            return Target(entry.provider, entry.upstream_model, "model", entry)
        provider, slash, upstream = model.partition("/")
        if slash and upstream:
            if provider not in self._providers:
                raise NotFound(f"model: unknown provider {provider!r} in {model!r}", param="model")
            return Target(provider, upstream, "explicit", None)
        return Target(self._default.provider, self._default.upstream_model, "default", self._default)

    def limits_for(self, target: Target) -> ModelEntry:
        """The catalog entry whose limits apply to ``target`` (the default's when unknown)."""
        return target.entry or self._default
