"""The architecture the code obeys (ARCHITECTURE.md): layers import only downwards, no
module imports the root package, no circle anywhere, no module takes another's private
names — checked by ``scripts/import_graph.py``, which is itself shown to fail on each
fault planted in a copy of the package."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

import minis2t
from minis2t.reference import model as rm
from minis2t.reference import nn as rn

ROOT = Path(__file__).resolve().parents[1]
CHECKER = ROOT / "scripts" / "import_graph.py"


def check(package: Path | None = None) -> subprocess.CompletedProcess:
    args = [sys.executable, str(CHECKER)] + ([] if package is None else ["--package", str(package)])
    return subprocess.run(args, capture_output=True, text=True, timeout=120)


def test_the_package_obeys_its_layers():
    run = check()
    assert run.returncode == 0, run.stderr
    assert "minis2t.engine.model -> minis2t.reference.model" in run.stdout  # it does see edges
    assert "minis2t.app.longform -> minis2t.io.audio" in run.stdout


@pytest.fixture
def copy(tmp_path) -> tuple[Path, set[str]]:
    """A copy of the package's code (not its model files), and the faults the checker
    finds in it before anything is planted (none, once the package obeys its layers:
    test_the_package_obeys_its_layers)."""
    target = tmp_path / "minis2t"
    shutil.copytree(ROOT / "minis2t", target, ignore=shutil.ignore_patterns("assets", "__pycache__"))
    return target, set(check(target).stderr.splitlines())


def plant(path: Path, line: str, inside_a_function: bool = False) -> None:
    text = path.read_text()
    if inside_a_function:  # hidden where a reader of the module's head does not look
        line = "\n\ndef _planted():\n    " + line + "\n"
    path.write_text(text + "\n" + line + "\n")


FAULTS = {
    # the root package from inside it: its __init__ imports every layer
    "root": ("engine/nn.py", "from .. import Speech2Text", False, "UPWARD: minis2t.engine.nn -> minis2t "),
    "root, version": ("app/formats.py", "from minis2t import __version__", False, "(the root package)"),
    # a lower layer importing a higher one, hidden in a function
    "upward": ("reference/nn.py", "from ..app import pipeline", True, "UPWARD: minis2t.reference.nn -> minis2t.app.pipeline"),
    # a circle inside one layer, one of its arrows inside a function
    "circle in a layer": ("io/audio_checks.py", "from . import audio", True, "CIRCLE: minis2t.io.audio <-> minis2t.io.audio_checks"),
    # a circle through two layers needs an upward arrow too; both are reported
    "circle across layers": ("errors.py", "from .io import audio_checks", True, "CIRCLE: minis2t.errors <-> minis2t.io.audio_checks"),
    # another module's private name, imported or reached through the module
    "private import": ("app/formats.py", "from ..io.audio import _pcm_to_float", False, "PRIVATE: minis2t.app.formats: minis2t.io.audio._pcm_to_float"),
    "private attribute": ("app/formats.py", "from ..io import audio as A\nA._as_array([1.0])", False, "PRIVATE: minis2t.app.formats: A._as_array"),
}  # fmt: skip


@pytest.mark.parametrize("fault", FAULTS)
def test_the_checker_fails_on_a_planted_fault(copy, fault):
    package, before = copy
    where, line, hidden, expected = FAULTS[fault]
    plant(package / where, line, hidden)
    run = check(package)
    assert run.returncode == 1
    new = set(run.stderr.splitlines()) - before
    assert any(expected in fault_line for fault_line in new), run.stderr


def test_the_reference_takes_no_hooks_for_its_callers():
    """The reference holds the math only: no parameter in its signatures exists for parity
    (``positions``: the tables are data in the weights), the engine (``top_k``) or the docs
    (``trace``: beam search returns its steps)."""
    import importlib
    import inspect
    import pkgutil

    import minis2t.reference

    hooks = {"positions", "top_k", "trace"}
    found = []
    for info in pkgutil.iter_modules(minis2t.reference.__path__):
        module = importlib.import_module(f"minis2t.reference.{info.name}")
        for name, f in vars(module).items():
            if inspect.isfunction(f) and f.__module__ == module.__name__:
                found += [f"{module.__name__}.{name}({p})" for p in inspect.signature(f).parameters if p in hooks]
    assert not found, found


def test_architecture_md_names_every_module():
    """ARCHITECTURE.md is drawn from the code: every module of the package is named there
    (a new module gets its place on the map in the same commit)."""
    import re

    text = (ROOT / "ARCHITECTURE.md").read_text()
    named = set()
    for quoted in re.findall(r"`([^`]+)`", text):
        named.update(re.findall(r"\w+", quoted))
    modules = {p.stem if p.stem != "__init__" else p.parent.name for p in (ROOT / "minis2t").rglob("*.py")}
    missing = sorted(modules - named - {"__main__", "minis2t"})
    assert not missing, f"ARCHITECTURE.md does not name {missing}"


def test_reference_holds_no_speed_devices_and_imports_nothing_above_it():
    """What the docs include is the math: no thread pools, memory-order devices, size
    thresholds or input checks in ``minis2t/reference``, and it imports only NumPy, SciPy
    and itself."""
    import ast
    import pathlib

    root = pathlib.Path(minis2t.__file__).parent / "reference"
    banned = ("ThreadPool", "concurrent", "order=", "ascontiguousarray", "asfortranarray", "MIN_SIZE",
              "MIN_SCORES", "raise ", "sched_getaffinity", "_POOL", "overwrite")  # fmt: skip
    for path in root.glob("*.py"):
        text = path.read_text()
        for word in banned:
            assert word not in text, f"{path.name} holds {word!r}"
        for node in ast.walk(ast.parse(text)):
            if isinstance(node, ast.ImportFrom):
                assert node.level == 1 or node.module in ("__future__", "typing", "dataclasses"), (path, node.module)
            elif isinstance(node, ast.Import):
                # the one exception: the tokenizer's load_unigram reads a vocabulary file
                # through the sentencepiece library (reading the file is not the lesson)
                allowed = ("numpy", "scipy", "math") + (("sentencepiece",) if path.name == "tokenizer.py" else ())
                assert all(a.name.split(".")[0] in allowed for a in node.names), path


def test_the_twin_mirrors_the_reference_function_for_function():
    """parity/ is the reference translated to torch: the same functions in the same order."""
    import inspect

    import parity.model as tm
    import parity.nn as tn

    def names(module, skip=()):
        return [n for n, f in vars(module).items()
                if (inspect.isfunction(inspect.unwrap(f)) or inspect.isclass(f))
                and getattr(f, "__module__", None) == module.__name__
                and not n.startswith("_") and n not in skip]  # fmt: skip

    assert names(tm, skip={"to_torch"}) == names(rm, skip={"nest", "model_params"})
    assert names(tn) == names(rn)


def test_readme_states_the_reference_size():
    """The README's count of the reference's lines from waveform to tokens is the files'."""
    import re
    from pathlib import Path

    root = Path(__file__).resolve().parents[1]
    files = ["features", "nn", "model", "generate", "search", "run"]
    lines = sum(len((root / "minis2t" / "reference" / f"{f}.py").read_text().splitlines()) for f in files)
    stated = int(re.search(r"<!-- reference-lines -->(\d+)<!-- /reference-lines -->",
                           (root / "README.md").read_text()).group(1))  # fmt: skip
    assert stated == lines
