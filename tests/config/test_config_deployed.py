"""What a deployment adds to the configuration: the layer's /opt/aimux.yaml and the request deadline cap.

``sam build`` ships infra/aimux.yaml as /opt/aimux.yaml (layers/aimux_core/Makefile); on Lambda
(``LAMBDA_TASK_ROOT`` set) it is the file read when none is named and ./aimux.yaml is absent. Behind
the HTTP API the template sets ``AIMUX_DEADLINE_SECONDS`` so the dispatch deadline ends before the
function's timeout.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from aimux_core.assembly.parts import build_retry_policy
from aimux_core.config import load
from aimux_core.config.load import config_path, resolve_config
from aimux_core.settings import Settings, SettingsError

SHIPPED = "version: 1\nproviders:\n  mock: {preset: mock}\nmodels:\n  team-model: {provider: mock}\n"


@pytest.fixture
def shipped(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    layer_file = tmp_path / "opt" / "aimux.yaml"
    layer_file.parent.mkdir()
    layer_file.write_text(SHIPPED)
    monkeypatch.setattr(load, "LAYER_FILE", str(layer_file))
    return layer_file


def test_on_lambda_the_shipped_file_is_the_configuration(shipped: Path, tmp_path: Path) -> None:
    lambda_env = {"LAMBDA_TASK_ROOT": "/var/task"}
    assert config_path(Settings.from_env(lambda_env), cwd=tmp_path) == str(shipped)
    config = resolve_config(lambda_env, cwd=tmp_path)
    assert list(config.models) == ["team-model"]


def test_the_shipped_file_yields_to_a_named_or_local_one_and_is_ignored_off_lambda(
    shipped: Path, tmp_path: Path
) -> None:
    assert config_path(Settings.from_env({}), cwd=tmp_path) is None  # a laptop never reads /opt
    named = {"LAMBDA_TASK_ROOT": "/var/task", "AIMUX_CONFIG": "/etc/other.yaml"}
    assert config_path(Settings.from_env(named), cwd=tmp_path) == "/etc/other.yaml"
    (tmp_path / "aimux.yaml").write_text(SHIPPED)
    on_lambda = Settings.from_env({"LAMBDA_TASK_ROOT": "/var/task"})
    assert config_path(on_lambda, cwd=tmp_path) == str(tmp_path / "aimux.yaml")


def test_without_a_shipped_file_lambda_configures_itself_from_the_environment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(load, "LAYER_FILE", str(tmp_path / "absent.yaml"))
    assert config_path(Settings.from_env({"LAMBDA_TASK_ROOT": "/var/task"}), cwd=tmp_path) is None


def test_the_deadline_cap_lowers_the_configured_deadline_only(shipped: Path) -> None:
    config = load.load_config(shipped)
    def cap(raw: str) -> float | None:
        return Settings.from_env({"AIMUX_DEADLINE_SECONDS": raw}).deadline_seconds

    assert build_retry_policy(config, Settings().deadline_seconds).deadline == config.retry.deadline == 600
    assert build_retry_policy(config, cap("27")).deadline == 27
    assert build_retry_policy(config, cap("9000")).deadline == 600
    for bad in ("0", "-3", "soon"):
        message = f"AIMUX_DEADLINE_SECONDS must be a positive number of seconds, got '{bad}'"
        with pytest.raises(SettingsError, match=message):
            cap(bad)
