"""mkdocs hook for the page *Exporting to ONNX* (docs/onnx.md), everything computed at build time.

Before the build, the bundled models are exported by ``minis2t export-onnx`` into a
temporary directory. From those graphs come: the data-path figure (each graph's inputs and
outputs with the shapes the graph declares, and the arrows the decoding loop draws between
them), the operator tables (the exported graphs, and onnxruntime's own optimised version
of them), and the measured differences — single operators against NumPy and float64, and
the whole model on the bundled recordings. The page's ``<!-- onnx: NAME -->`` directives
are replaced by the Markdown made here.
"""

from __future__ import annotations

import collections
import os
import re
import sys
import tempfile
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[2]
# Every page (and notebook) of the site computes with the NumPy engine, which it teaches, unless
# it names a runtime: set before any hook loads a model (scripts/docs.sh sets it too).
os.environ.setdefault("MINIS2T_RUNTIME", "numpy")
FIGURES = ROOT / "build" / "docs" / "figures"  # served by figures.py's on_files
DIRECTIVE = re.compile(r"^<!-- onnx: (\w+) -->$", re.MULTILINE)
_SECTIONS: dict[str, str] = {}


def on_pre_build(config, **kwargs) -> None:
    if str(ROOT) not in sys.path:
        sys.path.insert(0, str(ROOT))
    import matplotlib

    matplotlib.use("Agg")
    from minis2t.app.onnx_export import export

    tmp = Path(tempfile.mkdtemp(prefix="docs-onnx."))
    asr = export("bundled-asr", tmp / "asr")
    st = export("bundled-st", tmp / "st")
    FIGURES.mkdir(parents=True, exist_ok=True)
    _SECTIONS["figure"] = data_path_figure(asr)
    _SECTIONS["interface"] = interface_table(asr)
    _SECTIONS["operators"] = operator_table(asr, tmp)
    _SECTIONS["rounding"] = rounding_table()
    _SECTIONS["end_to_end"] = end_to_end_table({"bundled-asr": asr, "bundled-st": st})
    _SECTIONS["built_operators"] = built_operator_table()
    _SECTIONS["int8"] = int8_table(int8_quality())


def on_page_markdown(markdown: str, page, config, files, **kwargs) -> str:
    return DIRECTIVE.sub(lambda m: _SECTIONS[m.group(1)], markdown)


# --- what the graphs declare -------------------------------------------------------------------


def _shape(value) -> str:
    dims = value.type.tensor_type.shape.dim
    return "[" + ", ".join(d.dim_param or str(d.dim_value) for d in dims) + "]"


def _collapse(names_shapes: list[tuple[str, str]]) -> list[tuple[str, str]]:
    """Per-layer names ``past_key.0 .. past_key.5`` shown once, as ``past_key.i``."""
    seen, out = set(), []
    for name, shape in names_shapes:
        short = re.sub(r"\.\d+$", ".i", name)
        if short not in seen:
            seen.add(short)
            out.append((short, shape))
    return out


def _ports(directory: Path) -> dict:
    import onnx

    from minis2t.app.onnx_export import GRAPHS

    ports = {}
    for role, name in GRAPHS.items():
        graph = onnx.load(str(directory / name), load_external_data=False).graph
        ports[role] = ([(v.name, _shape(v)) for v in graph.input], [(v.name, _shape(v)) for v in graph.output])
    return ports


def interface_table(directory: Path) -> str:
    rows = ["| graph | inputs | outputs |", "| --- | --- | --- |"]
    for role, (inputs, outputs) in _ports(directory).items():
        cell = lambda xs: "<br>".join(f"`{n}` {s}" for n, s in _collapse(xs))  # noqa: E731
        rows.append(f"| `{role}.onnx` | {cell(inputs)} | {cell(outputs)} |")
    return "\n".join(rows) + "\n"


