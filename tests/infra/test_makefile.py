"""The Makefile runs what it claims: make's dry run (-n) shows each command without running it.

- The second pytest pass, on the Lambda runtime's Python, runs with the same SAM environment as the
  first (it used to run without it, and skipped the Runtime API tests on python3.13 saying there was
  no python3.13).
- `make test` prepares Docker and the Lambda image before pytest and stops Docker after it.
- `make run` installs boto3 (the aws extra): `aimux keys create` with AIMUX_TABLE needs it.
"""

from __future__ import annotations

import subprocess
import tomllib
from pathlib import Path

from infra_template import INFRA, ROOT
from packaging.requirements import Requirement


def _dry_run(*args: str) -> str:
    result = subprocess.run(["make", "-n", "--no-print-directory", *args], cwd=ROOT, capture_output=True,
                            text=True, timeout=60)  # fmt: skip
    assert result.returncode == 0, result.stderr
    return result.stdout


def test_the_lambda_python_pass_runs_with_the_sam_test_environment(tmp_path: Path) -> None:
    # A stand-in interpreter path: the recipe only needs LAMBDA_PYTHON to differ from .venv's version.
    commands = _dry_run("test-lambda-python", "LAMBDA_PY_VERSION=3.99", "LAMBDA_PYTHON=/opt/python3.99")
    pytest_line = next(line for line in commands.splitlines() if "-m pytest" in line)
    assert "AIMUX_REQUIRE_SAM=1" in pytest_line
    assert "AIMUX_LAMBDA_PYTHON=/opt/python3.99" in pytest_line
    assert "AIMUX_SAM_VENV=.venv-sam" in pytest_line
    assert "AIMUX_SAM_LOCAL=first-pass" in pytest_line  # sam local already ran in the first pass


def test_make_test_prepares_docker_before_pytest_and_stops_it_after() -> None:
    commands = _dry_run("test").splitlines()
    prepare = next(i for i, line in enumerate(commands) if "docker_daemon.sh up" in line)
    image = next(i for i, line in enumerate(commands) if "infra/lambda_image.py" in line)
    suite = next(i for i, line in enumerate(commands) if "-m pytest" in line and "AIMUX_REQUIRE_SAM=1" in line)
    assert prepare < suite and image < suite
    # The next line of the same shell command: Docker stops whatever pytest's status, which is kept.
    assert commands[suite].endswith("|| status=$?; \\")
    assert commands[suite + 1].strip() == "infra/docker_daemon.sh down build/docker; exit $status"


def test_make_run_installs_the_aws_sdk() -> None:
    commands = _dry_run("-B", ".venv/.installed-run")
    assert "pip install -q -c requirements.lock -e '.[aws]'" in commands
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    assert [Requirement(r).name for r in project["optional-dependencies"]["aws"]] == ["boto3"]
    assert "boto3" not in {Requirement(r).name for r in project["dependencies"]}, "the layer must not ship it"


def test_make_smoke_passes_the_outputs_to_the_script() -> None:
    commands = _dry_run("smoke", "URL=https://u.example", "API=https://a.example", "KEY=amx-k")
    assert "infra/smoke.py --url 'https://u.example' --api 'https://a.example' --key 'amx-k'" in commands


def test_docker_down_stops_only_the_dockerd_it_started(tmp_path: Path) -> None:
    """A pid file that names anything but a dockerd (a reused pid) is dropped, the process left alone."""
    bystander = subprocess.Popen(["sleep", "30"])
    try:
        (tmp_path / "dockerd.pid").write_text(str(bystander.pid))
        down = subprocess.run([str(INFRA / "docker_daemon.sh"), "down", str(tmp_path)], capture_output=True,
                              text=True, timeout=30)  # fmt: skip
        assert down.returncode == 0, down.stderr
        assert bystander.poll() is None, "docker_daemon.sh down killed a process that is not its dockerd"
        assert not (tmp_path / "dockerd.pid").exists()
    finally:
        bystander.kill()
        bystander.wait()
