"""Rules that span fields: every name a configuration uses must lead somewhere.

Run by ``AimuxConfig`` once each field is valid on its own. Every problem carries the path of the
field to fix (``routes.default.tiers[1][0]``; ``load`` shortens it to what the file actually says,
e.g. ``routes.default[1]`` for a route written as a plain list).
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Iterable, Mapping
from typing import Protocol

from .errors import Problem
from .provider import ProviderConfig
from .response_cache import ResponseCacheConfig
from .routes import SCENARIOS, ModelConfig, ResolvedTarget, RouteConfig, Strategy
from .sections import OVERFLOW_REFUSE


class AimuxConfig(Protocol):
    """What these rules read of a configuration (``schema.AimuxConfig``, which runs them once its fields
    are valid): a shape, so that this module needs nothing of the class that imports it."""

    @property
    def providers(self) -> Mapping[str, ProviderConfig]: ...
    @property
    def models(self) -> Mapping[str, ModelConfig]: ...
    @property
    def routes(self) -> Mapping[str, RouteConfig]: ...
    @property
    def aliases(self) -> Mapping[str, str]: ...
    @property
    def budget_route(self) -> str | None: ...
    @property
    def response_cache(self) -> ResponseCacheConfig: ...
    def resolve_target(self, ref: str) -> ResolvedTarget | None: ...
    def strategy_for(self, route: str) -> Strategy: ...


_PROVIDER_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")
_ROUTE_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")
_KEY_ID = re.compile(r"^key_[0-9a-f]{12}$")  # the format of keys/record.py new_key_id


def reference_problems(config: AimuxConfig) -> list[Problem]:
    return [
        *_provider_names(config),
        *_models(config),
        *_routes(config),
        *_aliases(config),
        *_budget(config, ("budget_route",), config.budget_route),
        *_response_cache(config),
        *_least_connections(config),
    ]


def _did_you_mean(name: str, candidates: Iterable[str]) -> str:
    close = difflib.get_close_matches(name, list(candidates), n=1, cutoff=0.75)
    return f"; did you mean {close[0]!r}?" if close else ""


def _provider_names(config: AimuxConfig) -> list[Problem]:
    return [
        Problem(("providers", name), "provider names use letters, digits, '.', '_' and '-' (no '/' or spaces)")
        for name in config.providers
        if not _PROVIDER_NAME.match(name)
    ]


def _models(config: AimuxConfig) -> list[Problem]:
    problems: list[Problem] = []
    claimed: dict[str, str] = {}  # alias -> model id that claims it
    for model_id, model in config.models.items():
        at = ("models", model_id)
        if not model_id.strip() or any(c.isspace() for c in model_id):
            problems.append(Problem(at, "model ids cannot be empty or contain spaces"))
        provider = config.providers.get(model.provider)
        if provider is None:
            hint = _did_you_mean(model.provider, config.providers)
            problems.append(Problem((*at, "provider"), f"unknown provider {model.provider!r}{hint}"))
            continue
        prefix, slash, _ = model_id.partition("/")
        if slash and prefix in config.providers and prefix != model.provider:
            problems.append(
                Problem(at, f"the id reads as provider {prefix!r} but the model is served by {model.provider!r}")
            )
        preset = provider.effective_preset(model.provider)
        if "vision" in model.capabilities and not preset.supports_images:
            problems.append(
                Problem((*at, "capabilities"), f"provider {model.provider!r} cannot send images; drop 'vision'")
            )
        for index, alias in enumerate(model.aliases):
            if alias in config.models:
                problems.append(Problem((*at, "aliases", index), f"{alias!r} is already a model id"))
            elif alias in claimed:
                problems.append(
                    Problem((*at, "aliases", index), f"{alias!r} is already an alias of {claimed[alias]!r}")
                )
            else:
                claimed[alias] = model_id
    return problems


def _target_problem(config: AimuxConfig, ref: str) -> str | None:
    if config.resolve_target(ref) is not None:
        return None
    provider, slash, upstream = ref.partition("/")
    if slash and upstream:
        return f"unknown model {ref!r} (not a model id, and {provider!r} is not a configured provider)"
    known = list(config.models) + [a for m in config.models.values() for a in m.aliases]
    return f"unknown model {ref!r}{_did_you_mean(ref, known)}"


def _routes(config: AimuxConfig) -> list[Problem]:
    problems: list[Problem] = []
    if "default" not in config.routes:
        problems.append(Problem(("routes",), "a 'default' route is required (or at least one model)"))
    for name, route in config.routes.items():
        at = ("routes", name)
        if not _ROUTE_NAME.match(name):
            problems.append(Problem(at, "route names use letters, digits, '.', '_' and '-'"))
        elif name not in SCENARIOS:
            normal = name.lower().replace("-", "_").replace(" ", "_")
            close = difflib.get_close_matches(normal, SCENARIOS, n=1, cutoff=0.85)
            if close:
                problems.append(
                    Problem(at, f"{name!r} looks like a misspelt scenario route {close[0]!r} "
                                f"(scenarios: {', '.join(SCENARIOS)})")
                )  # fmt: skip
        for t, tier in enumerate(route.tiers):
            for i, ref in enumerate(tier):
                message = _target_problem(config, ref)
                if message:
                    problems.append(Problem((*at, "tiers", t, i), message))
        problems += _budget(config, (*at, "budget_route"), route.budget_route, own=name)
        problems += _overflow(config, at, route.token_guards.context_overflow if route.token_guards else None, name)
    return problems


def _overflow(config: AimuxConfig, at: tuple[str, ...], target: str | None, own: str) -> list[Problem]:
    """``token_guards.context_overflow``: ``refuse`` or another route."""
    if target is None or target == OVERFLOW_REFUSE:
        return []
    where = (*at, "token_guards", "context_overflow")
    if target not in config.routes:
        hint = _did_you_mean(target, [OVERFLOW_REFUSE, *config.routes])
        return [Problem(where, f"expected 'refuse' or a route name, got {target!r}{hint}")]
    if target == own:
        return [Problem(where, "a route cannot send its overflow to itself")]
    return []


def _budget(config: AimuxConfig, at: tuple[str, ...], target: str | None, own: str | None = None) -> list[Problem]:
    if target is None:
        return []
    if target not in config.routes:
        return [Problem(at, f"unknown route {target!r}{_did_you_mean(target, config.routes)}")]
    if target == own:
        return [Problem(at, "a route cannot step down to itself")]
    return []


def _aliases(config: AimuxConfig) -> list[Problem]:
    problems: list[Problem] = []
    routes = set(config.routes) | set(SCENARIOS)
    for pattern, target in config.aliases.items():
        at = ("aliases", pattern)
        if not pattern.strip():
            problems.append(Problem(at, "an alias pattern cannot be empty"))
        is_route = target in routes
        is_model = config.resolve_target(target) is not None
        if is_route and is_model:
            problems.append(Problem(at, f"{target!r} is both a route and a model; rename one of them"))
        elif not is_route and not is_model:
            hint = _did_you_mean(target, [*routes, *config.models])
            problems.append(Problem(at, f"unknown route or model {target!r}{hint}"))
    return problems


def _response_cache(config: AimuxConfig) -> list[Problem]:
    """``response_cache`` rules must name a route (or scenario) and key ids."""
    section = config.response_cache
    routes = set(config.routes) | set(SCENARIOS)
    problems = [
        Problem(("response_cache", "routes", name), f"unknown route {name!r}{_did_you_mean(name, routes)}")
        for name in section.routes
        if name not in routes
    ]
    problems += [
        Problem(("response_cache", "keys", name), "not a key id (key_ followed by 12 hex digits)")
        for name in section.keys
        if not _KEY_ID.match(name)
    ]
    return problems


def _least_connections(config: AimuxConfig) -> list[Problem]:
    """``least_connections`` orders a tier by the requests in flight that provider concurrency leases
    count (``limits.provider_caps``): each provider it orders needs ``limits.max_concurrency``."""
    problems: list[Problem] = []
    missing: dict[str, str] = {}  # provider -> the first route that needs its count
    for name, route in config.routes.items():
        if config.strategy_for(name) != "least_connections":
            continue
        for tier in route.tiers:
            if len(tier) < 2:
                continue  # nothing to order
            for ref in tier:
                resolved = config.resolve_target(ref)
                if resolved is None or resolved.provider in missing:
                    continue
                if config.providers[resolved.provider].limits.max_concurrency is None:
                    missing[resolved.provider] = name
    for provider, route_name in missing.items():
        where = "routes." + route_name + ".strategy" if config.routes[route_name].strategy else "strategy"
        problems.append(
            Problem(
                ("providers", provider, "limits", "max_concurrency"),
                f"required by {where}: least_connections orders targets by the requests in flight that "
                f"provider concurrency limits count (set it to the provider's limit, or high to only count)",
            )
        )
    return problems
