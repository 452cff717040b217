"""``GET /admin/config``: the configuration a gateway runs with, with every secret replaced by where it lives.

The configuration file never holds a key (``config/provider.py`` refuses one), so the providers' entries
are shown as loaded, each with ``api_key`` saying where its key comes from (``{"source": "env", "name":
"ANTHROPIC_API_KEY"}``, ``{"source": "ssm", "name": "/aimux/providers/anthropic"}``, or null for a provider
that needs none) instead of the two fields naming it. The deployment's settings that shape behaviour
follow, the admin token likewise by its source only. Every string is passed through ``redact`` on the way
out all the same: a value that looks like a key is never shown.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

from ..config.schema import AimuxConfig
from ..redaction import redact
from ..settings import Settings


def _key_source(config: AimuxConfig, name: str) -> dict[str, str] | None:
    source = config.providers[name].key_source()
    if source is None:
        return None
    return {"source": "env", "name": source.env} if source.env else {"source": "ssm", "name": str(source.ssm)}


def _redacted(value: Any) -> Any:
    if isinstance(value, str):
        return redact(value)
    if isinstance(value, Mapping):
        return {key: _redacted(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_redacted(item) for item in value]
    return value


def deployment_view(env: Mapping[str, str]) -> dict[str, Any]:
    """The environment's settings that change behaviour (no value of a secret, only where it is)."""
    settings = Settings.from_env(env)
    token = env.get("AIMUX_ADMIN_TOKEN", "").strip()
    return {
        "auth": env.get("AIMUX_AUTH") or ("on (deployed)" if env.get("AWS_LAMBDA_FUNCTION_NAME") else "automatic"),
        "state_table": env.get("AIMUX_TABLE") or None,
        "state_failure": env.get("AIMUX_STATE_FAILURE") or "open",
        "deadline_seconds_cap": env.get("AIMUX_DEADLINE_SECONDS") or None,
        "key_cache_seconds": env.get("AIMUX_KEY_CACHE_SECONDS") or "30",
        "max_request_mb": round(settings.max_request_bytes / (1024 * 1024), 3),
        "usage_retention_days": settings.usage_retention_days,
        "usage_max_range_days": settings.usage_max_range_days,
        "provider_key_path": env.get("AIMUX_PROVIDER_KEY_PATH") or None,
        "admin_token": {"source": "env", "name": "AIMUX_ADMIN_TOKEN"} if token else None,
        "admin_allow_remote": env.get("AIMUX_ADMIN_ALLOW_REMOTE", "") in ("1", "true", "yes", "on"),
    }


def config_view(config: AimuxConfig | None, env: Mapping[str, str] | None = None) -> dict[str, Any]:
    """The answer of ``GET /admin/config``: ``config`` as JSON, keys by their source, and the deployment."""
    env = os.environ if env is None else env
    if config is None:
        return dict(_redacted({"source": None, "providers": {}, "deployment": deployment_view(env)}))
    dumped = config.model_dump(mode="json")
    providers = {}
    for name, entry in dumped.get("providers", {}).items():
        shown = {field: value for field, value in entry.items() if field not in ("api_key_env", "api_key_ssm")}
        providers[name] = {**shown, "api_key": _key_source(config, name)}
    view = {"source": config.source, **dumped, "providers": providers, "deployment": deployment_view(env)}
    return dict(_redacted(view))
