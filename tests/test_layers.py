"""The house has no loops: no two files of native/src depend on each other, directly or
through others, by their #include lines or by the functions they call.

A module is a .c file with its .h (``alloc/extent``); a public header of native/include is
a module of its own. The include graph is read from the ``#include "..."`` lines; the call
graph from the symbols each compiled object defines and needs (``nm``), so a call through
an exported function (``pmem_drain``) counts like any other.
"""
from __future__ import annotations

import re
import shutil
import subprocess
from collections import defaultdict
from pathlib import Path

import pytest

NATIVE = Path(__file__).resolve().parents[1] / "native"
SRC, INCLUDE = NATIVE / "src", NATIVE / "include"
INCLUDE_RE = re.compile(r'^\s*#\s*include\s+"([^"]+)"', re.M)


def _module(path: Path) -> str:
    base = SRC if SRC in path.parents else NATIVE
    return str(path.relative_to(base).with_suffix(""))


def _resolve(name: str, near: Path) -> Path | None:
    for folder in (near.parent, SRC, INCLUDE):
        if (folder / name).is_file():
            return folder / name
    return None


def include_graph() -> dict[str, set[str]]:
    graph: dict[str, set[str]] = defaultdict(set)
    for path in [*SRC.rglob("*.[ch]"), *INCLUDE.glob("*.h")]:
        here = _module(path)
        graph[here]
        for name in INCLUDE_RE.findall(path.read_text()):
            target = _resolve(name, path)
            if target is not None and _module(target) != here:
                graph[here].add(_module(target))
    return graph


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components of more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in sorted(graph.get(v, ())):
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

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return found


def _describe(graph: dict[str, set[str]], component: list[str]) -> str:
    inside = set(component)
    return "; ".join(f"{a} -> {b}" for a in component for b in sorted(graph[a] & inside))


def test_cycle_finder_finds_a_loop() -> None:
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
    assert cycles({"a": {"b"}, "b": set()}) == []


def test_no_include_cycles() -> None:
    graph = include_graph()
    assert len(graph) > 20, "native/src was not found"
    found = cycles(graph)
    assert not found, "include cycles: " + " | ".join(_describe(graph, c) for c in found)


# The preload libraries (shim/, tiershim/) define these to replace libc's; any other file
# that calls them calls the process's malloc, not a sibling file.
LIBC_REPLACED = frozenset({"malloc", "free", "calloc", "realloc", "reallocarray",
                           "posix_memalign", "aligned_alloc", "memalign", "valloc", "pvalloc",
                           "malloc_usable_size", "cfree"})


def call_graph(objdir: Path) -> dict[str, set[str]]:
    defines: dict[str, str] = {}
    needs: dict[str, set[str]] = {}
    for src in sorted(SRC.rglob("*.c")):
        obj = objdir / (_module(src).replace("/", "_") + ".o")
        subprocess.run(["gcc", "-c", "-std=c11", "-D_GNU_SOURCE", "-O0", "-pthread",
                        f"-I{INCLUDE}", f"-I{SRC}", str(src), "-o", str(obj)], check=True)
        out = subprocess.run(["nm", str(obj)], check=True, capture_output=True,
                             text=True).stdout
        needs[_module(src)] = set()
        for line in out.splitlines():
            kind, name = line.split()[-2:]
            if kind == "U":
                needs[_module(src)].add(name)
            elif kind in "TDBRVW" and kind.isupper() and name not in LIBC_REPLACED:
                defines[name] = _module(src)
    return {m: {defines[s] for s in syms if s in defines and defines[s] != m}
            for m, syms in needs.items()}


@pytest.mark.skipif(not (shutil.which("gcc") and shutil.which("nm")), reason="needs gcc, nm")
def test_no_call_cycles(tmp_path: Path) -> None:
    graph = call_graph(tmp_path)
    assert graph.get("alloc/heap_alloc"), "the symbol tables were not read"
    found = cycles(graph)
    assert not found, "call cycles: " + " | ".join(_describe(graph, c) for c in found)
