"""mkdocs hook: compute every figure and generated table of the site with the package.

Runs before each build and writes into ``build/docs/`` — outside ``docs/``, so that
``mkdocs serve``, which watches ``docs/``, rebuilds once per edit instead of reacting to
its own output — and adds those files to the site (``on_files``) as ``figures/...`` and
``javascripts/mathjax/...``. Nothing generated is committed, and every figure shows what
the code computes today. The notebooks are added too (``notebooks/*.py``), so that pages
can link to them.
"""

from __future__ import annotations

import contextlib
import json
import re
import logging
import sys
import warnings
from pathlib import Path

import matplotlib
import matplotlib.ticker

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

ROOT = Path(__file__).resolve().parents[2]
GENERATED = ROOT / "build" / "docs"  # git-ignored; snippets' base_path includes it
OUT = GENERATED / "figures"
SPEECH = ROOT / "tests" / "data" / "speech"
sys.path.insert(0, str(ROOT))

import minis2t  # noqa: E402
from minis2t.reference import features as F  # noqa: E402
from minis2t.reference import model as M  # noqa: E402
from minis2t.app.cli import BUNDLED_MODEL, BUNDLED_RECORDING  # noqa: E402


MATHJAX_OUT = GENERATED / "javascripts" / "mathjax"  # copied from a package
MATHJAX_PARTS = ("tex-mml-chtml.js", "output/chtml", "input/tex/extensions", "ui", "a11y")


def vendor_mathjax() -> None:
    """The site renders equations with MathJax served from the site itself, never a CDN:
    the files come from the ``django-static-mathjax`` package (MathJax 3, Apache-2.0; it
    only ships the static files, no Django needed)."""
    import shutil

    import mathjax

    source = Path(mathjax.__file__).parent / "static" / "mathjax" / "es5"
    for part in MATHJAX_PARTS:
        target = MATHJAX_OUT / part
        if target.exists():
            continue
        target.parent.mkdir(parents=True, exist_ok=True)
        if (source / part).is_dir():
            shutil.copytree(source / part, target)
        else:
            shutil.copy2(source / part, target)


def on_pre_build(config, **kwargs) -> None:
    if str(ROOT) not in sys.path:  # mkdocs restores sys.path after loading a hook module;
        sys.path.insert(0, str(ROOT))  # parity/ is imported from the checkout's root
    vendor_mathjax()
    OUT.mkdir(parents=True, exist_ok=True)
    for make in (audio_clips, waveform, frames, filterbank, cmvn, subsampling, positions, attention,
                 masks, kv_cache, tokenizer_pieces, ctc_lattice, beam_tree, beam_flip, parity_table, front_end_table, bundled_tables, bundled_confidence, numpy_training, fairseq_differences, fairseq_searches, long_form, long_form_real, word_times, shape_diagrams, translation, corpus, encoder_limits, error_tables):  # fmt: skip
        with quiet_fairseq():  # parity_table and fairseq_differences run fairseq
            make()
        plt.close("all")


def on_files(files, config, **kwargs):
    """Serve the generated files and the notebooks as if they were in ``docs/``."""
    from mkdocs.structure.files import File

    sources = [(GENERATED, p) for p in sorted(GENERATED.rglob("*")) if p.is_file() and p.suffix != ".md"]
    sources += [(ROOT, p) for p in sorted((ROOT / "notebooks").glob("*.py"))]
    for base, path in sources:
        uri = path.relative_to(base).as_posix()
        if files.get_file_from_path(uri) is None:
            files.append(File(uri, str(base), config["site_dir"], config["use_directory_urls"]))
    return files


# --- sound: the recordings the figures are drawn from, as players on the pages ----------

AUDIO_OUT = GENERATED / "audio"  # served as audio/NAME.mp3; captions in audio/captions.json
MP3_BITRATE = 32_000  # 16 kHz mono speech: clear at 32 kbit/s, 4 kB a second
CODEC_BITRATE = 6_000  # the codec round trip: Opus at a telephone-poor rate
CAPTIONS: dict[str, str] = {}


def write_clip(name: str, wave: np.ndarray, caption: str) -> None:
    """``wave`` [N] at 16 kHz as ``audio/NAME.mp3`` (MP3 plays in every browser; PyAV
    encodes it with LAME, no system ffmpeg), with its caption for the page."""
    import av

    AUDIO_OUT.mkdir(parents=True, exist_ok=True)
    samples = np.clip(np.asarray(wave, np.float32), -1.0, 1.0)[None, :]  # [1, N]: one channel, planar
    with av.open(str(AUDIO_OUT / f"{name}.mp3"), "w", format="mp3") as out:
        stream = out.add_stream("libmp3lame", rate=16000)
        stream.bit_rate, stream.layout = MP3_BITRATE, "mono"
        frame = av.AudioFrame.from_ndarray(samples, format="fltp", layout="mono")
        frame.sample_rate = 16000
        for packet in [*stream.encode(frame), *stream.encode(None)]:
            out.mux(packet)
    CAPTIONS[name] = caption
    (AUDIO_OUT / "captions.json").write_text(json.dumps(CAPTIONS, ensure_ascii=False, indent=1))


def opus_round_trip(wave: np.ndarray, bitrate: int) -> np.ndarray:
    """``wave`` through Opus at ``bitrate`` and back (in memory), as a call or a voice
    message would carry it."""
    import io

    import av

    buffer = io.BytesIO()
    with av.open(buffer, "w", format="ogg") as out:
        stream = out.add_stream("libopus", rate=16000)
        stream.bit_rate, stream.layout = bitrate, "mono"
        frame = av.AudioFrame.from_ndarray(np.asarray(wave, np.float32)[None, :], format="flt", layout="mono")
        frame.sample_rate = 16000
        for packet in [*stream.encode(frame), *stream.encode(None)]:
            out.mux(packet)
    return minis2t.load_audio(buffer.getvalue())[: wave.shape[0]]


def audio_clips() -> None:
    """Every recording a figure is drawn from, the bundled samples (one voice per speech
    engine), the training augmentation chain step by step and a codec round trip."""
    CAPTIONS.clear()
    write_clip("librispeech", minis2t.load_audio(BUNDLED_RECORDING),
               "LibriSpeech dev-clean 1272-128104-0000 (CC BY 4.0): “mister quilter is the apostle of "
               "the middle classes …”, the recording of the front-end figures")  # fmt: skip
    samples = BUNDLED_MODEL.parent / "samples"
    refs = json.loads((samples / "references.json").read_text())
    engines = {}
    for ref in refs:
        voice = f"{ref['engine']}, voice {ref['voice']}" if "voice" in ref else ref["engine"]
        write_clip(Path(ref["file"]).stem, minis2t.load_audio(samples / ref["file"]),
                   f"{ref['file']} (synthetic, {voice}): “{ref['text']}”")  # fmt: skip
        engines.setdefault(ref["engine"], ref)
    for engine, ref in engines.items():  # one voice per training engine
        write_clip(f"voice_{engine}", minis2t.load_audio(samples / ref["file"]), f"{engine}: “{ref['text']}”")
    st = BUNDLED_MODEL.parent / "samples_st"
    ref = json.loads((st / "references.json").read_text())[0]
    write_clip("st_test_00", minis2t.load_audio(st / ref["file"]), f"{ref['file']} of the translation samples: “{ref['text']}”")
    write_clip("jfk", minis2t.load_audio(SPEECH / "en_jfk_inaugural_1961_16k.wav"),
               "en_jfk_inaugural_1961_16k.wav (public domain): “And so my fellow Americans, ask not …”")  # fmt: skip
    augmentation_chain(refs[0], samples)
    model = load_bundled()
    clean = minis2t.load_audio(samples / refs[0]["file"])
    coded = opus_round_trip(clean, CODEC_BITRATE)
    heard = {k: model.transcribe(w)[0] for k, w in (("clean", clean), ("coded", coded))}  # fmt: skip
    write_clip("codec_clean", clean, f"as recorded; the bundled model hears “{heard['clean']}”")
    write_clip("codec_opus", coded, f"through Opus at {CODEC_BITRATE // 1000} kbit/s and back; "
                                    f"the bundled model hears “{heard['coded']}”")  # fmt: skip


def augmentation_chain(ref: dict, samples: Path) -> None:
    """The training recipe's augmentation steps applied one after another (every step,
    seeded), so that each player adds one more."""
    sys.path.insert(0, str(ROOT / "recipes" / "synthetic_speech"))
    try:
        import augment
    finally:
        sys.path.remove(str(ROOT / "recipes" / "synthetic_speech"))
    rng = np.random.default_rng(7)
    wave = minis2t.load_audio(samples / ref["file"])
    write_clip("augment_0_clean", wave, f"{ref['file']} as synthesised")
    for k, (name, _) in enumerate(augment.CHAIN, start=1):
        wave = augment.STEPS[name](wave, rng)
        write_clip(f"augment_{k}_{name}", wave, f"+ {name.replace('_', ' ')}")


# Legible at the page's width: the content column of the material theme is about 700 px
# wide, and an image wider than that is scaled down, its letters with it. Every figure is
# at most WIDTH inches at DPI (825 px: scaled by at most 0.85), holds at most two panels
# side by side, and no text under MIN_POINTS (8 pt at 110 dpi and 0.85 is 10 px on screen).
# save() refuses a figure that breaks a rule; tests/test_docs.py checks the built images.
WIDTH, DPI, MIN_POINTS, MAX_COLUMNS = 7.5, 110, 8, 2
plt.rcParams.update({"font.size": 9, "axes.titlesize": 9, "legend.fontsize": 8, "xtick.labelsize": 8,
                     "ytick.labelsize": 8, "figure.titlesize": 9})  # fmt: skip


def check_legible(fig, name: str) -> None:
    from matplotlib.text import Text

    width = fig.get_size_inches()[0]
    assert width <= WIDTH + 1e-9, f"{name}: {width} inches wide, more than {WIDTH}"
    columns = {}
    for ax in fig.axes:
        spec = ax.get_subplotspec()
        if spec is not None and ax.get_visible() and ax.axison:
            columns.setdefault(spec.rowspan.start, set()).add(spec.colspan.start)
    assert all(len(c) <= MAX_COLUMNS for c in columns.values()), f"{name}: more than {MAX_COLUMNS} panels in a row"
    small = [t.get_text() for t in fig.findobj(Text) if t.get_text().strip() and t.get_visible()
             and t.get_fontsize() < MIN_POINTS]  # fmt: skip
    assert not small, f"{name}: text under {MIN_POINTS} pt: {small[:5]}"


def save(fig, name: str) -> None:
    """Drawn at twice the pixels it is shown at (``on_page_content`` gives the page the
    half size): sharp on high-resolution screens, the same size on the page."""
    check_legible(fig, name)
    fig.tight_layout()
    fig.savefig(OUT / name, dpi=SHARPNESS * DPI)


SHARPNESS = 2  # pixels drawn per pixel shown, for every PNG of the site (the notebooks' too)
IMAGE = re.compile(r'<img ([^>]*?)src="([^"]+\.png)"')


