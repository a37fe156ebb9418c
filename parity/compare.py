"""Stage-by-stage comparison of minis2t (NumPy), its PyTorch twin and transformers.

    python -m parity compare MODEL_DIR AUDIO... [--dtype float32 float64] [--device cpu] [--no-onnx]

Runs the same audio through the three implementations on the same weights and prints,
for every stage — features, each conv layer, the embedded input and each encoder layer,
the encoder output, the embedded decoder input and each decoder layer, the logits — the
largest and the mean absolute difference of each pair.

fairseq joins when it is installed; onnxruntime, running the graphs ``minis2t export-onnx``
writes for the model (exported into a temporary directory), joins in float32 when onnx and
onnxruntime are installed: at the stages its graphs expose (encoder output, logits) and the
log-probabilities of every teacher-forced step.

The decoder input is the decoder start token followed by the tokens NumPy's greedy
choice produces (``--steps`` of them), so the comparison runs on a realistic prefix.

In float64 the three are handed one sinusoidal position table (transformers' own): each
library computes it in float32, and an ulp apart in ``exp`` or ``sin`` would otherwise be
the only visible difference. The table's own difference is printed as a stage.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import torch

import minis2t
from minis2t.reference import model as m

from . import default_device
from . import fairseq_oracle
from . import features as tf
from . import model as tm
from .nn import sinusoidal_positions as torch_positions

TORCH_DTYPE = {"float32": torch.float32, "float64": torch.float64}


def to_numpy(x) -> np.ndarray:
    return x.detach().cpu().numpy() if isinstance(x, torch.Tensor) else np.asarray(x)


def hf_stages(hf, features, mask, ids) -> dict[str, np.ndarray]:
    """transformers' intermediate values, from its outputs and forward hooks."""
    conv_out = []
    hooks = [layer.register_forward_hook(lambda mod, inp, out: conv_out.append(out))
             for layer in hf.model.encoder.conv.conv_layers]  # fmt: skip
    try:
        with torch.no_grad():
            out = hf(input_features=features, attention_mask=mask, decoder_input_ids=ids,
                     output_hidden_states=True)  # fmt: skip
    finally:
        for h in hooks:
            h.remove()
    stages = {}
    for i, x in enumerate(conv_out):  # the hooks see [B, C, T] before the GLU
        stages[f"conv layer {i}"] = to_numpy(torch.nn.functional.glu(x, dim=1).transpose(1, 2))
    return {**stages, **hidden_stages(out.encoder_hidden_states, out.decoder_hidden_states),
            "logits": to_numpy(out.logits)}  # fmt: skip


def hidden_stages(encoder_hidden_states, decoder_hidden_states) -> dict[str, np.ndarray]:
    """Hidden states as transformers lists them — each layer's input, then the output
    after the final layer norm (the last layer's own output is not among them) — by stage."""
    stages = {}
    *layers, last = encoder_hidden_states
    for i, x in enumerate(layers):
        stages["encoder input" if i == 0 else f"encoder layer {i - 1}"] = to_numpy(x)
    stages["encoder output"] = to_numpy(last)
    *layers, _ = decoder_hidden_states  # the last one feeds the LM head: see the logits
    for i, x in enumerate(layers):
        stages["decoder input" if i == 0 else f"decoder layer {i - 1}"] = to_numpy(x)
    return stages


def stage_dict(enc: dict, dec: dict) -> dict[str, np.ndarray]:
    """Name the outputs of ``encode``/``decode`` (NumPy or twin) by stage."""
    stages = {f"conv layer {i}": to_numpy(x) for i, x in enumerate(enc["conv_outputs"])}
    return {**stages, **hidden_stages(enc["hidden_states"], dec["hidden_states"]), "logits": to_numpy(dec["logits"])}