def data_path_figure(directory: Path) -> str:
    """Three boxes (the graphs) with their inputs on the left and outputs on the right,
    names and shapes read from the graphs, and the loop's arrows between them (routed
    through the gaps between the boxes)."""
    import matplotlib.pyplot as plt
    from matplotlib.patches import FancyBboxPatch

    ports = _ports(directory)
    fig, ax = plt.subplots(figsize=(11, 7.6))
    ax.set_xlim(0, 11)
    ax.set_ylim(-0.15, 7.5)
    ax.axis("off")
    tops = {"encoder": 7.0, "cross_kv": 4.9, "decoder": 3.05}
    labels = {}
    for role, top in tops.items():
        inputs, outputs = (_collapse(x) for x in ports[role])
        height = 0.42 * max(len(inputs), len(outputs)) + 0.2
        ax.add_patch(FancyBboxPatch((4.3, top - height), 2.4, height, boxstyle="round,pad=0.05",
                                    fc="#e8eef7", ec="#34507a"))  # fmt: skip
        ax.text(5.5, top - height / 2, f"{role}.onnx", ha="center", va="center", fontsize=11, weight="bold")
        for side, items, x, align in (("in", inputs, 4.2, "right"), ("out", outputs, 6.8, "left")):
            for k, (name, shape) in enumerate(items):
                labels[(role, side, name)] = ax.text(x, top - 0.3 - 0.42 * k, f"{name} {shape}", ha=align,
                                                     va="center", fontsize=8.5, family="monospace")  # fmt: skip
    fig.tight_layout()  # before reading the labels' extents: it moves the axes
    fig.canvas.draw()
    to_data = ax.transData.inverted()

    def extent(key):
        (x0, y0), (x1, y1) = to_data.transform(labels[key].get_window_extent().get_points())
        return x0, x1, (y0 + y1) / 2

    def link(a, b, gap_y, lane_r, lane_l, text):
        _, ax1, ay = extent(a)
        bx0, _, by = extent(b)
        xs, ys = [ax1 + 0.05, lane_r, lane_r, lane_l, lane_l], [ay, ay, gap_y, gap_y, by]
        ax.plot(xs, ys, color="#b0552a", lw=1.2)
        ax.annotate("", xy=(bx0 - 0.05, by), xytext=(lane_l, by),
                    arrowprops=dict(arrowstyle="->", color="#b0552a", lw=1.2))  # fmt: skip
        ax.text(5.5, gap_y + 0.07, text, ha="center", va="bottom", fontsize=8.5, color="#b0552a")

    link(("encoder", "out", "last_hidden_state"), ("cross_kv", "in", "encoder_states"), 5.45, 10.3, 0.7,
         "encoder states: keys and values once per utterance")  # fmt: skip
    link(("cross_kv", "out", "cross_key.i"), ("decoder", "in", "cross_key.i"), 3.3, 10.55, 0.45,
         "to every decoder step (repeated for K beams on the first)")  # fmt: skip
    link(("decoder", "out", "present_key.i"), ("decoder", "in", "past_key.i"), 0.0, 10.8, 0.2,
         "present -> past: the next step's cache, P grows by L; beam search picks its rows")  # fmt: skip
    ax.set_title("The exported graphs of the bundled model: inputs (left) and outputs (right) as the graphs "
                 "declare them;\nnamed sizes are dynamic, numbers are the model's. Values alike (…_value.i) "
                 "follow their keys.", fontsize=10)  # fmt: skip
    # 11 in at 75 dpi: the page's 825 px (tests/test_docs.py); the diagram needs its width
    fig.savefig(FIGURES / "onnx_graphs.png", dpi=75)
    plt.close(fig)
    return "![The three exported graphs, their inputs and outputs with shapes](figures/onnx_graphs.png)\n"


# --- operators --------------------------------------------------------------------------------------


def operator_table(directory: Path, tmp: Path) -> str:
    """Operator counts per graph: as exported, and as onnxruntime runs them (its optimised
    graph at the default level, written by onnxruntime itself)."""
    import onnx
    import onnxruntime as ort

    from minis2t.app.onnx_export import GRAPHS

    counts, optimised = {}, {}
    for role, name in GRAPHS.items():
        counts[role] = collections.Counter(n.op_type for n in onnx.load(str(directory / name)).graph.node)
        options = ort.SessionOptions()
        options.optimized_model_filepath = str(tmp / f"optimised_{name}")
        options.log_severity_level = 3  # not its note that the saved graph suits this CPU only
        ort.InferenceSession(str(directory / name), options, providers=["CPUExecutionProvider"])
        graph = onnx.load(options.optimized_model_filepath).graph
        optimised[role] = collections.Counter(n.op_type for n in graph.node)
    ops = sorted(set().union(*counts.values(), *optimised.values()),
                 key=lambda op: -sum(c[op] for c in (*counts.values(), *optimised.values())))  # fmt: skip
    head = "| operator | " + " | ".join(f"{r} exported | {r} as run" for r in GRAPHS) + " |"
    rows = [head, "|" + " --- |" * (1 + 2 * len(GRAPHS))]
    for op in ops:
        cells = [str(c[op] or "") for r in GRAPHS for c in (counts[r], optimised[r])]
        rows.append(f"| `{op}` | " + " | ".join(cells) + " |")
    return "\n".join(rows) + "\n"


