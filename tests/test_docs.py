"""The documentation site builds strictly, every notebook runs top to bottom in that build
and is a page of it, and the pages render."""

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).parent.parent
NOTEBOOKS = sorted((ROOT / "notebooks").glob("*.py"))


def test_there_are_eight_notebooks():
    assert [p.name[:2] for p in NOTEBOOKS] == ["01", "02", "03", "04", "05", "06", "07", "08", "09"]


STAGE_PAGES = ["audio", "frames", "mel", "cmvn", "subsampling", "positions", "attention",
               "encoder-decoder", "search", "tokenizer", "learning", "translation", "long-form"]  # fmt: skip


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
    notebooks = re.findall(r"\]\(notebooks/(\w+)\.md\)", text)  # the notebook's rendered page
    assert notebooks and all((ROOT / "notebooks" / f"{n}.py").is_file() for n in notebooks)


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.stem for p in NOTEBOOKS])
def test_notebook_has_exercises_and_a_kernel(path):
    text = path.read_text()
    assert "# ## Exercises" in text
    assert "#     name: python3" in text  # the kernel `jupytext --execute` looks for
    # exercises whose answers a cell checks (hidden on the site; run by every execution)
    exercises = text.split("# ## Exercises", 1)[1]
    assert exercises.count('# %% tags=["answer-check"]') >= 1


def test_readme_notebook_command_runs_as_written():
    """The README's command executes a notebook into an .ipynb beside it (git-ignored),
    from the checkout's root with nothing but what the command itself sets: notebook 04
    imports the checkout's parity/, which only PYTHONPATH=$PWD puts on the kernel's path."""
    import shlex

    command = re.search(r"^PYTHONPATH=\$PWD \.venv/bin/jupytext --to ipynb --execute (\S+)$",
                        (ROOT / "README.md").read_text(), re.M)  # fmt: skip
    assert command, "the README documents how to execute a notebook"
    target = ROOT / command.group(1)
    assert target.name == "04_parity.py"  # the one that needs the checkout on the path
    written = target.with_suffix(".ipynb")
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}  # only what the command sets
    env["PYTHONPATH"] = str(ROOT)  # what the shell makes of $PWD in the checkout's root
    try:
        args = [sys.executable, "-m", "jupytext", *shlex.split(command.group(0))[2:]]
        result = subprocess.run(args, cwd=ROOT, capture_output=True, text=True, timeout=600, env=env)
        assert result.returncode == 0, result.stderr[-2000:]
        assert written.is_file()
        import json

        outputs = [o for c in json.loads(written.read_text())["cells"] for o in c.get("outputs", [])]
        assert "DEBUG" not in json.dumps(outputs), "hydra's DEBUG lines in the notebook's output"
        ignored = subprocess.run(["git", "check-ignore", "-q", str(written)], cwd=ROOT)
        assert ignored.returncode == 0, "executed notebooks must be ignored by git"
    finally:
        written.unlink(missing_ok=True)


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    """The site, built once for this module's tests: (site directory, the build's stderr).
    The build executes every notebook (a failing one fails it, with its traceback)."""
    out = tmp_path_factory.mktemp("site")
    # every notebook is executed by this build (docs/hooks/notebooks.py), not taken from an
    # earlier build's cache: a notebook that fails fails the build, and this test
    shutil.rmtree(ROOT / "build" / "notebook_keys", ignore_errors=True)
    result = subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "--site-dir", str(out / "site")],
        cwd=ROOT, capture_output=True, text=True, timeout=3600,  # the eight notebooks run in this build
        env={**os.environ, "NO_MKDOCS_2_WARNING": "1"},  # a banner about MkDocs 2, not about us
    )  # fmt: skip
    assert result.returncode == 0, result.stderr[-3000:]
    return out / "site", result.stderr