def greedy_prefix(model: minis2t.Speech2Text, features, mask, steps: int) -> np.ndarray:
    """Start token + ``steps`` greedy tokens from NumPy (a realistic decoder input)."""
    enc = m.encode(model.params, model.config, features, mask)
    cache = m.init_cache(model.params, model.config, enc["last_hidden_state"])
    ids = np.full((features.shape[0], 1), model.config.decoder_start_token_id)
    tokens = ids
    for _ in range(steps):
        out = m.decode(model.params, model.config, tokens, cache, enc["mask"])
        cache, tokens = out["cache"], out["logits"][:, -1:].argmax(-1)
        ids = np.concatenate([ids, tokens], axis=1)
    return ids


def log_probs(logits) -> np.ndarray | None:
    """Each step's log-probabilities, in float64 (None stays None)."""
    if logits is None:
        return None
    x = np.asarray(logits, np.float64)
    x = x - x.max(axis=-1, keepdims=True)
    return x - np.log(np.exp(x).sum(axis=-1, keepdims=True))


def onnx_runtime(model_dir, with_onnx: bool | None):
    """The exported graphs of ``model_dir`` in onnxruntime (exported into a temporary
    directory), or None without onnx/onnxruntime (``with_onnx=None``) or when not asked."""
    import importlib.util
    import tempfile

    from minis2t.app.onnx_export import export
    from minis2t.engine.onnx_runtime import OnnxRuntime

    if with_onnx is None:
        with_onnx = all(importlib.util.find_spec(p) is not None for p in ("onnx", "onnxruntime"))
    if not with_onnx:
        return None
    out = export(model_dir, Path(tempfile.mkdtemp()) / "onnx")
    return OnnxRuntime(out, minis2t.ModelConfig.from_pretrained(out))


def onnx_stages(runtime, features, mask, ids) -> dict[str, np.ndarray]:
    """onnxruntime's encoder output and teacher-forced logits."""
    enc = runtime.encode(features.astype(np.float32), mask)
    dec = runtime.decode(ids, runtime.init_cache(enc["last_hidden_state"]), enc["mask"])
    return {"encoder output": enc["last_hidden_state"], "logits": dec["logits"]}


