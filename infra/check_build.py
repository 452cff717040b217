"""Check what ``sam build`` produced before anyone deploys it (run by ``make sam-check``).

Lambda would only find these problems at cold start, one failed import at a time:
- an extension module built for another Python (cp311 instead of cp313) or another CPU;
- the layer without precompiled bytecode (Lambda's /opt is read-only, so every cold start would
  compile from source: about twice the import time), or with .pyc that would be re-checked against
  source mtimes (timestamp-based .pyc go stale after zip round trips; unchecked-hash ones do not);
- more than Lambda's 250 MB unzipped (function + all its layers, the adapter layer included);
- run.sh not executable or with CRLF line endings (the adapter cannot exec it);
- a package aimux_core imports (even lazily, inside a function) that neither the layer nor the
  Lambda runtime provides: the import would fail on the first request that needs it;
- a layer package at another version than requirements.lock pins (the lock drifted from the build);
- a shipped configuration (/opt/aimux.yaml, from infra/aimux.yaml) that aimux would refuse.

The CPU is read from the built template (``Mappings.Lambda.Build.Architecture``, the one place it is
written), so the check cannot be told another architecture than the one that will be deployed.

    python infra/check_build.py [.aws-sam/build]
"""

from __future__ import annotations

import argparse
import ast
import importlib.util
import os
import re
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "infra"))
from cfn_yaml import build_architecture, load_template  # noqa: E402
from lambda_python import runtime_version  # noqa: E402

LAMBDA_UNZIPPED_LIMIT = 250 * 1024 * 1024
# The Lambda Web Adapter layer is not in the build (it is AWS's public layer); its extension binary is
# a few MB. Reserve generously so the check fails before a deploy would.
ADAPTER_LAYER_ALLOWANCE = 20 * 1024 * 1024
ELF_MACHINE = {"x86_64": 62, "arm64": 183}
WHEEL_ARCH = {"x86_64": "x86_64", "arm64": "aarch64"}
LAYER = "AimuxCoreLayer"
FUNCTIONS = {
    "MessagesFunction": "app.py",
    "MessagesStreamFunction": "run.sh",
    "AdminFunction": "app.py",
    "WorkerFunction": "app.py",
}
PYC_UNCHECKED_HASH = 0b01  # PEP 552 flags: hash-based, check_source off
# The managed python runtimes ship the AWS SDK (boto3 and its dependencies) outside the layer.
RUNTIME_PROVIDED = frozenset({"boto3", "botocore", "s3transfer", "urllib3", "jmespath", "dateutil", "six"})
# Imports that have a fallback in the code and that the layer leaves out on purpose (none today): name
# them here with the reason, rather than letting the check pass for everything optional.
DELIBERATELY_ABSENT: dict[str, str] = {}


@dataclass
class Report:
    problems: list[str] = field(default_factory=list)
    facts: list[str] = field(default_factory=list)

    def check(self, ok: bool, problem: str) -> None:
        if not ok:
            self.problems.append(problem)


def tree_size(path: Path) -> int:
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file() and not p.is_symlink())


def elf_machine(path: Path) -> int | None:
    header = path.read_bytes()[:20]
    if header[:4] != b"\x7fELF":
        return None
    return int.from_bytes(header[18:20], "little" if header[5] == 1 else "big")


def check_extensions(layer: Path, version: str, arch: str, report: Report) -> None:
    tag = "cpython-" + version.replace(".", "")
    modules = sorted(layer.rglob("*.so"))
    report.check(bool(modules), f"{layer}: no extension modules at all (expected pydantic_core, ...)")
    for module in modules:
        name = module.name
        rel = module.relative_to(layer)
        if ".cpython-" in name:
            report.check(f".{tag}-{WHEEL_ARCH[arch]}-linux-gnu.so" in name, f"{rel}: not built for {tag} on {arch}")
        elif not name.endswith(".abi3.so"):
            report.check(False, f"{rel}: extension module without a CPython ABI tag")
        report.check(elf_machine(module) == ELF_MACHINE[arch], f"{rel}: ELF machine is not {arch}")
    report.facts.append(f"{len(modules)} extension modules, all {tag}/{arch}" if modules else "no extension modules")


