"""The shape of ml/: no import cycle between its files, nothing of the app stack imported, no file past
400 lines without a reason at its top.

Every import counts, at the top of a file or inside a function (a lazy import only hides a cycle)
and under ``TYPE_CHECKING`` too. ``from pkg import name`` is an edge to ``pkg.name`` where that is a
module, else to ``pkg``; a package's ``__init__`` executing first is not counted as an edge.
"""

from __future__ import annotations

import ast
from pathlib import Path

ML = Path(__file__).resolve().parents[2] / "ml"
FORBIDDEN = ("django", "annotator", "celery", "rest_framework")  # ml never imports the app stack
MAX_LINES = 400
REASON = (
    "# longer than 400 lines:"  # the first line of a file allowed to be longer, then why (as in annotator/)
)


def module_name(path: Path) -> str:
    parts = path.relative_to(ML.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imported_names(path: Path, name: str) -> list[tuple[str, list[str], int]]:
    """(absolute module, names taken from it, line) of every import in ``path`` (module ``name``).

    ``import a.b`` gives ``("a.b", [], line)``; relative imports are resolved against ``name``.
    """
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found: list[tuple[str, list[str], int]] = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found += [(alias.name, [], node.lineno) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                parts = package.split(".")
                base = parts[: len(parts) - (node.level - 1)]
                source = ".".join([*base, node.module] if node.module else base)
            else:
                source = node.module or ""
            found.append((source, [alias.name for alias in node.names], node.lineno))
    return found


def import_graph() -> tuple[dict[str, set[str]], list[str]]:
    """(edges between ml's modules, forbidden imports as 'file:line imports name')."""
    files = {module_name(p): p for p in sorted(ML.rglob("*.py"))}
    graph: dict[str, set[str]] = {name: set() for name in files}
    forbidden: list[str] = []
    for name, path in files.items():
        for source, names, line in imported_names(path, name):
            if source.split(".")[0] in FORBIDDEN:
                forbidden.append(f"{path.relative_to(ML.parent)}:{line} imports {source}")
            # ``from pkg import x`` is an edge to the module pkg.x where there is one, else to pkg
            targets = {f"{source}.{n}" if f"{source}.{n}" in files else source for n in names or [""]}
            graph[name] |= {t for t in targets if t in files and t != name}
    return graph, forbidden


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components of more than one module (Tarjan), each sorted."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for nxt in sorted(graph[node]):
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in on_stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return found


def test_no_file_in_ml_takes_part_in_an_import_cycle():
    graph, _ = import_graph()
    assert len(graph) > 50  # the walk found ml's files
    assert cycles(graph) == []


def test_ml_imports_nothing_of_the_app_stack():
    _, forbidden = import_graph()
    assert forbidden == []


def test_the_cycle_search_finds_a_cycle_and_resolves_relative_imports(tmp_path):
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
    assert cycles({"a": {"b"}, "b": set()}) == []
    source = tmp_path / "engine.py"
    source.write_text("from . import targets\nfrom .evaluate import x\nfrom .. import geometry\n")
    assert imported_names(source, "ml.universal.engine") == [
        ("ml.universal", ["targets"], 1),
        ("ml.universal.evaluate", ["x"], 2),
        ("ml", ["geometry"], 3),
    ]


def test_no_file_in_ml_is_longer_than_400_lines_without_a_reason_at_its_top():
    too_long = []
    for path in sorted(ML.rglob("*.py")):
        name = str(path.relative_to(ML.parent))
        lines = path.read_text(encoding="utf-8").splitlines()
        reason = bool(lines) and lines[0].startswith(REASON) and bool(lines[0][len(REASON) :].strip())
        if len(lines) > MAX_LINES and not reason:
            too_long.append(f"{name}: {len(lines)} lines")
    assert not too_long, f"split these along their seam, or start them with '{REASON} <why>':\n" + "\n".join(
        too_long
    )