def on_page_content(html: str, page, config, files, **kwargs) -> str:
    """Every generated PNG (these figures, the notebooks' plots) shown at 1/SHARPNESS of
    its pixels: ``width`` and ``height`` on its ``<img>``."""
    import posixpath

    from PIL import Image

    def sized(match: re.Match) -> str:
        attributes, src = match.groups()
        uri = posixpath.normpath(posixpath.join(posixpath.dirname(page.file.dest_uri), src))
        file = files.get_file_from_path(uri)
        if file is None or "width=" in attributes or not (uri.startswith("figures/") or uri.startswith("notebooks/")):
            return match.group(0)
        width, height = Image.open(file.abs_src_path).size
        return f'<img {attributes}width="{width // SHARPNESS}" height="{height // SHARPNESS}" src="{src}"'

    return HEADER.sub(breakable, IMAGE.sub(sized, html))


HEADER = re.compile(r"<th([^>]*)>(.*?)</th>", re.S)


def breakable(match: re.Match) -> str:
    """A table header may break after "/" and "_" ("numpy/<wbr>transformers"): a long
    column name then costs a second line, not a table wider than the page."""
    attributes, inner = match.groups()
    parts = re.split(r"(<[^>]+>)", inner)  # text and tags; only the text gets break points
    inner = "".join(part if part.startswith("<") else re.sub(r"(?<=[/_])(?=\w)", "<wbr>", part) for part in parts)
    return f"<th{attributes}>{inner}</th>"


def bundled_sample() -> tuple[np.ndarray, str]:
    refs = json.loads((BUNDLED_MODEL.parent / "samples" / "references.json").read_text())
    return minis2t.load_audio(BUNDLED_MODEL.parent / "samples" / refs[0]["file"]), refs[0]["text"]


def waveform() -> None:
    wave = minis2t.load_audio(BUNDLED_RECORDING)
    t = np.arange(wave.shape[0]) / 16000
    fig, ax = plt.subplots(figsize=(7.5, 2.4))
    ax.plot(t, wave, lw=0.4)
    ax.set(xlabel="seconds", ylabel="amplitude", title="LibriSpeech 1272-128104-0000 at 16 kHz")
    save(fig, "waveform.png")


def frames() -> None:
    n = np.arange(400)
    fig, ax = plt.subplots(figsize=(6, 2.8))
    ax.plot(n, F.povey_window(400, np.float64), label="Povey (Hann ** 0.85)")
    ax.plot(n, np.hanning(400), "--", label="Hann")
    ax.plot(n, np.hamming(400), ":", label="Hamming")
    ax.set(title="analysis windows, 400 samples = 25 ms", xlabel="sample")
    ax.legend(fontsize=8)
    save(fig, "windows.png")
    # One frame through the three steps, each in its own panel: the DC offset is small
    # against the peak, so drawn on one axis the first two curves would hide each other.
    wave = F.scale_waveform(minis2t.load_audio(BUNDLED_RECORDING).astype(np.float64))
    frame = F.frame_signal(wave)[150:151]  # one frame, 1.5 s in
    steps = [("frame (16-bit units)", frame), ("− DC", F.remove_dc_offset(frame))]
    steps.append(("pre-emphasis", F.preemphasize(steps[-1][1])))
    steps.append(("× Povey window", steps[-1][1] * F.povey_window(400, np.float64)))
    fig, axes = plt.subplots(2, 2, figsize=(7.5, 4.6), sharex=True)
    for ax, (label, x) in zip(axes.flat, steps):
        ax.plot(n, x[0], lw=0.7)
        ax.axhline(0, color="grey", lw=0.5)
        ax.set(title=f"{label}\nmean {x[0].mean():.1f}", xlabel="sample")
    save(fig, "frames.png")


def filterbank() -> None:
    banks = F.mel_filterbank(80)  # [257, 80]
    hz = np.arange(257) * 16000 / 512
    fig, ax = plt.subplots(figsize=(7.5, 3))
    ax.plot(hz, banks[:, ::2], lw=0.8)  # every other triangle, for legibility
    ax.set(xlabel="Hz", ylabel="weight", title="Kaldi mel filter bank (every 2nd of 80 triangles)")
    save(fig, "filterbank.png")


def cmvn() -> None:
    wave = minis2t.load_audio(BUNDLED_RECORDING)
    raw = minis2t.fbank(wave)
    norm = F.utterance_cmvn(raw)
    fig, axes = plt.subplots(2, 1, figsize=(7.5, 5), sharex=True)
    for ax, x, title in ((axes[0], raw, "log-mel (natural log of 16-bit-unit energies)"),
                         (axes[1], norm, "after utterance CMVN")):  # fmt: skip
        im = ax.imshow(x.T, origin="lower", aspect="auto", cmap="magma")
        ax.set(title=title, ylabel="mel bin")
        fig.colorbar(im, ax=ax)
    axes[1].set_xlabel("frame (10 ms)")
    save(fig, "cmvn.png")


def load_bundled() -> minis2t.Speech2Text:
    return minis2t.Speech2Text.from_pretrained(BUNDLED_MODEL)


def subsampling() -> None:
    model = load_bundled()
    wave = minis2t.load_audio(BUNDLED_RECORDING)  # the front-end pages' running example
    feats = model.feature_extractor(wave)["input_features"]
    out = M.encode(model.params, model.config, feats)
    panels = [("features [T, 80]", feats[0])] + [
        (f"conv layer {i} + GLU [{x.shape[1]}, {x.shape[2]}]", x[0]) for i, x in enumerate(out["conv_outputs"])
    ]  # fmt: skip
    fig, axes = plt.subplots(len(panels), 1, figsize=(7.5, 2.2 * len(panels)))
    for ax, (title, x) in zip(axes, panels):  # one row each, time to the right: 100, 50, 25 steps a second
        ax.imshow(x.T, origin="lower", aspect="auto", cmap="viridis", extent=(0, feats.shape[1] / 100, 0, x.shape[1]))
        ax.set(title=title, ylabel="channel")
    axes[-1].set_xlabel("seconds")
    save(fig, "subsampling.png")


def positions() -> None:
    from minis2t.reference.nn import sinusoidal_positions

    table = sinusoidal_positions(202, 128)
    fig, axes = plt.subplots(2, 1, figsize=(7.5, 5.6))
    axes[0].imshow(table[2:].T, aspect="auto", origin="lower", cmap="RdBu")
    axes[0].set(title="positions 2..201, d = 128 (sines, then cosines)", xlabel="position", ylabel="dimension")
    rows = ["| d | max gap, p ≤ 100 | max gap, p ≤ 6000 | bound at 6000 | bit-identical entries |",
            "| --- | --- | --- | --- | --- |"]  # fmt: skip
    try:
        import platform

        import torch
        from parity.nn import sinusoidal_positions as torch_table

        for d in (256, 1024):
            ours, theirs = sinusoidal_positions(6002, d), torch_table(6002, d).numpy()
            diff = np.abs(ours - theirs).max(axis=1)
            axes[1].semilogy(np.maximum(diff, 1e-9), lw=0.6, label=f"d = {d}")
            rows.append(f"| {d} | {diff[:102].max():.1e} | {diff.max():.1e} | "
                        f"{2e-7 + 1.2e-7 * 6001:.1e} | {100 * np.mean(ours == theirs):.0f} % |")  # fmt: skip
        axes[1].set(title="|NumPy - torch| float32 table, per position", xlabel="position")
        axes[1].legend()
        rows.append(f"\n*Measured at build time: {platform.machine()} "
                    f"{torch.backends.cpu.get_cpu_capability()}, torch {torch.__version__}, "
                    f"NumPy {np.__version__}.*")  # fmt: skip
    except ImportError:  # torch is not installed: the docs still build
        axes[1].set_axis_off()
        rows = ["*(torch is not installed where these pages were built: nothing measured.)*"]
    save(fig, "positions.png")
    (OUT / "positions_measured.md").write_text("\n".join(rows) + "\n")


def _worked():
    hooks = str(Path(__file__).resolve().parent)
    if hooks not in sys.path:
        sys.path.insert(0, hooks)
    import worked

    return worked


def attention() -> None:
    """Cross-attention of the head that aligns best (chosen by ``worked.best_head``, whose
    table the page shows), next to the mean over all heads of the last layer."""
    worked = _worked()
    a = worked.alignment()
    layer, head = worked.best_head()
    tokens = a["tokens"]
    mean_last = np.mean([h["weights"] for h in a["layers"][-1]], axis=0)
    fig, axes = plt.subplots(1, 2, figsize=(7.5, 4.6), sharey=True)
    for ax, w, title in ((axes[0], a["layers"][layer][head]["weights"], f"layer {layer}, head {head}\n(best aligned, see the table)"),
                         (axes[1], mean_last, "last layer,\nmean of its heads")):  # fmt: skip
        ax.imshow(w, aspect="auto", cmap="Greys", interpolation="nearest")
        ax.plot(w.argmax(axis=1), range(len(tokens)), "r.", ms=4)
        ax.set(title=title, xlabel="encoder frame (40 ms)")
    axes[0].set_yticks(range(len(tokens)), tokens, fontsize=8)
    fig.suptitle(f"cross-attention on \"{a['text']}\"\nred dots: each token's largest weight")
    save(fig, "attention.png")


def masks() -> None:
    """The three masks, as the model applies them: attention weights of the bundled model
    on a padded batch of two recordings are exactly zero where a mask forbids a look."""
    model = load_bundled()
    refs = json.loads((BUNDLED_MODEL.parent / "samples" / "references.json").read_text())
    waves = [minis2t.load_audio(BUNDLED_MODEL.parent / "samples" / r["file"]) for r in refs[:2]]
    waves.sort(key=len, reverse=True)
    batch = model.feature_extractor(waves, padding=True, return_attention_mask=True)
    ids = model.generate(batch["input_features"], batch["attention_mask"], num_beams=1)
    enc = M.encode(model.params, model.config, batch["input_features"], batch["attention_mask"])
    out = model.forward(batch["input_features"], batch["attention_mask"], decoder_input_ids=ids,
                        output_attentions=True)  # fmt: skip
    panels = [("encoder self-attention, item 2 (padded)\nkeys past its end: weight 0", enc["attentions"][0][1, 0]),
              ("decoder self-attention (causal)\ntoken i sees tokens ≤ i", out.decoder_attentions[0][0, 0]),
              ("cross-attention, item 2 (padded)\nno token looks at padding", out.cross_attentions[0][1, 0])]  # fmt: skip
    fig, axes = plt.subplots(2, 2, figsize=(7.5, 6.4))
    axes[1, 1].set_axis_off()
    for ax, (title, w) in zip(axes.flat, panels):
        ax.imshow(w == 0, cmap="Greys", aspect="auto", interpolation="nearest", vmin=0, vmax=1.6)
        ax.set(title=title, xlabel="key", ylabel="query")
        for axis in (ax.xaxis, ax.yaxis):  # positions are whole numbers
            axis.set_major_locator(matplotlib.ticker.MaxNLocator(integer=True))
    fig.suptitle("grey: masked (the weight is exactly 0); white: allowed", fontsize=9)
    save(fig, "masks.png")


