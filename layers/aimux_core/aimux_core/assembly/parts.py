"""Configuration → the parts of a running gateway: adapters, catalog, routing table, retry policy, guard, limits.

``build_gateway`` (the package's ``build_gateway`` calls it) wires them over one store. Provider keys are
read here (``providers.build_providers``), not when the configuration is loaded, so the first network
call of a process that keeps keys in SSM happens when this runs. This module is imported on the first
request of a Lambda container, never at its import: everything it imports serves a built gateway only.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from functools import partial
from types import MappingProxyType
from typing import TYPE_CHECKING

from ..accounting.counters import FleetCounters
from ..accounting.metrics import Emission, emit_key_spend, on_breaker_transition, on_cooldown
from ..cache.policy import CachePolicy
from ..cache.response_cache import ResponseCache
from ..config.secrets import SsmAccess
from ..config.sections import OVERFLOW_REFUSE
from ..gateway import Gateway
from ..limits.admission import Admission
from ..limits.provider_caps import ProviderLimiter
from ..limits.reservations import BudgetHolds, hold_seconds_for
from ..limits.spend import SpendLedger
from ..limits.token_guards import TokenGuards
from ..limits.windows import RateLimiter
from ..providers.transport import use_backend
from ..reasoning import ReasoningEcho
from ..redaction import install_log_redaction
from ..routing.catalog import Catalog
from ..routing.dispatch import RetryPolicy
from ..routing.guard import BreakerGuard, CappedGuard
from ..routing.table import Route, RoutingTable, Target
from ..settings import Settings
from ..state import CircuitBreaker, HealthTracker, MemoryStore, SystemClock
from ..state.backend import build_store
from ..state.breaker_model import BreakerSettings
from ..state.clock import Clock
from ..state.cooldowns import Cooldowns, CooldownSettings
from ..state.failure_policy import StateFailurePolicy
from ..state.reasoning import ReasoningMemory
from ..state.request_errors import RequestErrors
from ..state.signing_key import load_signing_key
from ..state.store import Store
from ..state.usage import UsageCounters
from ..translate.provenance_key import PROVENANCE_KEY
from .providers import build_catalog, build_providers

if TYPE_CHECKING:
    import httpx

    from ..config.schema import AimuxConfig
    from ..config.sections import TokenGuardsConfig


def _target(config: AimuxConfig, catalog: Catalog, ref: str) -> Target:
    resolved = config.resolve_target(ref)
    if resolved is None:  # impossible for a validated config
        raise ValueError(f"unresolvable target {ref!r}")
    entry = catalog.get(resolved.model_id) if resolved.model_id else None
    return Target(resolved.provider, resolved.upstream_model, entry)


def _token_guards(config: TokenGuardsConfig | None) -> TokenGuards | None:
    """A route's token guards as the request path reads them (None: the route has none)."""
    if config is None:
        return None
    overflow = config.context_overflow
    return TokenGuards(
        tool_result_max_tokens=config.tool_result_max_tokens,
        max_images=config.max_images,
        overflow=overflow is not None,
        overflow_route=None if overflow in (None, OVERFLOW_REFUSE) else overflow,
    )


def build_routing_table(config: AimuxConfig, catalog: Catalog | None = None) -> RoutingTable:
    """Routes (tiers of resolved targets), aliases and routing settings, as selection reads them."""
    catalog = catalog if catalog is not None else build_catalog(config)
    routes = {
        name: Route(
            name,
            tuple(tuple(_target(config, catalog, ref) for ref in tier) for tier in route.tiers),
            route.strategy,
            prompt_caching=route.prompt_caching,
            prompt_cache_ttl=route.prompt_cache_ttl,
            guards=_token_guards(route.token_guards),
        )
        for name, route in config.routes.items()
    }
    by_provider: dict[str, list[Target]] = {}
    for entry in catalog:
        by_provider.setdefault(entry.provider, []).append(Target(entry.provider, entry.upstream_model, entry))
    return RoutingTable(
        catalog=catalog,
        providers=frozenset(config.providers),
        routes=MappingProxyType(routes),
        aliases=tuple(config.aliases.items()),
        strategy=config.strategy,
        long_context_threshold=config.long_context_threshold,
        session_pinning=config.session_pinning,
        provider_models=MappingProxyType({p: tuple(ts) for p, ts in by_provider.items()}),
    )


def build_retry_policy(config: AimuxConfig, deadline_cap: float | None = None) -> RetryPolicy:
    """The dispatch policy of ``config.retry``; ``deadline_cap`` (``AIMUX_DEADLINE_SECONDS``) lowers its deadline.

    The cap is the deployment's, not the configuration's: behind the HTTP API (30 s) the function sets
    it so a late upstream gets the app's own 504 before API Gateway cuts the request.
    """
    retry = config.retry
    deadline = retry.deadline if deadline_cap is None else min(retry.deadline, deadline_cap)
    return RetryPolicy(
        max_attempts=retry.max_attempts,
        backoff_base=retry.backoff_base,
        backoff_max=retry.backoff_max,
        deadline=deadline,
        when_all_down=retry.when_all_down,
    )


def cooldown_settings(config: AimuxConfig) -> CooldownSettings:
    c = config.cooldown
    return CooldownSettings(rate_limit=c.rate_limit, overloaded=c.overloaded, auth_failure=c.auth_failure)


