"""The configuration when there is no file: every preset whose key variable is set, else the mock.

So ``ANTHROPIC_API_KEY=... aimux serve`` works with no file at all. Each enabled preset brings its
default models (``ProviderPreset.models``); each scenario route gets one tier per preset, in
autodetection order (``AUTODETECT``), so a failing provider falls over to the next one. Claude Code's
model names map to routes.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from typing import Any

from ..presets import AUTODETECT, DefaultModel, DefaultRoutes, ProviderPreset
from ..settings import Settings
from .schema import AimuxConfig
from .validate import validate_config

ENVIRONMENT = "environment"
MOCK_MODEL_ID = "aimux-mock"
# Claude Code's model names (any version) → scenario routes.
CLAUDE_CODE_ALIASES: tuple[tuple[str, str], ...] = (
    ("claude-haiku-*", "background"),
    ("claude-3-5-haiku-*", "background"),
    ("claude-sonnet-*", "default"),
    ("claude-3-7-sonnet-*", "default"),
    ("claude-opus-*", "thinking"),
)


def detected_presets(env: Mapping[str, str] = os.environ) -> list[ProviderPreset]:
    """The presets with default models whose key variable is set (and not blank), in priority order."""
    return [p for p in AUTODETECT if p.key_env and env.get(p.key_env, "").strip()]


def config_from_environment(env: Mapping[str, str] = os.environ, settings: Settings | None = None) -> AimuxConfig:
    """Presets whose key variables are set in ``env``, with their default models and routes; else the
    presets whose keys are SSM parameters under ``AIMUX_PROVIDER_KEY_PATH`` (``<path>/<preset>``, the
    deployed layout); else the mock. ``settings`` default to ``Settings.from_env(env)``."""
    enabled = detected_presets(env)
    if enabled:
        return validate_config(environment_data(enabled), ENVIRONMENT)
    settings = settings if settings is not None else Settings.from_env(env)
    ssm_enabled, sources = detected_ssm_presets(settings)
    if ssm_enabled:
        data = environment_data(ssm_enabled)
        for name, parameter in sources.items():
            data["providers"][name]["api_key_ssm"] = parameter
        return validate_config(data, ENVIRONMENT)
    return validate_config(mock_data(), ENVIRONMENT)


def detected_ssm_presets(settings: Settings) -> tuple[list[ProviderPreset], dict[str, str]]:
    """Presets with a key parameter ``<AIMUX_PROVIDER_KEY_PATH>/<preset>`` (one listing call)."""
    path = settings.provider_key_path
    if not path:
        return [], {}
    from .secrets import SsmAccess, ssm_keys_under  # Powertools, boto3: only deployments with keys in SSM

    names = {name.rsplit("/", 1)[-1]: name for name in ssm_keys_under(path, SsmAccess.of(settings))}
    enabled = [p for p in AUTODETECT if p.name in names]
    return enabled, {p.name: names[p.name] for p in enabled}


def mock_data() -> dict[str, Any]:
    """Only the built-in mock: every model name gets its deterministic answers."""
    return {
        "providers": {"mock": {"preset": "mock"}},
        "models": {
            MOCK_MODEL_ID: {
                "provider": "mock",
                "display_name": "aimux built-in mock",
                "context_window": 200_000,
                "max_output": 64_000,
                "capabilities": ["tools", "vision", "thinking"],
                "price": {"input": 0, "output": 0},
            }
        },
        "routes": {"default": [MOCK_MODEL_ID]},
    }


def _model(provider: str, model: DefaultModel) -> dict[str, Any]:
    price_in, price_out, cache_read, cache_write = model.price
    return {
        "provider": provider,
        "upstream_model": model.upstream,
        "display_name": model.display_name or model.id,
        "aliases": list(model.aliases),
        "context_window": model.context_window,
        "max_output": model.max_output,
        "capabilities": list(model.capabilities),
        "price": {"input": price_in, "output": price_out, "cache_read": cache_read, "cache_write": cache_write},
    }


def environment_data(enabled: Sequence[ProviderPreset]) -> dict[str, Any]:
    """Providers, models and the six scenario routes for the ``enabled`` presets (each has ``routes``)."""
    providers = {p.name: {"preset": p.name} for p in enabled}
    models = {m.id: _model(p.name, m) for p in enabled for m in p.models}
    routes_of = [(p, _routes(p)) for p in enabled]
    routes: dict[str, list[str]] = {
        "default": [r.default for _, r in routes_of],
        "background": [r.background for _, r in routes_of],
        "thinking": [r.thinking for _, r in routes_of],
        "tools": [r.default for _, r in routes_of],
        "long_context": sorted(
            (r.long_context for _, r in routes_of), key=lambda mid: -models[mid]["context_window"]
        ),  # the largest windows first
    }
    vision = [_vision_model(p) for p in enabled]
    if any(vision):
        routes["vision"] = [mid for mid in vision if mid]
    return {
        "providers": providers,
        "models": models,
        "routes": routes,
        "aliases": dict(CLAUDE_CODE_ALIASES),
    }


def _routes(preset: ProviderPreset) -> DefaultRoutes:
    if preset.routes is None:
        raise ValueError(f"preset {preset.name!r} has no default routes")  # AUTODETECT lists only presets with some
    return preset.routes


def _vision_model(preset: ProviderPreset) -> str | None:
    """The preset's default model if it sees images, else its first model that does."""
    ordered = [preset.model(_routes(preset).default), *preset.models]
    return next((m.id for m in ordered if "vision" in m.capabilities), None)