def kv_cache() -> None:
    """What the cache holds after each decoding step of the bundled model: the
    self-attention keys grow by one token per step, the cross-attention keys stay."""
    model = load_bundled()
    wave, _ = bundled_sample()
    c, p = model.config, model.params
    states = M.encode(p, c, model.feature_extractor(wave)["input_features"])["last_hidden_state"]
    cache = M.init_cache(p, c, states)
    ids = model.generate(model.feature_extractor(wave)["input_features"])[0]
    steps = 5
    fig, ax = plt.subplots(figsize=(7.5, 3.2))
    s = cache.cross_kv[0][0].shape[2]
    for t in range(steps):
        cache = M.decode(p, c, ids[None, t : t + 1], cache)["cache"]
        y = -t
        length = cache.self_kv[0][0].shape[2]
        for j in range(length):
            ax.add_patch(plt.Rectangle((j, y - 0.35), 0.9, 0.7, color="tab:blue" if j == length - 1 else "lightsteelblue"))
        ax.text(-0.6, y, f"step {t}", ha="right", va="center", fontsize=8)
        ax.text(steps + 0.5, y, f"self K/V {list(cache.self_kv[0][0].shape)}", va="center", fontsize=8)
        ax.add_patch(plt.Rectangle((steps + 5.5, y - 0.35), 4 * s / c.max_source_positions * 20 + 2, 0.7,
                                   color="lightgray"))  # fmt: skip
        ax.text(steps + 5.7, y, f"cross K/V {list(cache.cross_kv[0][0].shape)} (fixed)", va="center", fontsize=8)
    ax.set(xlim=(-2.5, steps + 14), ylim=(-steps + 0.4, 0.6),
           title="the KV cache, layer 0, after each step\ndark = the key/value added by this step's "
                 "token (a decoder step computes only it)")  # fmt: skip
    ax.set_axis_off()
    save(fig, "kv_cache.png")


def ctc_lattice() -> None:
    """The CTC lattice of a short target: α, β and the posterior occupancy α·β/y of each
    (frame, extended-target position), from :func:`minis2t.reference.grad.ctc_lattice`."""
    from minis2t.reference import grad

    rng = np.random.default_rng(3)
    target, frames, classes = [1, 2, 2, 3], 14, 5
    logits = rng.standard_normal((frames, classes)) * 1.5
    for t, c in zip((3, 6, 9, 11), target):  # frames that favour the labels in order
        logits[t, c] += 3
    log_probs = minis2t.reference.nn.log_softmax(logits)
    ext, alpha, beta, log_p = grad.ctc_lattice(log_probs, target)
    occupancy = np.exp(alpha + beta - log_probs[:, ext] - log_p)
    names = ["∅" if c == 0 else "abc"[c - 1] for c in ext]
    fig, axes = plt.subplots(3, 1, figsize=(7.5, 8), sharex=True)
    per_frame = lambda a: np.exp(a - a.max(axis=1, keepdims=True))  # noqa: E731 (each frame's largest = 1)
    for ax, values, title in ((axes[0], per_frame(alpha), "α (forward), each frame scaled to its max"),
                              (axes[1], per_frame(beta), "β (backward), each frame scaled to its max"),
                              (axes[2], occupancy, "occupancy α·β / y: sums to 1 per frame")):  # fmt: skip
        ax.imshow(values.T, aspect="auto", cmap="Greys", origin="upper")
        ax.set(title=title)
        ax.set_yticks(range(len(ext)), [f"{s}: {n}" for s, n in enumerate(names)], fontsize=8)
    axes[-1].set_xlabel("frame t")
    fig.suptitle(f"target \"abbc\" (labels 1 2 2 3, blank ∅ = 0) over {frames} frames: "
                 f"-log p = {-log_p:.3f}\nthe two b's need the blank between them")
    save(fig, "ctc_lattice.png")


def tokenizer_pieces() -> None:
    """Sentences cut into the bundled model's pieces (boxes), with their ids."""
    tok = load_bundled().tokenizer
    sentences = ["remind me to call maria at seven thirty", "set an alarm for eight in the morning",
                 "remind me to call zbigniew"]  # fmt: skip
    fig, ax = plt.subplots(figsize=(7.5, 2.8))
    for row, text in enumerate(sentences):
        ids = tok.encode(text)
        x = 0.0
        for i, piece in zip(ids, tok.convert_ids_to_tokens(ids)):
            width = max(0.55, 0.25 + 0.13 * len(piece))  # room for a three-digit id under it
            color = "tab:orange" if len(piece.strip("▁")) <= 1 else "lightsteelblue"
            ax.add_patch(plt.Rectangle((x, -row - 0.3), width - 0.05, 0.6, color=color))
            ax.text(x + width / 2, -row, piece, ha="center", va="center", fontsize=8)
            ax.text(x + width / 2, -row - 0.48, str(i), ha="center", va="center", fontsize=8, color="dimgray")
            x += width
    ax.set(xlim=(-0.1, 12), ylim=(-len(sentences) + 0.3, 0.5),
           title="pieces (▁ marks a word start) and their ids\norange: single characters — "
                 "what an unknown word falls back to")  # fmt: skip
    ax.set_axis_off()
    save(fig, "tokenizer.png")


