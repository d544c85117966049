"""The layout is the architecture: no import cycles, no oversized modules, and every
sub-package says what it owns (in its docstring, which the README's Layout table repeats)."""

from __future__ import annotations

import ast
import re
from graphlib import CycleError, TopologicalSorter
from itertools import pairwise
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PACKAGE = ROOT / "src" / "interaction_classifier"
MAX_LINES = 400
# What the README's Layout table describes: each sub-package and top-level module.
DESCRIBED = sorted([p.parent for p in PACKAGE.glob("*/__init__.py")]
                   + [p for p in PACKAGE.glob("*.py") if p.name != "__init__.py"])


def modules(package: Path) -> dict[str, Path]:
    """Dotted module name -> source file (a package is named by its ``__init__``)."""
    names = {}
    for path in sorted(package.rglob("*.py")):
        parts = path.relative_to(package.parent).with_suffix("").parts
        names[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = path
    return names


def _imported(node: ast.AST, module: str, is_package: bool) -> set[str]:
    """Modules one statement may load: ``import a.b``, ``from a import b`` (``a`` and maybe
    ``a.b``), relative imports, and ``importlib.import_module("a.b")``."""
    if isinstance(node, ast.Import):
        return {alias.name for alias in node.names}
    if isinstance(node, ast.ImportFrom):
        base = node.module or ""
        if node.level:  # relative: resolve against the importing module's package
            parts = module.split(".")
            anchor = parts[: len(parts) - node.level + is_package]
            base = ".".join([*anchor, base] if base else anchor)
        return {base} | {f"{base}.{alias.name}" for alias in node.names}
    if (isinstance(node, ast.Call) and getattr(node.func, "attr", getattr(node.func, "id", None))
            == "import_module" and node.args and isinstance(node.args[0], ast.Constant)):
        return {str(node.args[0].value)}
    return set()


def import_graph(package: Path) -> dict[str, set[str]]:
    """Module -> the package's modules it imports anywhere (top level or inside functions)."""
    names = modules(package)
    graph = {}
    for module, path in names.items():
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
        targets: set[str] = set()
        for node in ast.walk(tree):
            targets |= _imported(node, module, path.name == "__init__.py")
        graph[module] = {t for t in targets if t in names and t != module}
    return graph


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Import cycles, one per broken edge, until the graph sorts (every cycle is reported)."""
    graph = {node: set(targets) for node, targets in graph.items()}
    found = []
    while True:
        try:
            tuple(TopologicalSorter(graph).static_order())
            return found
        except CycleError as exc:
            cycle = exc.args[1]
            graph[cycle[1]].discard(cycle[0])  # graphlib lists it backwards: [1] imports [0]
            found.append(cycle[::-1])


def test_import_graph_sees_every_kind_of_import(tmp_path: Path) -> None:
    pkg = tmp_path / "pkg"
    (pkg / "sub").mkdir(parents=True)
    (pkg / "__init__.py").write_text("import importlib\n"
                                     "def f():\n    importlib.import_module('pkg.c')\n")
    (pkg / "a.py").write_text("def f():\n    from pkg.sub import b\n")
    (pkg / "c.py").write_text("from .sub.b import x\n")
    (pkg / "sub" / "__init__.py").write_text("from . import b\n")
    (pkg / "sub" / "b.py").write_text("import pkg.a\nx = 1\n")
    graph = import_graph(pkg)
    assert graph == {"pkg": {"pkg.c"}, "pkg.a": {"pkg.sub", "pkg.sub.b"},
                     "pkg.c": {"pkg.sub.b"}, "pkg.sub": {"pkg.sub.b"}, "pkg.sub.b": {"pkg.a"}}
    found = cycles(graph)
    assert found and all(c[0] == c[-1] and {"pkg.a", "pkg.sub.b"} <= set(c) for c in found)
    assert all(b in graph[a] for c in found for a, b in pairwise(c))  # real import edges
    graph["pkg.sub.b"] = set()
    assert cycles(graph) == []


def test_no_import_cycle() -> None:
    found = cycles(import_graph(PACKAGE))
    assert not found, "import cycles:\n" + "\n".join(" -> ".join(c) for c in found)


def test_no_module_over_400_lines() -> None:
    sizes = {name: len(path.read_text(encoding="utf-8").splitlines())
             for name, path in modules(PACKAGE).items()}
    over = {name: n for name, n in sorted(sizes.items()) if n > MAX_LINES}
    assert not over, f"modules over {MAX_LINES} lines (split them by concern): {over}"


def first_sentence(docstring: str) -> str:
    """The docstring's first sentence on one line (up to the first '.' before a space or end)."""
    paragraph = " ".join(docstring.split("\n\n")[0].split())
    match = re.match(r"(.+?\.)(?:\s|$)", paragraph)
    return match.group(1) if match else paragraph


def layout_rows() -> dict[str, str]:
    """The README's Layout table as {path: description}."""
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    section = readme.split("## Layout", 1)[1].split("\n## ", 1)[0]
    rows = re.findall(r"^\|\s*`([^`]+)`\s*\|\s*(.+?)\s*\|\s*$", section, flags=re.MULTILINE)
    return dict(rows)


@pytest.mark.parametrize("path", DESCRIBED, ids=lambda p: p.name)
def test_docstring_is_the_readme_layout_row(path: Path) -> None:
    source = path / "__init__.py" if path.is_dir() else path
    docstring = ast.get_docstring(ast.parse(source.read_text(encoding="utf-8")))
    assert docstring, f"{source.relative_to(ROOT)} needs a docstring saying what it owns"
    key = path.relative_to(ROOT).as_posix() + ("/" if path.is_dir() else "")
    expected = f"| `{key}` | {first_sentence(docstring)} |"
    assert layout_rows().get(key) == first_sentence(docstring), (
        f"README Layout row must be the docstring's first sentence:\n{expected}")


def test_readme_layout_names_only_existing_paths() -> None:
    missing = [p for p in layout_rows() if not (ROOT / p.split(",")[0]).exists()]
    assert not missing, f"README Layout lists paths that do not exist: {missing}"


def test_first_sentence_joins_lines_and_stops_at_the_first_full_stop() -> None:
    assert first_sentence("Batch scoring: chunks and\nSpark. More here.\n\nDetail.") == (
        "Batch scoring: chunks and Spark.")
    assert first_sentence("No full stop") == "No full stop"