def test_mkdocs_build_strict(site):
    site, stderr = site
    assert "WARNING" not in stderr, stderr[-3000:]
    for page in ("index.html", "parity/index.html", "bundled-model/index.html", "api/index.html",
                 "translation/index.html", "long-form/index.html"):  # fmt: skip
        assert (site / page).is_file()
    assert (ROOT / "build" / "docs" / "figures" / "beam_tree.png").is_file()
    # The build writes nothing into docs/ (mkdocs serve watches it: a hook writing there
    # would trigger a rebuild after every build).
    stray = subprocess.run(["git", "status", "--porcelain", "--ignored", "--untracked-files=all", "docs"],
                           cwd=ROOT, capture_output=True, text=True).stdout  # fmt: skip
    assert [line for line in stray.splitlines() if "__pycache__" not in line and line.startswith(("??", "!!"))] == []
    # The included source and the worked examples are in the pages.
    frames = (site / "frames" / "index.html").read_text(encoding="utf-8")
    text = re.sub(r"<[^>]+>", "", frames)  # the highlighted code, without its markup
    assert "\ndef frame_signal(waveform" in text
    assert "Worked example" in frames and "<!-- worked" not in frames
    # Nothing is fetched from the network when a page is read: no script, style sheet or
    # image from another host (the material theme's Google-fonts link is switched off).

    for page in (site).rglob("*.html"):
        remote = re.findall(r'(?:src|href)="(https?://[^"]+)"', page.read_text(encoding="utf-8"))
        loaded = [u for u in remote if re.search(r"\.(js|css|woff2?|png|svg)(\?|$)|fonts\.googleapis", u)]
        assert not loaded, (page, loaded)
    assert (site / "javascripts" / "mathjax" / "tex-mml-chtml.js").is_file()
    # The generated tables hold measurements, not an "install ..." placeholder: the tests'
    # environment has torch, transformers and kaldi-native-fbank.
    for table in ("parity_table.md", "front_end_table.md", "positions_measured.md"):
        text = (ROOT / "build" / "docs" / "figures" / table).read_text()
        assert "install" not in text and "not installed" not in text, (table, text)




def test_notebooks_are_pages_of_the_site(site):
    """Every notebook is on the site, executed (its outputs are there), without the cells
    that check the exercises' answers, and linked from the page it extends."""
    site, _ = site
    for path in NOTEBOOKS:
        html = (site / "notebooks" / path.stem / "index.html").read_text(encoding="utf-8")
        assert "Exercises" in html and "answer-check" not in html and "right: " not in html, path.name
        assert re.search(r"<pre><span></span><code>\s*\S", html) or "<img" in html, f"{path.name}: no outputs"
        assert (site / "notebooks" / path.name).is_file()  # the .py itself, to download
    linked = {m for page in (ROOT / "docs").glob("*.md") for m in re.findall(r"\]\(notebooks/(\w+)\.md\)", page.read_text())}
    assert linked == {p.stem for p in NOTEBOOKS}


def test_build_prints_no_debug_lines(site):
    """fairseq starts hydra, which turns the root logger to DEBUG: the hooks put it back."""
    _, stderr = site
    assert "DEBUG" not in stderr, [line for line in stderr.splitlines() if "DEBUG" in line][:5]


def strip_rendered(html: str) -> str:
    """A page without what may legitimately hold TeX or pipes: MathJax's own spans and
    divs (arithmatex), code, scripts and styles."""
    html = re.sub(r'<(span|div) class="arithmatex">.*?</\1>', " ", html, flags=re.S)
    return re.sub(r"<(code|pre|script|style)[^>]*>.*?</\1>", " ", html, flags=re.S)


def test_math_and_tables_render(site):
    """No TeX outside MathJax's elements (a `\\(` Markdown ate, a `\\bar` in a paragraph, a
    `|` inside TeX that split a table row), no table row of another width than its header,
    no Markdown table left as a paragraph of pipes."""
    site, _ = site
    problems = []
    for page in sorted(site.rglob("*.html")):
        html = page.read_text(encoding="utf-8")
        body = strip_rendered(html)
        for m in re.finditer(r"\\[A-Za-z]+|\\[()\[\]]|\$\$", body):
            problems.append((page.relative_to(site).as_posix(), "raw TeX", body[max(0, m.start() - 60) : m.end() + 20]))
        for m in re.finditer(r"<p>[^<]*\|[^<]*\|[^<]*</p>", body):
            problems.append((page.relative_to(site).as_posix(), "table left as text", m.group(0)[:120]))
        for table in re.findall(r"<table>.*?</table>", html, flags=re.S):
            head, _, rows = table.partition("</thead>")
            width = len(re.findall(r"<th[ >]", head))
            for row in re.findall(r"<tr>(.*?)</tr>", rows, flags=re.S):
                if len(re.findall(r"<td[ >]", row)) != width:
                    problems.append((page.relative_to(site).as_posix(), "row width", re.sub(r"<[^>]+>", " ", row)[:120]))
    assert problems == []


