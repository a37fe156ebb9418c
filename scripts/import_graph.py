"""Draw minis2t's import graph from the code, and check the architecture's rules on it.

    python scripts/import_graph.py                   # the edges between modules, by layer
    python scripts/import_graph.py --dot             # Graphviz: ... | dot -Tsvg > graph.svg
    python scripts/import_graph.py --package DIR     # another copy of the package

Every ``import`` and ``from ... import`` in the package (at any depth in a file: inside
functions and type-checking blocks too) that names one of its modules is an edge. A
module's layer is its sub-package; ``LAYERS`` lists them bottom to top. Exit status 1,
with each fault printed, if

* an edge points **up** (a lower layer imports a higher one);
* a module imports the **root package** (``minis2t`` itself: its ``__init__`` imports
  every layer, so that is an arrow up from anywhere);
* the edges make a **circle**, between layers or inside one;
* a module takes another module's **private name** (``from .x import _y``, or ``x._y``
  on a module it imported).
"""

from __future__ import annotations

import ast
import sys
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "minis2t"
LAYERS = ["errors", "jsonfile", "reference", "engine", "io", "app", "train", "hf"]  # bottom to top (hf: transformers' front door)
TOP = {"__main__"}  # besides the root package itself: front doors that may import anything


class Graph:
    """The modules of the package at ``root`` and the imports between them."""

    def __init__(self, root: Path):
        self.root = Path(root).resolve()
        self.name = self.root.name
        self.edges: set[tuple[str, str]] = set()
        self.private: list[str] = []  # "source: what" for each private name taken
        for path in sorted(self.root.rglob("*.py")):
            self._read(path)

    def module_name(self, path: Path) -> str:
        parts = path.relative_to(self.root.parent).with_suffix("").parts
        return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)

    def is_module(self, name: str) -> bool:
        path = self.root.parent.joinpath(*name.split("."))
        return path.with_suffix(".py").is_file() or (path / "__init__.py").is_file()

    def layer(self, module: str) -> int | None:
        parts = module.split(".")
        return LAYERS.index(parts[1]) if len(parts) > 1 and parts[1] in LAYERS else None

    def is_top(self, module: str) -> bool:
        return module == self.name or module.split(".")[1:] in ([t] for t in TOP)

    def _read(self, path: Path) -> None:
        source = self.module_name(path)
        package = source if path.name == "__init__.py" else source.rpartition(".")[0]
        modules_here: set[str] = set()  # local names bound to a module of the package
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                for alias in node.names:
                    if alias.name.split(".")[0] == self.name:
                        self._edge(source, alias.name)
                        if alias.asname:
                            modules_here.add(alias.asname)
            elif isinstance(node, ast.ImportFrom):
                if node.level:
                    base = package.split(".")[: len(package.split(".")) - node.level + 1]
                    prefix = ".".join(base + ([node.module] if node.module else []))
                else:
                    prefix = node.module or ""
                if prefix.split(".")[0] != self.name:
                    continue
                for alias in node.names:
                    full = f"{prefix}.{alias.name}"
                    if self.is_module(full):  # "from .reference import nn": the module nn
                        self._edge(source, full)
                        modules_here.add(alias.asname or alias.name)
                    else:  # "from .nn import x": the module nn, and x one of its names
                        self._edge(source, prefix)
                        if _private(alias.name):
                            self.private.append(f"{source}: {prefix}.{alias.name}")
        for node in ast.walk(tree):
            if (isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name)
                    and node.value.id in modules_here and _private(node.attr)):  # fmt: skip
                self.private.append(f"{source}: {node.value.id}.{node.attr} (line {node.lineno})")

    def _edge(self, source: str, target: str) -> None:
        if target != source:
            self.edges.add((source, target))

    def upward(self) -> list[tuple[str, str]]:
        bad = []
        for source, target in sorted(self.edges):
            if self.is_top(source):
                continue
            a, b = self.layer(source), self.layer(target)
            if target == self.name or (b is not None and (a is None or b > a)):
                bad.append((source, target))
        return bad

    def circles(self) -> list[list[str]]:
        """Each group of modules that import one another, directly or round a circle
        (the strongly connected components of more than one module, Tarjan's algorithm)."""
        following: dict[str, list[str]] = {}
        for source, target in sorted(self.edges):
            following.setdefault(source, []).append(target)
        index: dict[str, int] = {}
        low: dict[str, int] = {}
        stack: list[str] = []
        on_stack: set[str] = set()
        groups = []

        def visit(v: str) -> None:
            index[v] = low[v] = len(index)
            stack.append(v)
            on_stack.add(v)
            for w in following.get(v, []):
                if w not in index:
                    visit(w)
                    low[v] = min(low[v], low[w])
                elif w in on_stack:
                    low[v] = min(low[v], index[w])
            if low[v] == index[v]:
                group = []
                while True:
                    w = stack.pop()
                    on_stack.discard(w)
                    group.append(w)
                    if w == v:
                        break
                if len(group) > 1:
                    groups.append(sorted(group))

        sys.setrecursionlimit(max(sys.getrecursionlimit(), 10 * len(following) + 100))
        for v in sorted(following):
            if v not in index:
                visit(v)
        return sorted(groups)

    def faults(self) -> list[str]:
        out = [f"UPWARD: {s} -> {t}" + (" (the root package)" if t == self.name else "") for s, t in self.upward()]
        out += [f"CIRCLE: {' <-> '.join(group)}" for group in self.circles()]
        out += [f"PRIVATE: {what}" for what in self.private]
        return out


def _private(name: str) -> bool:
    return name.startswith("_") and not (name.startswith("__") and name.endswith("__"))


def main(argv: list[str]) -> int:
    root = Path(argv[argv.index("--package") + 1]) if "--package" in argv else PACKAGE
    graph = Graph(root)
    if "--dot" in argv:
        print(f"digraph {graph.name} {{\n  rankdir=BT;")
        for source, target in sorted(graph.edges):
            print(f'  "{source}" -> "{target}";')
        print("}")
    else:
        for name in LAYERS:
            print(f"{name}:")
            for source, target in sorted(graph.edges):
                if source.split(".")[1:2] == [name]:
                    print(f"    {source} -> {target}")
    faults = graph.faults()
    for fault in faults:
        print(fault, file=sys.stderr)
    return 1 if faults else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
