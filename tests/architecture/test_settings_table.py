"""The README's table of environment variables is ``Settings``' own (``settings.markdown_table``).

A variable added to ``Settings`` without its row, or a row edited by hand, fails here; the fix is to
paste ``python -c 'from aimux_core.settings import markdown_table; print(markdown_table())'`` between
the README's markers. Also: no other module of the layer reads an ``AIMUX_*`` variable itself.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

import aimux_core
from aimux_core.settings import Settings, markdown_table

README = Path(__file__).parents[2] / "README.md"
START, END = "<!-- settings table: start -->", "<!-- settings table: end -->"


def test_the_readme_table_is_the_settings_class() -> None:
    text = README.read_text()
    assert START in text and END in text, f"README.md has no {START} ... {END} section"
    shown = text.split(START, 1)[1].split(END, 1)[0].strip()
    assert shown == markdown_table()


def test_every_variable_has_a_documented_default_and_parses_from_text() -> None:
    settings = Settings.from_env({})
    assert settings == Settings()
    for line in markdown_table().splitlines()[2:]:
        variable, default, what = (cell.strip() for cell in line.strip("|").split(" | "))
        assert variable.startswith("`") and default and what, line


def test_no_module_reads_an_aimux_variable_but_settings() -> None:
    """A variable's name as a string of its own (``env.get("AIMUX_X")``, ``X_ENV = "AIMUX_X"``) only in settings.py."""
    package = Path(aimux_core.__file__).parent
    name = re.compile(r"(AIMUX|POWERTOOLS)_[A-Z_]+")
    offenders = [
        f"{path.relative_to(package)}:{node.lineno}: {node.value}"
        for path in sorted(package.rglob("*.py"))
        if path.name != "settings.py"
        for node in ast.walk(ast.parse(path.read_text()))
        if isinstance(node, ast.Constant) and isinstance(node.value, str) and name.fullmatch(node.value)
    ]
    assert not offenders, "read these through Settings:\n" + "\n".join(offenders)
