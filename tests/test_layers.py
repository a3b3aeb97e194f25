"""The packages are floors: each imports only the floors below it, and no files import each other
in a circle (counting imports inside functions and under TYPE_CHECKING: a lazy arrow is still one)."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
FLOORS = ("avatar", "sync_expert", "audio2mesh", "viewer", "l2t_avatar")  # bottom to top


def _module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _imports(path: Path) -> set[str]:
    """Every project module the file names in an import statement."""
    names = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
            names.update(f"{node.module}.{alias.name}" for alias in node.names)
    return {n for n in names if n.split(".")[0] in FLOORS}


def _graph() -> dict[str, set[str]]:
    files = {_module_name(p): p for floor in FLOORS for p in (ROOT / floor).rglob("*.py")}
    return {name: {n for n in _imports(path) if n in files and n != name} for name, path in files.items()}


def test_each_package_imports_only_the_floors_below():
    wrong = []
    for module, targets in _graph().items():
        level = FLOORS.index(module.split(".")[0])
        wrong += [f"{module} -> {t}" for t in sorted(targets) if FLOORS.index(t.split(".")[0]) > level]
    assert not wrong, "imports that point up:\n" + "\n".join(wrong)


def test_no_import_cycles_between_files():
    graph = _graph()
    state: dict[str, int] = {}  # 1: on the current path, 2: done
    cycles = []

    def visit(node: str, path: list[str]) -> None:
        state[node] = 1
        for nxt in sorted(graph[node]):
            if state.get(nxt) == 1:
                cycles.append(" -> ".join(path[path.index(nxt) :] + [nxt]))
            elif nxt not in state:
                visit(nxt, path + [nxt])
        state[node] = 2

    for node in sorted(graph):
        if node not in state:
            visit(node, [node])
    assert not cycles, "import cycles:\n" + "\n".join(cycles)
