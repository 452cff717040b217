"""A short human-readable summary of a configuration, for ``aimux config check`` and ``aimux serve``.

Names where each key comes from (variable or parameter), never whether or what it is.
"""

from __future__ import annotations

from .schema import AimuxConfig, ProviderConfig


def _provider_line(name: str, provider: ProviderConfig) -> str:
    what = f"preset {provider.preset}" if provider.preset else f"{provider.effective_dialect()} dialect"
    source = provider.key_source()
    key = f"key from {source.describe()}" if source else f"auth {provider.effective_auth()}"
    return f"  {name}: {what}, {key}"


def summarize(config: AimuxConfig) -> list[str]:
    """Providers, models and routes, one line each."""
    lines = [f"providers ({len(config.providers)}):"]
    lines += [_provider_line(name, p) for name, p in config.providers.items()]
    lines.append(f"models ({len(config.models)}):")
    for model_id, model in config.models.items():
        upstream = model.upstream(model_id)
        via = f"{model.provider}/{upstream}" if upstream != model_id else model.provider
        aliases = f" (aliases: {', '.join(model.aliases)})" if model.aliases else ""
        lines.append(f"  {model_id} -> {via}{aliases}")
    lines.append(f"routes ({len(config.routes)}, strategy {config.strategy}):")
    for name, route in config.routes.items():
        tiers = " | ".join(", ".join(tier) for tier in route.tiers)
        strategy = f" [{route.strategy}]" if route.strategy else ""
        lines.append(f"  {name}{strategy}: {tiers}")
    if config.aliases:
        lines.append(f"aliases ({len(config.aliases)}):")
        lines += [f"  {pattern} -> {target}" for pattern, target in config.aliases.items()]
    return lines
