"""Draw minis2t's import graph from the code, and check that layers only point down.

    python scripts/import_graph.py            # the edges between modules, by layer
    python scripts/import_graph.py --dot      # Graphviz: ... | dot -Tsvg > graph.svg

Every ``import`` and ``from ... import`` in ``minis2t/`` (at any depth in a file, type
checking blocks included) that names another minis2t module is an edge. A module's layer
is its sub-package; ``LAYERS`` lists them bottom to top. Exit status 1 if any edge points
up (a lower layer importing a higher one), with the offending edges printed.
"""

from __future__ import annotations

import ast
import sys
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "minis2t"
LAYERS = ["errors", "reference", "engine", "io", "app", "train", "hf"]  # bottom to top (hf: transformers' front door)
TOP = {"minis2t", "minis2t.__main__", "minis2t._moved"}  # the front doors: may import anything


def module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def is_module(name: str) -> bool:
    path = PACKAGE.parent.joinpath(*name.split("."))
    return path.with_suffix(".py").is_file() or (path / "__init__.py").is_file()


def layer(module: str) -> int | None:
    parts = module.split(".")
    return LAYERS.index(parts[1]) if len(parts) > 1 and parts[1] in LAYERS else None


def edges() -> list[tuple[str, str]]:
    found = set()
    for path in sorted(PACKAGE.rglob("*.py")):
        source = module_name(path)
        package = source if path.name == "__init__.py" else source.rpartition(".")[0]
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                targets = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom):
                base = package.split(".")
                if node.level:
                    base = base[: len(base) - node.level + 1]
                    prefix = ".".join(base + ([node.module] if node.module else []))
                else:
                    prefix = node.module or ""
                # "from .reference import nn" names the module nn; "from .nn import x" the module nn
                targets = [f"{prefix}.{a.name}" if is_module(f"{prefix}.{a.name}") else prefix for a in node.names]
            else:
                continue
            for target in targets:
                if target.startswith("minis2t") and target != source:
                    found.add((source, target))
    return sorted(found)


def upward(all_edges) -> list[tuple[str, str]]:
    bad = []
    for source, target in all_edges:
        if source in TOP:
            continue
        a, b = layer(source), layer(target)
        if b is not None and (a is None or b > a):
            bad.append((source, target))
    return bad


def main(argv: list[str]) -> int:
    all_edges = edges()
    if "--dot" in argv:
        print("digraph minis2t {\n  rankdir=BT;")
        for source, target in all_edges:
            print(f'  "{source}" -> "{target}";')
        print("}")
    else:
        for name in LAYERS:
            print(f"{name}:")
            for source, target in all_edges:
                if source.split(".")[1:2] == [name] or source == f"minis2t.{name}":
                    print(f"    {source} -> {target}")
    bad = upward(all_edges)
    for source, target in bad:
        print(f"UPWARD: {source} -> {target}", file=sys.stderr)
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
