"""The aimux configuration: one YAML file (or, without one, the environment's provider keys), validated.

Data and validation only: nothing here builds a running part (``assembly`` turns a configuration into a
gateway), and nothing here imports above ``presets`` and ``settings``.

- ``schema``, ``sections``, ``provider``: the pydantic models of the file (every field documented there).
- ``checks``: rules that span fields; ``validate``, ``errors``, ``yamlfile``: errors naming path and line.
- ``load``: ``load_config(path)``, ``resolve_config(env)``; ``environment``: the no-file configuration.
- ``secrets``: provider keys from environment variables or SSM SecureStrings; ``summary``: ``config check``.
"""

from .errors import ConfigError
from .load import config_from_environment, load_config, resolve_config
from .schema import AimuxConfig

__all__ = ["AimuxConfig", "ConfigError", "config_from_environment", "load_config", "resolve_config"]
