"""The page of ``minis2t explain``: one self-contained HTML document.

:func:`render` turns an :class:`minis2t.app.explain.Explanation` into HTML with its style
inline, no script at all, and every figure an ``<img>`` whose source is the figure's SVG
as a ``data:`` URL (matplotlib draws text as paths: no font is needed either). Nothing is
fetched when it opens; it works from disk with no network.

Everything that comes from the user — the file's name, the model's name and config
values, the transcript, the tokens — passes through :func:`html.escape` (and inside
figures becomes glyph outlines, never markup), so a file named
``<img src=x onerror=alert(1)>.wav`` shows as that text.

Figures follow the site's legibility rules: at most 7.5 inches wide, at most two panels
side by side, no text under 8 points.
"""

from __future__ import annotations

import base64
import html
import io
import math

import numpy as np

from ..io.audio import SAMPLING_RATE

WIDTH, MIN_POINTS, MAX_COLUMNS = 7.5, 8, 2  # the site's rules (docs/hooks/figures.py)
STYLE = {"font.size": 9, "axes.titlesize": 9, "legend.fontsize": 8, "xtick.labelsize": 8, "ytick.labelsize": 8,
         "figure.titlesize": 9, "svg.fonttype": "path", "svg.hashsalt": "minis2t-explain",
         "image.interpolation": "nearest"}  # fmt: skip
CSS = """
body { font: 15px/1.45 system-ui, sans-serif; max-width: 60rem; margin: 0 auto; padding: 1rem 1.5rem;
       color: #222; background: #fff; }
h1 { font-size: 1.5rem; } h2 { font-size: 1.2rem; border-bottom: 1px solid #ccc; padding-top: .5rem; }
code, .mono { font-family: ui-monospace, monospace; font-size: .9em; }
table { border-collapse: collapse; margin: .5rem 0; font-size: .9em; }
td, th { border: 1px solid #ddd; padding: .15rem .45rem; text-align: left; vertical-align: top; }
th { background: #f4f4f4; }
img.figure { max-width: 100%; height: auto; display: block; margin: .5rem 0; }
.note { background: #fff8e0; border-left: 4px solid #e0b000; padding: .3rem .6rem; }
.fn { color: #333; } .kept { background: #e3efff; } .finished { background: #ffe3e3; font-weight: bold; }
.dropped { color: #888; } .good { color: #060; } .bad { color: #a00; font-weight: bold; }
nav ol { columns: 2; } .scroll { overflow-x: auto; }
"""


def esc(value) -> str:
    """Any value as HTML text: escaped, quotes included."""
    return html.escape(str(value), quote=True)


def number(x) -> str:
    if isinstance(x, (bool, np.bool_)):
        return str(bool(x))
    if isinstance(x, (int, np.integer)):
        return str(int(x))
    if isinstance(x, (float, np.floating)):
        x = float(x)
        if x == 0 or not math.isfinite(x):
            return str(x)
        return f"{x:.4g}" if 1e-3 <= abs(x) < 1e5 else f"{x:.3e}"
    return str(x)


# --- figures ------------------------------------------------------------------------------


def check_legible(fig) -> None:
    """The site's rules (``docs/hooks/figures.py``): refuse a figure that breaks one."""
    from matplotlib.text import Text

    assert fig.get_size_inches()[0] <= WIDTH + 1e-9, "figure wider than the page"
    columns: dict = {}
    for ax in fig.axes:
        spec = ax.get_subplotspec()
        if spec is not None and ax.get_visible() and ax.axison:
            columns.setdefault(spec.rowspan.start, set()).add(spec.colspan.start)
    assert all(len(c) <= MAX_COLUMNS for c in columns.values()), "more than two panels in a row"
    small = [t.get_text() for t in fig.findobj(Text) if t.get_text().strip() and t.get_visible()
             and t.get_fontsize() < MIN_POINTS]  # fmt: skip
    assert not small, f"text under {MIN_POINTS} pt: {small[:3]}"


