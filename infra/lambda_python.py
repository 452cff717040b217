"""Find a local CPython of the exact minor version the template's Lambda runtime uses.

``sam build`` (the layer Makefile) compiles the layer's .pyc and picks its cp3XX wheels with this
interpreter, and bench/cold_start.py and the runtime-API tests run the built artifacts with it, so it
must be the runtime's version, not whatever ``python3`` is. Looked for, in order: ``$AIMUX_LAMBDA_PYTHON``,
``pythonX.Y`` on PATH (if it runs: a pyenv shim for an inactive version does not), then pyenv's
``versions/X.Y.*``.

    python infra/lambda_python.py            # prints the interpreter's path, exit 1 if there is none
    python infra/lambda_python.py --version  # prints the runtime's version (3.13) from the template
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
TEMPLATE = ROOT / "infra" / "template.yaml"
_RUNTIME = re.compile(r"^\s*Runtime:\s*python(\d+\.\d+)\b", re.MULTILINE)


def runtime_version(template: Path = TEMPLATE) -> str:
    """``3.13`` for ``Runtime: python3.13`` (the template's Globals, its only Runtime line)."""
    match = _RUNTIME.search(template.read_text(encoding="utf-8"))
    if not match:
        raise SystemExit(f"{template}: no 'Runtime: pythonX.Y' line")
    return match.group(1)


def _reports(executable: str, version: str) -> bool:
    """True if ``executable`` runs and is CPython ``version``."""
    try:
        result = subprocess.run(
            [executable, "-c", "import sys; print('%d.%d' % sys.version_info[:2])"],
            capture_output=True,
            text=True,
            timeout=30,
        )
    except (OSError, subprocess.TimeoutExpired):
        return False
    return result.returncode == 0 and result.stdout.strip() == version


def _pyenv_candidates(version: str) -> list[Path]:
    root = Path(os.environ.get("PYENV_ROOT") or Path.home() / ".pyenv")
    found = [p / "bin" / f"python{version}" for p in (root / "versions").glob(f"{version}.*")]
    return sorted(found, key=lambda p: [int(x) for x in re.findall(r"\d+", p.parent.parent.name)], reverse=True)


def find_lambda_python(version: str | None = None) -> str | None:
    """The path of a working CPython ``version`` (default: the template's), or None."""
    version = version or runtime_version()
    configured = os.environ.get("AIMUX_LAMBDA_PYTHON")
    if configured:
        return configured if _reports(configured, version) else None
    candidates: list[str] = []
    on_path = shutil.which(f"python{version}")
    if on_path:
        candidates.append(on_path)
    candidates += [str(p) for p in _pyenv_candidates(version) if p.exists()]
    return next((c for c in candidates if _reports(c, version)), None)


def main(argv: list[str]) -> int:
    if "--version" in argv:
        print(runtime_version())
        return 0
    found = find_lambda_python()
    if not found:
        return 1
    print(found)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