def check_bytecode(layer: Path, version: str, report: Report) -> None:
    tag = "cpython-" + version.replace(".", "")
    sources = sorted(layer.rglob("*.py"))
    missing = [s for s in sources if not (s.parent / "__pycache__" / f"{s.stem}.{tag}.pyc").is_file()]
    report.check(bool(sources), f"{layer}: no Python sources")
    report.check(not missing, f"{len(missing)} of {len(sources)} modules have no {tag}.pyc, e.g. {missing[:3]}")
    magic = importlib.util.MAGIC_NUMBER if sys.version_info[:2] == tuple(map(int, version.split("."))) else None
    stale, checked = [], []
    for pyc in layer.rglob("*.pyc"):
        if f".{tag}." not in pyc.name:
            stale.append(pyc)
            continue
        header = pyc.read_bytes()[:8]
        if magic is not None and header[:4] != magic:
            stale.append(pyc)
        if int.from_bytes(header[4:8], "little") != PYC_UNCHECKED_HASH:
            checked.append(pyc)
    report.check(not stale, f"{len(stale)} .pyc for another Python, e.g. {stale[:3]}")
    report.check(not checked, f"{len(checked)} .pyc are not unchecked-hash, e.g. {checked[:3]}")
    report.facts.append(f"{len(sources)} modules, all with unchecked-hash {tag}.pyc")


def imported_packages(package: Path) -> dict[str, Path]:
    """Top-level names of every absolute import in ``package``'s sources (first file seen for each)."""
    found: dict[str, Path] = {}
    for source in sorted(package.rglob("*.py")):
        for node in ast.walk(ast.parse(source.read_bytes(), str(source))):
            names = []
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names = [node.module]
            for name in names:
                found.setdefault(name.partition(".")[0], source)
    return found


def check_imports(layer: Path, report: Report) -> None:
    package = layer / "aimux_core"
    missing = []
    for name, source in sorted(imported_packages(package).items()):
        if name in sys.stdlib_module_names or name in RUNTIME_PROVIDED or name in DELIBERATELY_ABSENT:
            continue
        if name == package.name:
            continue
        if not ((layer / name).is_dir() or (layer / f"{name}.py").is_file() or list(layer.glob(f"{name}.*.so"))):
            missing.append(f"{name} (imported by {source.relative_to(layer)})")
    report.check(not missing, f"imported but not in the layer (layers/aimux_core/requirements.txt): {missing}")


def check_run_sh(function: Path, report: Report) -> None:
    run_sh = function / "run.sh"
    report.check(run_sh.is_file(), f"{run_sh}: missing")
    if run_sh.is_file():
        report.check(os.access(run_sh, os.X_OK), f"{run_sh}: not executable")
        report.check(b"\r" not in run_sh.read_bytes(), f"{run_sh}: CRLF line endings")
        report.check(run_sh.read_bytes().startswith(b"#!"), f"{run_sh}: no #! line")


def check_architecture(template: dict[str, Any], report: Report) -> str | None:
    """The built template's architecture; a problem if any function or the layer could disagree."""
    try:
        arch = build_architecture(template)
    except ValueError as exc:
        report.check(False, f"built template: {exc}")
        return None
    reference = {"Fn::FindInMap": ["Lambda", "Build", "Architecture"]}
    resources = template.get("Resources", {})
    globals_ = template.get("Globals", {}).get("Function", {})
    places = {"Globals.Function.Architectures": globals_.get("Architectures")}
    for name, resource in resources.items():
        props = resource.get("Properties") or {}
        if "Architectures" in props:
            places[f"{name}.Architectures"] = props["Architectures"]
        if "CompatibleArchitectures" in props:
            places[f"{name}.CompatibleArchitectures"] = props["CompatibleArchitectures"]
    for place, value in places.items():
        report.check(value in ([reference], [arch]), f"built template: {place} is {value!r}, not the Mappings' {arch}")
    report.facts.append(f"architecture {arch} (Mappings.Lambda.Build.Architecture)")
    return arch


