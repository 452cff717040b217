"""infra/check_build.py finds what would break a deployed cold start, on a fake build tree.

The architecture it checks against comes from the built template only (``--arch`` and LAMBDA_ARCH are
gone): a build whose template says arm64 while its layer is x86_64 fails, whatever anyone passes.
"""

from __future__ import annotations

import importlib.util
import py_compile
from pathlib import Path

import pytest
from check_build import Report
from check_build import check_build as run_check
from lambda_python import runtime_version

TAG = "cpython-" + runtime_version().replace(".", "")
ELF_X86_64 = b"\x7fELF\x02\x01\x01" + b"\x00" * 11 + (62).to_bytes(2, "little") + b"\x00" * 44
ARCH_REF = "!FindInMap [Lambda, Build, Architecture]"
VALID_CONFIG = "version: 1\nproviders:\n  mock: {preset: mock}\nmodels:\n  team-model: {provider: mock}\n"


def _template(arch: str = "x86_64", function_arch: str = ARCH_REF) -> str:
    return (
        f"Mappings:\n  Lambda:\n    Build:\n      Architecture: {arch}\n"
        f"Globals:\n  Function:\n    Runtime: python{runtime_version()}\n    Architectures: [{ARCH_REF}]\n"
        "Resources:\n"
        f"  AimuxCoreLayer:\n    Type: AWS::Serverless::LayerVersion\n"
        f"    Properties:\n      CompatibleArchitectures: [{ARCH_REF}]\n"
        "  AdminFunction:\n    Type: AWS::Serverless::Function\n"
        f"    Properties:\n      Architectures: [{function_arch}]\n"
    )


def _module(layer: Path, relative: str, source: str = "x = 1\n", *, pyc: str = "unchecked") -> None:
    path = layer / relative
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(source)
    if pyc == "none":
        return
    target = path.parent / "__pycache__" / f"{path.stem}.{TAG}.pyc"
    mode = {
        "unchecked": py_compile.PycInvalidationMode.UNCHECKED_HASH,
        "timestamp": py_compile.PycInvalidationMode.TIMESTAMP,
    }[pyc]
    py_compile.compile(str(path), cfile=str(target), invalidation_mode=mode, doraise=True)


@pytest.fixture
def build(tmp_path: Path) -> Path:
    """A build tree that passes: layer with aimux_core, one extension module, four functions."""
    layer = tmp_path / "AimuxCoreLayer" / "python"
    _module(layer, "aimux_core/__init__.py", "import json\nimport boto3\nimport fastapi\n")
    _module(layer, "fastapi/__init__.py")
    (layer / "fastapi-0.1.0.dist-info").mkdir()
    (layer / "fastapi" / f"_speedups.{TAG}-x86_64-linux-gnu.so").write_bytes(ELF_X86_64)
    for name, entry in (("MessagesFunction", "app.py"), ("AdminFunction", "app.py"), ("WorkerFunction", "app.py")):
        (tmp_path / name).mkdir()
        (tmp_path / name / entry).write_text("handler = None\n")
    stream = tmp_path / "MessagesStreamFunction"
    stream.mkdir()
    (stream / "app.py").write_text("app = None\n")
    (stream / "run.sh").write_text("#!/bin/bash\nexec true\n")
    (stream / "run.sh").chmod(0o755)
    (tmp_path / "template.yaml").write_text(_template())
    (tmp_path / "requirements.lock").write_text("fastapi==0.1.0\n    # via aimux (pyproject.toml)\n")
    return tmp_path


def check_build(build: Path) -> Report:
    return run_check(build, build / "requirements.lock")


def test_a_good_build_passes(build: Path) -> None:
    report = check_build(build)
    assert report.problems == []


def test_extension_for_another_python_fails(build: Path) -> None:
    fastapi = build / "AimuxCoreLayer" / "python" / "fastapi"
    (fastapi / "_old.cpython-311-x86_64-linux-gnu.so").write_bytes(ELF_X86_64)
    problems = "\n".join(check_build(build).problems)
    assert "_old.cpython-311-x86_64-linux-gnu.so: not built for" in problems


