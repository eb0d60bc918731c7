"""The architecture as tests: no import cycles in ``farmhand`` and the layer contracts of pyproject.toml.

Cycles are found on grimp's import graph (the one import-linter builds; type-only imports count), so a
cycle introduced anywhere fails here with the modules named. The contracts themselves (core never imports
Qt/hou/ui/houdini, ui never imports hou, only the client reaches into the engine, the layer order) are
import-linter's, run as the ``lint-imports`` command exactly as a developer runs it.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import grimp

ROOT = Path(__file__).resolve().parents[2]


def _cycles(graph: grimp.ImportGraph) -> list[list[str]]:
    """Strongly connected components of more than one module (a package importing its own child through
    its ``__init__`` is a re-export, not a cycle)."""
    modules = sorted(graph.modules)

    def edges(m: str) -> set[str]:
        return {
            t for t in graph.find_modules_directly_imported_by(m)
            if t.startswith("farmhand") and not t.startswith(m + ".") and not m.startswith(t + ".")
        }

    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in edges(v):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    sys.setrecursionlimit(max(sys.getrecursionlimit(), 10_000))
    for module in modules:
        if module not in index:
            visit(module)
    return found


def test_no_import_cycles() -> None:
    graph = grimp.build_graph("farmhand")
    assert _cycles(graph) == []


def test_cycle_finder_sees_a_cycle() -> None:
    graph = grimp.ImportGraph()
    for name in ("farmhand", "farmhand.a", "farmhand.b", "farmhand.c"):
        graph.add_module(name)
    graph.add_import(importer="farmhand.a", imported="farmhand.b")
    graph.add_import(importer="farmhand.b", imported="farmhand.a")
    graph.add_import(importer="farmhand.c", imported="farmhand.a")
    assert _cycles(graph) == [["farmhand.a", "farmhand.b"]]


def test_layer_contracts_hold() -> None:
    lint = Path(sys.executable).with_name("lint-imports")
    result = subprocess.run([str(lint), "--no-cache"], cwd=ROOT, capture_output=True, text=True)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-2000:]
    assert "BROKEN" not in result.stdout
