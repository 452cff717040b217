"""The aimux configuration file as pydantic models: every field, what it means, and its default.

``AimuxConfig`` is the whole file. Unknown fields are errors (``extra="forbid"``), so a typo never
silently falls back to a default. Rules that span fields (every route target resolves, every model's
provider exists...) live in ``checks`` and run once the fields themselves are valid. Provider keys
are never values here: a provider names an environment variable or an SSM parameter holding its key.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field, PositiveInt, PrivateAttr, model_validator

from .checks import reference_problems
from .errors import ConfigProblems
from .provider import INLINE_KEY_MESSAGE, ProviderConfig
from .response_cache import ResponseCacheConfig
from .routes import SCENARIOS, Capability, ModelConfig, NonEmpty, ResolvedTarget, RouteConfig, Strategy
from .sections import (
    BreakerConfig,
    BreakerOverride,
    BreakerScope,
    CooldownConfig,
    LimitsConfig,
    PriceConfig,
    RetryConfig,
    Section,
    TimeoutsConfig,
    TokenGuardsConfig,
)

__all__ = [
    "INLINE_KEY_MESSAGE",
    "SCENARIOS",
    "AimuxConfig",
    "BreakerConfig",
    "BreakerOverride",
    "BreakerScope",
    "Capability",
    "CooldownConfig",
    "LimitsConfig",
    "ModelConfig",
    "PriceConfig",
    "ProviderConfig",
    "ResolvedTarget",
    "RetryConfig",
    "RouteConfig",
    "Strategy",
    "TimeoutsConfig",
    "TokenGuardsConfig",
]


class AimuxConfig(Section):
    """The whole configuration file."""

    version: Literal[1] = 1
    """Format version of this file."""
    providers: dict[str, ProviderConfig] = Field(min_length=1)
    """Upstreams by name; names are used in models, in ``provider/model`` targets and in metrics."""
    models: dict[str, ModelConfig] = Field(default_factory=dict)
    """Models clients can ask for, by id."""
    routes: dict[str, RouteConfig] = Field(default_factory=dict)
    """Scenario routes (default, background, thinking, tools, vision, long_context) and custom ones.
    A scenario without a route uses ``default``; without ``default``, it is the first model."""
    aliases: dict[str, NonEmpty] = Field(default_factory=dict)
    """Glob patterns on the client's model name (``claude-sonnet-*``) → a route name or a model; first match wins."""
    strategy: Strategy = "priority"
    """Default ordering of targets within a tier: ``priority`` (as written), ``weighted`` (model
    ``weight``), ``round_robin``, ``cheapest`` (model ``price``), ``lowest_latency`` (recent median),
    ``least_connections`` (fewest requests in flight across all instances; needs
    ``limits.max_concurrency`` on each provider it orders)."""
    long_context_threshold: PositiveInt = 100_000
    """Estimated input tokens above which a request uses the ``long_context`` route."""
    session_pinning: bool = True
    """Keep a session on the target that served it last (warm prompt caches, valid thinking signatures)."""
    retry: RetryConfig = RetryConfig()
    """Attempts, backoff and deadline of one request."""
    breaker: BreakerConfig = BreakerConfig()
    """Circuit breaker defaults (per-provider overrides under ``providers.<name>.breaker``)."""
    cooldown: CooldownConfig = CooldownConfig()
    """How long a target rests after a rate limit, an overload or a refused key."""
    budget_route: str | None = None
    """Route to step down to when a key's budget runs low (used by budget enforcement, when enabled)."""
    response_cache: ResponseCacheConfig = ResponseCacheConfig()
    """The exact-match response cache and in-flight dedup (off unless configured or asked per request)."""

    _source: str = PrivateAttr(default="config")

    @model_validator(mode="before")
    @classmethod
    def _default_route(cls, data: Any) -> Any:
        if isinstance(data, dict):
            models, routes = data.get("models"), data.get("routes", {})
            if isinstance(models, dict) and models and isinstance(routes, dict) and "default" not in routes:
                data = {**data, "routes": {**routes, "default": [next(iter(models))]}}
        return data

    @model_validator(mode="after")
    def _references(self) -> AimuxConfig:
        problems = reference_problems(self)
        if problems:
            raise ConfigProblems(problems)
        return self

    @property
    def source(self) -> str:
        """Where this configuration came from: the file path, or ``environment``."""
        return self._source

    def with_source(self, source: str) -> AimuxConfig:
        self._source = source
        return self

    def lookup_model(self, name: str) -> str | None:
        """The model id that ``name`` (an id or a model alias) addresses."""
        if name in self.models:
            return name
        return next((mid for mid, m in self.models.items() if name in m.aliases), None)

    def resolve_target(self, ref: str) -> ResolvedTarget | None:
        """A route/alias target: a model id or alias first, else ``provider/upstream-model``."""
        model_id = self.lookup_model(ref)
        if model_id is not None:
            model = self.models[model_id]
            return ResolvedTarget(model.provider, model.upstream(model_id), model_id)
        provider, slash, upstream = ref.partition("/")
        if slash and upstream and provider in self.providers:
            return ResolvedTarget(provider, upstream)
        return None

    def route(self, name: str) -> RouteConfig | None:
        """The route ``name``; a scenario without its own route uses ``default``."""
        found = self.routes.get(name)
        return found if found is not None or name not in SCENARIOS else self.routes.get("default")

    def strategy_for(self, route: str) -> Strategy:
        found = self.routes.get(route)
        return found.strategy if found is not None and found.strategy else self.strategy

    def budget_route_for(self, route: str) -> str | None:
        found = self.routes.get(route)
        return found.budget_route if found is not None and found.budget_route else self.budget_route

    def breaker_for(self, provider: str) -> BreakerConfig:
        """The top-level breaker settings with the provider's overrides applied."""
        override = self.providers[provider].breaker if provider in self.providers else None
        return override.applied_to(self.breaker) if override is not None else self.breaker
