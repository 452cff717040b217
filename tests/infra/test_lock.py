"""requirements.lock is the one set of versions: pyproject.toml, this venv and the layer agree with it.

Every install takes its versions from the lock (``pip -c requirements.lock``): the dev venv, the
Lambda-Python venv (this suite runs in both) and the layer build. These tests fail when any of them
drifts: a dependency added to pyproject.toml without ``make lock``, a venv installed some other way,
a layer built from other versions. The SAM tools are pinned once, in infra/requirements-sam.in.
"""

from __future__ import annotations

import os
import re
import sys
import tomllib
from importlib import metadata
from pathlib import Path

import pytest
from infra_template import INFRA, ROOT
from packaging.markers import Marker
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

LOCK = ROOT / "requirements.lock"
LAYER = ROOT / ".aws-sam" / "build" / "AimuxCoreLayer" / "python"
_PIN = re.compile(r"^([A-Za-z0-9._-]+)==([^\s;]+)(?:\s*;\s*(.+))?$")


def _pins(path: Path) -> dict[str, str]:
    """``name -> version`` for the lines whose markers hold here (a universal lock has per-Python lines)."""
    pins: dict[str, str] = {}
    for line in path.read_text(encoding="utf-8").splitlines():
        match = _PIN.match(line.strip())
        if match and (match.group(3) is None or Marker(match.group(3)).evaluate()):
            pins[canonicalize_name(match.group(1))] = match.group(2)
    return pins


def _project() -> dict[str, list[str]]:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    return {"": project["dependencies"], **project["optional-dependencies"]}


def _closure(extras: set[str]) -> dict[str, str]:
    """``name -> installed version`` of everything aimux[extras] needs here, walking installed metadata."""
    found: dict[str, str] = {}
    queue = [(Requirement(r), {e}) for e in extras | {""} for r in _project()[e] if not r.startswith("aimux")]
    while queue:
        requirement, wanted = queue.pop()
        environments = [{"extra": extra} for extra in wanted] or [{"extra": ""}]
        if requirement.marker and not any(requirement.marker.evaluate(env) for env in environments):
            continue
        name = canonicalize_name(requirement.name)
        dist = metadata.distribution(name)
        if name in found and not requirement.extras:
            continue
        found[name] = dist.version
        queue += [(Requirement(r), set(requirement.extras) | {""}) for r in dist.requires or []]
    return found


def test_every_declared_dependency_has_a_pin_that_satisfies_it() -> None:
    pins = _pins(LOCK)
    unpinned, outside = [], []
    for extra, requirements in _project().items():
        for text in requirements:
            requirement = Requirement(text)
            name = canonicalize_name(requirement.name)
            if name == "aimux" or (requirement.marker and not requirement.marker.evaluate({"extra": extra})):
                continue
            if name not in pins:
                unpinned.append(f"{text} ({extra or 'runtime'})")
            elif not requirement.specifier.contains(pins[name], prereleases=True):
                outside.append(f"{text}: lock has {pins[name]}")
    assert not unpinned, f"in pyproject.toml but not in requirements.lock (run `make lock`): {unpinned}"
    assert not outside, f"requirements.lock pins versions pyproject.toml excludes (run `make lock`): {outside}"


def test_this_venv_has_exactly_the_locked_versions() -> None:
    """Runs under .venv and .venv-lambda alike (make test runs the suite on both)."""
    pins = _pins(LOCK)
    installed = _closure({"dev", "aws"})
    missing = sorted(set(installed) - set(pins))
    drift = sorted(f"{name} {version} (lock {pins[name]})" for name, version in installed.items()
                   if name in pins and version != pins[name])  # fmt: skip
    assert not missing, f"{sys.prefix} has packages aimux needs that requirements.lock does not pin: {missing}"
    assert not drift, f"{sys.prefix} drifted from requirements.lock (make install-dev reinstalls): {drift}"


def test_the_built_layer_has_exactly_the_locked_versions_of_the_runtime_dependencies() -> None:
    if not LAYER.is_dir():
        reason = f"no {LAYER} (make sam-check runs sam build)"
        pytest.fail(reason) if os.environ.get("AIMUX_REQUIRE_SAM") == "1" else pytest.skip(reason)
    pins = _pins(LOCK)
    shipped = {}
    for dist in LAYER.glob("*.dist-info"):
        name, _, version = dist.name.removesuffix(".dist-info").partition("-")
        shipped[canonicalize_name(name)] = version
    drift = sorted(f"{n} {v} (lock {pins.get(n)})" for n, v in shipped.items() if pins.get(n) != v)
    assert not drift, f"the layer was built from other versions than requirements.lock: {drift}"
    runtime = {canonicalize_name(Requirement(r).name) for r in _project()[""]}
    assert runtime <= set(shipped), f"declared but not in the layer: {runtime - set(shipped)}"
    assert "boto3" not in shipped and "botocore" not in shipped, "the runtime provides the AWS SDK"
    dev_only = {canonicalize_name(Requirement(r).name) for r in _project()["dev"]} - {"aimux"}
    assert not dev_only & set(shipped), f"dev tools in the layer: {dev_only & set(shipped)}"


def test_the_sam_tools_are_pinned_once() -> None:
    declared = {}
    for line in (INFRA / "requirements-sam.in").read_text(encoding="utf-8").splitlines():
        if line.strip() and not line.startswith("#"):
            requirement = Requirement(line)
            assert str(requirement.specifier).startswith("=="), f"not an exact pin: {line}"
            declared[canonicalize_name(requirement.name)] = str(requirement.specifier)[2:]
    assert set(declared) == {"aws-sam-cli", "cfn-lint"}
    compiled = _pins(INFRA / "requirements-sam.txt")
    assert {name: compiled.get(name) for name in declared} == declared, "run `make lock`"
    everything = "\n".join(text for requirements in _project().values() for text in requirements)
    assert "cfn-lint" not in everything and "aws-sam-cli" not in everything, "a second pin in pyproject.toml"
    ric_lines = (INFRA / "requirements-ric.in").read_text().splitlines()
    ric = [Requirement(line) for line in ric_lines if line[:1].isalpha()]
    locked = _pins(INFRA / "requirements-ric.txt")["awslambdaric"]
    assert [(r.name, str(r.specifier)) for r in ric] == [("awslambdaric", f"=={locked}")]


def test_every_install_takes_its_versions_from_the_lock() -> None:
    makefile = (ROOT / "Makefile").read_text(encoding="utf-8")
    installs = [line.strip() for line in makefile.splitlines() if "pip install" in line and "-e " in line]
    assert len(installs) == 3, installs  # run, dev, lambda venv
    assert all("-c $(LOCK)" in line for line in installs), installs
    layer = (ROOT / "layers" / "aimux_core" / "Makefile").read_text(encoding="utf-8")
    assert "-c '$(LOCK)'" in layer and "LOCK ?= $(REPO)/requirements.lock" in layer
    assert not (ROOT / "layers" / "aimux_core" / "requirements.txt").exists(), "a hand-kept copy of the list"
    assert LOCK.read_text(encoding="utf-8").splitlines()[1].strip() == "#    make lock"
