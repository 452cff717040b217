"""The configuration when there is no file: every preset whose key variable is set, else the mock.

So ``ANTHROPIC_API_KEY=... aimux serve`` works with no file at all. Each enabled preset brings its
default models (``defaults``); each scenario route gets one tier per preset, in autodetection order,
so a failing provider falls over to the next one. Claude Code's model names map to routes.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from typing import Any

from ..providers.presets import preset
from ..settings import Settings
from .defaults import AUTODETECT, CLAUDE_CODE_ALIASES, MOCK_MODEL_ID, DefaultModel, PresetDefaults
from .schema import AimuxConfig
from .validate import validate_config

ENVIRONMENT = "environment"


def detected_presets(env: Mapping[str, str] = os.environ) -> list[PresetDefaults]:
    """The presets with default models whose key variable is set (and not blank), in priority order."""
    found = []
    for defaults in AUTODETECT:
        key_env = preset(defaults.preset).key_env
        if key_env and env.get(key_env, "").strip():
            found.append(defaults)
    return found


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


def detected_ssm_presets(settings: Settings) -> tuple[list[PresetDefaults], dict[str, str]]:
    """Presets with a key parameter ``<AIMUX_PROVIDER_KEY_PATH>/<preset>`` (one listing call)."""
    path = settings.provider_key_path
    if not path:
        return [], {}
    from .secrets import ssm_keys_under  # Powertools and boto3: only a deployment that keeps keys in SSM

    names = {name.rsplit("/", 1)[-1]: name for name in ssm_keys_under(path, region=settings.region)}
    enabled = [d for d in AUTODETECT if d.preset in names]
    return enabled, {d.preset: names[d.preset] for d in enabled}


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


def environment_data(enabled: Sequence[PresetDefaults]) -> dict[str, Any]:
    """Providers, models and the six scenario routes for the ``enabled`` presets."""
    providers = {d.preset: {"preset": d.preset} for d in enabled}
    models = {m.id: _model(d.preset, m) for d in enabled for m in d.models}
    routes: dict[str, list[str]] = {
        "default": [d.default for d in enabled],
        "background": [d.background for d in enabled],
        "thinking": [d.thinking for d in enabled],
        "tools": [d.default for d in enabled],
        "long_context": sorted(
            (d.long_context for d in enabled), key=lambda mid: -models[mid]["context_window"]
        ),  # the largest windows first
    }
    vision = [_vision_model(d) for d in enabled]
    if any(vision):
        routes["vision"] = [mid for mid in vision if mid]
    return {
        "providers": providers,
        "models": models,
        "routes": routes,
        "aliases": dict(CLAUDE_CODE_ALIASES),
    }


def _vision_model(defaults: PresetDefaults) -> str | None:
    """The preset's default model if it sees images, else its first model that does."""
    ordered = [defaults.model(defaults.default), *defaults.models]
    return next((m.id for m in ordered if "vision" in m.capabilities), None)
