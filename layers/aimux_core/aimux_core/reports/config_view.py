"""``GET /admin/config``: the configuration a gateway runs with, with every secret replaced by where it lives.

The configuration file never holds a key (``config/provider.py`` refuses one), so the providers' entries
are shown as loaded, each with ``api_key`` saying where its key comes from (``{"source": "env", "name":
"ANTHROPIC_API_KEY"}``, ``{"source": "ssm", "name": "/aimux/providers/anthropic"}``, or null for a provider
that needs none) instead of the two fields naming it. The deployment's settings that shape behaviour
follow, the admin token likewise by its source only. Every string is passed through ``redact`` on the way
out all the same: a value that looks like a key is never shown.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ..config.schema import AimuxConfig
from ..redaction import redact
from ..settings import Settings, variable_of


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


def deployment_view(settings: Settings) -> dict[str, Any]:
    """The deployment's settings that change behaviour (no value of a secret, only where it is)."""
    return {
        "auth": settings.auth or ("on (deployed)" if settings.on_lambda else "automatic"),
        "state_table": settings.table,
        "state_failure": settings.state_failure,
        "deadline_seconds_cap": settings.deadline_seconds,
        "key_cache_seconds": settings.key_cache_seconds,
        "max_request_mb": round(settings.max_request_bytes / (1024 * 1024), 3),
        "upstream_transport": settings.upstream_transport,
        "usage_retention_days": settings.usage_retention_days,
        "usage_max_range_days": settings.usage_max_range_days,
        "cors_origins": list(settings.cors_origins),
        "provider_key_path": settings.provider_key_path,
        "admin_token": {"source": "env", "name": variable_of("admin_token")} if settings.admin_token else None,
        "admin_allow_remote": settings.admin_allow_remote,
    }


def config_view(config: AimuxConfig | None, settings: Settings) -> dict[str, Any]:
    """The answer of ``GET /admin/config``: ``config`` as JSON, keys by their source, and the deployment."""
    if config is None:
        return dict(_redacted({"source": None, "providers": {}, "deployment": deployment_view(settings)}))
    dumped = config.model_dump(mode="json")
    providers = {}
    for name, entry in dumped.get("providers", {}).items():
        shown = {field: value for field, value in entry.items() if field not in ("api_key_env", "api_key_ssm")}
        providers[name] = {**shown, "api_key": _key_source(config, name)}
    view = {"source": config.source, **dumped, "providers": providers, "deployment": deployment_view(settings)}
    return dict(_redacted(view))
