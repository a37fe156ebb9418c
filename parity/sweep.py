"""A parity sweep over a corpus: NumPy, the twin and transformers on every file of a manifest.

    python -m parity sweep MANIFEST MODEL_DIR --output OUT.jsonl [--workers N] [--address ADDR] [--language xx]
                                                                 [--no-onnx]

onnxruntime is the fifth runtime when onnx and onnxruntime are installed: the model is
exported once (``minis2t export-onnx``, into a temporary directory) and every worker runs
its graphs beside the others, at the encoder output, the logits and the tokens.

Per file, on a Dask worker that keeps the three models loaded (float32, the CPU): the
largest and the mean absolute difference of each pair at three points — the features,
the encoder output, and the logits of the decoder run on NumPy's own beam-search output
(teacher forcing) — and whether the three ``generate`` calls chose identical tokens. The
run is :mod:`minis2t.app.corpus`'s: results appended as they finish, ids already in OUT
skipped, a file that fails gets an error line, a lost worker's files run again.

At the end a table, worst files first (by the logits' largest difference between NumPy and
transformers, relative to the logits' scale), and each stage's worst against its bar in
:mod:`parity.bars` (the bars the test suite asserts on its own cases).
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

from minis2t.app import corpus
from minis2t.app.cli import positive_int
from minis2t.errors import MiniS2TError, guarded

from . import bars

STAGES = ("features", "encoder", "logits")
PAIRS = ("numpy-twin", "numpy-transformers", "twin-transformers")
_LOADED: dict[str, tuple] = {}  # per worker process: model directory -> the three models
_GRAPHS: dict[str, object] = {}  # per worker process: exported directory -> its Speech2Text


def _graphs(onnx_dir: str | None):
    """The exported directory's model (onnxruntime running its graphs), or None."""
    if onnx_dir is None:
        return None
    if onnx_dir not in _GRAPHS:
        import minis2t

        _GRAPHS[onnx_dir] = minis2t.Speech2Text.from_pretrained(onnx_dir)
    return _GRAPHS[onnx_dir]


def _models(model_dir: str):
    if model_dir not in _LOADED:
        import torch
        import transformers
        from transformers import Speech2TextFeatureExtractor, Speech2TextForConditionalGeneration

        transformers.utils.logging.disable_progress_bar()  # one bar per worker is noise

        import minis2t

        from . import features as tf
        from . import model as tm

        ours = minis2t.Speech2Text.from_pretrained(model_dir, runtime="numpy")
        extractor = ours.feature_extractor or minis2t.FeatureExtractor()
        options = {k: v for k, v in extractor.to_dict().items() if k != "feature_extractor_type"}
        hf = Speech2TextForConditionalGeneration.from_pretrained(model_dir).eval()
        _LOADED[model_dir] = (ours, extractor, tm.to_torch(ours.weights, torch.float32),
                              tf.FeatureExtractor(**extractor.to_dict(), device="cpu"),
                              hf, Speech2TextFeatureExtractor(**options))  # fmt: skip
    return _LOADED[model_dir]


def _pairs(values: dict) -> dict:
    """``{pair: [max |a - b|, mean |a - b|], "scale": largest magnitude}``, as JSON."""
    from .compare import differences

    pairs, scale = differences(values)
    return {**{pair: list(d) for pair, d in pairs.items()}, "scale": scale}