def _single_op(op: str, inputs: dict, **attributes):
    """Run one ONNX operator in onnxruntime (opset 18, float32)."""
    import onnxruntime as ort
    from onnx import TensorProto, helper

    node = helper.make_node(op, list(inputs), ["y"], **attributes)
    graph = helper.make_graph(
        [node], op, [helper.make_tensor_value_info(k, TensorProto.FLOAT, v.shape) for k, v in inputs.items()],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)])  # fmt: skip
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 18)])
    session = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    return session.run(None, {k: v.astype(np.float32) for k, v in inputs.items()})[0]


def _ulps(x32: np.ndarray, exact: np.ndarray, at_one: bool = False) -> float:
    """Largest error in units of float32's spacing at the exact value (``at_one``: at
    1.0, for outputs of unit scale whose values near 0 have tiny spacings)."""
    spacing = np.spacing(np.float32(1)) if at_one else np.spacing(np.abs(exact).astype(np.float32))
    return float(np.max(np.abs(x32.astype(np.float64) - exact) / spacing))


def rounding_table() -> str:
    """LayerNormalization, Softmax and MatMul in onnxruntime against minis2t's NumPy
    functions, each measured against the float64 value of the same inputs."""
    from minis2t.reference import nn

    rng = np.random.default_rng(0)
    rows = ["| operator (ONNX) | NumPy function | inputs | onnxruntime error | NumPy error | onnxruntime − NumPy, max \\|Δ\\| |",
            "| --- | --- | --- | --- | --- | --- |"]  # fmt: skip
    x = (3 * rng.standard_normal((512, 256)) + 0.5).astype(np.float32)
    w, b = (1 + 0.1 * rng.standard_normal(256)).astype(np.float32), (0.1 * rng.standard_normal(256)).astype(np.float32)
    exact = nn.layer_norm(x.astype(np.float64), w.astype(np.float64), b.astype(np.float64))
    ours = nn.layer_norm(x, w, b)
    theirs = _single_op("LayerNormalization", {"x": x, "w": w, "b": b}, axis=-1, epsilon=1e-5)
    rows.append(_rounding_row("`LayerNormalization`", "`nn.layer_norm`", "[512, 256]", theirs, ours, exact,
                              at_one=True))  # fmt: skip
    s = (4 * rng.standard_normal((4, 64, 300))).astype(np.float32)  # attention scores
    exact = nn.softmax(s.astype(np.float64))
    rows.append(_rounding_row("`Softmax` (axis −1)", "`nn.softmax`", "[4, 64, 300]",
                              _single_op("Softmax", {"s": s}, axis=-1), nn.softmax(s), exact))  # fmt: skip
    a, m = rng.standard_normal((512, 256)).astype(np.float32), rng.standard_normal((256, 1024)).astype(np.float32)
    exact = a.astype(np.float64) @ m.astype(np.float64)
    rows.append(_rounding_row("`MatMul`", "`@` (OpenBLAS)", "[512, 256] × [256, 1024]",
                              _single_op("MatMul", {"a": a, "m": m}), a @ m, exact, relative=True))  # fmt: skip
    return "\n".join(rows) + "\n"


def _rounding_row(op, ours_name, shape, theirs, ours, exact, relative=False, at_one=False) -> str:
    if relative:  # a sum of 256 products: error relative to the sum of magnitudes' scale
        scale = float(np.abs(exact).max())
        e_t, e_o = (float(np.abs(v - exact).max()) / scale for v in (theirs, ours))
        errs = f"{e_t:.1e} of the largest value", f"{e_o:.1e} of the largest value"
    else:
        unit = "ulp of 1.0" if at_one else "ulp"
        errs = f"{_ulps(theirs, exact, at_one):.1f} {unit}", f"{_ulps(ours, exact, at_one):.1f} {unit}"
    diff = float(np.abs(theirs.astype(np.float64) - ours).max())
    return f"| {op} | {ours_name} | {shape} | {errs[0]} | {errs[1]} | {diff:.1e} |"


