"""The layer's import graph: no module reaches itself, and every in-function import says why it waits.

Cycles are looked for with every import counted, those under ``if TYPE_CHECKING:`` and inside functions
included: a cycle that only a deferred import hides is still two modules that cannot be read apart.
An import inside a function is allowed where it keeps a heavy package (boto3, Powertools, FastAPI,
uvicorn...) or a part of aimux a request may never need out of the Lambda cold start; its line (or the
line above it) says so in a comment.
"""

from __future__ import annotations

import ast
from pathlib import Path

import grimp

import aimux_core

PACKAGE = Path(aimux_core.__file__).parent


def _cycles(graph: grimp.ImportGraph) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan), each sorted."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(module: str) -> None:
        index[module] = low[module] = len(index)
        stack.append(module)
        on_stack.add(module)
        for imported in sorted(graph.find_modules_directly_imported_by(module)):
            if imported not in index:
                visit(imported)
                low[module] = min(low[module], low[imported])
            elif imported in on_stack:
                low[module] = min(low[module], index[imported])
        if low[module] == index[module]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == module:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for module in sorted(graph.modules):
        if module not in index:
            visit(module)
    return found


def test_the_layer_has_no_import_cycle() -> None:
    graph = grimp.build_graph("aimux_core", exclude_type_checking_imports=False)
    cycles = _cycles(graph)
    edges = [
        f"  {a} imports {b} (line {', '.join(str(d['line_number']) for d in details)})"
        for cycle in cycles
        for a in cycle
        for b in cycle
        if (details := graph.get_import_details(importer=a, imported=b))
    ]
    assert not cycles, "import cycles in aimux_core:\n" + "\n".join(edges)


def _function_imports(path: Path) -> list[tuple[int, int]]:
    """(first line, last line) of each import statement inside a function of ``path``."""
    found = []
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            for inner in ast.walk(node):
                if isinstance(inner, ast.Import | ast.ImportFrom):
                    found.append((inner.lineno, inner.end_lineno or inner.lineno))
    return found


def _explained(lines: list[str], first: int, last: int, imports: set[int]) -> bool:
    """A comment on the import, or above the run of imports (and blank lines) it belongs to."""
    if any("#" in lines[n - 1] for n in range(first, last + 1)):
        return True
    above = first - 1
    while above >= 1 and (above in imports or not lines[above - 1].strip()):
        if "#" in lines[above - 1]:
            return True
        above -= 1
    return above >= 1 and lines[above - 1].strip().startswith("#")


def test_every_import_inside_a_function_says_why() -> None:
    unexplained = []
    for path in sorted(PACKAGE.rglob("*.py")):
        lines = path.read_text().splitlines()
        spans = _function_imports(path)
        imports = {n for first, last in spans for n in range(first, last + 1)}
        for first, last in spans:
            if not _explained(lines, first, last, imports):
                unexplained.append(f"{path.relative_to(PACKAGE)}:{first}: {lines[first - 1].strip()}")
    assert not unexplained, "imports inside functions without a comment saying why:\n" + "\n".join(unexplained)


def test_the_layer_packages_have_no_import_cycle() -> None:
    """Folded to the layer's top-level packages and modules, the graph is still acyclic.

    This is what "each folder imports only folders below it" in docs/architecture.md means.
    """
    graph = grimp.build_graph("aimux_core", exclude_type_checking_imports=False)
    folded = grimp.ImportGraph()
    for module in graph.modules:
        parts = module.split(".")
        folded.add_module(".".join(parts[:2]))
    for module in graph.modules:
        importer = ".".join(module.split(".")[:2])
        for imported in graph.find_modules_directly_imported_by(module):
            target = ".".join(imported.split(".")[:2])
            if target != importer and target != "aimux_core" and importer != "aimux_core":
                folded.add_import(importer=importer, imported=target)
    cycles = _cycles(folded)
    edges = [
        f"  {a} imports {b}"
        for cycle in cycles
        for a in cycle
        for b in cycle
        if b in folded.find_modules_directly_imported_by(a)
    ]
    assert not cycles, "import cycles between the packages of aimux_core:\n" + "\n".join(edges)
    # The configuration is data and its checks: it reads provider data and settings, nothing that acts.
    config_imports = {b.split(".")[1] for b in folded.find_modules_directly_imported_by("aimux_core.config")}
    assert config_imports <= {"presets", "settings", "redaction", "errors", "wire"}, sorted(config_imports)