def test_the_architecture_comes_from_the_built_template(build: Path) -> None:
    """The bug this replaces: an arm64 template with an x86_64 layer passed, because the check's
    --arch came from the layer Makefile's LAMBDA_ARCH, not from what was going to be deployed."""
    (build / "template.yaml").write_text(_template("arm64"))
    report = check_build(build)
    problems = "\n".join(report.problems)
    assert "architecture arm64 (Mappings.Lambda.Build.Architecture)" in report.facts
    assert f"_speedups.{TAG}-x86_64-linux-gnu.so: not built for {TAG} on arm64" in problems
    assert "ELF machine is not arm64" in problems


def test_a_function_with_its_own_architecture_fails(build: Path) -> None:
    (build / "template.yaml").write_text(_template(function_arch="arm64"))
    problems = "\n".join(check_build(build).problems)
    assert "AdminFunction.Architectures is ['arm64'], not the Mappings' x86_64" in problems


def test_a_template_without_the_architecture_mapping_fails(build: Path) -> None:
    (build / "template.yaml").write_text(f"Globals:\n  Function:\n    Runtime: python{runtime_version()}\n")
    assert check_build(build).problems == ["built template: no Mappings.Lambda.Build.Architecture in the template"]


def test_a_package_at_another_version_than_the_lock_fails(build: Path) -> None:
    (build / "requirements.lock").write_text("fastapi==0.2.0\n")
    problems = "\n".join(check_build(build).problems)
    assert "layer packages not at the versions requirements.lock pins: ['fastapi 0.1.0 (lock: 0.2.0)']" in problems


def test_a_shipped_configuration_is_loaded_as_aimux_would(build: Path) -> None:
    shipped = build / "AimuxCoreLayer" / "aimux.yaml"
    shipped.write_text(VALID_CONFIG)
    assert check_build(build).problems == []
    shipped.write_text("version: 1\nprovidres: {}\n")
    problems = "\n".join(check_build(build).problems)
    assert "(from infra/aimux.yaml) would be refused at start" in problems and "providres" in problems


def test_missing_or_timestamp_bytecode_fails(build: Path) -> None:
    layer = build / "AimuxCoreLayer" / "python"
    _module(layer, "aimux_core/plain.py", pyc="none")
    _module(layer, "aimux_core/stamped.py", pyc="timestamp")
    problems = "\n".join(check_build(build).problems)
    assert f"1 of 4 modules have no {TAG}.pyc" in problems
    assert "1 .pyc are not unchecked-hash" in problems


def test_an_import_the_layer_lacks_fails(build: Path) -> None:
    _module(build / "AimuxCoreLayer" / "python", "aimux_core/lazy.py", "def f():\n    import aiohttp\n")
    problems = "\n".join(check_build(build).problems)
    assert "aiohttp (imported by aimux_core/lazy.py)" in problems


def test_run_sh_must_be_executable_with_lf_endings(build: Path) -> None:
    run_sh = build / "MessagesStreamFunction" / "run.sh"
    run_sh.write_bytes(b"#!/bin/bash\r\nexec true\r\n")
    run_sh.chmod(0o644)
    problems = "\n".join(check_build(build).problems)
    assert "run.sh: not executable" in problems and "run.sh: CRLF line endings" in problems


def test_host_bytecode_in_a_function_fails(build: Path) -> None:
    cache = build / "MessagesFunction" / "__pycache__"
    cache.mkdir()
    (cache / "app.cpython-311.pyc").write_bytes(importlib.util.MAGIC_NUMBER)
    assert any("ships .pyc of the build host" in p for p in check_build(build).problems)


def test_size_limit(build: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("check_build.LAMBDA_UNZIPPED_LIMIT", 1024)
    problems = check_build(build).problems
    assert any("MessagesStreamFunction" in p and "MB unzipped" in p for p in problems), problems