# --- the whole model ---------------------------------------------------------------------------------


def end_to_end_table(exported: dict) -> str:
    """Per bundled model, over its bundled recordings: encoder states and each greedy
    step's log-probabilities (every vocabulary entry), onnxruntime against NumPy."""
    import minis2t
    from minis2t.io.checkpoint import BUNDLED_MODELS
    from parity import bars

    rows = ["| model | recordings | encoder states, max \\|Δ\\| / scale | log-prob \\|Δ\\| max | log-prob \\|Δ\\| p99 "
            "| steps | tokens identical (greedy, beam 5) |", "| --- | --- | --- | --- | --- | --- | --- |"]  # fmt: skip
    for name, directory in exported.items():
        ours = minis2t.Speech2Text.from_pretrained(name)
        graphs = minis2t.Speech2Text.from_pretrained(directory)
        sub = "samples" if name == "bundled-asr" else "samples_st"
        files = sorted((BUNDLED_MODELS[name].parent / sub).glob("*.wav"))
        forced = {"language": "de"} if name == "bundled-st" else {}
        options = ours._language_options(forced.get("language"), {})
        enc_rel, diffs, steps, same = 0.0, [], 0, 0
        for path in files:
            f = ours.feature_extractor(minis2t.load_audio(path))
            x, mask = f["input_features"], f["attention_mask"]
            a_states, _ = ours.encode(x, mask)
            b_states, _ = graphs.encode(x, mask)
            enc_rel = max(enc_rel, float(np.abs(a_states - b_states).max() / np.abs(a_states).max()))
            ids = ours.generate(x, mask, **options)
            a = ours.forward(x, mask, decoder_input_ids=ids)
            b = graphs.forward(x, mask, decoder_input_ids=ids)
            diffs.append(np.abs(_log_softmax(a) - _log_softmax(b)).ravel())
            steps += ids.shape[1]
            same += all(np.array_equal(ours.generate(x, mask, num_beams=k, **options),
                                       graphs.generate(x, mask, num_beams=k, **options)) for k in (1, 5))  # fmt: skip
        d = np.concatenate(diffs)
        rows.append(f"| `{name}` | {len(files)} | {enc_rel:.1e} | {d.max():.1e} | {np.percentile(d, 99):.1e} | "
                    f"{steps} | {same} of {len(files)} |")
    rows.append(f"\nThe tests' bar (`parity/bars.py`): {bars.ONNX['float32']:.0e} of the scale for encoder "
                f"states and logits, twice that for log-probabilities.")
    return "\n".join(rows) + "\n"


def _log_softmax(x):
    x = np.asarray(x, np.float64)
    x = x - x.max(axis=-1, keepdims=True)
    return x - np.log(np.exp(x).sum(axis=-1, keepdims=True))


# --- the graphs written from the reference: plain, fused, int8 (#42) -----------------------------

SNR_DB = (None, 10, 5)  # clean, then white noise at these signal-to-noise ratios (notebook 05's knob)


def _add_noise(wave, snr_db, seed):
    noise = np.random.default_rng(seed).standard_normal(wave.shape[0])
    power = np.mean(wave.astype(np.float64) ** 2)
    return (wave + noise * np.sqrt(power / 10 ** (snr_db / 10))).astype(np.float32)


def _with_runtime(model, runtime):
    import copy

    other = copy.copy(model)
    other.runtime = runtime
    return other


