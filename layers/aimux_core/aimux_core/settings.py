"""Process settings read from the environment (the YAML config file of routing comes later).

Read once per process, on first use, never at import time.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from functools import lru_cache


@dataclass(frozen=True, slots=True)
class Settings:
    host: str = "127.0.0.1"
    port: int = 8080
    max_request_bytes: int = 10 * 1024 * 1024
    log_level: str = "INFO"

    @classmethod
    def from_env(cls, env: Mapping[str, str] = os.environ) -> Settings:
        try:
            max_mb = float(env.get("AIMUX_MAX_REQUEST_MB", "10"))
            port = int(env.get("AIMUX_PORT", "8080"))
        except ValueError as exc:
            raise ValueError(f"invalid AIMUX_MAX_REQUEST_MB or AIMUX_PORT: {exc}") from None
        return cls(
            host=env.get("AIMUX_HOST", "127.0.0.1"),
            port=port,
            max_request_bytes=int(max_mb * 1024 * 1024),
            log_level=env.get("AIMUX_LOG_LEVEL", "INFO").upper(),
        )


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return Settings.from_env()