@torch.no_grad()
def compare(model_dir, audio_paths, dtypes=("float32", "float64"), device=None,
            steps: int = 8, with_fairseq: bool | None = None, with_onnx: bool | None = None) -> list[dict]:  # fmt: skip
    """Rows ``{dtype, stage, shape, pairs: {name: (max, mean)}, scale}`` for every stage
    (``scale``: the largest magnitude among the values compared).

    ``model_dir`` may be a Hugging Face or a fairseq directory. fairseq joins as a fourth
    implementation when it is installed (``with_fairseq=None``) or asked for (``True``):
    loaded by its own code from a fairseq directory, or built around the same weights.
    onnxruntime joins in float32 likewise (``with_onnx``), see :func:`onnx_runtime`."""
    from transformers import Speech2TextFeatureExtractor, Speech2TextForConditionalGeneration

    device = device or default_device()
    waves = [minis2t.load_audio(p) for p in audio_paths]
    ours32 = minis2t.Speech2Text.from_pretrained(model_dir, runtime="numpy")
    extractor = ours32.feature_extractor or minis2t.FeatureExtractor()
    batch = extractor(waves)
    hf_batch = Speech2TextFeatureExtractor(**{k: v for k, v in extractor.to_dict().items()
                                              if k != "feature_extractor_type"})(
        waves, sampling_rate=16000, padding=True, return_tensors="np")  # fmt: skip
    twin_batch = tf.FeatureExtractor(**extractor.to_dict(), device=device)(waves)
    rows = [_row("-", "features", {"numpy": batch["input_features"],
                                   "twin": to_numpy(twin_batch["input_features"]),
                                   "transformers": hf_batch["input_features"]})]  # fmt: skip
    features, mask = batch["input_features"], batch["attention_mask"]
    ids = greedy_prefix(ours32, features, mask, steps)
    hf_dir, fairseq = _oracle_dirs(model_dir, ours32, with_fairseq)
    runtime = onnx_runtime(model_dir, with_onnx) if "float32" in dtypes else None
    hf = Speech2TextForConditionalGeneration.from_pretrained(hf_dir).eval().to(device)
    cfg = ours32.config
    for dtype in dtypes:
        tdtype = TORCH_DTYPE[dtype]
        hf = hf.to(tdtype)
        ours = ours32 if dtype == "float32" else minis2t.Speech2Text.from_pretrained(model_dir, np.float64, runtime="numpy")
        tparams = tm.to_torch(ours.weights, tdtype, device)
        tables = {}
        if dtype == "float64":
            enc_table = to_numpy(hf.model.encoder.embed_positions.weights)
            dec_table = to_numpy(hf.model.decoder.embed_positions.weights)
            ours_table = minis2t.reference.nn.sinusoidal_positions(enc_table.shape[0], cfg.d_model)
            rows.append(_row(dtype, "position table (own vs transformers')", {
                "numpy": ours_table, "twin": to_numpy(torch_positions(enc_table.shape[0], cfg.d_model)),
                "transformers": enc_table.astype(np.float32)}))  # fmt: skip
            tables = {"enc": enc_table, "dec": dec_table}
            ours.positions = {"encoder": enc_table, "decoder": dec_table}  # this float64 model's own copy
        x = features.astype(dtype)
        enc = m.encode(ours.params, cfg, x, mask)
        dec = m.decode(ours.params, cfg, ids, m.init_cache(ours.params, cfg, enc["last_hidden_state"]), enc["mask"])
        tx = torch.from_numpy(x).to(device)
        t_tables = {k: torch.from_numpy(v).to(device) for k, v in tables.items()}
        tenc = tm.encode(tparams, cfg, tx, torch.from_numpy(mask).to(device), t_tables.get("enc"))
        tdec = tm.decode(tparams, cfg, torch.from_numpy(ids), tm.init_cache(tparams, cfg, tenc["last_hidden_state"]),
                         tenc["mask"], positions=t_tables.get("dec"))  # fmt: skip
        ours_stages, twin_stages = stage_dict(enc, dec), stage_dict(tenc, tdec)
        hf_all = hf_stages(hf, tx, torch.from_numpy(mask).to(device), torch.from_numpy(ids).to(device))
        fs_all = {}
        if fairseq is not None:
            fs_model = fairseq(ours, tdtype)
            if tables:  # the same float32-computed tables as the others
                fs_model.encoder.embed_positions.weights = torch.from_numpy(tables["enc"])
                fs_model.decoder.embed_positions.weights = torch.from_numpy(tables["dec"])
            fs_all = fairseq_oracle.stages(fs_model, x, mask, ids)
        ort_all = onnx_stages(runtime, x, mask, ids) if runtime is not None and dtype == "float32" else {}
        for stage, value in ours_stages.items():
            rows.append(_row(dtype, stage, {"numpy": value, "twin": twin_stages[stage],
                                            "transformers": hf_all.get(stage), "fairseq": fs_all.get(stage),
                                            "onnxruntime": ort_all.get(stage)}))  # fmt: skip
        # each teacher-forced step's log-probabilities (what the searches rank)
        rows.append(_row(dtype, "log-probs", {"numpy": log_probs(ours_stages["logits"]),
                                              "twin": log_probs(twin_stages["logits"]),
                                              "transformers": log_probs(hf_all.get("logits")),
                                              "fairseq": log_probs(fs_all.get("logits")),
                                              "onnxruntime": log_probs(ort_all.get("logits"))}))  # fmt: skip
    return rows