def subplots(*args, figsize, **kwargs):
    """``pyplot.subplots`` without pyplot: a Figure no backend or GUI manages (the command
    needs no display, a notebook shows it as it shows any figure)."""
    from matplotlib.figure import Figure

    fig = Figure(figsize=figsize)
    return fig, fig.subplots(*args, **kwargs)


def svg_image(fig, alt: str) -> str:
    """The figure as an ``<img>`` holding its SVG in a ``data:`` URL."""
    check_legible(fig)
    fig.tight_layout()
    buffer = io.BytesIO()
    fig.savefig(buffer, format="svg", metadata={"Date": None})
    data = base64.b64encode(buffer.getvalue()).decode("ascii")
    return f'<img class="figure" alt="{esc(alt)}" src="data:image/svg+xml;base64,{data}">'


def plain(text: str) -> str:
    """Text for matplotlib, never read as mathtext (a token may hold ``$``)."""
    return str(text).replace("$", r"\$")


def shown_image(x: np.ndarray, most: int = 600) -> tuple[np.ndarray, int]:
    """``x [rows, cols]`` with its columns thinned to at most ``most`` (every n-th), and n."""
    step = max(1, math.ceil(x.shape[1] / most))
    return x[:, ::step], step


def fig_recording(e, stage):
    wave = stage.arrays["waveform"]
    t = e.start + np.arange(wave.shape[0]) / SAMPLING_RATE
    step = max(1, wave.shape[0] // 20000)
    fig, (a, b) = subplots(2, 1, figsize=(7.5, 3.8))
    a.plot(t[::step], wave[::step], lw=0.4)
    loud = e.stages["frame"].numbers["frame index"]
    centre = e.start + loud * 0.01
    a.axvspan(centre, centre + 0.025, color="C3", alpha=0.5, label=f"frame {loud} (the loudest)")
    a.set(xlabel="seconds in the recording", ylabel="amplitude", title="the waveform explained")
    a.legend(loc="upper right")
    lo = max(0, loud * 160 - 400)
    hi = min(wave.shape[0], lo + 1600)
    zoom = np.arange(lo, hi)
    b.plot(zoom / 16, wave[lo:hi], lw=0.6, color="k")
    first = -(-lo // 160)
    for i, f in enumerate(range(first, (hi - 400) // 160 + 1)):
        b.axvspan(f * 10, f * 10 + 25, ymin=0.05 + 0.1 * (i % 4), ymax=0.12 + 0.1 * (i % 4), color=f"C{i % 4}")
    b.set(xlabel="milliseconds from the segment's start", ylabel="amplitude",
          title="frames of 25 ms (400 samples) every 10 ms (160 samples): the coloured bars")  # fmt: skip
    return fig


def fig_frame(e, stage):
    a_ = stage.arrays
    fig, (a, b) = subplots(1, 2, figsize=(7.5, 2.8))
    n = np.arange(a_["DC removed"].shape[0])
    a.plot(n, a_["DC removed"], lw=0.6, label="DC removed")
    a.plot(n, a_["pre-emphasised"], lw=0.6, label="pre-emphasised")
    a.plot(n, a_["windowed"], lw=0.8, label="x Povey window")
    a.set(xlabel="sample in the frame", ylabel="x 2^15", title="one frame, step by step")
    a.legend(loc="lower left")
    hz = np.arange(a_["power spectrum"].shape[0]) * SAMPLING_RATE / 512
    b.plot(hz, 10 * np.log10(np.maximum(a_["power spectrum"], 1e-10)), lw=0.7)
    b.set(xlabel="Hz", ylabel="dB", title="its power spectrum (257 bins)")
    return fig


def fig_mel(e, stage):
    banks, image = stage.arrays["mel filter bank"], stage.arrays["log-mel"]
    fig, (a, b) = subplots(1, 2, figsize=(7.5, 2.9), gridspec_kw={"width_ratios": [1, 1.6]})
    hz = np.arange(banks.shape[0]) * SAMPLING_RATE / 512
    for j in range(0, banks.shape[1], 4):
        a.plot(hz, banks[:, j], lw=0.6)
    a.set(xlabel="Hz", ylabel="weight", title=f"every 4th of the {banks.shape[1]} mel filters")
    shown, step = shown_image(image.T)
    im = b.imshow(shown, origin="lower", aspect="auto", cmap="magma",
                  extent=(e.start, e.start + image.shape[0] / 100, 0, image.shape[1]))  # fmt: skip
    b.set(xlabel="seconds", ylabel="mel bin", title=f"log-mel [T, F] = [{image.shape[0]}, {image.shape[1]}]")
    fig.colorbar(im, ax=b)
    return fig


def fig_cmvn(e, stage):
    a_ = stage.arrays
    fig, (a, b) = subplots(1, 2, figsize=(7.5, 2.9), gridspec_kw={"width_ratios": [1, 1.6]})
    a.plot(a_["means"], label="mean")
    a.plot(a_["standard deviations"], label="std")
    a.set(xlabel="mel bin", title="statistics of each bin (before)")
    a.legend()
    x = a_["features"]
    shown, _ = shown_image(x.T)
    im = b.imshow(shown, origin="lower", aspect="auto", cmap="magma",
                  extent=(e.start, e.start + x.shape[0] / 100, 0, x.shape[1]))  # fmt: skip
    b.set(xlabel="seconds", ylabel="mel bin", title="the features after CMVN")
    fig.colorbar(im, ax=b)
    return fig


def fig_subsampling(e, stage):
    outs = [v for k, v in stage.arrays.items() if k.startswith("conv layer")]
    if not outs:
        return None
    fig, axes = subplots(1, min(2, len(outs)), figsize=(7.5, 2.8), squeeze=False)
    for ax, i in zip(axes[0], range(max(0, len(outs) - 2), len(outs))):
        x = outs[i]
        shown, _ = shown_image(x.T)
        seconds = x.shape[0] * 0.01 * 2 ** (i + 1)  # 10 ms frames, halved by each layer
        ax.imshow(shown, origin="lower", aspect="auto", cmap="RdBu_r", extent=(e.start, e.start + seconds, 0, x.shape[1]))
        ax.set(xlabel="seconds", ylabel="channel", title=f"conv layer {i} output [{x.shape[0]}, {x.shape[1]}]")
    return fig


def fig_positions(e, stage):
    a_ = stage.arrays
    fig, (a, b) = subplots(1, 2, figsize=(7.5, 2.8))
    pos = a_["positions added"]
    a.imshow(pos.T, origin="lower", aspect="auto", cmap="RdBu_r")
    a.set(xlabel="encoder frame", ylabel="dimension", title=f"positions added [S, D] = [{pos.shape[0]}, {pos.shape[1]}]")
    b.plot(np.linalg.norm(a_["conv output x sqrt(D)"], axis=1), label="|conv output x sqrt(D)|")
    b.plot(np.linalg.norm(pos, axis=1), label="|position|")
    b.set(xlabel="encoder frame", ylabel="norm", title="what each frame carries")
    b.legend()
    return fig


def fig_attention(e, stage):
    w = stage.arrays["weights"]
    heads = min(4, w.shape[0])
    rows = math.ceil(heads / 2)
    fig, axes = subplots(rows, 2, figsize=(7.5, 3.2 * rows), squeeze=False)
    seconds = w.shape[-1] * e.stages["cross"].numbers["seconds per encoder frame"]
    for h, ax in enumerate(axes.flat):
        if h >= heads:
            ax.set_visible(False)
            continue
        ax.imshow(w[h], origin="upper", aspect="auto", cmap="viridis", extent=(0, seconds, seconds, 0))
        ax.set(xlabel="key (seconds)", ylabel="query (seconds)", title=f"head {h}")
    return fig


def search_paths(steps: list[dict], k: int):
    """Each step's candidates as ``(x, y, parent y, token, score, status)``: x the step
    (1 = first), y the candidate's rank, parent y its source beam's rank at the step
    before (0 for the start token), status kept / finished / dropped."""
    nodes, previous = [], np.zeros(1, np.int64)
    for i, s in enumerate(steps):
        live = set(s["live"][0].tolist())
        for c in range(s["token"].shape[1]):
            parent = int(previous[s["beam"][0, c]]) if s["beam"][0, c] < previous.shape[0] else 0
            finished = bool(s["ends"][0, c]) and c < k
            status = "kept" if c in live and not s["ends"][0, c] else "finished" if finished else "dropped"
            nodes.append((i + 1, c, parent, int(s["token"][0, c]), float(s["score"][0, c]), status))
        previous = s["live"][0]
    return nodes


def best_path(steps: list[dict], sequence: np.ndarray) -> list[tuple[int, int]]:
    """The nodes ``(x, y)`` of the returned sequence's path through the tree."""
    path = []
    target = sequence[1:].tolist()
    # walk forward: at step i, the candidate whose source beam holds the path so far and whose token is next
    holder = 0  # index of the live beam holding the path (step 0: the start token)
    for i, s in enumerate(steps[: len(target)]):
        match = [c for c in range(s["token"].shape[1]) if s["beam"][0, c] == holder and s["token"][0, c] == target[i]]
        if not match:
            break
        c = match[0]
        path.append((i + 1, c))
        live = s["live"][0].tolist()
        if c not in live:
            break
        holder = live.index(c)
    return path


def fig_search(e, stage):
    steps, k = stage.details["steps"], stage.numbers["beams K"]
    nodes = search_paths(steps, k)
    n = len(steps)
    fig, ax = subplots(figsize=(7.5, 3.0 + 0.12 * 2 * k))
    colour = {"kept": "C0", "finished": "C3", "dropped": "0.75"}
    for x, y, parent, token, score, status in nodes:
        ax.plot([x - 1, x], [parent, y], color=colour[status], lw=0.5 if status == "dropped" else 0.9, zorder=1)
    for status, marker, size in (("dropped", "x", 12), ("kept", "o", 14), ("finished", "*", 50)):
        xs = [(x, y) for x, y, *_, s in nodes if s == status]
        if xs:
            ax.scatter(*zip(*xs), c=colour[status], marker=marker, s=size, zorder=2, label=status)
    path = best_path(steps, stage.arrays["sequence"])
    tokens = {(x, y): token for x, y, _, token, *_ in nodes}
    if path:
        ax.plot([0] + [x for x, _ in path], [0] + [y for _, y in path], color="k", lw=1.8, zorder=3,
                label="the result")  # fmt: skip
        labelled = path if len(path) <= 40 else path[:: math.ceil(len(path) / 40)]
        for x, y in labelled:
            piece = stage.details["pieces_by_id"].get(tokens[(x, y)], str(tokens[(x, y)]))
            ax.annotate(plain(piece), (x, y), xytext=(0, 4), textcoords="offset points", rotation=60,
                        fontsize=8, ha="left", va="bottom")  # fmt: skip
    ax.set_ylim(2 * k - 0.5 if k > 1 else 1.5, -1.5)
    ax.set(xlabel="step", ylabel="candidate rank", xlim=(-0.5, n + 1.5),
           title=f"{n} steps: {'2K' if k > 1 else 'two best'} candidates each, kept, finished or dropped")  # fmt: skip
    ax.legend(loc="lower left", ncol=4)
    return fig


def fig_cross(e, stage):
    matrix = stage.arrays["alignment matrix"]
    if matrix.size == 0:
        return None
    step = stage.numbers["seconds per encoder frame"]
    labels = stage.details["pieces"] + ["</s>"] * (matrix.shape[0] - len(stage.details["pieces"]))
    fig, ax = subplots(figsize=(7.5, max(2.6, 0.16 * matrix.shape[0] + 1.2)))
    ax.imshow(matrix, aspect="auto", cmap="viridis", origin="upper",
              extent=(0, matrix.shape[1] * step, matrix.shape[0] - 0.5, -0.5))  # fmt: skip
    every = max(1, math.ceil(len(labels) / 40))
    ax.set_yticks(range(0, len(labels), every), [plain(x) for x in labels[::every]])
    for w in stage.details["words"]:
        ax.axvline(w["start"], color="w", lw=0.6, ls="--")
    ax.set(xlabel="seconds in the segment (dashed: word starts)", title="alignment heads, standardised and averaged")
    return fig


def fig_confidence(e, stage):
    a_ = stage.arrays
    chosen = a_["chosen token log-probability"]
    fig, (a, b) = subplots(1, 2, figsize=(7.5, 2.8))
    x = np.arange(chosen.shape[0])
    a.bar(x, chosen, color="C0")
    a.set(ylabel="log p", title="each chosen token's log-probability")
    b.bar(x, a_["margin to the best other token"], color="C2")
    b.set(ylabel="log p margin", title="margin to the best other token")
    pieces = stage.details["pieces"]
    every = max(1, math.ceil(len(pieces) / 30))
    for ax in (a, b):
        ax.set_xticks(x[::every], [plain(p) for p in pieces[::every]], rotation=90)
    return fig


FIGURES = {"recording": fig_recording, "frame": fig_frame, "mel": fig_mel, "cmvn": fig_cmvn,
           "subsampling": fig_subsampling, "positions": fig_positions, "attention": fig_attention,
           "search": fig_search, "cross": fig_cross, "confidence": fig_confidence}  # fmt: skip


def figures(e) -> dict:
    """Each stage's matplotlib figure: the page's pictures, for tests and notebooks."""
    import matplotlib

    out = {}
    with matplotlib.rc_context(STYLE):
        for sid, make in FIGURES.items():
            stage = e.stages.get(sid)
            if stage is not None and stage.available:
                fig = make(e, stage)
                if fig is not None:
                    out[sid] = fig
    return out


# --- HTML ---------------------------------------------------------------------------------


def array_rows(arrays: dict) -> str:
    rows = []
    for name, x in arrays.items():
        x = np.asarray(x)
        if x.size == 0:
            rows.append(f"<tr><td>{esc(name)}</td><td>{esc(list(x.shape))}</td><td colspan=4>empty</td></tr>")
            continue
        flat = x.ravel()
        shown = ", ".join(number(v) for v in flat[:4]) + (", ..." if flat.size > 4 else "")
        stats = [number(flat.min()), number(flat.max()), number(flat.astype(np.float64).mean())]
        rows.append(f"<tr><td>{esc(name)}</td><td class=mono>{esc(list(x.shape))}</td><td>{esc(x.dtype)}</td>"
                    + "".join(f"<td class=mono>{esc(s)}</td>" for s in stats)
                    + f"<td class=mono>{esc(shown)}</td></tr>")  # fmt: skip
    head = "<tr><th>array</th><th>shape</th><th>dtype</th><th>min</th><th>max</th><th>mean</th><th>first values</th></tr>"
    return f"<div class=scroll><table>{head}{''.join(rows)}</table></div>" if rows else ""


def number_rows(numbers: dict) -> str:
    if not numbers:
        return ""
    rows = "".join(f"<tr><th>{esc(k)}</th><td class=mono>{esc(number(v))}</td></tr>" for k, v in numbers.items())
    return f"<table>{rows}</table>"


def page_link(stage, docs_url: str | None) -> str:
    if stage.page is None:
        return ""
    page, title = stage.page
    if docs_url is None:
        return (f"<p>On the site: <em>{esc(title)}</em> (<code>docs/{esc(page)}</code>; give "
                f"<code>--docs-url</code> to link it).</p>")  # fmt: skip
    href = docs_url.rstrip("/") + "/" + page.removesuffix(".md") + "/"
    return f'<p>On the site: <a href="{esc(href)}">{esc(title)}</a>.</p>'


def search_table(stage) -> str:
    pieces = stage.details["pieces_by_id"]
    rows = []
    for x, group in _by_step(search_paths(stage.details["steps"], stage.numbers["beams K"])):
        cells = "".join(f'<td class="{status}">{esc(pieces.get(token, token))}<br><span class=mono>'
                        f"{esc(number(score))} &larr;{parent}</span></td>"
                        for _, _, parent, token, score, status in group)  # fmt: skip
        rows.append(f"<tr><th>{x}</th>{cells}</tr>")
    return ("<details><summary>Every step's candidates (token, running log-probability, &larr; the rank of "
            "the beam it extends)</summary><div class=scroll><table>" + "".join(rows) + "</table></div></details>")


def _by_step(nodes):
    from itertools import groupby

    return [(x, list(g)) for x, g in groupby(nodes, key=lambda n: n[0])]


def words_table(stage) -> str:
    if not stage.details["words"]:
        return "<p>No words: the model produced no text tokens.</p>"
    rows = "".join(f"<tr><td>{esc(w['word'])}</td><td class=mono>{w['start']:.2f}</td><td class=mono>"
                   f"{w['end']:.2f}</td><td class=mono>{w['probability']:.3f}</td></tr>" for w in stage.details["words"])  # fmt: skip
    return ("<table><tr><th>word</th><th>start (s)</th><th>end (s)</th><th>probability</th></tr>" + rows
            + "</table>")


def contributions_table(stage) -> str:
    a_ = stage.arrays
    if "contribution" not in a_:
        return ""
    rows = "".join(f"<tr><td>{esc(f)}</td><td class=mono>{number(z)}</td><td class=mono>{number(c)}</td>"
                   f"<td class=mono>{number(v)}</td></tr>"
                   for f, z, c, v in zip(stage.details["signals"], a_["standardised signal"], a_["coefficient"],
                                         a_["contribution"]))  # fmt: skip
    intercept = number(stage.details["intercept"])
    return (f"<p>The calibration's logistic regression, term by term: confidence = 1 / (1 + exp(-({intercept} "
            "+ the sum of the contributions))).</p><table><tr><th>signal</th><th>standardised</th><th>coefficient</th>"
            "<th>contribution</th></tr>" + rows + "</table>")  # fmt: skip


def parity_section(e) -> str:
    names = ["engine", "twin", "transformers"]
    head = "<tr><th>stage</th><th>shape</th><th>largest |value|</th>" + "".join(
        f"<th>max |reference &minus; {n}|</th>" for n in names) + "</tr>"  # fmt: skip
    rows = []
    for r in e.parity:
        cells = []
        for n in names:
            v = r.get(n)
            if "tokens" in r and n == "engine":
                verdict = "" if v is None else "good" if v == 0 else "bad"
                cells.append(f'<td class="{verdict}">{esc(r["tokens"])}</td>')
            else:
                cells.append("<td class=mono>&ndash;</td>" if v is None else f"<td class=mono>{esc(number(v))}</td>")
        scale = "&ndash;" if r["scale"] is None else esc(number(r["scale"]))
        rows.append(f"<tr><td>{esc(r['stage'])}</td><td class=mono>{esc(list(r['shape']))}</td>"
                    f"<td class=mono>{scale}</td>{''.join(cells)}</tr>")  # fmt: skip
    engine = {"numpy": "the NumPy engine (minis2t.engine)", "onnxruntime": "the ONNX graphs in onnxruntime"}
    return (f"<p>The engine the application runs here: {esc(engine.get(e.runtime, e.runtime))}. "
            f"{esc(e.oracles)}</p><div class=scroll><table>{head}{''.join(rows)}</table></div>")


def summary(e) -> str:
    chosen = (f"segment {e.segment} of {len(e.segments)}" if e.segment is not None
              else "the stretch asked for (--start/--duration)")  # fmt: skip
    rows = {"recording": e.recording, "model": e.model, "model kind": e.model_kind, "network computed by":
            "the reference (minis2t.reference)" if e.runtime != "onnxruntime" else "onnxruntime (the ONNX graphs)",
            "explained": f"{chosen}: {e.start:.2f} s to {e.end:.2f} s", "read of the recording": f"{e.seconds:.2f} s",
            "transcript": e.text or "(no words)", "search options": ", ".join(f"{k}={v}" for k, v in e.options.items())}  # fmt: skip
    return "<table>" + "".join(f"<tr><th>{esc(k)}</th><td>{esc(v)}</td></tr>" for k, v in rows.items()) + "</table>"


def segments_section(e) -> str:
    if e.segment is None:
        return "<p>A stretch chosen by its times; the recording was not cut into segments.</p>"
    rows = "".join(f'<tr class="{"kept" if i == e.segment else ""}"><td>{i}</td><td class=mono>{a:.2f}</td>'
                   f"<td class=mono>{b:.2f}</td></tr>" for i, (a, b) in enumerate(e.segments))  # fmt: skip
    return (f"<p>The recording is cut at pauses as <code>minis2t transcribe</code> cuts it "
            f"(<code>minis2t.app.longform.Segmenter</code>, read in blocks: memory does not grow with its length); "
            f"{len(e.segments)} segment(s). Explain another with <code>minis2t explain RECORDING --segment N</code>, "
            f"or any stretch with <code>--start S --duration D</code>.</p><div class=scroll><table><tr><th>segment"
            f"</th><th>start (s)</th><th>end (s)</th></tr>{rows}</table></div>")  # fmt: skip


ORDER = ["recording", "frame", "mel", "cmvn", "subsampling", "positions", "attention", "search", "cross",
         "confidence"]  # fmt: skip


def render(e, docs_url: str | None = None) -> str:
    """The whole page."""
    from importlib.metadata import PackageNotFoundError, version

    try:
        __version__ = version("minis2t")
    except PackageNotFoundError:  # a checkout on the path, not installed
        __version__ = "(not installed)"

    import matplotlib

    with matplotlib.rc_context(STYLE):  # the SVGs' settings (text as paths, repeatable ids)
        images = {sid: svg_image(fig, e.stages[sid].title) for sid, fig in figures(e).items()}
    sections = []
    for i, sid in enumerate(ORDER, start=1):
        stage = e.stages[sid]
        parts = [f'<section id="{sid}"><h2>{i}. {esc(stage.title)}</h2>']
        if stage.functions:
            parts.append("<p class=fn>Computed by " + ", ".join(f"<code>{esc(f)}</code>" for f in stage.functions)
                         + ".</p>")  # fmt: skip
        parts.append(page_link(stage, docs_url))
        if stage.note:
            parts.append(f"<p class=note>{esc(stage.note)}</p>")
        parts.append(number_rows(stage.numbers))
        parts.append(images.get(sid, ""))
        if sid == "search" and stage.available:
            parts.append(search_table(stage))
        if sid == "cross" and stage.available:
            parts.append(words_table(stage))
        if sid == "confidence":
            parts.append(contributions_table(stage))
        shown = {k: v for k, v in stage.arrays.items() if not k.startswith("step ")}
        parts.append(array_rows(shown))
        sections.append("".join(parts) + "</section>")
    nav = "".join(f'<li><a href="#{sid}">{esc(e.stages[sid].title)}</a></li>' for sid in ORDER)
    return (f'<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
            f'<meta name="viewport" content="width=device-width, initial-scale=1">'
            f"<title>minis2t explain: {esc(e.recording)}</title><style>{CSS}</style></head><body>"
            f"<h1>Your recording, stage by stage</h1>{summary(e)}"
            f'<nav><ol>{nav}<li><a href="#parity">Parity</a></li><li><a href="#segments">Segments</a></li></ol></nav>'
            f"{''.join(sections)}"
            f'<section id="parity"><h2>{len(ORDER) + 1}. Parity: the reference against the engine, the twin and '
            f"transformers</h2>{page_link(_Parity(), docs_url)}{parity_section(e)}</section>"
            f'<section id="segments"><h2>{len(ORDER) + 2}. The recording\'s segments</h2>{segments_section(e)}</section>'
            f"<footer><p>Written by minis2t {esc(__version__)} (<code>minis2t explain</code>); this page fetches "
            f"nothing and runs no script.</p></footer></body></html>\n")


class _Parity:
    page = ("parity.md", "Parity")
