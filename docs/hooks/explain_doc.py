"""mkdocs hook: the page "Explain your own recording", computed when the site is built.

Runs ``minis2t.explain`` on the LibriSpeech recording bundled in ``minis2t/assets`` (with
the twin and transformers in the parity strip, as the docs build has them) and writes
into ``build/docs/explain/``:

* ``librispeech.html`` — the whole report, as ``minis2t explain`` writes it, its stage
  links pointing into this site (``docs_url=".."``): the page links it;
* ``stages.md``, ``parity.md``, ``search.md`` — tables the page includes (snippets);
* ``search_tree.png``, ``cross_attention.png`` — two of its figures, at the site's width;
* ``screenshot.png`` — the top of the report as headless Chromium shows it (opened from
  disk, network off), when ``/usr/bin/chromium`` is installed; the page says so otherwise.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
OUT = ROOT / "build" / "docs" / "explain"
DPI = 110  # the site's figures: 7.5 in at 110 dpi = 825 px


def on_pre_build(config, **kwargs) -> None:
    if str(ROOT) not in sys.path:
        sys.path.insert(0, str(ROOT))
    import matplotlib

    matplotlib.use("Agg")
    import minis2t
    from minis2t.app.cli import BUNDLED_RECORDING
    from minis2t.app.explain_page import ORDER, figures, number

    OUT.mkdir(parents=True, exist_ok=True)
    e = minis2t.explain(str(BUNDLED_RECORDING))
    e.recording = f"minis2t/assets/{BUNDLED_RECORDING.name}"  # not this machine's path
    (OUT / "librispeech.html").write_text(e.to_html(docs_url=".."), encoding="utf-8")
    made = figures(e)
    for sid, name in (("search", "search_tree.png"), ("cross", "cross_attention.png")):
        made[sid].tight_layout()
        made[sid].savefig(OUT / name, dpi=DPI)
    rows = ["| # | stage | computed by | shapes |", "| --- | --- | --- | --- |"]
    for i, sid in enumerate(ORDER, start=1):
        s = e.stages[sid]
        shapes = ", ".join(f"{k} `{list(v.shape)}`" for k, v in s.arrays.items() if not k.startswith("step "))
        functions = ", ".join(f"`{f.removeprefix('minis2t.')}`" for f in s.functions)
        rows.append(f"| {i} | {s.title} | {functions} | {shapes} |")
    (OUT / "stages.md").write_text("\n".join(rows) + "\n", encoding="utf-8")
    cells = ["| stage | shape | largest value | reference − engine | reference − twin | reference − transformers |",
             "| --- | --- | --- | --- | --- | --- |"]  # fmt: skip
    for r in e.parity:
        if r["scale"] is None:
            cells.append(f"| {r['stage']} | `{list(r['shape'])}` | – | {r['tokens']} | – | – |")
            continue
        value = lambda n: "–" if r.get(n) is None else f"{number(r[n])}"  # noqa: E731
        cells.append(f"| {r['stage']} | `{list(r['shape'])}` | {number(r['scale'])} | {value('engine')} | "
                     f"{value('twin')} | {value('transformers')} |")  # fmt: skip
    (OUT / "parity.md").write_text("\n".join(cells) + f"\n\n{e.oracles}\n", encoding="utf-8")
    s, c = e.stages["search"].numbers, e.stages["confidence"].numbers
    search = (f"The search here: {s['beams K']} beams, {s['steps']} steps, stopped by {s['stopped by']}; "
              f"the result scores {s['score of the result']} and reads *\"{e.text}\"*.")  # fmt: skip
    if "threshold" in c:  # the bundled model has a confidence calibration
        side, action = ("above", "keeps the text") if c["understood"] else ("below", "marks the segment not understood")
        search += (f" The bundled model was trained on a small synthetic grammar, not on LibriSpeech's reader: its "
                   f"calibrated confidence in this reading is {side} its threshold ({c['calibrated confidence']} "
                   f"against {c['threshold']}), so `minis2t transcribe` {action}.")  # fmt: skip
    (OUT / "search.md").write_text(search + "\n", encoding="utf-8")
    screenshot(OUT / "librispeech.html", OUT / "screenshot.png")


def screenshot(page: Path, target: Path) -> None:
    """The top of ``page`` as headless Chromium renders it from disk (800 px wide)."""
    target.unlink(missing_ok=True)
    note = OUT / "screenshot.md"
    chromium = shutil.which("chromium")
    if chromium is None:
        note.write_text("*(No screenshot in this build: Chromium is not installed.)*\n", encoding="utf-8")
        return
    with tempfile.TemporaryDirectory() as profile:
        subprocess.run([chromium, "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars",
                        f"--user-data-dir={profile}", f"--screenshot={target}", "--window-size=800,1100",
                        page.resolve().as_uri()], capture_output=True, timeout=120, check=True)  # fmt: skip
    note.write_text("![The top of the report in Chromium](explain/screenshot.png)\n", encoding="utf-8")


def on_files(files, config, **kwargs):
    """Serve the report, its figures and the screenshot as ``explain/...``."""
    from mkdocs.structure.files import File

    for path in sorted(OUT.glob("*")):
        uri = f"explain/{path.name}"
        if path.suffix != ".md" and files.get_file_from_path(uri) is None:
            files.append(File(uri, str(OUT.parent), config["site_dir"], config["use_directory_urls"]))
    return files
