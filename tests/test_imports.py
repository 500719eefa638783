"""Every liqcore module imports on its own, and the modules' import graph has no cycle."""

from __future__ import annotations

import ast
import os
import subprocess
import sys
from pathlib import Path

import pytest

PKG = Path(__file__).resolve().parent.parent / "python" / "liqcore"
MODULES = sorted(
    "liqcore" if p.stem == "__init__" else f"liqcore.{p.stem}" for p in PKG.glob("*.py")
)


def _env() -> dict[str, str]:
    import liqcore

    root = str(Path(liqcore.__file__).resolve().parent.parent)  # the liqcore being tested
    return {**os.environ, "PYTHONPATH": os.pathsep.join([root, os.environ.get("PYTHONPATH", "")])}


@pytest.mark.parametrize("module", MODULES)
def test_module_imports_alone(module: str) -> None:
    # __main__ runs the command line when imported: run it as python -m does, with --help
    code = "import runpy, sys; sys.argv = ['liqcore', '--help']; runpy.run_module('liqcore')" \
        if module == "liqcore.__main__" else f"import {module}"
    r = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        env=_env(),
        timeout=120,
    )
    assert r.returncode == 0, r.stderr


def _is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def _module_level_imports(tree: ast.Module) -> list[ast.stmt]:
    """The import statements that run when the module is imported: top level, and inside
    top-level try / if blocks (except ``if TYPE_CHECKING:``); not those in functions."""
    out: list[ast.stmt] = []

    def walk(body: list[ast.stmt]) -> None:
        for node in body:
            if isinstance(node, (ast.Import, ast.ImportFrom)):
                out.append(node)
            elif isinstance(node, ast.If):
                if not _is_type_checking(node.test):
                    walk(node.body)
                walk(node.orelse)
            elif isinstance(node, ast.Try):
                walk(node.body)
                for h in node.handlers:
                    walk(h.body)
                walk(node.orelse)
                walk(node.finalbody)

    walk(tree.body)
    return out


def import_graph() -> dict[str, set[str]]:
    """liqcore submodule -> the liqcore submodules it imports at import time (``__init__`` and
    the compiled ``_core`` left out: importing any submodule runs ``__init__`` first, and
    ``__init__`` imports everything by design)."""
    names = {m.rsplit(".", 1)[-1] for m in MODULES if m != "liqcore"}
    graph: dict[str, set[str]] = {}
    for p in PKG.glob("*.py"):
        if p.stem == "__init__":
            continue
        deps: set[str] = set()
        for node in _module_level_imports(ast.parse(p.read_text(), str(p))):
            if isinstance(node, ast.Import):
                targets = [a.name for a in node.names]
            elif node.level:  # relative: from . import x / from .x import y
                base = node.module or ""
                targets = [base] if base else [a.name for a in node.names]
                targets = [f"liqcore.{t}" for t in targets]
            elif node.module == "liqcore":
                targets = [f"liqcore.{a.name}" for a in node.names]
            else:
                targets = [node.module or ""]
            for t in targets:
                parts = t.split(".")
                if parts[0] == "liqcore" and len(parts) > 1 and parts[1] in names:
                    deps.add(parts[1])
        graph[p.stem] = deps - {p.stem}
    return graph


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    state: dict[str, int] = {}  # 1 on the stack, 2 done
    stack: list[str] = []

    def visit(u: str) -> list[str] | None:
        state[u] = 1
        stack.append(u)
        for v in sorted(graph.get(u, ())):
            if state.get(v) == 1:
                return [*stack[stack.index(v):], v]
            if v not in state:
                c = visit(v)
                if c:
                    return c
        stack.pop()
        state[u] = 2
        return None

    for u in sorted(graph):
        if u not in state:
            c = visit(u)
            if c:
                return c
    return None


def test_find_cycle_finds_one() -> None:
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": set()}) is None


def test_import_graph_is_read() -> None:
    g = import_graph()
    assert "book" in g["synthetic"]
    assert "book" in g["io"]
    assert "synthetic" not in g["book"]  # Book.synthetic imports it inside the method
    assert g["report"] == set()  # its result types are imported only for type checking


def test_no_import_cycle() -> None:
    cycle = find_cycle(import_graph())
    assert cycle is None, " -> ".join(cycle or [])