def compare_file(path: str, model_dir: str, language: str | None = None, onnx_dir: str | None = None) -> dict:
    """The three implementations on one recording (four with ``onnx_dir``, the model's
    exported graphs): differences per stage, and tokens (a multilingual model's
    ``language`` forced as its first token, in all)."""
    import torch

    import minis2t
    from minis2t.reference import model as m

    from . import generate as tg
    from . import model as tm

    ours, extractor, twin, twin_extractor, hf, hf_extractor = _models(model_dir)
    wave = minis2t.load_audio(path)
    f = extractor(wave)
    x, mask = f["input_features"], f["attention_mask"]
    twin_f = twin_extractor(wave)["input_features"].numpy()
    hf_f = hf_extractor(wave, sampling_rate=16000, return_tensors="np")["input_features"]
    forced = ours._language_options(language, {})  # {} or {"forced_bos_token_id": id}; checks the code
    options = ours.generation_options(**forced)
    with torch.no_grad():
        tx, tmask = torch.from_numpy(x), torch.from_numpy(mask)
        enc = m.encode(ours.params, ours.config, x, mask)
        tenc = tm.encode(twin, ours.config, tx, tmask)
        hf_enc = hf.model.encoder(tx, attention_mask=tmask).last_hidden_state.numpy()
        tokens = {"numpy": ours.generate(x, mask, **forced),
                  "twin": tg.generate(twin, ours.config, tx, tmask, options).sequences.numpy(),
                  "transformers": hf.generate(input_features=tx, attention_mask=tmask,
                                              generation_config=_hf_generation(hf, options)).numpy()}  # fmt: skip
        ids = tokens["numpy"]
        cache = m.init_cache(ours.params, ours.config, enc["last_hidden_state"])
        logits = m.decode(ours.params, ours.config, ids, cache, enc["mask"])["logits"]
        tcache = tm.init_cache(twin, ours.config, tenc["last_hidden_state"])
        tlogits = tm.decode(twin, ours.config, torch.from_numpy(ids), tcache, tenc["mask"])["logits"].numpy()
        hf_logits = hf(encoder_outputs=(torch.from_numpy(hf_enc),), attention_mask=tmask,
                       decoder_input_ids=torch.from_numpy(ids)).logits.numpy()  # fmt: skip
    graphs, ort_enc, ort_logits = _graphs(onnx_dir), None, None
    if graphs is not None:
        oenc = graphs.runtime.encode(x, mask)
        ort_enc = oenc["last_hidden_state"]
        ort_logits = graphs.runtime.decode(ids, graphs.runtime.init_cache(ort_enc), oenc["mask"])["logits"]
        tokens["onnxruntime"] = graphs.generate(x, mask, **forced)
    same = all(np.array_equal(tokens["numpy"], t) for t in tokens.values())
    return {
        "seconds": len(wave) / 16000,
        "features": _pairs({"numpy": x, "twin": twin_f, "transformers": hf_f}),
        "encoder": _pairs({"numpy": enc["last_hidden_state"], "twin": tenc["last_hidden_state"].numpy(),
                           "transformers": hf_enc, "onnxruntime": ort_enc}),  # fmt: skip
        "logits": _pairs({"numpy": logits, "twin": tlogits, "transformers": hf_logits, "onnxruntime": ort_logits}),
        "tokens": int(ids.shape[1]),
        "tokens_identical": bool(same),
    }


def _hf_generation(hf, options):
    """transformers' generation config with the options NumPy and the twin used."""
    config = hf.generation_config
    for name in ("num_beams", "max_length", "min_length", "length_penalty", "no_repeat_ngram_size",
                 "early_stopping", "forced_bos_token_id"):  # fmt: skip
        if hasattr(options, name):
            setattr(config, name, getattr(options, name))
    return config


def sweep_item(item: corpus.Item, model_dir: str, language: str | None = None, onnx_dir: str | None = None) -> dict:
    """One manifest row, on a worker: its comparison, or an error line."""
    result, error = guarded(compare_file, item.path, model_dir, language, onnx_dir)
    if error is not None:
        return {"id": item.id, "path": item.path, "error": error}
    return {"id": item.id, "path": item.path, **result}


def relative(row: dict, stage: str, pair: str = "numpy-transformers") -> float:
    """The largest difference of a pair at a stage, relative to max(1, the stage's scale)
    (how the bars are stated)."""
    return row[stage][pair][0] / max(1.0, row[stage]["scale"])