def _oracle_dirs(model_dir, loaded: minis2t.Speech2Text, with_fairseq):
    """The directory transformers reads (a fairseq one: ``loaded``, converted) and a
    function making fairseq's model, or None without fairseq."""
    import importlib.util
    import tempfile

    from minis2t.io.fairseq import find_checkpoint, is_fairseq_dir

    model_dir = Path(model_dir)
    is_fairseq = is_fairseq_dir(model_dir)
    if with_fairseq is None:
        with_fairseq = importlib.util.find_spec("fairseq") is not None
    hf_dir = model_dir
    if is_fairseq:
        hf_dir = Path(tempfile.mkdtemp()) / "converted"
        loaded.save_pretrained(hf_dir)
    if not with_fairseq:
        return hf_dir, None
    if is_fairseq:
        return hf_dir, lambda ours, dtype: fairseq_oracle.load(model_dir, find_checkpoint(model_dir).name, dtype)[0]
    return hf_dir, lambda ours, dtype: fairseq_oracle.fairseq_model(ours.config, ours.weights, dtype)


def differences(values: dict) -> tuple[dict, float]:
    """``({"a-b": (max |a - b|, mean |a - b|)}, scale)`` for every pair of the arrays given
    (None: that implementation has no such stage), in float64; ``scale`` is the largest
    magnitude among them, for relative bars. The sweep uses it too (parity/sweep.py)."""
    pairs = {}
    names = [n for n, v in values.items() if v is not None]
    for i, a in enumerate(names):
        for b in names[i + 1:]:
            d = np.abs(values[a].astype(np.float64) - values[b].astype(np.float64))
            pairs[f"{a}-{b}"] = (float(d.max()), float(d.mean()))
    scale = max(float(np.abs(values[n]).max()) for n in names) if names else 0.0
    return pairs, scale


def _row(dtype: str, stage: str, values: dict) -> dict:
    pairs, scale = differences(values)
    shape = next(v.shape for v in values.values() if v is not None)
    return {"dtype": dtype, "stage": stage, "shape": tuple(shape), "pairs": pairs, "scale": scale}


PAIRS = ("numpy-twin", "numpy-transformers", "twin-transformers", "numpy-fairseq", "transformers-fairseq",
         "numpy-onnxruntime", "transformers-onnxruntime")


def format_table(rows: list[dict]) -> str:
    pairs = [p for p in PAIRS if any(p in r["pairs"] for r in rows)]
    head = ["dtype", "stage", "shape"] + [f"{p} max / mean" for p in pairs]
    lines = [head]
    for r in rows:
        cells = [r["dtype"], r["stage"], "x".join(map(str, r["shape"]))]
        for p in pairs:
            cells.append("{:.1e} / {:.1e}".format(*r["pairs"][p]) if p in r["pairs"] else "-")
        lines.append(cells)
    widths = [max(len(line[i]) for line in lines) for i in range(len(head))]
    out = ["  ".join(c.ljust(w) for c, w in zip(line, widths)) for line in lines]
    out.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(out)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m parity", description=__doc__.split("\n")[0])
    commands = parser.add_subparsers(dest="command", required=True)
    cmp = commands.add_parser("compare", help="per-stage |delta| of NumPy, twin and transformers")
    cmp.add_argument("model_dir")
    cmp.add_argument("audio", nargs="+")
    cmp.add_argument("--dtype", nargs="+", default=["float32", "float64"], choices=list(TORCH_DTYPE))
    cmp.add_argument("--device", default=None, help="cpu or cuda (default: cuda when available)")
    cmp.add_argument("--steps", type=int, default=8, help="greedy tokens after the start token")
    cmp.add_argument("--fairseq", dest="fairseq", action="store_true", default=None,
                     help="include fairseq (default: when it is installed)")
    cmp.add_argument("--no-fairseq", dest="fairseq", action="store_false")
    cmp.add_argument("--onnx", dest="onnx", action="store_true", default=None,
                     help="include onnxruntime on the exported graphs, float32 (default: when onnx and "
                          "onnxruntime are installed)")  # fmt: skip
    cmp.add_argument("--no-onnx", dest="onnx", action="store_false")
    args = parser.parse_args(argv)
    rows = compare(Path(args.model_dir), args.audio, args.dtype, args.device, args.steps, args.fairseq, args.onnx)
    print(f"model {args.model_dir}; audio {', '.join(args.audio)}; device {args.device or default_device()}")
    print(format_table(rows))
    return 0
