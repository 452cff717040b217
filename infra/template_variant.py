"""Write a copy of infra/template.yaml built for another CPU, so CI builds and checks both.

The architecture is one line of the template (``Mappings.Lambda.Build.Architecture``); a user who
wants Graviton changes that line. ``make sam-check`` proves the other value builds too: it writes
this copy (local paths made absolute, so it may live anywhere), runs ``sam build`` on it with the
layer Makefile reading it (``TEMPLATE=...``), and runs infra/check_build.py on the result.

    python infra/template_variant.py arm64 build/sam/arm64/template.yaml
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
TEMPLATE = ROOT / "infra" / "template.yaml"
_ARCH_LINE = re.compile(r"^(\s*Architecture:\s*)(x86_64|arm64)\b", re.MULTILINE)
_LOCAL_URI = re.compile(r"^(\s*(?:CodeUri|ContentUri):\s*)(\.\./\S+)", re.MULTILINE)


def variant(text: str, arch: str, source_dir: Path) -> str:
    """``text`` with the architecture line set to ``arch`` and local code paths made absolute."""
    if arch not in ("x86_64", "arm64"):
        raise ValueError(f"architecture must be x86_64 or arm64, got {arch!r}")
    if len(_ARCH_LINE.findall(text)) != 1:
        raise ValueError("the template must have exactly one 'Architecture: <cpu>' line")
    text = _ARCH_LINE.sub(lambda m: m.group(1) + arch, text)
    return _LOCAL_URI.sub(lambda m: m.group(1) + str((source_dir / m.group(2)).resolve()) + "/", text)


def main(argv: list[str]) -> int:
    if len(argv) != 2:
        print(__doc__.strip().splitlines()[-1], file=sys.stderr)
        return 2
    arch, out = argv[0], Path(argv[1])
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(variant(TEMPLATE.read_text(encoding="utf-8"), arch, TEMPLATE.parent), encoding="utf-8")
    print(out)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
