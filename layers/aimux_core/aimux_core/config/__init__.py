"""The aimux configuration: one YAML file (or the environment), validated, turned into runtime objects.

- ``schema``: the pydantic models of the file (every field documented there).
- ``load``: ``load_config(path)``, ``config_from_environment(env)``, ``resolve_config(env)``.
- ``secrets``: provider keys from environment variables or SSM SecureStrings.
- ``runtime``: ``build_gateway_from_config(config)`` (adapters, catalog, routing table, retry policy).
- ``defaults``: default models per preset for the no-file case.
"""

from .errors import ConfigError
from .load import config_from_environment, load_config, resolve_config
from .schema import AimuxConfig

__all__ = ["AimuxConfig", "ConfigError", "config_from_environment", "load_config", "resolve_config"]
