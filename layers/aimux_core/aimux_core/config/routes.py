"""What a configuration routes to: its models (``ModelConfig``), its routes (``RouteConfig``), the scenario
names, and a target as resolution leaves it (``ResolvedTarget``).

Separate from ``schema`` (the whole file) so that ``checks``, which validates references between these
parts, needs nothing of ``AimuxConfig`` but its shape.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Any, Literal

from pydantic import BeforeValidator, Field, NonNegativeInt, PositiveInt, StringConstraints, model_validator

from ..presets import CacheTtl, PromptCaching
from .errors import ConfigProblems, Problem
from .sections import PriceConfig, Section, TokenGuardsConfig

Strategy = Literal["priority", "weighted", "round_robin", "cheapest", "lowest_latency", "least_connections"]
Capability = Literal["tools", "vision", "thinking"]
SCENARIOS: tuple[str, ...] = ("default", "background", "thinking", "tools", "vision", "long_context")

NonEmpty = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1)]


def _capabilities(value: Any) -> Any:
    """``{tools: true, vision: false}`` is accepted as well as ``[tools]``."""
    if isinstance(value, dict):
        return [name for name, on in value.items() if on]
    return value


class ModelConfig(Section):
    """One model clients can ask for; its key in ``models`` is the id clients send."""

    provider: NonEmpty
    """The provider (a key of ``providers``) that serves it."""
    upstream_model: NonEmpty | None = None
    """The model id sent upstream (default: this model's id)."""
    display_name: str | None = None
    """Name shown in ``/v1/models`` (default: the id)."""
    aliases: tuple[NonEmpty, ...] = ()
    """Further exact names that address this model (e.g. dated ids)."""
    context_window: PositiveInt = 128_000
    """Tokens the model accepts (input + output); larger requests skip it."""
    max_output: PositiveInt = 8_192
    """Most output tokens per answer; fills ``max_tokens`` for clients that leave it out."""
    capabilities: Annotated[tuple[Capability, ...], BeforeValidator(_capabilities)] = ("tools",)
    """What it can do: ``tools``, ``vision``, ``thinking``. Requests needing more skip it."""
    price: PriceConfig | None = None
    """USD per million tokens, for cost accounting and the ``cheapest`` strategy."""
    weight: NonNegativeInt = 1
    """Share of traffic under the ``weighted`` strategy (0: only when the others are unavailable)."""
    cache_min_tokens: PositiveInt | None = None
    """Shortest prefix aimux puts a prompt-cache breakpoint on (default: Anthropic's minimum for the model:
    1024, 2048 for Haiku 3/3.5, 4096 for Opus 4.5/4.6 and Haiku 4.5)."""

    @model_validator(mode="after")
    def _fits(self) -> ModelConfig:
        if self.max_output > self.context_window:
            raise ConfigProblems([Problem(("max_output",), "cannot exceed context_window")])
        return self

    def upstream(self, model_id: str) -> str:
        return self.upstream_model or model_id


def _one_or_many(value: Any) -> Any:
    return [value] if isinstance(value, str) else value


Tier = Annotated[tuple[NonEmpty, ...], BeforeValidator(_one_or_many), Field(min_length=1)]


class RouteConfig(Section):
    """An ordered list of tiers; a tier is one target or a list of targets ordered by the strategy.

    Written as just the list (``default: [a, [b, c], d]``) or as a mapping with ``tiers``.
    A target is a model id (or model alias) from ``models``, or ``provider/upstream-model``.
    """

    tiers: tuple[Tier, ...] = Field(min_length=1)
    """Tried in order: a later tier is a fallback, never a peer."""
    strategy: Strategy | None = None
    """Orders the targets within each tier (default: the top-level ``strategy``)."""
    budget_route: str | None = None
    """A cheaper route to step down to when a budget runs low (default: the top-level one)."""
    prompt_caching: PromptCaching | None = None
    """Automatic prompt caching for this route's traffic: ``auto``, ``multi_turn`` (conversations only) or
    ``off``; the stricter of this and the serving provider's setting applies (default: the provider's)."""
    prompt_cache_ttl: CacheTtl | None = None
    """TTL of the breakpoints aimux places for this route: ``5m`` or ``1h`` (default: the provider's)."""
    token_guards: TokenGuardsConfig | None = None
    """Opt-in limits applied to this route's requests: tool-result size, image count, context overflow."""

    @model_validator(mode="before")
    @classmethod
    def _short_form(cls, data: Any) -> Any:
        return {"tiers": _one_or_many(data)} if isinstance(data, str | list) else data


@dataclass(frozen=True, slots=True)
class ResolvedTarget:
    """A route or alias target after resolution: where it goes, and the model entry if it names one."""

    provider: str
    upstream_model: str
    model_id: str | None = None
