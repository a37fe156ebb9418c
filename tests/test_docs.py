"""The documentation site builds strictly, and every notebook runs top to bottom."""

import os
import re
import subprocess
import sys
from pathlib import Path

import jupytext
import pytest
from nbclient import NotebookClient

ROOT = Path(__file__).parent.parent
NOTEBOOKS = sorted((ROOT / "notebooks").glob("*.py"))


def test_there_are_seven_notebooks():
    assert [p.name[:2] for p in NOTEBOOKS] == ["01", "02", "03", "04", "05", "06", "07"]


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.stem for p in NOTEBOOKS])
def test_notebook_executes(path):
    notebook = jupytext.read(path)
    client = NotebookClient(notebook, timeout=600, kernel_name="python3",
                            resources={"metadata": {"path": str(ROOT)}})  # fmt: skip
    client.execute()
    errors = [o for c in notebook.cells if c.cell_type == "code" for o in c.get("outputs", [])
              if o.get("output_type") == "error"]  # fmt: skip
    assert not errors


STAGE_PAGES = ["audio", "frames", "mel", "cmvn", "subsampling", "positions", "attention",
               "encoder-decoder", "search", "tokenizer", "learning"]  # fmt: skip


@pytest.mark.parametrize("page", STAGE_PAGES)
def test_stage_page_teaches(page):
    """Each stage page: the idea in plain words, included source, a worked example, a
    figure, at least two exercises each with an answer, and a notebook that exists."""

    text = (ROOT / "docs" / f"{page}.md").read_text()
    assert "**In plain words.**" in text
    assert re.search(r"^<!-- source: [\w., ]+ -->$", text, re.M)
    assert re.search(r"^<!-- worked: \w+ -->$", text, re.M)
    assert re.search(r"!\[[^]]*\]\(figures/\w+\.png\)", text)
    questions = text.split('??? question "')[1:]
    assert len(questions) >= 2 and all('??? success "Answer"' in q for q in questions)
    notebooks = re.findall(r"\]\((notebooks/\w+\.py)\)", text)
    assert notebooks and all((ROOT / n).is_file() for n in notebooks)


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.stem for p in NOTEBOOKS])
def test_notebook_has_exercises_and_a_kernel(path):
    text = path.read_text()
    assert "# ## Exercises" in text
    assert "#     name: python3" in text  # the kernel `jupytext --execute` looks for


def test_readme_notebook_command_runs_as_written():
    """The README's command executes a notebook into an .ipynb beside it (git-ignored)."""
    import shlex

    command = re.search(r"^\.venv/bin/jupytext --to ipynb --execute (\S+)$", (ROOT / "README.md").read_text(), re.M)
    assert command, "the README documents how to execute a notebook"
    target = ROOT / command.group(1)
    written = target.with_suffix(".ipynb")
    try:
        args = [sys.executable, "-m", "jupytext", *shlex.split(command.group(0))[1:]]
        result = subprocess.run(args, cwd=ROOT, capture_output=True, text=True, timeout=300)
        assert result.returncode == 0, result.stderr[-2000:]
        assert written.is_file()
        ignored = subprocess.run(["git", "check-ignore", "-q", str(written)], cwd=ROOT)
        assert ignored.returncode == 0, "executed notebooks must be ignored by git"
    finally:
        written.unlink(missing_ok=True)