def _lock_pins(lock: Path) -> dict[str, set[str]]:
    pins: dict[str, set[str]] = {}
    for line in lock.read_text(encoding="utf-8").splitlines():
        match = re.match(r"^([A-Za-z0-9._-]+)==([^\s;]+)", line)
        if match:
            pins.setdefault(_normal(match.group(1)), set()).add(match.group(2))
    return pins


def _normal(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def check_versions(layer: Path, lock: Path, report: Report) -> None:
    """Every distribution in the layer at a version requirements.lock pins."""
    pins = _lock_pins(lock)
    drift = []
    dists = sorted(layer.glob("*.dist-info"))
    for dist in dists:
        name, _, version = dist.name.removesuffix(".dist-info").partition("-")
        if version not in pins.get(_normal(name), set()):
            drift.append(f"{name} {version} (lock: {', '.join(sorted(pins.get(_normal(name), []))) or 'absent'})")
    report.check(not drift, f"layer packages not at the versions {lock.name} pins: {drift}")
    report.facts.append(f"{len(dists)} layer packages, all at {lock.name}'s versions")


def check_config(build: Path, report: Report) -> None:
    """The shipped /opt/aimux.yaml, if any, as aimux itself would load it."""
    shipped = build / LAYER / "aimux.yaml"
    if not shipped.is_file():
        report.facts.append("no aimux.yaml shipped: the deployment configures itself from SSM")
        return
    from aimux_core.config.errors import ConfigError
    from aimux_core.config.load import load_config

    try:
        config = load_config(shipped)
    except ConfigError as exc:
        report.check(False, f"{shipped} (from infra/aimux.yaml) would be refused at start:\n{exc}")
        return
    report.facts.append(f"ships aimux.yaml: {len(config.providers)} providers, {len(config.models)} models")


def check_build(build: Path, lock: Path = ROOT / "requirements.lock") -> Report:
    report = Report()
    version = runtime_version()
    built_template = build / "template.yaml"
    template = load_template(built_template) if built_template.is_file() else {}
    report.check(bool(template), f"{built_template}: missing")
    arch = check_architecture(template, report) if template else None
    if arch is None:
        return report
    layer = build / LAYER / "python"
    report.check(layer.is_dir(), f"{layer}: missing (Lambda mounts the layer's python/ at /opt/python)")
    if not layer.is_dir():
        return report
    report.check((layer / "aimux_core" / "__init__.py").is_file(), f"{layer}: no aimux_core package")
    report.check(not (layer / "bin").exists(), f"{layer / 'bin'}: console scripts with the build host's shebangs")
    check_extensions(layer, version, arch, report)
    check_bytecode(layer, version, report)
    check_imports(layer, report)
    check_versions(layer, lock, report)
    check_config(build, report)
    layer_size = tree_size(build / LAYER)
    for name, entry in FUNCTIONS.items():
        function = build / name
        report.check((function / entry).is_file(), f"{function / entry}: missing")
        report.check(not list(function.rglob("*.pyc")), f"{function}: ships .pyc of the build host")
        if entry == "run.sh":
            check_run_sh(function, report)
        total = tree_size(function) + layer_size + (ADAPTER_LAYER_ALLOWANCE if entry == "run.sh" else 0)
        report.check(total < LAMBDA_UNZIPPED_LIMIT, f"{name}: {total / 2**20:.0f} MB unzipped with its layers")
        report.facts.append(f"{name}: {total / 2**20:.1f} MB unzipped with its layers (limit 250)")
    runtime = template.get("Globals", {}).get("Function", {}).get("Runtime")
    report.check(runtime == f"python{version}", f"{built_template}: Runtime {runtime!r}, not python{version}")
    return report


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Check sam build's artifacts.")
    parser.add_argument("build", nargs="?", type=Path, default=ROOT / ".aws-sam" / "build")
    args = parser.parse_args(argv)
    report = check_build(args.build)
    for fact in report.facts:
        print(f"check_build: {fact}")
    for problem in report.problems:
        print(f"check_build: FAIL {problem}", file=sys.stderr)
    if report.problems:
        return 1
    print(f"check_build: {args.build} OK")
    return 0


if __name__ == "__main__":
    sys.exit(main())