def int8_quality(models=("bundled-asr", "bundled-st"), snrs=SNR_DB, languages=("fr", "de", "es")) -> dict:
    """The bundled models on their shipped test recordings (clean and with white noise at
    10 and 5 dB), float32 fused graphs against int8 ones: WER (ASR) or BLEU (ST, each
    language), identical transcripts, and token agreement — under teacher forcing on the
    float32 output, the share of steps whose most likely token is the same in int8 (the
    steps that choose a token: not a forced language token, not the step after the end)."""
    import json

    import jiwer
    import sacrebleu

    import minis2t
    from minis2t.app import onnx_fused
    from minis2t.io.checkpoint import BUNDLED_MODELS

    results = {}
    for name in models:
        sub = "samples" if name == "bundled-asr" else "samples_st"
        ours = minis2t.Speech2Text.from_pretrained(name)
        graphs = onnx_fused.build(ours.params, ours.config)
        f32 = _with_runtime(ours, onnx_fused.FusedRuntime(graphs, ours.config))
        q8 = _with_runtime(ours, onnx_fused.FusedRuntime(onnx_fused.quantize_int8(graphs), ours.config))
        folder = BUNDLED_MODELS[name].parent / sub
        refs = json.loads((folder / "references.json").read_text())
        clean = [minis2t.load_audio(folder / r["file"]) for r in refs]
        for snr in snrs:
            waves = clean if snr is None else [_add_noise(w, snr, seed=i) for i, w in enumerate(clean)]
            for language in [None] if name == "bundled-asr" else languages:
                truth = [r["text"] if language is None else r["translations"][language] for r in refs]
                a = f32.transcribe(waves, language=language)
                b = q8.transcribe(waves, language=language)
                agree = steps = 0
                options = ours._language_options(language, {})
                for w in waves:
                    f = ours.feature_extractor(w)
                    ids = f32.generate(f["input_features"], f["attention_mask"], **options)
                    la = f32.forward(f["input_features"], f["attention_mask"], decoder_input_ids=ids)
                    lb = q8.forward(f["input_features"], f["attention_mask"], decoder_input_ids=ids)
                    chosen = slice(0 if language is None else 1, -1)  # position i predicts token i + 1
                    agree += int((la[:, chosen].argmax(-1) == lb[:, chosen].argmax(-1)).sum())
                    steps += la[:, chosen].shape[1]
                if language is None:
                    score = {"metric": "WER %", "float32": 100 * jiwer.wer(truth, a), "int8": 100 * jiwer.wer(truth, b)}
                else:
                    score = {"metric": "BLEU", "float32": sacrebleu.corpus_bleu(a, [truth]).score,
                             "int8": sacrebleu.corpus_bleu(b, [truth]).score}  # fmt: skip
                key = f"{name}{'' if language is None else ' → ' + language}, {'clean' if snr is None else f'{snr} dB'}"
                results[key] = {**score, "same": sum(x == y for x, y in zip(a, b)), "n": len(a),
                                "agreement": agree / steps, "steps": steps}  # fmt: skip
    return results


def int8_table(results: dict) -> str:
    rows = ["| model, audio | recordings | metric | float32 | int8 | identical transcripts | token agreement |",
            "| --- | --- | --- | --- | --- | --- | --- |"]
    for key, r in results.items():
        rows.append(f"| {key} | {r['n']} | {r['metric']} | {r['float32']:.1f} | {r['int8']:.1f} | "
                    f"{r['same']} of {r['n']} | {100 * r['agreement']:.1f} % of {r['steps']} steps |")
    return "\n".join(rows) + "\n"


def built_operator_table() -> str:
    """Operator counts of the bundled model's graphs as written from the reference (plain),
    with onnxruntime's fused operators (fused), and quantised (int8)."""
    import minis2t
    from minis2t.app import onnx_build, onnx_fused

    model = minis2t.Speech2Text.from_pretrained("bundled-asr")
    plain = onnx_build.build(model.params, model.config)
    fused = onnx_fused.build(model.params, model.config)
    kinds = {"plain": plain, "fused": fused, "int8": onnx_fused.quantize_int8(fused)}
    rows = ["| graph | operator | plain | fused | int8 |", "| --- | --- | --- | --- | --- |"]
    for role in ("encoder", "decoder"):
        counts = {k: collections.Counter(n.op_type for n in g[role].graph.node) for k, g in kinds.items()}
        ops = sorted(set().union(*counts.values()), key=lambda op: (-max(c[op] for c in counts.values()), op))
        shown = [op for op in ops if op not in ("Identity",)][:14]
        for op in shown:
            rows.append(f"| {role} | `{op}` | " + " | ".join(str(counts[k][op] or "") for k in kinds) + " |")
        rows.append(f"| {role} | *all nodes* | " + " | ".join(str(sum(counts[k].values())) for k in kinds) + " |")
    return "\n".join(rows) + "\n"
