"""Where the configuration comes from: a YAML file, or the environment when there is none.

``resolve_config`` picks the source: an explicit path, else ``AIMUX_CONFIG``, else ``./aimux.yaml``
if it exists, else, deployed on Lambda, ``/opt/aimux.yaml`` (the deployment's configuration, which
``sam build`` ships in the layer from infra/aimux.yaml), else ``config_from_environment`` (presets
whose key variables, or SSM parameters, are set, or the mock).
Reading a file is local I/O only, so this may run at import of a Lambda handler; keys are read
later, when providers are built.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

from ..settings import Settings
from .environment import config_from_environment
from .errors import ConfigError
from .schema import AimuxConfig
from .validate import validate_config
from .yamlfile import parse

DEFAULT_FILE = "aimux.yaml"
# Where the layer puts the deployment's configuration (layers/aimux_core/Makefile, ship-config).
LAYER_FILE = "/opt/aimux.yaml"

__all__ = ["DEFAULT_FILE", "config_from_environment", "config_path", "load_config", "resolve_config"]


def load_config(path: str | os.PathLike[str]) -> AimuxConfig:
    """The validated configuration in the YAML file ``path``; ``ConfigError`` naming each bad field."""
    source = os.fspath(path)
    try:
        text = Path(path).read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError.single(source, "file not found") from None
    except IsADirectoryError:
        raise ConfigError.single(source, "is a directory, not a file") from None
    except (OSError, UnicodeDecodeError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else type(exc).__name__
        raise ConfigError.single(source, f"cannot read the file ({reason})") from None
    data, root = parse(text, source)
    return validate_config(data, source, root)


def config_path(settings: Settings, path: str | os.PathLike[str] | None = None,
                cwd: str | os.PathLike[str] | None = None) -> str | None:  # fmt: skip
    """The file to load: ``path``, else ``AIMUX_CONFIG``, else ``./aimux.yaml`` when it exists, else the
    layer's ``/opt/aimux.yaml`` when running on Lambda (``LAMBDA_TASK_ROOT`` set) and it exists, else None."""
    if path:
        return os.fspath(path)
    if settings.config_path:
        return settings.config_path
    local = Path(cwd) / DEFAULT_FILE if cwd is not None else Path(DEFAULT_FILE)
    if local.is_file():
        return os.fspath(local)
    if settings.lambda_task_root and Path(LAYER_FILE).is_file():
        return LAYER_FILE
    return None


def resolve_config(
    env: Mapping[str, str] = os.environ,
    path: str | os.PathLike[str] | None = None,
    cwd: str | os.PathLike[str] | None = None,
    *,
    settings: Settings | None = None,
) -> AimuxConfig:
    """The configuration from the file ``config_path`` finds, or from ``env``'s provider key variables
    without one. ``settings`` default to ``Settings.from_env(env)``.

    A file named explicitly (``path`` or ``AIMUX_CONFIG``) must exist; it is an error, not a silent
    fall-back to the environment.
    """
    settings = settings if settings is not None else Settings.from_env(env)
    chosen = config_path(settings, path, cwd)
    return load_config(chosen) if chosen else config_from_environment(env, settings)
