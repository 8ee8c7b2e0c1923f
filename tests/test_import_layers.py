"""Layers import downwards only: no import cycle inside ``pidog_gaits``.

Every ``import`` statement counts, function-local ones too (a lazy import is still a
dependency: it only moves the cycle to run time). Two graphs are checked: modules, and
the package's top-level parts (``runtime``, ``backends``, ``export``, ``sim``, ...), so
two subpackages that each import the other through different modules are caught too.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pidog_gaits

PACKAGE_DIR = Path(pidog_gaits.__file__).parent
PACKAGE = PACKAGE_DIR.name


def _modules() -> dict[str, Path]:
    mods = {}
    for path in PACKAGE_DIR.rglob("*.py"):
        parts = list(path.relative_to(PACKAGE_DIR.parent).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts = parts[:-1]
        mods[".".join(parts)] = path
    return mods


def _known(name: str, mods: dict[str, Path]) -> str | None:
    """The package module ``name`` refers to (``a.b.attr`` -> ``a.b``), or None."""
    while name and name not in mods:
        name = name.rpartition(".")[0]
    return name or None


def import_graph() -> dict[str, set[str]]:
    """Module -> the package modules it imports (anywhere in its body)."""
    mods = _modules()
    graph: dict[str, set[str]] = {m: set() for m in mods}
    for mod, path in mods.items():
        package = mod if path.name == "__init__.py" else mod.rpartition(".")[0]
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            targets: list[str] = []
            if isinstance(node, ast.Import):
                targets = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom):
                base = node.module or ""
                if node.level:
                    parent = package.split(".")[: len(package.split(".")) - node.level + 1]
                    base = ".".join(parent + ([base] if base else []))
                # ``from pkg import sub`` imports the submodule, ``from mod import x`` the module
                targets = [
                    f"{base}.{alias.name}" if f"{base}.{alias.name}" in mods else base
                    for alias in node.names
                ]
            for target in targets:
                known = _known(target, mods)
                if known and known != mod:
                    graph[mod].add(known)
    return graph


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one node (Tarjan, iterative)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []
    for root in graph:
        if root in index:
            continue
        work = [(root, iter(sorted(graph[root])))]
        index[root] = low[root] = len(index)
        stack.append(root)
        on_stack.add(root)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = len(index)
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(graph.get(child, ())))))
                elif child in on_stack:
                    low[node] = min(low[node], index[child])
                continue
            work.pop()
            if work:
                parent = work[-1][0]
                low[parent] = min(low[parent], low[node])
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
    return found


def _layer(module: str) -> str:
    return ".".join(module.split(".")[:2])


def test_cycle_finder_finds_a_cycle():
    """The checker itself: a planted cycle (and only it) is reported."""
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}, "e": set()}
    assert cycles(graph) == [["a", "b", "c"]]
    assert cycles({"a": {"b"}, "b": set()}) == []


def test_graph_sees_function_local_imports():
    """``make_backend`` imports its backends inside the function: those edges count."""
    graph = import_graph()
    assert f"{PACKAGE}.backends.sim" in graph[f"{PACKAGE}.backends"]
    assert f"{PACKAGE}.runtime.base" in graph[f"{PACKAGE}.runtime.loop"]


def test_no_module_import_cycle():
    found = cycles(import_graph())
    assert not found, f"import cycles between modules: {found}"


def test_no_cycle_between_layers():
    """``runtime``, ``backends``, ``export``, ``sim``, ... : each pair one direction only."""
    layers: dict[str, set[str]] = {}
    for mod, targets in import_graph().items():
        layers.setdefault(_layer(mod), set())
        layers[_layer(mod)] |= {_layer(t) for t in targets} - {_layer(mod)}
    found = cycles(layers)
    assert not found, f"import cycles between layers: {found}"


def test_deployment_layers_point_one_way():
    """``backends`` <- ``runtime`` <- ``export``: the robot's path never reaches export."""
    graph = import_graph()
    below = {
        "backends": {"runtime", "export"},  # backends import neither
        "runtime": {"export"},
    }
    for layer, forbidden in below.items():
        for mod, targets in graph.items():
            if _layer(mod) != f"{PACKAGE}.{layer}":
                continue
            bad = sorted(t for t in targets if _layer(t).split(".")[-1] in forbidden)
            assert not bad, f"{mod} imports upwards: {bad}"