def test_mkdocs_build_strict(tmp_path):
    result = subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "--site-dir", str(tmp_path / "site")],
        cwd=ROOT, capture_output=True, text=True, timeout=600,
        env={**os.environ, "NO_MKDOCS_2_WARNING": "1"},  # a banner about MkDocs 2, not about us
    )  # fmt: skip
    assert result.returncode == 0, result.stderr[-3000:]
    assert "WARNING" not in result.stderr, result.stderr[-3000:]
    for page in ("index.html", "parity/index.html", "bundled-model/index.html", "api/index.html"):
        assert (tmp_path / "site" / page).is_file()
    assert (ROOT / "build" / "docs" / "figures" / "beam_tree.png").is_file()
    # The build writes nothing into docs/ (mkdocs serve watches it: a hook writing there
    # would trigger a rebuild after every build).
    stray = subprocess.run(["git", "status", "--porcelain", "--ignored", "--untracked-files=all", "docs"],
                           cwd=ROOT, capture_output=True, text=True).stdout  # fmt: skip
    assert [line for line in stray.splitlines() if "__pycache__" not in line and line.startswith(("??", "!!"))] == []
    # The included source and the worked examples are in the pages.
    frames = (tmp_path / "site" / "frames" / "index.html").read_text(encoding="utf-8")
    text = re.sub(r"<[^>]+>", "", frames)  # the highlighted code, without its markup
    assert "\ndef frame_signal(waveform" in text
    assert "Worked example" in frames and "<!-- worked" not in frames
    # Nothing is fetched from the network when a page is read: no script, style sheet or
    # image from another host (the material theme's Google-fonts link is switched off).

    for page in (tmp_path / "site").rglob("*.html"):
        remote = re.findall(r'(?:src|href)="(https?://[^"]+)"', page.read_text(encoding="utf-8"))
        loaded = [u for u in remote if re.search(r"\.(js|css|woff2?|png|svg)(\?|$)|fonts\.googleapis", u)]
        assert not loaded, (page, loaded)
    assert (tmp_path / "site" / "javascripts" / "mathjax" / "tex-mml-chtml.js").is_file()
    # The generated tables hold measurements, not an "install ..." placeholder: the tests'
    # environment has torch, transformers and kaldi-native-fbank.
    for table in ("parity_table.md", "front_end_table.md", "positions_measured.md"):
        text = (ROOT / "build" / "docs" / "figures" / table).read_text()
        assert "install" not in text and "not installed" not in text, (table, text)


def test_readme_names_every_error_type():
    from minis2t import errors

    readme = (ROOT / "README.md").read_text()
    names = [n for n in dir(errors) if isinstance(getattr(errors, n), type)
             and issubclass(getattr(errors, n), errors.MiniS2TError)]  # fmt: skip
    leaf = [n for n in names if n not in ("MiniS2TError", "AudioError")]
    assert [n for n in leaf if f"`{n}`" not in readme] == []


def test_readme_states_the_bars_the_tests_assert():
    """The README's "How close" table gives each bar as ``parity/bars.py`` defines it."""
    from parity import bars

    section = (ROOT / "README.md").read_text().split("## How close", 1)[1].split("\n## ", 1)[0]
    rows = {line.split("|")[1].strip(): line.split("|")[2].strip() for line in section.splitlines()
            if line.startswith("| ") and not line.startswith("| comparison")}  # fmt: skip
    expected = {
        "`fbank` vs kaldi-native-fbank": f"mean {bars.KNF_MEAN:.0e}, p99 {bars.KNF_P99:.0e}",
        "`FeatureExtractor` vs transformers": f"max {bars.HF_FEATURES_MAX:.0e}",
        "NumPy vs twin, `fbank` float64": f"{bars.FRONT_END_TWIN['float64']:.0e}",
        "model logits vs transformers": f"float64 {bars.MODEL_TRANSFORMERS['float64']:.0e}, "
                                        f"float32 {bars.MODEL_TRANSFORMERS['float32']:.0e}",
        "generated ids vs transformers": f"scores {bars.SEQUENCE_SCORES:.0e} relative",
        "model logits vs fairseq": f"float64 {bars.FAIRSEQ['float64']:.0e}",
        "onnxruntime on the exported graphs vs NumPy": f"float32 {bars.ONNX['float32']:.0e}",
    }  # fmt: skip
    for start, bar in expected.items():
        found = [value for name, value in rows.items() if name.startswith(start)]
        assert len(found) == 1 and bar.replace("e-0", "e-") in found[0], (start, bar, found)