def beam_tree() -> None:
    model = load_bundled()
    wave, text = bundled_sample()
    feats = model.feature_extractor(wave)["input_features"]
    out = model.generate(feats, num_beams=3, return_dict=True)
    trace = out.steps  # one record per step: candidates, their source beams, the live ones
    k = 3
    half = (len(trace) + 1) // 2  # two rows of steps, so that the tokens stay legible
    fig, axes = plt.subplots(2, 1, figsize=(7.5, 6.4))
    for t, rec in enumerate(trace):
        ax, x = axes[t // half], t % half
        for c in range(2 * k):
            token = model.tokenizer.convert_ids_to_tokens([int(rec["token"][0, c])])[0]
            live = c in rec["live"][0]
            ended = bool(rec["ends"][0, c]) and c < k
            color = "tab:green" if ended else ("black" if live else "lightgray")
            ax.text(x, -c, token, fontsize=8, color=color, ha="center", va="center")
        if t > 0 and x > 0:  # the first step of the second row continues the first row's last
            prev_live = trace[t - 1]["live"][0]
            for c in range(2 * k):
                src = int(rec["beam"][0, c])
                ax.plot([x - 1 + 0.3, x - 0.3], [-prev_live[src], -c], lw=0.4,
                        color="black" if c in rec["live"][0] else "lightgray")  # fmt: skip
    for row, ax in enumerate(axes):
        ax.set(xlim=(-0.5, half - 0.5), ylim=(-2 * k + 0.5, 0.5), yticks=[])
        ax.set_xticks(range(half), [str(row * half + i) for i in range(half)])
    axes[1].set_xlabel("step")
    axes[0].set_title(f"beam search, 3 beams: the 6 candidates of each step\n(black: kept, green: finished, "
                      f"grey: dropped)\nresult: \"{model.tokenizer.decode(out.sequences[0], True)}\"")  # fmt: skip
    save(fig, "beam_tree.png")


def beam_flip() -> None:
    """The search page's worked case: the beam search that favours short outputs, every
    step's candidates, and the path of the transcript it returns drawn in red."""
    worked = _worked()
    model, case = load_bundled(), worked.search_flip()
    steps, winner = case["steps"], case["beam"].sequences[0]
    k = worked.FLIP_BEAMS
    prefixes = []  # prefixes[t][c]: the tokens of candidate c of step t, from the first
    for t, rec in enumerate(steps):
        prefixes.append([(prefixes[t - 1][int(steps[t - 1]["live"][0][int(rec["beam"][0, c])])] if t else [])
                         + [int(rec["token"][0, c])] for c in range(2 * k)])  # fmt: skip
    target = winner[1:][winner[1:] != model.config.pad_token_id].tolist()  # the tokens after the start, EOS included
    path = {(t, c) for t in range(len(steps)) for c in range(2 * k) if prefixes[t][c] == target[: t + 1]}
    half = (len(steps) + 1) // 2
    fig, axes = plt.subplots(2, 1, figsize=(7.5, 8))
    for t, rec in enumerate(steps):
        ax, x = axes[t // half], t % half
        for c in range(2 * k):
            token = model.tokenizer.convert_ids_to_tokens([int(rec["token"][0, c])])[0]
            on_path = (t, c) in path
            color = "tab:red" if on_path else ("black" if c in rec["live"][0] else "lightgray")
            ax.text(x, -c, token, fontsize=8, color=color, ha="center", va="center", weight="bold" if on_path else "normal")
        if t > 0 and x > 0:
            prev_live = steps[t - 1]["live"][0]
            for c in range(2 * k):
                src = int(prev_live[int(rec["beam"][0, c])])
                on_path = (t, c) in path and (t - 1, src) in path
                ax.plot([x - 1 + 0.3, x - 0.3], [-src, -c], lw=1.2 if on_path else 0.4,
                        color="tab:red" if on_path else ("black" if c in rec["live"][0] else "lightgray"))  # fmt: skip
    for row, ax in enumerate(axes):
        ax.set(xlim=(-0.5, half - 0.5), ylim=(-2 * k + 0.5, 0.5), yticks=[])
        ax.set_xticks(range(half), [str(row * half + i) for i in range(half)])
    axes[1].set_xlabel("step")
    text = model.tokenizer.decode(winner, skip_special_tokens=True)
    axes[0].set_title(f"{case['file']}, {k} beams, length_penalty {worked.FLIP_PENALTY:+g}: the {2 * k} candidates of each "
                      f"step\n(black: kept, grey: dropped, red: the path of the result)\nresult: \"{text}\"")  # fmt: skip
    save(fig, "beam_flip.png")


def parity_table() -> None:
    try:
        from parity.compare import compare, format_table
    except ImportError:
        (OUT / "parity_table.md").write_text("(install the `parity` extra to generate this table)\n")
        return
    samples = sorted((BUNDLED_MODEL.parent / "samples").glob("*.wav"))[:2]
    rows = compare(BUNDLED_MODEL, samples, steps=6, device="cpu")
    (OUT / "parity_table.md").write_text("```text\n" + format_table(rows) + "\n```\n")


def front_end_table() -> None:
    """The front end against its oracles on the six real recordings, measured here and now
    (the tests assert the bars on every machine; how far below them a machine lands
    depends on its vector math)."""
    try:
        import kaldi_native_fbank as knf
        import torch
        from transformers import Speech2TextFeatureExtractor

        import parity.features as twin
        from parity import bars
    except ImportError as e:
        (OUT / "front_end_table.md").write_text(f"*(install the test extras to measure this: {e})*\n")
        return
    sci = _worked().sci
    waves = [minis2t.load_audio(p) for p in sorted(SPEECH.glob("*.*")) if p.suffix in (".wav", ".flac")]
    knf_diffs, hf_diffs, twin_max = [], [], 0.0
    hf = Speech2TextFeatureExtractor()
    for wave in waves:
        opts = knf.FbankOptions()
        opts.frame_opts.dither, opts.frame_opts.snip_edges, opts.mel_opts.num_bins = 0.0, True, 80
        online = knf.OnlineFbank(opts)
        online.accept_waveform(16000, (wave * 32768).tolist())
        online.input_finished()
        theirs = np.stack([online.get_frame(i) for i in range(online.num_frames_ready)])
        knf_diffs.append(np.abs(minis2t.fbank(wave) - theirs))
        ours = minis2t.FeatureExtractor()(wave)["input_features"][0]
        hf_diffs.append(np.abs(ours - hf(wave, sampling_rate=16000, return_tensors="np")["input_features"][0]))
        w64 = wave.astype(np.float64)
        twin_max = max(twin_max, float(np.abs(minis2t.fbank(w64) - twin.fbank(torch.from_numpy(w64)).numpy()).max()))
    k, h = np.concatenate([d.ravel() for d in knf_diffs]), np.concatenate([d.ravel() for d in hf_diffs])
    rows = ["| comparison | measured here | bar the tests assert |", "| --- | --- | --- |",
            f"| `fbank` vs kaldi-native-fbank, float32, {len(waves)} recordings | mean {k.mean():.1e}, "
            f"p99 {np.percentile(k, 99):.1e} | mean {sci(bars.KNF_MEAN)}, p99 {sci(bars.KNF_P99)} |",
            f"| `FeatureExtractor` vs transformers (after CMVN) | mean {h.mean():.1e}, p99 "
            f"{np.percentile(h, 99):.1e}, max {h.max():.1e} | max {sci(bars.HF_FEATURES_MAX)} |",
            f"| NumPy vs twin, `fbank` float64 | max {twin_max:.1e} | {sci(bars.FRONT_END_TWIN['float64'])} |"]  # fmt: skip
    (OUT / "front_end_table.md").write_text("\n".join(rows) + "\n")



def _pct(x: float) -> str:
    return f"{100 * x:.1f} %"


def _wer_of(result: dict, engine: str, voices: str | None = None) -> tuple[float, int]:
    """Utterance-weighted WER of an engine's test rows (both voice groups if None)."""
    rows = [r for r in result["table"] if r["engine"] == engine and voices in (None, r["voices"])]
    n = sum(r["n"] for r in rows)
    return sum(r["wer"] * r["n"] for r in rows) / n, n


def bundled_tables() -> None:
    recipe = ROOT / "recipes" / "synthetic_speech"
    r = json.loads((recipe / "results.json").read_text())
    with_digits = any("digit_wer" in row for row in r["table"])  # the recipe with digit strings
    lines = ["| engine | voices | WER | CER |" + (" WER on digit strings |" if with_digits else "") + " NumPy = twin |",
             "| --- | --- | --: | --: |" + (" --: |" if with_digits else "") + " --: |"]  # fmt: skip
    for row in r["table"]:
        digits = f" {_pct(row['digit_wer'])} ({row['digit_sentences']}) |" if "digit_wer" in row else " – |"
        lines.append(f"| {row['engine']} | {row['voices']} | {_pct(row['wer'])} | {_pct(row['cer'])} |"
                     + (digits if with_digits else "")
                     + f" {row.get('numpy_equals_twin', '–')} of {row.get('twin_compared', row['n'])} |")  # fmt: skip
    lines.append("")
    if any("digit_wer" in row for row in r["table"]):  # the recipe with digit strings and people
        lines.append("The digit-string column scores only the sentences holding three or more digits in a row "
                     "(their number in brackets); the *human* row is digit strings spliced from the three FSDD "
                     "speakers' takes 0–4, which training never used — the same people, new recordings.")
        lines.append("")
    lines.append(f"{r['test_sentences']} held-out sentences said by every engine, once with training "
                 f"voices and once with held-out voices; {r['vocabulary_words']} words in the "
                 f"vocabulary; trained on {r['training_hours']} h ({r['training_utterances']:,} "
                 f"utterances, {r['steps']:,} steps) from {', '.join(r['trained_on'])}; NumPy and twin "
                 f"transcripts identical on {r['numpy_equals_twin']} of {r['test_utterances']}; the "
                 f"recipe took {r['recipe_seconds'] / 60:.0f} minutes.")  # fmt: skip
    if "stage_seconds" in r:
        lines += ["", "| stage | wall time |", "| --- | --: |"]
        lines += [f"| {name} | {sec / 60:.1f} min |" for name, sec in r["stage_seconds"].items()]
    (OUT / "bundled_results.md").write_text("\n".join(lines) + "\n")

    runs = {p.stem: json.loads(p.read_text()) for p in sorted((recipe / "results").glob("leave_out_*.json"))
            if "_without_" not in p.stem}  # fmt: skip
    rows = ["| left out | trained on | WER on the left-out engine | of which speakers no engine had | WER on the trained engines | augmentation |",
            "| --- | --- | --: | --: | --: | --- |"]  # fmt: skip
    for name, run in runs.items():
        engine = run["left_out"]
        unseen, _ = _wer_of(run, engine)
        new_speakers = [v for v, x in run["by_voice"].items() if x["engine"] == engine
                        and v.split(":")[1] in ("awb", "rms", "ked_diphone")]  # fmt: skip
        speakers = (", ".join(f"{v.split(':')[1]} {_pct(run['by_voice'][v]['wer'])}" for v in new_speakers)
                    or "–")  # fmt: skip
        seen = [_wer_of(run, e, "seen voices") for e in run["trained_on"]]
        seen_wer = sum(w * n for w, n in seen) / sum(n for _, n in seen)
        rows.append(f"| **{engine}** | {', '.join(run['trained_on'])} | **{_pct(unseen)}** | {speakers} | "
                    f"{_pct(seen_wer)} | {'yes' if run['augmentation'] else 'none'} |")  # fmt: skip
    if not runs:
        rows = ["*(no leave-one-engine-out run has been recorded yet)*"]
    (OUT / "bundled_leave_one_out.md").write_text("\n".join(rows) + "\n")

    voices = ["| voice | held out of training | WER |", "| --- | --- | --: |"]
    for v, x in r["by_voice"].items():
        voices.append(f"| {v} | {'yes' if x['held_out'] else 'no'} | {_pct(x['wer'])} |")
    (OUT / "bundled_voices.md").write_text("\n".join(voices) + "\n")

    conditions = recipe / "results" / "conditions.json"
    if conditions.is_file():
        c = json.loads(conditions.read_text())
        rows = ["| condition | " + " | ".join(c["models"]) + " |",
                "| --- | " + " | ".join("--:" for _ in c["models"]) + " |"]  # fmt: skip
        for condition, wers in c["wer"].items():
            rows.append(f"| {condition.replace('_', ' ')} | " + " | ".join(_pct(wers[m]) for m in c["models"]) + " |")
        rows.append(f"\n{c['utterances']} {c['engine']} utterances (test sentences, training and "
                    f"held-out voices), each with the condition applied alone.")  # fmt: skip
    else:
        rows = ["*(the condition-by-condition comparison has not been run yet)*"]
    (OUT / "bundled_conditions.md").write_text("\n".join(rows) + "\n")

    (OUT / "bundled_ablations.md").write_text(ablation_table(recipe))

    model = load_bundled()
    c = model.config
    (OUT / "bundled_architecture.md").write_text(
        f"Architecture: d_model {c.d_model}, {c.encoder_layers} encoder and {c.decoder_layers} decoder "
        f"layers, {c.encoder_attention_heads} heads, FFN {c.encoder_ffn_dim}, conv subsampler "
        f"{c.num_conv_layers} × (kernel {c.conv_kernel_sizes[0]}, {c.conv_channels} channels), a "
        f"{c.vocab_size}-piece SentencePiece vocabulary; {model.num_parameters / 1e6:.2f} M parameters, "
        f"{'tied' if c.tie_word_embeddings else 'untied'} LM head, "
        f"{(BUNDLED_MODEL / 'model.safetensors').stat().st_size / 2**20:.1f} MiB. Generation: "
        f"{model.generation_config.num_beams} beams, `max_length` {model.generation_config.max_length}.\n")  # fmt: skip
    rows = ["| recording | reference | bundled model says |", "| --- | --- | --- |"]
    manifest = [line.split("\t") for line in (SPEECH / "manifest.tsv").read_text().splitlines()[1:]]
    for row in manifest:
        hyp = model.transcribe(str(SPEECH / row[0]))[0]
        rows.append(f"| `{row[0]}` | {row[-1]} | {hyp} |")
    (OUT / "bundled_real.md").write_text("\n".join(rows) + "\n")


def training_curve(log: Path) -> np.ndarray:
    """``[step, ce, ctc, seconds]`` rows from a recipe log (smoothed losses every 100 steps;
    seconds since training began)."""
    from minis2t.train import read_log

    return read_log(log.read_text())[:, [0, 2, 3, 4]]


def numpy_training() -> None:
    """The bundled architecture trained twice, by the twin (the shipped model) and by NumPy
    alone: the two loss curves over steps and over time, and the two test results."""
    recipe = ROOT / "recipes" / "synthetic_speech"
    runs = [("twin (torch autograd)", recipe / "train_log.txt", recipe / "results.json"),
            ("NumPy (minis2t.train)", recipe / "results" / "numpy_full_log.txt", recipe / "results" / "numpy_full.json")]
    runs = [(label, training_curve(log), json.loads(res.read_text())) for label, log, res in runs
            if log.is_file() and res.is_file()]  # fmt: skip
    fig, axes = plt.subplots(1, 2, figsize=(7.5, 3.4))
    # the first run as a broad pale band, the second as a thin line over it: where the two
    # runs agree, both stay visible
    styles = [dict(lw=3.0, alpha=0.45, color="tab:blue"), dict(lw=0.9, color="tab:orange")]
    for (label, curve, _), style in zip(runs, styles):
        for ax, x in zip(axes, (curve[:, 0], curve[:, 3] / 60)):
            ax.plot(x, curve[:, 1], label=f"{label}: cross-entropy", **style)
            ax.plot(x, curve[:, 2], ls=(0, (4, 2)), label=f"{label}: CTC", **style)
    axes[0].set(xlabel="step", ylabel="loss (running mean)", yscale="log", title="loss by step")
    axes[1].set(xlabel="minutes of training on 2 cores", yscale="log", title="loss by time")
    axes[0].legend(fontsize=8)
    save(fig, "training_curves.png")
    rows = ["| trained by | steps | training time | WER, all 1 800 test utterances | seen voices | held-out voices |",
            "| --- | --: | --: | --: | --: | --: |"]  # fmt: skip
    for label, curve, r in runs:
        wer = {}
        for voices in ("seen voices", "held-out voices", None):
            found = [_wer_of(r, e, voices) for e in r["trained_on"]]
            wer[voices] = sum(w * n for w, n in found) / sum(n for _, n in found)
        rows.append(f"| {label} | {r['steps']:,} | {curve[-1, 3] / 60:.0f} min | **{_pct(wer[None])}** | "
                    f"{_pct(wer['seen voices'])} | {_pct(wer['held-out voices'])} |")  # fmt: skip
    if len(runs) < 2:
        rows = ["*(the NumPy training run has not been recorded yet)*"]
    (OUT / "numpy_training.md").write_text("\n".join(rows) + "\n")


@contextlib.contextmanager
def quiet_fairseq():
    """fairseq starts hydra, which sets the root logger to DEBUG (hundreds of lines in the
    build's output, and every later Markdown page logging its extensions) and warns about
    its own deprecated API: silence both while it runs, and put the root logger back."""
    root = logging.getLogger()
    level, handlers = root.level, list(root.handlers)
    logging.disable(logging.INFO)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            yield
    finally:
        logging.disable(logging.NOTSET)
        root.setLevel(level)
        for handler in [h for h in root.handlers if h not in handlers]:
            root.removeHandler(handler)
        for name in ("hydra", "fairseq"):
            logging.getLogger(name).setLevel(logging.WARNING)


def long_form_real() -> None:
    """The pause detector on a person's speech (JFK, 1961): energies, threshold and
    segments with the bundled model's limit, and with a limit small enough to force cuts."""
    worked = _worked()
    fig, axes = plt.subplots(2, 1, figsize=(7.5, 5.2), sharex=True)
    for ax, limit in zip(axes, (60.0, worked.SHORT_LIMIT)):
        d = worked.pauses(limit)
        t = np.arange(d["energies"].shape[0]) / 100
        ax.plot(t, d["energies"], lw=0.7, label="frame energy (dB)")
        ax.axhline(d["threshold"], color="C3", lw=1, ls="--", label=f"threshold {d['threshold']:.1f} dB")
        for k, seg in enumerate(d["segments"]):
            ax.axvspan(seg.start, seg.end, color=f"C{2 + k % 2}", alpha=0.2, label="segments" if k == 0 else None)
        ax.set(ylabel="dB", ylim=(-80, 0),
               title=f"limit {limit:g} s: {len(d['segments'])} segments" + (" (cut at the quietest frame where too long)" if limit < 60 else ""))  # fmt: skip
    axes[0].legend(loc="lower right", ncol=3)
    axes[-1].set_xlabel("seconds of en_jfk_inaugural_1961_16k.wav")
    save(fig, "long_form_real.png")
    cuts = worked.pauses(worked.SHORT_LIMIT)["segments"]
    CAPTIONS["jfk"] += (f"; with a {worked.SHORT_LIMIT:g} s limit it is cut into "
                        + ", ".join(f"{seg.start:.2f}–{seg.end:.2f} s" for seg in cuts))  # fmt: skip
    (AUDIO_OUT / "captions.json").write_text(json.dumps(CAPTIONS, ensure_ascii=False, indent=1))


def flow(name: str, title: str, steps: list[tuple[str, str]], note: str = "") -> None:
    """A data-path diagram: one box per operation, top to bottom, each arrow labelled with
    the shape of the array it carries. ``steps`` is ``[(operation, shape after it)]``;
    the first operation is the input. The shapes are the caller's measurements."""
    rows = len(steps)
    fig, ax = plt.subplots(figsize=(7.5, 0.62 * rows + 0.7))
    for i, (op, out) in enumerate(steps):
        y = rows - 1 - i
        ax.add_patch(plt.Rectangle((0.03, y - 0.3), 0.5, 0.6, facecolor="aliceblue", edgecolor="steelblue"))
        ax.text(0.28, y, op, ha="center", va="center", fontsize=9)
        ax.text(0.56, y, out, ha="left", va="center", fontsize=9, family="monospace", color="darkred")
        if i + 1 < rows:
            ax.annotate("", xy=(0.28, y - 0.7), xytext=(0.28, y - 0.3),
                        arrowprops={"arrowstyle": "->", "color": "steelblue"})  # fmt: skip
    ax.set(xlim=(0, 1), ylim=(-0.6, rows - 0.4), title=title)
    ax.set_axis_off()
    if note:
        fig.text(0.5, 0.005, note, ha="center", va="bottom", fontsize=8, color="dimgray")
    save(fig, name)


def shape(x) -> str:
    return "[" + ", ".join(str(n) for n in np.shape(x)) + "]"


def shape_diagrams() -> None:
    """The front end, the encoder, one decoder step with its cache and beam search's state,
    each with the shapes the code produces on the running examples in this build."""
    model = load_bundled()
    c, p = model.config, model.params
    wave = minis2t.load_audio(BUNDLED_RECORDING)  # the person's recording
    x = F.scale_waveform(wave.astype(np.float64))
    framed = F.frame_signal(x)
    windowed = F.preemphasize(F.remove_dc_offset(framed)) * F.povey_window(400, np.float64)
    power = F.power_spectrum(windowed)
    banks = F.mel_filterbank(80)
    logmel = minis2t.fbank(wave)
    batch = model.feature_extractor([wave], return_attention_mask=True)
    flow("shapes_front_end.png", "the front end, on the LibriSpeech recording", [
        ("file (FLAC, 16-bit, 16 kHz)", "N samples"),
        ("load_audio", f"{shape(wave)} float32 in [-1, 1]"),
        ("x 2**15 (16-bit units)", shape(x)),
        ("frame_signal: 400 every 160", f"{shape(framed)}  [T, 400]"),
        ("- DC, pre-emphasis, x window", shape(windowed)),
        ("power_spectrum (512-point FFT)", f"{shape(power)}  [T, 257]"),
        ("@ mel_filterbank " + shape(banks), "[T, 80]"),
        ("log, floor at eps: fbank", f"{shape(logmel)}  [T, F]"),
        ("utterance CMVN, pad, mask", f"{shape(batch['input_features'])} + mask {shape(batch['attention_mask'])}"),
    ])  # fmt: skip
    feats = batch["input_features"]
    enc = M.encode(p, c, feats, batch["attention_mask"])
    h, dh = c.encoder_attention_heads, c.d_model // c.encoder_attention_heads
    s_len = enc["last_hidden_state"].shape[1]
    steps = [("features", f"{shape(feats)}  [B, T, F]")]
    for i, y in enumerate(enc["conv_outputs"]):
        steps.append((f"conv {i}: stride 2, then GLU", f"{shape(y)}"))
    steps += [("x sqrt(D) + positions", f"{shape(enc['hidden_states'][0])}  [B, S, D]"),
              (f"LayerNorm, Q K V, split {h} heads", f"3 x [{feats.shape[0]}, {h}, {s_len}, {dh}]  [B, H, S, d_h]"),
              ("scores, softmax (mask: padding)", f"{shape(enc['attentions'][0])}  [B, H, S, S]"),
              ("x V, merge heads, + residual", f"{shape(enc['hidden_states'][1])}"),
              (f"LayerNorm, FFN {c.d_model} -> {c.encoder_ffn_dim} -> {c.d_model}", f"{shape(enc['hidden_states'][1])}"),
              (f"... {c.encoder_layers} layers, final LayerNorm", f"{shape(enc['last_hidden_state'])}  [B, S, D]")]  # fmt: skip
    flow("shapes_encoder.png", "the encoder, on the LibriSpeech recording's features", steps)
    wave_s, _ = bundled_sample()  # decoding: the bundled model's own synthetic speech
    feats_s = model.feature_extractor(wave_s)["input_features"]
    states = M.encode(p, c, feats_s)["last_hidden_state"]
    k = 5
    out = model.generate(feats_s, num_beams=k, return_dict=True)
    ids, trace = out.sequences, out.steps
    t = 4  # the step drawn: four tokens already in the cache
    cache = M.init_cache(p, c, states)  # one utterance: its cross K/V once, for all beams
    rows = np.repeat(ids[:, : t + 1], k, axis=0)  # [B*K, t+1]: the same prefix in every beam
    cache = M.decode(p, c, rows[:, :t], cache)["cache"]  # t tokens in the cache
    out = M.decode(p, c, rows[:, t:], cache)  # step t
    flow("shapes_decoder_step.png", f"one decoder step with its cache: step {t}, {k} beams, test_00 (synthetic)", [
        ("the beams' last tokens", f"[{k}, 1]  [B K, 1]"),
        ("embed x sqrt(D) + position", f"[{k}, 1, {c.d_model}]  [B K, 1, D]"),
        ("self-attn: new K V appended", f"cache {shape(out['cache'].self_kv[0][0])}  [B K, H, t+1, d_h]"),
        ("causal softmax over t+1 keys", f"{shape(out['self_attentions'][0])}  [B K, H, 1, t+1]"),
        ("cross-attn: K V computed once", f"{shape(cache.cross_kv[0][0])}  [B, H, S, d_h]"),
        ("FFN, residual; ... layers; LayerNorm", f"[{k}, 1, {c.d_model}]"),
        ("LM head", f"{shape(out['logits'])}  [B K, 1, V]"),
    ], note="cross K/V are kept once per utterance and shared by its beams (group_beams)")  # fmt: skip
    rec = trace[t]
    flow("shapes_beam_state.png", f"beam search's state at one step, {k} beams, one utterance", [
        ("live beams' tokens so far", f"[1, {k}, {t}]  [B, K, t]  + scores [1, {k}]"),
        ("decoder step, log-softmax", f"[{k}, {c.vocab_size}]  [B K, V]"),
        ("+ each beam's score", f"[1, {k}, {c.vocab_size}]  [B, K, V]"),
        ("best 2K of K x V", f"tokens {shape(rec['token'])}, source beams {shape(rec['beam'])}  [B, 2K]"),
        ("ended? (EOS or max length)", f"{shape(rec['ends'])}  [B, 2K] booleans"),
        ("best K that did not end", f"{shape(rec['live'])}  [B, K] -> the new live beams"),
        ("finished hypotheses", "at most K per item, with their scores"),
        ("reorder the cache rows", f"[{k}] rows: cache[B K, H, t+1, d_h]"),
    ])  # fmt: skip


def fairseq_differences() -> None:
    """fairseq against the transformers port, measured now (parity.fairseq_oracle)."""
    import importlib.util

    if importlib.util.find_spec("fairseq") is None:  # built by scripts/test.sh and scripts/docs.sh
        (OUT / "fairseq_differences.md").write_text(
            "*(fairseq is not installed in this build: `bash scripts/test.sh` installs it.)*\n")
        return
    from parity import fairseq_oracle

    d = fairseq_oracle.differences(models=8)
    sci = lambda x: f"{x:.1e}"  # noqa: E731
    rows = ["| what | fairseq vs transformers | why |", "| --- | --: | --- |",
            f"| logits at real decoder positions, float64, max over {d['models']} random models | "
            f"{sci(d['logits_real_max'])} (median {sci(d['logits_real_median'])}) | fairseq's cross-attention "
            "rounds its scores to float32 before the softmax, even in a float64 model |",
            f"| logits at decoder positions holding `<pad>` | {sci(d['logits_padded_min'])} to "
            f"{sci(d['logits_padded_max'])} | fairseq masks `<pad>` decoder inputs as keys; the port does "
            "not (no loss or search ever reads these positions) |",
            "| sinusoidal position tables (1500×256, 6000×512) | "
            + ", ".join(sci(v) for v in d["position_tables_max_abs"].values())
            + " | the same float32 computation |",
            f"| utterance CMVN on the {d['cmvn_recordings']} test recordings, max abs | {sci(d['cmvn_max_abs'])} | "
            "fairseq takes the variance as E[x²] − mean² in float32 (cancellation); the port subtracts "
            "the mean first |"]  # fmt: skip
    (OUT / "fairseq_differences.md").write_text("\n".join(rows) + "\n")


def fairseq_searches() -> None:
    """The two beam searches on the bundled model's test utterances (recipe results)."""
    path = ROOT / "recipes" / "synthetic_speech" / "results" / "searches.json"
    if not path.is_file():
        (OUT / "fairseq_searches.md").write_text("*(not measured yet: run recipes/synthetic_speech/searches.py)*\n")
        return
    r = json.loads(path.read_text())
    rows = ["| engine | voices | utterances | transcripts that differ | WER, transformers' search | WER, fairseq's search |",
            "| --- | --- | --: | --: | --: | --: |"]  # fmt: skip
    for row in r["table"]:
        rows.append(f"| {row['engine']} | {row['voices']} | {row['n']} | {row['differ']} | "
                    f"{_pct(row['wer_transformers'])} | {_pct(row['wer_fairseq'])} |")  # fmt: skip
    rows.append(f"| **all** | | **{r['utterances']}** | **{r['differ']}** ({_pct(r['differ'] / r['utterances'])}) | "
                f"**{_pct(r['wer_transformers'])}** | **{_pct(r['wer_fairseq'])}** |")  # fmt: skip
    examples = [e for row in r["table"] for e in row["examples"]][:4]
    if examples:
        rows += ["", "Some of the transcripts that differ:", "",
                 "| reference | transformers' search | fairseq's search |", "| --- | --- | --- |"]
        rows += [f"| {e['ref']} | {e['transformers']} | {e['fairseq']} |" for e in examples]
    (OUT / "fairseq_searches.md").write_text("\n".join(rows) + "\n")


def long_form() -> None:
    """Pause finding on the bundled recordings strung together with pauses and some
    noise: frame energies, the threshold, the segments; and the measured table."""
    from minis2t.app.longform import Segmenter, frame_energies

    samples = BUNDLED_MODEL.parent / "samples"
    refs = json.loads((samples / "references.json").read_text())
    rng = np.random.default_rng(0)
    parts = []
    for r in refs:
        parts += [np.zeros(int(rng.uniform(0.3, 2.0) * 16000), np.float32), minis2t.load_audio(samples / r["file"])]
    wave = np.concatenate(parts + [np.zeros(16000, np.float32)])
    wave = wave + 0.003 * rng.standard_normal(wave.shape[0]).astype(np.float32)
    segmenter = Segmenter(max_seconds=20)
    segments = segmenter.feed(wave) + segmenter.finish()
    write_clip("long_form", wave, "the six samples strung together with pauses and noise; the segments found: "
               + ", ".join(f"{seg.start:.2f}–{seg.end:.2f} s" for seg in segments))  # fmt: skip
    energy = frame_energies(wave)
    threshold = Segmenter(max_seconds=20).threshold(energy)
    t = np.arange(energy.shape[0]) / 100
    fig, ax = plt.subplots(figsize=(7.5, 3))
    ax.plot(t, energy, lw=0.6, label="frame energy (dB)")
    ax.axhline(threshold, color="C3", lw=0.8, ls="--", label="speech threshold")
    for k, seg in enumerate(segments):
        ax.axvspan(seg.start, seg.end, color="C2", alpha=0.15, label="segment" if k == 0 else None)
    ax.set(xlabel="seconds", ylabel="dB", title=f"{len(refs)} recordings with pauses: {len(segments)} segments found")
    ax.legend(fontsize=8, loc="lower right")
    save(fig, "long_form.png")
    path = ROOT / "recipes" / "long_form" / "results" / "long_form.json"
    if not path.is_file():
        (OUT / "long_form.md").write_text("*(not measured yet: run recipes/long_form/run.py)*\n")
        return
    runs = json.loads(path.read_text())["runs"]
    # one column per recording, one row per measure: the table stays as narrow as the page
    measures = [("utterances", lambda r: str(r["utterances"])), ("segments", lambda r: str(r["segments"])),
                ("WER, cut at pauses", lambda r: _pct(r["wer_long_form"])),
                ("WER, one by one", lambda r: _pct(r["wer_one_by_one"])),
                ("true starts/ends within 0.25 s of a boundary", lambda r: _pct(r["boundaries_within_0.25_s"])),
                ("real-time factor", lambda r: f"{r['real_time_factor']:.4f} ({r['command_seconds']:.0f} s)"),
                ("peak memory", lambda r: f"{r['peak_resident_mb']:.0f} MB"),
                ("transformers' pipeline, 20 s chunks: WER / seconds",
                 lambda r: f"{_pct(r['wer_transformers_chunked'])} / {r['transformers_chunked_seconds']:.0f} s"
                 if "wer_transformers_chunked" in r else "–")]  # fmt: skip
    rows = ["| recording | " + " | ".join(f"{r['minutes']:g} min" for r in runs) + " |",
            "| --- | " + " | ".join("--:" for _ in runs) + " |"]  # fmt: skip
    rows += [f"| {name} | " + " | ".join(cell(r) for r in runs) + " |" for name, cell in measures]
    small = next((r["s2t_small_random"] for r in runs if "s2t_small_random" in r), None)
    if small is not None:
        minutes = next(r["minutes"] for r in runs if "s2t_small_random" in r)
        rows += ["", f"At s2t-small's size (29.5 M parameters, random weights, every segment's output forced to "
                 f"{small['tokens_per_segment']} tokens, about a sentence's worth; word times included), the "
                 f"{minutes:g}-minute recording takes {small['seconds']:.0f} s: real-time factor "
                 f"{small['real_time_factor']:.3f}, peak memory {small['peak_resident_mb']:.0f} MB."]  # fmt: skip
    (OUT / "long_form.md").write_text("\n".join(rows) + "\n")


# LibriSpeech's 960 training hours (train-clean-100, -360, train-other-500): its utterance
# count, from the corpus's own listing (28 539 + 104 014 + 148 688), for the worked estimate.
LIBRISPEECH_HOURS, LIBRISPEECH_UTTERANCES = 960, 281_241


def encoder_limits() -> None:
    """What the encoder's speed target asks of the machine, from the committed benchmark
    run: the share of the matmul peak the whole encoder must reach to take 0.8x
    transformers' time, beside the share each implementation reaches."""
    path = ROOT / "benchmarks" / "results" / "model.json"
    if not path.is_file():
        (OUT / "encoder_limits.md").write_text("*(not measured yet: run benchmarks/model.py)*\n")
        return
    from benchmarks.model import TARGETS  # the bar the benchmark's verdict uses

    r = json.loads(path.read_text())
    target = TARGETS["encoder_transformers"]
    rows = [f"| audio | FLOP bound | {target} × transformers | share of the peak that needs | NumPy reaches | "
            "twin | transformers |", "| --- | --: | --: | --: | --: | --: | --: |"]  # fmt: skip
    needed, best = [], []
    for label, e in r["encoder"].items():
        bound, goal = e["flop_bound"], target * e["transformers"]
        needed.append(bound / goal)
        best.append(bound / min(e["numpy"], e["twin"], e["transformers"]))
        rows.append(f"| {label} | {bound * 1e3:.0f} ms | {goal * 1e3:.0f} ms | {bound / goal:.0%} | "
                    f"{bound / e['numpy']:.0%} | {bound / e['twin']:.0%} | {bound / e['transformers']:.0%} |")
    reached = sum(b >= n for b, n in zip(best, needed))
    rows += ["", f"The FLOP bound counts only the arithmetic, at the {r['matmul_peak_gflops']:.0f} GFLOP/s "
             "that 2048 × 2048 products reach in the same run, with softmax, layer norms, masks and copies "
             "free. " + ("None of the three implementations reaches the share of the peak the target needs "
                         "at any length." if not reached else
                         f"At {reached} of {len(best)} lengths the fastest of the three reaches it.")]
    (OUT / "encoder_limits.md").write_text("\n".join(rows) + "\n")


def corpus() -> None:
    """The corpus runs measured by recipes/corpus/measure.py, and the worked estimate for
    LibriSpeech's 960 hours from them and from benchmarks/results (s2t-small's speed)."""
    path = ROOT / "recipes" / "corpus" / "results" / "corpus.json"
    if not path.is_file():
        (OUT / "corpus.md").write_text("*(not measured yet: run recipes/corpus/measure.py)*\n")
        return
    r = json.loads(path.read_text())
    n, audio = r["files"], r["audio_seconds"]
    runs = r["runs"]
    plain = runs["plain"]
    per_file = {k: (v["seconds"] - v["one_file_seconds"]) / (n - 1) for k, v in runs.items()}
    names = {"plain": "`minis2t transcribe FILE...` (one process)", "workers_1": "`minis2t corpus --workers 1`",
             "workers_2": "`minis2t corpus --workers 2`"}  # fmt: skip
    rows = [f"{n} files ({audio / 60:.1f} minutes of held-out synthetic speech, the bundled model), "
            f"on {r['cores']} cores, Dask {r['distributed']}; one run of each, on a shared machine whose "
            f"timings vary from run to run:", "",
            "| command | total | files per second | one file alone (start-up) | per further file | "
            "vs plain, per file | largest worker | the command's own process | WER |",
            "| --- | --: | --: | --: | --: | --: | --: | --: | --: |"]  # fmt: skip
    for key, v in runs.items():
        worker = f"{v['worker_mb']:.0f} MB" if "worker_mb" in v else "–"
        wer = _pct(v["wer"]) if "wer" in v else "–"
        rows.append(f"| {names[key]} | {v['seconds']:.1f} s | {n / v['seconds']:.1f} | {v['one_file_seconds']:.1f} s | "
                    f"{1000 * per_file[key]:.0f} ms | {per_file[key] / per_file['plain']:.2f}× | {worker} | "
                    f"{v['main_mb']:.0f} MB | {wer} |")  # fmt: skip
    two = per_file["workers_2"] / per_file["plain"]
    rows += ["", f"The texts of the three runs are identical (the recipe checks it). These files are short "
             f"({audio / n:.1f} s on average) and the bundled model small, so a file costs "
             f"{1000 * per_file['plain']:.0f} ms and the cluster's own work — the scheduler and the client "
             f"share the two cores with the workers — shows: two workers take {two:.2f}× the plain process's "
             f"time per file, one worker alone (its scheduler and client competing with it) "
             f"{per_file['workers_1'] / per_file['plain']:.2f}×. A run also pays its start-up once: "
             f"{runs['workers_2']['one_file_seconds'] - plain['one_file_seconds']:.1f} s more than the plain "
             f"command for the cluster."]  # fmt: skip
    bench = ROOT / "benchmarks" / "results"
    model, engines = bench / "model.json", bench / "engines.json"
    if model.is_file() and engines.is_file():
        rtf = json.loads(model.read_text())["generate"]["5 beams"]["numpy_rtf"]
        task = next(e for e in json.loads(engines.read_text())["engines"] if e["engine"].startswith("Dask"))
        hours = LIBRISPEECH_HOURS * rtf  # on one machine like this one
        per_utterance = LIBRISPEECH_HOURS * 3600 / LIBRISPEECH_UTTERANCES
        machine_rate = per_utterance * rtf  # seconds of one machine per utterance
        scheduler_limit = machine_rate / task["per_task"]
        rows += ["", f"**A worked estimate: LibriSpeech's {LIBRISPEECH_HOURS} hours** "
                 f"({LIBRISPEECH_UTTERANCES:,} utterances, {per_utterance:.1f} s on average) with s2t-small's "
                 f"architecture and 5 beams. The benchmark's real-time factor on these 2 cores is {rtf:.4f} "
                 f"(performance page, 10 s of audio), so one such machine needs about {hours:.0f} hours; "
                 f"ten need {hours / 10:.1f} hours; a hundred {60 * hours / 100:.0f} minutes — at that size a "
                 f"file takes far longer than its dispatch, so the overhead measured above on tiny files "
                 f"fades. The scheduler spends about {1000 * task['per_task']:.1f} ms on each task "
                 f"(the engine table above): one machine hands it a file every {machine_rate:.2f} s, so a "
                 f"single scheduler keeps up with roughly {scheduler_limit:,.0f} such machines before it "
                 f"becomes the bottleneck. Memory per worker is the model and one file's activations "
                 f"(about {task['worker_rss']:.0f} MB with the bundled model; the performance page "
                 f"measures s2t-small)."]  # fmt: skip
    (OUT / "corpus.md").write_text("\n".join(rows) + "\n")


def word_times() -> None:
    """The alignment behind word times on one bundled recording: the heads' standardised
    cross-attention (tokens x encoder frames), the DTW path through it, and the words on
    the waveform; the measured tables from recipes/long_form/word_times.py and tune.py."""
    from minis2t.app import timing

    model = minis2t.Speech2Text.from_pretrained()
    samples = BUNDLED_MODEL.parent / "samples"
    wave = minis2t.load_audio(samples / "test_00.wav")  # one the model transcribes exactly
    pad = np.zeros(2400, np.float32)  # the segmenter's 0.15 s on each side
    wave = np.concatenate([pad, wave, pad])
    batch = model.feature_extractor([wave])
    states, mask = model.encode(batch["input_features"], batch["attention_mask"])
    seq = model.generate(None, encoder_outputs=(states, mask))
    heads = timing.alignment_heads(model)
    att = timing.cross_attention(model, states, mask, seq, heads)
    targets = seq[0, 1:]
    text = timing.text_positions(model, targets)
    frames = int(mask[0].sum())
    matrix = timing.alignment_matrix(att["weights"][0][:, timing.token_rows(text, True), :frames])
    rows, cols = timing.dtw(-matrix, timing.FREE_START)
    words = timing.word_timestamps(model, states, mask, seq)[0]["words"]
    step = timing.frame_seconds(model.config)
    pieces = model.tokenizer.convert_ids_to_tokens(targets[text]) + ["</s>"]
    fig, (top, bottom) = plt.subplots(2, 1, figsize=(7.5, 6.5), height_ratios=[3, 1], sharex=True)
    top.imshow(matrix, aspect="auto", cmap="viridis", origin="upper",
               extent=(0, frames * step, len(pieces) - 0.5, -0.5))  # fmt: skip
    top.plot((cols + 0.5) * step, rows, color="w", lw=1.5, label="DTW path")
    top.set_yticks(range(len(pieces)), pieces, fontsize=8)
    top.set(ylabel="token", title=f"cross-attention of {len(heads)} heads, standardised and averaged; the DTW path")
    top.legend(loc="upper right", fontsize=8)
    t = np.arange(wave.shape[0]) / 16000
    bottom.plot(t, wave, lw=0.3, color="0.4")
    for k, w in enumerate(words):
        bottom.axvspan(w["start"], w["end"], color=f"C{k % 2}", alpha=0.25)
        bottom.text((w["start"] + w["end"]) / 2, (0.85 if k % 2 else -0.95) * np.abs(wave).max(), w["word"],
                    ha="center", fontsize=8)  # fmt: skip
    bottom.set(xlabel="seconds", yticks=[], title="words, from where the path enters each word's first token")
    save(fig, "word_times.png")

    results = ROOT / "recipes" / "long_form" / "results"
    path = results / "word_times.json"
    if not path.is_file():
        (OUT / "word_times.md").write_text("*(not measured yet: run recipes/long_form/word_times.py)*\n")
    else:
        r = json.loads(path.read_text())
        dev, ev, chosen = r["dev"], r["eval"], r["dev"]["chosen"]
        best_head, best_mae = next(iter(chosen["single_head_mae"].items()))  # ranked, best first
        rows = [f"**Choosing** (dev: {dev['timed']} of {dev['utterances']} utterances transcribed exactly; "
                f"mean absolute error of word starts, each setting with its best number of heads):", "",
                "| a token's row | median filter (frames) | first token may start late | heads | MAE |",
                "| --- | --: | --- | --: | --: |"]  # fmt: skip
        for g in sorted(dev["grid"].values(), key=lambda g: g["mae"]):
            row = "the position that predicts it" if g["shift"] == 1 else "the position whose input it is"
            mark = " **(chosen)**" if g == chosen else ""
            rows.append(f"| {row} | {g['width']} | {'yes' if g['free_start'] else 'no'} | {g['k']} | "
                        f"{1000 * g['mae']:.0f} ms{mark} |")  # fmt: skip
        rows += ["", f"With the chosen setting: the best single head (layer.head {best_head}) alone "
                 f"{1000 * best_mae:.0f} ms; every head of the decoder's upper half (the default for a model "
                 f"without a measurement) {1000 * dev['upper_half_mae']:.0f} ms; the {chosen['k']} best heads "
                 f"{1000 * chosen['mae']:.0f} ms."]  # fmt: skip
        rows += ["", f"**Measured** (eval: {ev['true_words']} words in a {ev['seconds_of_audio'] / 60:.0f}-minute "
                 f"recording, through `transcribe_long`; {ev['timed_starts']} recognised words matched to true ones "
                 f"with known times):", "",
                 "| | mean absolute error | median | within 0.1 s | within 0.2 s |", "| --- | --: | --: | --: | --: |",
                 f"| word starts | {1000 * ev['start_mae']:.0f} ms | {1000 * ev['start_median']:.0f} ms | "
                 f"{_pct(ev['start_within_0.1_s'])} | {_pct(ev['start_within_0.2_s'])} |",
                 f"| word ends | {1000 * ev['end_mae']:.0f} ms | {1000 * ev['end_median']:.0f} ms | "
                 f"{_pct(ev['end_within_0.1_s'])} | {_pct(ev['end_within_0.2_s'])} |"]  # fmt: skip
        (OUT / "word_times.md").write_text("\n".join(rows) + "\n")
    path = results / "join_margin.json"
    if path.is_file():
        r = json.loads(path.read_text())
        sweep = r["sweep"]
        never = sweep["inf"]
        picked = sweep[str(r["chosen"])]
        rows = ["| margin (log-probability per token) | WER | pairs joined |", "| --: | --: | --: |"]
        rows += [f"| {'never join' if m == 'inf' else m} | {_pct(v['wer'])} | {v['joined']} |" for m, v in sweep.items()
                 if m in ("0.0", "0.1", str(r["chosen"]), "0.3", "inf")]  # fmt: skip
        rows += ["", f"On this tuning recording ({r['seconds_of_audio'] / 60:.0f} minutes, {r['utterances']} utterances, "
                 f"{r['joinable_pairs']} pairs of segments close enough to be one sentence), the chosen margin "
                 f"{r['chosen']} takes the WER from {_pct(never['wer'])} to {_pct(picked['wer'])}."]  # fmt: skip
        (OUT / "join_margin.md").write_text("\n".join(rows) + "\n")


def translation() -> None:
    """The bundled translation model on one of its recordings: the next steps'
    probabilities and the cross-attention with each language forced; the measured scores."""
    from minis2t.reference import model as m
    from minis2t.io.checkpoint import BUNDLED_MODELS

    directory = BUNDLED_MODELS["bundled-st"]
    if not (directory / "config.json").is_file():
        return
    model = minis2t.Speech2Text.from_pretrained("bundled-st")
    samples = directory.parent / "samples_st"
    ref = json.loads((samples / "references.json").read_text())[0]
    batch = model.feature_extractor([minis2t.load_audio(samples / ref["file"])])
    states, mask = model.encode(batch["input_features"], batch["attention_mask"])
    languages, steps = ("fr", "de", "es"), 2
    runs = {}
    for lang in languages:
        ids = model.generate(None, encoder_outputs=(states, mask), forced_bos_token_id=model.tokenizer.language_id(lang))
        runs[lang] = (ids, m.decode(model.params, model.config, ids, m.init_cache(model.params, model.config, states),
                                    mask))  # fmt: skip
    fig, axes = plt.subplots(len(languages), steps, figsize=(7.5, 6.6))
    for row, lang in enumerate(languages):
        ids, out = runs[lang]
        for step in range(steps):
            z = out["logits"][0, step + 1].astype(np.float64)
            p = np.exp(z - z.max())
            p /= p.sum()
            top = np.argsort(-p)[:4]
            ax = axes[row, step]
            ax.barh(range(4)[::-1], p[top] - 1e-6, left=1e-6, color=f"C{row}")
            ax.set_yticks(range(4)[::-1], model.tokenizer.convert_ids_to_tokens(top), fontsize=8)
            ax.set_xscale("log")  # the runners-up are orders of magnitude below
            ax.set_xlim(1e-6, 1)
            ax.set_title(f"<lang:{lang}>, output {step + 2}")
    fig.suptitle(f"English: \"{ref['text']}\"\nprobabilities of the next pieces after each forced language token")
    fig.tight_layout()
    save(fig, "translation_steps.png")
    fig, axes = plt.subplots(len(languages), 1, figsize=(7.5, 3.4 * len(languages)), sharex=True)
    for ax, lang in zip(axes, languages):
        ids, out = runs[lang]
        ax.imshow(out["cross_attentions"][-1][0].mean(axis=0), aspect="auto", cmap="magma")
        ax.set_yticks(range(ids.shape[1]), model.tokenizer.convert_ids_to_tokens(ids[0]), fontsize=8)
        ax.set(title=f"{lang}: {model.tokenizer.decode(ids[0], skip_special_tokens=True)}")
    axes[-1].set_xlabel("encoder frame (40 ms)")
    fig.tight_layout()
    save(fig, "translation_attention.png")
    path = ROOT / "recipes" / "synthetic_speech" / "results" / "st.json"
    if not path.is_file():
        (OUT / "translation_scores.md").write_text("*(not measured yet: run recipes/synthetic_speech/run_st.py)*\n")
        return
    r = json.loads(path.read_text())
    rows = ["| target | BLEU | chrF | utterances |", "| --- | --: | --: | --: |"]
    names = {"fr": "French", "de": "German", "es": "Spanish"}
    rows += [f"| {names[lang]} | {v['bleu']:.1f} | {v['chrf']:.1f} | {v['utterances']} |" for lang, v in r["languages"].items()]
    rows += ["", f"NumPy and the twin: {r['numpy_equals_twin']} of {r['twin_utterances']} outputs identical. "
             f"Training: {r['steps']} steps in {r['training_seconds'] / 60:.0f} minutes on 2 cores, the encoder "
             f"starting from the bundled recogniser's."]  # fmt: skip
    (OUT / "translation_scores.md").write_text("\n".join(rows) + "\n")


def ablation_table(recipe: Path) -> str:
    """What each group of augmentation steps buys: flite left out of training, the runs
    with one group switched off against the run with all of them (and with none)."""
    results = recipe / "results"
    base_path = results / "leave_out_flite.json"
    ablations = sorted(results.glob("leave_out_flite_without_*.json"))
    if not base_path.is_file() or not ablations:
        return "*(no ablation run has been recorded yet)*\n"
    base = json.loads(base_path.read_text())
    runs = [("all steps (the reference run)", base)]
    runs += [("without " + ", ".join(json.loads(p.read_text())["augmentation_left_out"]), json.loads(p.read_text()))
             for p in ablations]  # fmt: skip
    none = results / "leave_out_flite_no_augment.json"
    if none.is_file():
        runs.append(("no augmentation at all", json.loads(none.read_text())))
    base_unseen = _wer_of(base, "flite")[0]
    own_path = results / "ablation_conditions.json"
    own = json.loads(own_path.read_text())["runs"] if own_path.is_file() else {}
    rows = ["| training augmentation | WER on flite (never heard) | change | WER on espeak-ng and festival, "
            "seen voices | flite with the left-out steps applied: this run / the reference run |",
            "| --- | --: | --: | --: | --- |"]  # fmt: skip
    for (label, run), path in zip(runs, [base_path, *ablations, none]):
        unseen = _wer_of(run, "flite")[0]
        seen = [_wer_of(run, e, "seen voices") for e in run["trained_on"]]
        seen_wer = sum(w * n for w, n in seen) / sum(n for _, n in seen)
        change = "–" if run is base else f"{100 * (unseen - base_unseen):+.1f} points"
        conditions = own.get(path.stem, {}).get("wer", {})
        applied = "; ".join(f"{c.replace('_', ' ')}: {_pct(w['without'])} / {_pct(w['reference'])}"
                            for c, w in conditions.items() if c != "clean") or "–"  # fmt: skip
        rows.append(f"| {label} | {_pct(unseen)} | {change} | {_pct(seen_wer)} | {applied} |")
    steps = sorted({r["steps"] for _, r in runs})
    rows.append(f"\nEach row is one training run of {', '.join(str(s) for s in steps)} steps on the same "
                f"espeak-ng and festival sentences; flite's {base['test_sentences']} test sentences "
                f"with its training-time and held-out voices. One run per row: the spread between two seeds "
                f"of the same row was not measured, so differences of a point or two are not evidence."
                + (f" The last column: {json.loads(own_path.read_text())['utterances']} flite utterances, "
                   f"each step applied alone (seeded), decoded by this run and by the reference run."
                   if own else ""))  # fmt: skip
    return "\n".join(rows) + "\n"


def error_tables() -> None:
    sys.path.insert(0, str(Path(__file__).parent))
    import error_cases

    (OUT / "error_cases.md").write_text(error_cases.table())
    (OUT / "error_classes.md").write_text(error_cases.classes())
    (OUT / "command_errors.md").write_text(error_cases.command_table())
    (OUT / "input_limits.md").write_text(error_cases.limits_table())


KIND_NAMES = {"grammar": "grammar sentences, voices it never heard", "grammar_seen_voices": "grammar sentences, training's voices",
              "open_english": "English outside the grammar", "other_language": "other languages (espeak-ng)",
              "digits": "digit strings", "noise": "noise", "music": "music (tones)", "tone": "tones and sweeps",
              "hum": "mains hum", "grammar_codec": "grammar sentences, unheard voices, through AAC/Opus/MP3",
              "human_digits": "real people's digit strings (takes never trained on)",
              "human_open": "real people outside the grammar (tests/data/speech)"}  # fmt: skip
CONFIDENCE_GRAMMAR_KINDS = ("grammar", "grammar_seen_voices", "grammar_codec", "human_digits")


def bundled_confidence() -> None:
    """The confidence calibration's reliability diagram and its numbers, from the recipe's
    committed results (recipes/synthetic_speech/results/confidence.json)."""
    r = json.loads((ROOT / "recipes" / "synthetic_speech" / "results" / "confidence.json").read_text())
    chosen = r["compared"][r["chosen"]]
    fig, (ax, hist) = plt.subplots(1, 2, figsize=(7.5, 3.0))
    ax.plot([0, 1], [0, 1], color="0.6", lw=1, ls="--", label="perfect calibration")
    for name, m in r["compared"].items():
        bins, mine = m["reliability"], name == r["chosen"]
        ax.plot([b["predicted"] for b in bins], [b["observed"] for b in bins], lw=2 if mine else 0.8,
                alpha=1 if mine else 0.6, label=f"{name} (ECE {m['ece']:.3f})", zorder=3 if mine else 2)  # fmt: skip
        if mine:  # each bin's dot, its area the bin's segments
            ax.scatter([b["predicted"] for b in bins], [b["observed"] for b in bins],
                       s=[4 * b["count"] ** 0.75 for b in bins], color=ax.lines[-1].get_color(), zorder=4)  # fmt: skip
    ax.set(xlabel="predicted confidence (bin mean)", ylabel="observed share exactly right", xlim=(0, 1), ylim=(0, 1))
    ax.legend(fontsize=8, loc="upper left")
    seg = r["measured_segments"]
    good = [s["confidence"] for s in seg if s["right"]]
    inside = [s["confidence"] for s in seg if not s["right"] and s["kind"] in CONFIDENCE_GRAMMAR_KINDS]
    out = [s["confidence"] for s in seg if s["kind"] not in CONFIDENCE_GRAMMAR_KINDS]
    edges = np.linspace(0, 1, 21)
    hist.hist([good, inside, out], bins=edges, histtype="step", lw=1.5,
              label=["right transcript", "wrong, in grammar", "out of grammar"],
              color=["tab:green", "tab:orange", "tab:red"])  # fmt: skip
    hist.axvline(chosen["threshold"], color="k", lw=1, ls=":")
    hist.text(chosen["threshold"], 0.5, " threshold", transform=hist.get_xaxis_transform(), va="center", fontsize=8)
    hist.set(xlabel="confidence", ylabel="segments", yscale="log")
    hist.legend(fontsize=8, loc="upper center")
    save(fig, "bundled_confidence.png")

    lines = ["| calibration | threshold | out-of-grammar rejected | right in-grammar accepted | (unheard voices) | AUROC | ECE |",
             "| --- | --: | --: | --: | --: | --: | --: |"]  # fmt: skip
    for name, m in r["compared"].items():
        bold = "**" if name == r["chosen"] else ""
        lines.append(f"| {bold}{name}{bold} ({', '.join(m['features'])}) | {m['threshold']:.3f} | "
                     f"{_pct(m['reject_rate_out_of_grammar'])} | {_pct(m['accept_rate_right_grammar'])} | "
                     f"{_pct(m['accept_rate_right_grammar_unheard_voices'])} | "
                     f"{m['auroc_right_grammar_vs_out_of_grammar']:.4f} | {m['ece']:.3f} |")  # fmt: skip
    lines += ["", "| material (measuring half) | clips | transcribed exactly right | clips with a segment understood |",
              "| --- | --: | --: | --: |"]  # fmt: skip
    for kind, v in chosen["per_kind"].items():
        lines.append(f"| {KIND_NAMES.get(kind, kind)} | {v['clips']} | {v['right']} | {v['any_understood']} |")
    lines += ["", "| confidence bin | segments | mean confidence | share exactly right |", "| --- | --: | --: | --: |"]
    for b in chosen["reliability"]:
        lines.append(f"| {b['low']:.1f}–{b['high']:.1f} | {b['count']} | {b['predicted']:.3f} | {b['observed']:.3f} |")
    counts = ", ".join(f"{n} {KIND_NAMES.get(k, k)}" for k, n in r["clips_per_kind"].items())
    lines += ["", f"{sum(r['clips_per_kind'].values())} clips ({counts}); {r['fit_clips']} fitted the calibration "
              f"and chose its threshold, the other {r['measure_clips']} ({chosen['segments']} segments) measured "
              f"it. Shipped: **{r['chosen']}**, threshold {chosen['threshold']:.3f}; accuracy of accept/reject "
              f"{_pct(chosen['accuracy'])}; {_pct(chosen['false_accept_rate_out_of_grammar'])} of out-of-grammar "
              f"clips falsely accepted, {_pct(chosen['false_reject_rate_right_grammar'])} of right in-grammar "
              f"transcripts falsely rejected; {_pct(chosen['grammar_wrong_rejected'])} of wrong in-grammar "
              f"transcripts rejected. " + (f"The recipe took {r['seconds'] / 60:.0f} minutes on 2 shared cores, from nothing."
              if r["clips_from_cache"] == 0 else f"(This run read {r['clips_from_cache']} decoded clips from its cache.)")]  # fmt: skip
    lines += confidence_by_engine(chosen, r.get("codec_copies"))
    (OUT / "bundled_confidence.md").write_text("\n".join(lines) + "\n")
    st = ROOT / "recipes" / "synthetic_speech" / "results" / "confidence_st.json"
    if st.is_file():
        rs = json.loads(st.read_text())
        m = rs["compared"][rs["chosen"]]
        text = [f"The translation model's calibration (`bundled-st`, fitted the same way on the same clips, "
                f"each in French, German or Spanish, right meaning the rule translation exactly): threshold "
                f"{m['threshold']:.3f}, out-of-grammar rejected {_pct(m['reject_rate_out_of_grammar'])}, right "
                f"in-grammar translations accepted {_pct(m['accept_rate_right_grammar'])}, AUROC "
                f"{m['auroc_right_grammar_vs_out_of_grammar']:.4f}, ECE {m['ece']:.3f}."]
        text += confidence_by_engine(m, rs.get("codec_copies"))
    else:
        text = ["The translation model (`bundled-st`) has no calibration recorded yet: it gives "
                "`\"confidence\": null` and understands every segment."]
    (OUT / "bundled_confidence_st.md").write_text("\n".join(text) + "\n")


def confidence_by_engine(measured: dict, codec: dict | None) -> list[str]:
    """Per engine (the measuring half): right in-grammar transcripts accepted, and ECE;
    and how compressed copies compare with their originals."""
    if not measured.get("per_engine"):  # a calibration from before the per-engine report
        return []
    lines = ["", "| engine | segments | right in-grammar | accepted | ECE |", "| --- | --: | --: | --: | --: |"]
    for engine, e in measured["per_engine"].items():
        accepted = _pct(e["accept_rate_right_grammar"]) if e["accept_rate_right_grammar"] is not None else "–"
        lines.append(f"| {engine} | {e['segments']} | {e['right_in_grammar']} | {accepted} | {e['ece']:.3f} |")
    if "reject_rate_human_out_of_grammar" in measured:
        lines += ["", f"Real people outside the grammar rejected: {_pct(measured['reject_rate_human_out_of_grammar'])}; "
                  f"non-speech rejected: {_pct(measured['reject_rate_non_speech'])}."]  # fmt: skip
    if codec:
        lines += ["", f"Compressed copies (AAC, Opus, MP3 at 16–64 kbit/s) of {codec['pairs']} clips: the same "
                  f"text as the original for {_pct(codec['same_text'])}, the same accept/reject decision for "
                  f"{_pct(codec['same_decision'])}; the confidence moved by {codec['confidence_change_median']:.3f} "
                  f"(median), {codec['confidence_change_p90']:.3f} (90th percentile)."]  # fmt: skip
    return lines