def breaker_settings(config: AimuxConfig, provider: str) -> BreakerSettings:
    """The breaker settings of ``provider`` (top-level ``breaker`` plus its overrides) for ``state.breaker``."""
    b = config.breaker_for(provider)
    return BreakerSettings(
        failure_threshold=b.failure_threshold,
        failure_ratio=b.failure_ratio,
        window_seconds=b.window,
        min_requests=b.min_requests,
        cooldown_seconds=b.cooldown,
        half_open_max_probes=b.half_open_max_probes,
    )


def build_gateway(
    config: AimuxConfig,
    settings: Settings,
    *,
    env: Mapping[str, str] = os.environ,
    client: httpx.AsyncClient | None = None,
    store: Store | None = None,
) -> Gateway:
    """The gateway for ``config``: ``ConfigError`` when a provider cannot start (missing key...).

    Breakers, health, provider caps, rate windows, spend, the thinking-signing key, the reasoning
    kept for ``echo`` providers (only when one is configured) and the response cache share one store:
    ``store``, else ``build_store(settings)``: the DynamoDB table named by ``AIMUX_TABLE``, else process
    memory.
    """
    install_log_redaction()  # provider keys are learned as they are read, just below
    use_backend(settings.upstream_transport)
    providers = build_providers(config, env=env, client=client, ssm=SsmAccess.of(settings))
    table = build_routing_table(config, build_catalog(config))
    clock = SystemClock()
    store = store if store is not None else build_store(settings, clock)
    # The thinking-signing key: the operator's, else the store's, read on first use only.
    PROVENANCE_KEY.use_loader(partial(load_signing_key, store, clock), override=settings.signing_key)
    policy = StateFailurePolicy(settings.state_failure)
    longest_call = max((provider.timeouts.total for provider in config.providers.values()), default=0.0)
    admission = Admission(
        RateLimiter(store, clock),
        SpendLedger(store, clock),
        clock,
        holds=BudgetHolds(store, clock, hold_seconds=hold_seconds_for(config.retry.deadline, longest_call)),
        policy=policy,
        budget_route_for=config.budget_route_for,
        on_spend=partial(emit_key_spend, Emission.of(settings)),
    )
    guard = build_guard(config, store, policy=policy, emission=Emission.of(settings))
    counters = build_counters(store, clock, settings.usage_retention_days)
    reasoning = None
    if any(getattr(getattr(p, "preset", None), "reasoning", "") == "echo" for p in providers.values()):
        reasoning = ReasoningEcho(ReasoningMemory(store, clock))
    return Gateway(
        providers,
        table,
        policy=build_retry_policy(config, settings.deadline_seconds),
        guard=guard,
        admission=admission,
        reasoning=reasoning,
        counters=counters,
        config=config,
        response_cache=build_response_cache(config, store, clock),
    )


def build_response_cache(config: AimuxConfig, store: Store, clock: Clock) -> ResponseCache:
    """The response cache and dedup of ``config.response_cache`` over the gateway's store (always built: a
    request may opt in with ``x-aimux-cache: use`` where nothing is configured)."""
    section = config.response_cache
    return ResponseCache(
        store,
        clock,
        CachePolicy(section),
        lease_seconds=section.lease_seconds,
        max_wait_seconds=section.max_wait_seconds,
    )


def build_counters(store: Store, clock: Clock, retention_days: int) -> FleetCounters:
    """The fleet-wide usage and error counters over ``store`` (daily rows kept ``retention_days``)."""
    return FleetCounters(UsageCounters(store, clock, retention_days=retention_days), RequestErrors(store, clock))


def build_guard(
    config: AimuxConfig,
    store: Store | None = None,
    *,
    policy: StateFailurePolicy | None = None,
    emission: Emission = Emission(),
) -> BreakerGuard | CappedGuard:
    """Breakers (with each provider's settings), health statistics and cooldowns over one store, behind
    the providers' caps when any provider has ``limits``.

    Without a store given, state lives in process memory. The guard's ``cooldowns`` are the ones the
    gateway's dispatcher uses, so cooldowns are shared with the fleet through the same store.
    """
    clock = SystemClock()
    store = store if store is not None else MemoryStore(clock)
    on_transition = partial(on_breaker_transition, emission)

    def breaker(provider: str) -> CircuitBreaker:
        return CircuitBreaker(store, clock, breaker_settings(config, provider), on_transition=on_transition)

    default = breaker("")
    breakers = {name: breaker(name) for name in config.providers}
    cooldowns = Cooldowns(clock, store, cooldown_settings(config), on_start=partial(on_cooldown, emission))
    guard = BreakerGuard(
        default, HealthTracker(store, clock), breakers=breakers, scope=config.breaker.scope, cooldowns=cooldowns
    )
    capped = any(p.limits.rpm or p.limits.max_concurrency for p in config.providers.values())
    if not capped:
        return guard
    limiter = ProviderLimiter.from_config(store, clock, config)
    strategies = {config.strategy_for(name) for name in config.routes}
    return CappedGuard(
        guard, limiter, policy or StateFailurePolicy(), clock, count_inflight="least_connections" in strategies
    )