def summary(rows: list[dict], top: int = 10) -> str:
    """The worst files first, then each stage's worst against its bar."""
    good = [r for r in rows if "error" not in r]
    good.sort(key=lambda r: relative(r, "logits"), reverse=True)
    head = ["id", "seconds", *(f"{s} max n-t" for s in STAGES), "logits max n-twin", "tokens identical"]
    table = [head] + [[r["id"], f"{r['seconds']:.1f}", *(f"{r[s]['numpy-transformers'][0]:.1e}" for s in STAGES),
                       f"{r['logits']['numpy-twin'][0]:.1e}", "yes" if r["tokens_identical"] else "NO"]
                      for r in good[:top]]  # fmt: skip
    widths = [max(len(line[i]) for line in table) for i in range(len(head))]
    out = [f"worst {min(top, len(good))} of {len(good)} files (by the logits' largest |numpy - transformers|):"]
    out += ["  ".join(c.rjust(w) for c, w in zip(line, widths)) for line in table]
    identical = sum(r["tokens_identical"] for r in good)
    runtimes = "four (with onnxruntime)" if any("numpy-onnxruntime" in r["logits"] for r in good) else "three"
    out.append(f"\ntokens identical in all {runtimes}: {identical} of {len(good)} files; "
               f"errors: {len(rows) - len(good)}")  # fmt: skip
    bar_of = {"features": ("max |delta| (CMVN-normalised)", bars.HF_FEATURES_MAX, "features"),
              "encoder": ("relative to scale", bars.MODEL_TRANSFORMERS["float32"], "encoder"),
              "logits": ("relative to scale", bars.MODEL_TRANSFORMERS["float32"], "logits")}
    for stage, (how, bar, _) in bar_of.items():
        if not good:
            break
        worst = max((r[stage]["numpy-transformers"][0] if stage == "features" else relative(r, stage)) for r in good)
        verdict = "within" if worst <= bar else "OUTSIDE"
        out.append(f"{stage}: worst numpy-transformers {worst:.1e} ({how}), {verdict} the suite's bar {bar:.0e}")
    with_ort = [r for r in good if "numpy-onnxruntime" in r["logits"]]
    for stage in ("encoder", "logits") if with_ort else ():
        worst = max(relative(r, stage, "numpy-onnxruntime") for r in with_ort)
        verdict = "within" if worst <= bars.ONNX["float32"] else "OUTSIDE"
        out.append(f"{stage}: worst numpy-onnxruntime {worst:.1e} (relative to scale), {verdict} the "
                   f"suite's bar {bars.ONNX['float32']:.0e}")  # fmt: skip
    return "\n".join(out)


def _export(model_dir: str, with_onnx: bool | None) -> str | None:
    """The model's graphs, exported once into a temporary directory (the workers read it),
    or None without onnx/onnxruntime (``with_onnx=None``) or when not asked."""
    import importlib.util
    import tempfile

    if with_onnx is None:
        with_onnx = all(importlib.util.find_spec(p) is not None for p in ("onnx", "onnxruntime"))
    if not with_onnx:
        return None
    from minis2t.app.onnx_export import export

    return str(export(model_dir, Path(tempfile.mkdtemp(prefix="sweep-onnx.")) / "onnx"))


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m parity sweep", description=__doc__.split("\n")[0])
    parser.add_argument("manifest", help="TSV with a header: path (required), id (optional)")
    parser.add_argument("model_dir", help="a Hugging Face model directory (transformers loads it too)")
    parser.add_argument("--output", required=True, help="OUT.jsonl, one line per file; ids in it are skipped")
    parser.add_argument("--workers", type=positive_int, default=None,
                        help="local worker processes (default: one per core)")
    parser.add_argument("--address", default=None, help="a running Dask scheduler (tcp://HOST:8786)")
    parser.add_argument("--language", default=None, help="target language of a multilingual model")
    parser.add_argument("--top", type=positive_int, default=10, help="files in the summary table")
    parser.add_argument("--onnx", dest="onnx", action="store_true", default=None,
                        help="add onnxruntime on the exported graphs (default: when onnx and onnxruntime "
                             "are installed)")  # fmt: skip
    parser.add_argument("--no-onnx", dest="onnx", action="store_false")
    try:
        args = parser.parse_args(argv)
    except SystemExit as e:
        return int(e.code or 0)
    try:
        items = corpus.read_manifest(args.manifest)
        model_dir = str(Path(args.model_dir).resolve())
        if not (Path(model_dir) / "config.json").is_file():
            raise MiniS2TError(f"{args.model_dir}: not a Hugging Face model directory (no config.json); "
                               f"`minis2t convert` writes one from a fairseq checkpoint.")  # fmt: skip
        import minis2t

        minis2t.Speech2Text.from_pretrained(model_dir)._language_options(args.language, {})  # the code is known
        onnx_dir = _export(model_dir, args.onnx)
        log = corpus.ResultLog(args.output)
        start = time.perf_counter()
        try:
            counts = corpus.run_on_cluster(sweep_item, items, log, model_dir, args.language, onnx_dir,
                                           workers=args.workers,
                                           address=args.address, on_result=lambda r: print(
                f"{r['path']}: error: {r['error']}", file=sys.stderr) if "error" in r else None)  # fmt: skip
        finally:
            log.close()
    except MiniS2TError as e:  # before any work: the manifest, the model, the output, the cluster
        print(f"python -m parity sweep: error: {e}", file=sys.stderr)
        return 2
    rows = [log.done[i.id] for i in items if i.id in log.done]
    print(f"{len(items)} files: {counts['done']} compared in this run, {counts['skipped']} already in "
          f"{args.output}; {time.perf_counter() - start:.1f} s.\n")  # fmt: skip
    print(summary(rows, args.top))
    return 1 if any("error" in r for r in rows) else 0
