"""mkdocs hook: the notebooks, executed when the site is built and rendered as pages.

Each ``notebooks/NN_name.py`` (a jupytext file) is run top to bottom with nbclient, in
the checkout's root with the checkout on the kernel's path, and exported to Markdown with
nbconvert into ``build/docs/notebooks/NN_name.md`` (its plots beside it); ``on_files``
adds those pages to the site as ``notebooks/NN_name/``, next to the ``.py`` files
themselves. A notebook that raises fails the build.

Cells tagged ``answer-check`` check the reader's answer to an exercise: they run (so a
wrong answer in the notebook fails the build) and are left out of the page, so the page
does not give the answers away.

Running every notebook takes minutes, so a page is reused while neither its notebook nor
the code it runs (``minis2t/``, ``parity/``, the bundled models) has changed: the hash
of all of them is kept beside the page.
"""

from __future__ import annotations

import hashlib
import logging
import os
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
NOTEBOOKS = ROOT / "notebooks"
OUT = ROOT / "build" / "docs" / "notebooks"
KEYS = ROOT / "build" / "notebook_keys"  # outside build/docs: not served
HIDDEN_TAG = "answer-check"
log = logging.getLogger("mkdocs.hooks.notebooks")


def code_hash() -> str:
    """What a notebook's output depends on besides itself: the package, the twin and the
    bundled models' files."""
    digest = hashlib.sha256()
    for base in ("minis2t", "parity"):
        for path in sorted((ROOT / base).rglob("*")):
            if path.is_file() and "__pycache__" not in path.parts:
                digest.update(path.relative_to(ROOT).as_posix().encode())
                digest.update(path.read_bytes())
    return digest.hexdigest()


def render(path: Path, key: str) -> None:
    """Execute ``path`` and write its page (and the images of its outputs) under OUT."""
    import jupytext
    import nbformat
    from nbclient import NotebookClient
    from nbconvert import MarkdownExporter

    notebook = jupytext.read(path)
    # plots at twice the pixels they are shown at (docs/hooks/figures.py sizes them on the page)
    notebook.cells.insert(0, nbformat.v4.new_code_cell("%config InlineBackend.figure_formats = ['retina']"))
    env_path = os.environ.get("PYTHONPATH", "")
    os.environ["PYTHONPATH"] = str(ROOT) + (os.pathsep + env_path if env_path else "")  # the kernel imports parity/
    try:
        client = NotebookClient(notebook, timeout=900, kernel_name="python3",
                                resources={"metadata": {"path": str(ROOT)}})  # fmt: skip
        # the kernel process's own log (a warning that it talks over local TCP) is not the
        # notebook's output; errors in cells still reach the build as exceptions
        client.execute(stderr=subprocess.DEVNULL)
    finally:
        os.environ["PYTHONPATH"] = env_path
    notebook.cells = [c for c in notebook.cells[1:] if HIDDEN_TAG not in c.get("metadata", {}).get("tags", [])]
    for cell in notebook.cells:  # a kernel's stderr chatter is not the notebook's output
        if cell.cell_type == "code":
            outputs = []
            for o in cell.get("outputs", []):
                if o.get("name") == "stderr":
                    continue
                if outputs and o.get("output_type") == "stream" and outputs[-1].get("output_type") == "stream":
                    outputs[-1]["text"] += o["text"]  # one block of printed lines, not one per flush
                else:
                    outputs.append(o)
            cell.outputs = outputs
    body, resources = MarkdownExporter().from_notebook_node(notebook, resources={"output_files_dir": f"{path.stem}_files"})
    target = OUT / f"{path.stem}.md"
    target.parent.mkdir(parents=True, exist_ok=True)
    shutil.rmtree(OUT / f"{path.stem}_files", ignore_errors=True)  # an earlier run's plots
    for name, data in resources.get("outputs", {}).items():
        image = OUT / name
        image.parent.mkdir(parents=True, exist_ok=True)
        image.write_bytes(data)
    header = (f"*This page is [`notebooks/{path.name}`]({path.name}) as it ran when the site was built. "
              f"Run it yourself: `PYTHONPATH=$PWD .venv/bin/jupytext --to ipynb --execute notebooks/{path.name}` "
              f"from the checkout (or open it in Jupyter with jupytext). The cells that check the "
              f"exercises' answers ran too, and are not shown.*\n\n")  # fmt: skip
    title, _, rest = body.partition("\n")
    target.write_text(title + "\n\n" + header + rest, encoding="utf-8")
    KEYS.mkdir(parents=True, exist_ok=True)
    (KEYS / f"{path.stem}.key").write_text(key)


def on_pre_build(config, **kwargs) -> None:
    shared = code_hash()
    for path in sorted(NOTEBOOKS.glob("*.py")):
        key = hashlib.sha256((shared + path.read_text()).encode()).hexdigest()
        stored = KEYS / f"{path.stem}.key"
        if (OUT / f"{path.stem}.md").is_file() and stored.is_file() and stored.read_text() == key:
            continue
        log.info(f"executing {path.name}")
        render(path, key)


def on_files(files, config, **kwargs):
    """The rendered notebooks and their images, served as ``notebooks/...``."""
    from mkdocs.structure.files import File

    for path in sorted(OUT.rglob("*")):
        if path.is_file():
            uri = "notebooks/" + path.relative_to(OUT).as_posix()
            if files.get_file_from_path(uri) is None:
                files.append(File(uri, str(OUT.parent), config["site_dir"], config["use_directory_urls"]))
    return files


if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))
