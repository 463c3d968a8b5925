"""The architecture holds: lower packages never import higher ones, no module imports itself round a
circle, and the core never imports the dashboard.

Every import is read from the source, the ones inside functions included, so a late import cannot
hide a dependency.
"""
from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
CORE = ROOT / "resnet_core"

# Lowest first. "base" is the modules directly in resnet_core/ (config, fsutil, hardware, text,
# workspace); each package may import its own modules and the layers before it, never those after.
LAYERS = ("base", "data", "training", "runs", "results", "advice", "study", "views", "bench", "cli")
# Entry points sit above everything they start.
ENTRY_POINTS = {"resnet_core.__main__": "cli"}


def module_name(path: Path, root: Path = ROOT) -> str:
    return ".".join(path.relative_to(root).with_suffix("").parts).removesuffix(".__init__")


def layer_of(module: str) -> str:
    if module in ENTRY_POINTS:
        return ENTRY_POINTS[module]
    parts = module.split(".")
    return parts[1] if len(parts) > 1 and parts[1] in LAYERS else "base"


def imports_of(path: Path) -> list[tuple[str, int]]:
    """(imported module, line) for every import in the file, wherever it sits."""
    found = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found += [(alias.name, node.lineno) for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            found.append((node.module, node.lineno))
            # `from resnet_core.data import registry` imports the module resnet_core.data.registry
            found += [(f"{node.module}.{alias.name}", node.lineno) for alias in node.names]
    return found


def core_graph(core: Path = CORE) -> dict[str, set[str]]:
    """Module → the core modules it imports (a package stands for its __init__)."""
    root = core.parent
    paths = sorted(core.rglob("*.py"))
    modules = {module_name(p, root) for p in paths}
    graph: dict[str, set[str]] = {}
    for path in paths:
        name = module_name(path, root)
        graph[name] = {m for m, _ in imports_of(path) if m in modules and m != name}
    return graph


def upward_imports(graph: dict[str, set[str]]) -> list[str]:
    problems = []
    for module, targets in graph.items():
        here = LAYERS.index(layer_of(module))
        for target in targets:
            there = LAYERS.index(layer_of(target))
            if there > here:
                problems.append(f"{module} ({LAYERS[here]}) imports {target} ({LAYERS[there]})")
    return sorted(problems)


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One import circle (its modules in order), or None."""
    state: dict[str, int] = {}  # 1: on the current path, 2: done
    path: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        path.append(node)
        for nxt in sorted(graph.get(node, ())):
            # A package's __init__ is imported by every module inside it: not an edge of a circle.
            if node.startswith(nxt + "."):
                continue
            if state.get(nxt) == 1:
                return path[path.index(nxt):] + [nxt]
            if nxt not in state:
                found = visit(nxt)
                if found:
                    return found
        path.pop()
        state[node] = 2
        return None

    for start in sorted(graph):
        if start not in state:
            found = visit(start)
            if found:
                return found
    return None


def test_no_package_imports_a_higher_layer():
    assert upward_imports(core_graph()) == []


def test_no_import_circle():
    assert find_cycle(core_graph()) is None


def test_every_package_says_its_job_and_what_it_may_import():
    for package in LAYERS[1:]:
        init = CORE / package / "__init__.py"
        doc = ast.get_docstring(ast.parse(init.read_text(encoding="utf-8"))) or ""
        assert "May import" in doc, f"{init.relative_to(ROOT)} does not say what it may import"


def test_the_core_never_imports_the_dashboard():
    for path in sorted(CORE.rglob("*.py")):
        for module, line in imports_of(path):
            top = module.split(".")[0]
            assert top not in ("streamlit", "ui", "pages"), f"{path.relative_to(ROOT)}:{line} imports {module}"


@pytest.mark.parametrize("lower, higher", [("data", "runs"), ("training", "views"), ("runs", "study")])
def test_an_upward_import_is_caught(tmp_path, lower, higher):
    """The checks above would see a lower package reaching up (a copy of the core with one bad line)."""
    fake = tmp_path / "resnet_core"
    for package in (lower, higher):
        (fake / package).mkdir(parents=True)
        (fake / package / "__init__.py").write_text('"""May import: ..."""\n')
    (fake / "__init__.py").write_text("")
    (fake / higher / "top.py").write_text("X = 1\n")
    (fake / lower / "low.py").write_text(f"def f():\n    from resnet_core.{higher}.top import X\n    return X\n")
    assert upward_imports(core_graph(fake)) == [f"resnet_core.{lower}.low ({lower}) imports resnet_core.{higher}.top ({higher})"]


def test_a_circle_is_caught():
    graph = {"resnet_core.data.a": {"resnet_core.data.b"}, "resnet_core.data.b": {"resnet_core.data.a"}}
    assert find_cycle(graph) == ["resnet_core.data.a", "resnet_core.data.b", "resnet_core.data.a"]