def test_figures_are_legible_at_the_page_width(site):
    """Every figure shown at most 825 px wide (7.5 in at 110 dpi): the material theme's
    content column is about 700 px, so a figure is scaled by at most 0.85 and 8-pt text stays
    10 px tall. Each is drawn at twice the pixels it is shown at, sharp on high-resolution
    screens: its <img> says the half size. (The hook also refuses more than two panels side
    by side and text under 8 pt when it draws them: docs/hooks/figures.py, check_legible.)"""
    from PIL import Image

    site, _ = site
    figures = sorted((site / "figures").glob("*.png"))
    assert len(figures) >= 18
    plots = sorted((site / "notebooks").rglob("*.png"))  # the executed notebooks' figures
    assert plots
    shown = {}
    for page in site.rglob("*.html"):
        for attributes, src in re.findall(r'<img ([^>]*?)src="([^"]+\.png)"', page.read_text(encoding="utf-8")):
            target = (page.parent / src).resolve()
            if target in figures + plots:
                width = re.search(r'width="(\d+)"', attributes)
                shown[target] = (int(width.group(1)) if width else None, Image.open(target).size[0])
    assert len(shown) >= 18 and any(p in shown for p in plots)
    wrong = {p.name: sizes for p, sizes in shown.items() if sizes[0] is None or sizes[0] > 825 or sizes[1] < 2 * sizes[0] - 1}
    assert wrong == {}


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
        "`minis2t.hf` vs transformers": f"float64 {bars.MODEL_TRANSFORMERS['float64']:.0e}",
        "onnxruntime on the exported graphs vs NumPy": f"float32 {bars.ONNX['float32']:.0e}",
    }  # fmt: skip
    for start, bar in expected.items():
        found = [value for name, value in rows.items() if name.startswith(start)]
        assert len(found) == 1 and bar.replace("e-0", "e-") in found[0], (start, bar, found)


def test_one_documented_command_builds_the_site():
    """The README's one command for the site: scripts/docs.sh installs what the pages are
    computed with in the order the machines need (torch==2.13.0 first, then the package
    with its test extra, which holds the docs and notebooks extras, then fairseq, as
    scripts/test.sh does), then builds strictly. It is not run here (it installs); its
    steps are compared with the test script's, which CI runs."""
    readme = (ROOT / "README.md").read_text()
    assert re.search(r"^bash scripts/docs\.sh\b", readme, re.M)
    script = (ROOT / "scripts" / "docs.sh").read_text()
    test_script = (ROOT / "scripts" / "test.sh").read_text()
    installs = [line.split("--disable-pip-version-check")[-1].strip() for line in test_script.splitlines()
                if "pip install" in line or line.strip().startswith("fairseq")]  # fmt: skip
    order = [script.index('"${pip[@]}" torch==2.13.0'), script.index('"${pip[@]}" -e ".[test]"'),
             script.index("fairseq-fixed==0.12.3.1"), script.index("mkdocs build --strict")]  # fmt: skip
    assert order == sorted(order)
    assert "torch==2.13.0" in installs[0] and '-e ".[test]"' in installs[1] and "fairseq-fixed==0.12.3.1" in test_script
    result = subprocess.run(["bash", "-n", str(ROOT / "scripts" / "docs.sh")], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr


# Pages whose figures are drawn from a recording, and the clip each must let the reader hear
# (docs/hooks/figures.py encodes the clips; the <!-- listen: ... --> directive places them).
PLAYERS = {"audio": "librispeech", "frames": "librispeech", "cmvn": "librispeech", "subsampling": "librispeech",
           "attention": "test_00", "encoder-decoder": "test_00", "search": "test_00", "translation": "st_test_00",
           "long-form": "jfk", "learning": "augment_0_clean"}  # fmt: skip


def test_recordings_can_be_heard(site):
    """Every figure drawn from a recording has a player beside it, and every player on the
    site plays a file the site itself serves (an MP3 that decodes to seconds of sound)."""
    import html as html_module

    import minis2t

    site, _ = site
    for page, clip in PLAYERS.items():
        assert f'audio/{clip}.mp3"' in (site / page / "index.html").read_text(encoding="utf-8"), page
    sources = set()
    for page in site.rglob("*.html"):
        for src in re.findall(r'<audio[^>]* src="([^"]+)"', page.read_text(encoding="utf-8")):
            target = (page.parent / html_module.unescape(src)).resolve()
            assert target.is_file() and target.is_relative_to(site.resolve()), (page, src)
            sources.add(target)
    assert len(sources) >= 10
    for target in sources:
        assert minis2t.load_audio(target).shape[0] > 16000, target  # at least a second of sound


def test_nothing_is_wider_than_its_column_in_a_browser(site):
    """Every page in headless Chromium (tests/browser.py): at 1280 px no formula, table,
    code block, figure or player is wider than its column; at a phone's 390 px no formula,
    figure or player is (code and wide tables may scroll there)."""
    from tests import browser

    executable = browser.find_chromium()
    if executable is None:
        pytest.skip("Chromium is not installed (Debian: apt-get install chromium); the browser check needs it")
    site, _ = site
    found = browser.overflows(site, widths=(1280, 390), executable=executable)
    must_fit = {1280: {"formula", "table", "code", "figure", "audio"}, 390: {"formula", "figure", "audio"}}
    problems = [(page, width, item) for (page, width), items in found.items() for item in items
                if item["kind"] in must_fit[width]]  # fmt: skip
    assert len(browser.pages(site)) >= 30  # the measurement saw the site
    assert problems == []
