"""The Makefile runs what it claims: make's dry run (-n) shows each command without running it.

- The second pytest pass, on the Lambda runtime's Python, runs with the same SAM environment as the
  first (it used to run without it, and skipped the Runtime API tests on python3.13 saying there was
  no python3.13).
- `make test` prepares Docker and the Lambda image before pytest and stops Docker after it; the pass on
  Lambda's Python runs alongside the first and fails the target when it fails.
- `make run` installs boto3 (the aws extra): `aimux keys create` with AIMUX_TABLE needs it.
"""

from __future__ import annotations

import subprocess
import tomllib
from pathlib import Path

import pytest
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
    # The next lines of the same shell command: Docker stops whatever pytest's status, which is kept,
    # and the pass on Lambda's Python, started before the suite, is waited for and can fail the target.
    assert commands[suite].endswith("|| status=$?; \\")
    assert commands[suite + 1].strip() == "infra/docker_daemon.sh down build/docker; \\"
    assert commands[suite + 2].strip().startswith("wait $second || status=$?;")
    assert commands[suite + 2].strip().endswith("exit $status")
    second = next(i for i, line in enumerate(commands) if "test-lambda-python" in line)
    assert second == suite - 1 and "& second=$!" in commands[second]



def _suite_command(first: int, second: int) -> str:
    """``make test``'s suite command as ``make -n`` prints it, with the first pass (pytest) exiting
    ``first``, the second (the sub-make of the Lambda-Python pass) printing a line and exiting ``second``,
    and Docker's stop a no-op."""
    lines = _dry_run("test").splitlines()
    start = next(i for i, line in enumerate(lines) if "test-lambda-python >" in line)
    end = next(i for i in range(start, len(lines)) if not lines[i].endswith("\\"))
    command = "\n".join(lines[start : end + 1])
    replaced = {
        "make --no-print-directory test-lambda-python": f"sh -c 'echo second pass done; exit {second}'",
        ".venv/bin/python -m pytest -q -p no:cacheprovider": f"sh -c 'exit {first}'",
        "infra/docker_daemon.sh down build/docker": "true",
    }
    for old, new in replaced.items():
        assert command.count(old) == 1, (old, command)
        command = command.replace(old, new)
    return command


@pytest.mark.parametrize(("first", "second", "expected"), [(0, 0, 0), (1, 0, 1), (0, 3, 3), (1, 3, 3)])
def test_make_test_fails_when_either_pass_fails_and_shows_the_second(
    tmp_path: Path, first: int, second: int, expected: int
) -> None:
    """The pass on Lambda's Python runs in the background: its failure must still fail the target, and
    its output is printed once both are done."""
    run = subprocess.run(["bash", "-c", _suite_command(first, second)], cwd=tmp_path, capture_output=True,
                         text=True, timeout=30)  # fmt: skip
    assert run.returncode == expected, run.stdout + run.stderr
    marker = run.stdout.index("--- the pass on Lambda's Python")
    assert "second pass done" in run.stdout[marker:]


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
