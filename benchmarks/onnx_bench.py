"""Benchmark the ONNX graphs — plain float32, fused float32, int8 — against NumPy and
transformers, s2t-small size, one interleaved run.

    python benchmarks/onnx_bench.py [--quick]

The model of benchmarks/model.py (random weights of facebook/s2t-small-librispeech-asr's
configuration, transformers' initialisation, seed 0; nothing downloaded). Five runtimes,
2 threads each, the same inputs, taking turns:

* ``numpy``: minis2t's NumPy engine;
* ``plain``: the plain graphs (``minis2t.app.onnx_build``: one ONNX node per reference
  operation, the cache concatenated every step) in onnxruntime;
* ``fused``: the fused graphs (``minis2t.app.onnx_fused``: Attention,
  SkipLayerNormalization, bias + activation, GroupQueryAttention writing the cache in
  place through I/O binding, cross-attention grouped per utterance);
* ``int8``: the fused graphs with dynamic int8 weight products;
* ``transformers``: its own ``generate``.

(a) encoder forward on 5, 10 and 20 s; (b) one decoder step at 5, 20 and 60 cached
tokens, 5 beams (where the cache's copies show: the plain graph concatenates P positions
per layer every step, the fused one writes one); (c) transcription of 10 s, 40 forced
tokens, 5 beams and greedy (features and search are minis2t's NumPy code for every
minis2t runtime); (d) 32 utterances of 2-15 s in one batch, 5 beams, 20 forced tokens;
(e) peak resident memory of a fresh process transcribing 10 s with one runtime; (f) where
the fused graphs' time goes (onnxruntime's profiler); (g) int8 with the convolutions
quantised too, against int8 as shipped (convolutions float); then the verdicts against
issue 42's targets.
"""

from __future__ import annotations

import argparse
import copy
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

import onnx  # noqa: F401  (named onnx_bench.py so that it never shadows this package)
import onnxruntime

sys.path.insert(0, str(Path(__file__).parent))
sys.path.insert(0, str(Path(__file__).parent.parent))
import model as bm  # noqa: E402  (benchmarks/model.py: the model, the audio, the interleaved timer)
from common import note, print_table, save  # noqa: E402
from common import verdicts as verdicts_of  # noqa: E402

THREADS = 2
# Best of this many interleaved calls (after a warm-up each): few, as the machines these runs
# are made on are small and shared.
REPEATS = dict(encoder=3, step=3, generate=2, batch=1)
RUNTIMES = ("numpy", "plain", "fused", "int8", "transformers")
TARGETS = {  # issue 42, against transformers (memory: against NumPy)
    "fused": dict(encoder=0.6, beams=0.4, greedy=0.4, batch=0.35, memory=1.0),
    "int8": dict(encoder=0.35, beams=0.3),
}


def _plain_runtime(hf_dir: Path, config, threads):
    """The plain graphs, written by ``minis2t export-onnx`` (from the reference), in
    :class:`OnnxRuntime` (their interface is the exported directory's)."""
    from minis2t.app.onnx_export import export
    from minis2t.engine.onnx_runtime import OnnxRuntime

    out = export(hf_dir, Path(tempfile.mkdtemp(prefix="plain.")) / "onnx")
    return OnnxRuntime(out, config, threads)


def build(directory: Path):
    """transformers' model and minis2t's model, and minis2t's with each graph runtime;
    transformers' model saved in ``directory / "hf"``."""
    import minis2t
    from minis2t.app import onnx_fused

    hf, ours, _ = bm.build()
    hf.save_pretrained(directory / "hf")
    fused = onnx_fused.build(ours.params, ours.config)
    graphs = {"plain": _plain_runtime(directory / "hf", ours.config, THREADS),
              "fused": onnx_fused.FusedRuntime(fused, ours.config, THREADS),
              "int8": onnx_fused.FusedRuntime(onnx_fused.quantize_int8(fused), ours.config, THREADS)}  # fmt: skip
    models = {"numpy": ours}
    for name, runtime in graphs.items():
        models[name] = minis2t.Speech2Text(ours.config, runtime=runtime, generation_config=ours.generation_config)
    return hf, models, fused


def _ratios(t: dict) -> list[str]:
    return [f"{t[k] / t['transformers']:.2f}" for k in ("plain", "fused", "int8")] + [f"{t['fused'] / t['plain']:.2f}"]


RATIO_HEADER = ["plain / tf", "fused / tf", "int8 / tf", "fused / plain"]


def bench_encoder(hf, models, seconds_list) -> dict:
    import torch

    rows, results = [], {}
    for seconds in seconds_list:
        batch = bm.features(seconds)
        x, mask = batch["input_features"], batch["attention_mask"]
        tx, tmask = torch.from_numpy(x), torch.from_numpy(mask)
        fns = {k: (lambda m=models[k]: m.runtime.encode(x, mask)) for k in RUNTIMES[:-1]}
        fns["transformers"] = lambda: hf.model.encoder(tx, attention_mask=tmask)
        with torch.no_grad():
            t = bm.interleaved(fns, REPEATS["encoder"])
        results[f"{seconds:g} s"] = t
        rows.append([f"{seconds:g} s", *(f"{t[k] * 1e3:.0f}" for k in RUNTIMES), *_ratios(t)])
    print_table(f"(a) encoder forward, best of {REPEATS['encoder']}, interleaved (ms)", ["audio", *RUNTIMES, *RATIO_HEADER], rows)
    return results


def bench_decoder_step(models, beams: int = 5) -> dict:
    """One decoder call for ``beams`` rows after ``P`` cached tokens (10 s of encoder states)."""
    f = bm.features(10.0)
    rows, results = [], {}
    for past in (5, 20, 60):
        fns = {}
        for k in ("numpy", "plain", "fused", "int8"):
            m = models[k]
            enc = m.runtime.encode(f["input_features"], f["attention_mask"])
            mask = np.repeat(enc["mask"], beams, axis=0)
            cache = m.runtime.init_cache(enc["last_hidden_state"])
            ids = np.full((beams, 1), 5)
            for _ in range(past):
                cache = m.runtime.decode(ids, cache, mask)["cache"]

            def step(m=m, cache=cache, mask=mask, ids=ids):
                c = copy.copy(cache)  # the fused cache's buffers are written at position P again each call
                return m.runtime.decode(ids, c, mask)

            fns[k] = step
        t = bm.interleaved(fns, REPEATS["step"])
        results[f"P={past}"] = t
        rows.append([str(past), *(f"{t[k] * 1e3:.2f}" for k in ("numpy", "plain", "fused", "int8")),
                     f"{t['fused'] / t['plain']:.2f}"])  # fmt: skip
    print_table(f"(b) one decoder step, {beams} beams, after P cached tokens, best of {REPEATS['step']} (ms)",
                ["P", "numpy", "plain", "fused", "int8", "fused / plain"], rows)  # fmt: skip
    return results


def _runs(hf, models, waves, beams: int, tokens: int) -> dict:
    """A callable per runtime transcribing ``waves`` (one batch) from the waveform."""
    run_numpy, run_hf, _ = bm._generate_pair(hf, models["numpy"], waves, beams, tokens)
    import minis2t

    options = dict(num_beams=beams, max_length=tokens + 1, min_length=tokens + 1)
    if beams > 1:
        options["early_stopping"] = True
    extractor = minis2t.FeatureExtractor()

    def on(name):
        def run():
            f = extractor(waves)
            return models[name].generate(f["input_features"], f["attention_mask"], **options)

        return run

    for name in ("plain", "fused", "int8"):
        assert on(name)().shape[1] == tokens + 1
    return {"numpy": run_numpy, "plain": on("plain"), "fused": on("fused"), "int8": on("int8"), "transformers": run_hf}


def bench_generate(hf, models, seconds: float = 10.0) -> dict:
    rows, results = [], {}
    wave = bm.audio(seconds)
    for label, beams in ((f"{bm.BEAMS} beams", bm.BEAMS), ("greedy", 1)):
        t = bm.interleaved(_runs(hf, models, [wave], beams, bm.TOKENS), REPEATS["generate"])
        results[label] = t
        rows.append([label, *(f"{t[k]:.3f}" for k in RUNTIMES), *_ratios(t)])
    print_table(f"(c) transcription of {seconds:g} s, {bm.TOKENS} tokens, features included, "
                f"best of {REPEATS['generate']} (s)",
                ["search", *RUNTIMES, *RATIO_HEADER], rows)  # fmt: skip
    return results


def bench_batch(hf, models) -> dict:
    rng = np.random.default_rng(1)  # the utterances of benchmarks/model.py's (c)
    lengths = rng.uniform(2, 15, bm.BATCH)
    waves = [bm.audio(s, start=float(rng.uniform(0, 40))) for s in lengths]
    t = bm.interleaved(_runs(hf, models, waves, bm.BEAMS, bm.BATCH_TOKENS), REPEATS["batch"])
    print_table(f"(d) {bm.BATCH} utterances of 2-15 s ({lengths.sum():.0f} s of audio) in one batch, {bm.BEAMS} "
                f"beams, {bm.BATCH_TOKENS} tokens each, best of {REPEATS['batch']} (s)",
                ["", *RUNTIMES, *RATIO_HEADER], [["seconds", *(f"{t[k]:.2f}" for k in RUNTIMES), *_ratios(t)]])
    return {**t, "audio_seconds": float(lengths.sum())}


_CHILD = """
import sys
sys.path.insert(0, {bench!r}); sys.path.insert(0, {root!r})
import model as b
def status(key):  # MB, from /proc
    line = next(l for l in open("/proc/self/status") if l.startswith(key))
    return int(line.split()[1]) / 1024
wave = b.audio(10.0)
opts = dict(num_beams=b.BEAMS, max_length=b.TOKENS + 1, min_length=b.TOKENS + 1, early_stopping=True)
import minis2t
from minis2t.engine.onnx_fused_runtime import FusedRuntime
from minis2t.io.config import ModelConfig
which = {which!r}
if which == "numpy":
    model = minis2t.Speech2Text.from_pretrained({hf!r})
else:  # the graphs built beforehand (as the cache holds them): no NumPy weights in this process
    config = ModelConfig.from_pretrained({hf!r})
    runtime = FusedRuntime({{r: f"{graphs}/{{which}}.{{r}}.onnx" for r in ("encoder", "cross_kv", "decoder")}},
                           config, threads=2)
    model = minis2t.Speech2Text(config, runtime=runtime)
loaded = status('VmRSS')
f = minis2t.FeatureExtractor()(wave)
model.generate(f["input_features"], f["attention_mask"], **opts)
print(loaded, status('VmHWM'))
"""


def peak_memory(hf_dir: Path, graphs_dir: Path) -> dict:
    """Resident memory (MB) of a fresh process transcribing 10 s with 5 beams: after
    loading, and the peak. NumPy, the bar of the memory target, against the fused graphs."""
    results = {}
    for which in ("numpy", "fused", "int8"):
        code = _CHILD.format(bench=str(Path(__file__).parent), root=str(Path(__file__).parent.parent),
                             hf=str(hf_dir), graphs=str(graphs_dir), which=which)  # fmt: skip
        out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
        if out.returncode:
            raise RuntimeError(out.stderr[-2000:])
        loaded, peak = (float(v) for v in out.stdout.strip().splitlines()[-1].split())
        results[which] = {"after_load": loaded, "peak": peak}
    print_table("(e) resident memory of a fresh process transcribing 10 s, 5 beams (MB)",
                ["", "resident after loading", "peak (loading included)"],
                [[w, f"{m['after_load']:.0f}", f"{m['peak']:.0f}"] for w, m in results.items()])  # fmt: skip
    return results


def bench_int8_conv(models, graphs: dict) -> dict:
    """int8 as shipped (convolutions float) against int8 with the convolutions quantised
    too (ConvInteger): the encoder, 5 and 10 s."""
    from minis2t.app import onnx_fused

    config = models["numpy"].config
    both = onnx_fused.FusedRuntime(onnx_fused.quantize_int8(graphs, op_types=("MatMul", "Attention", "Conv")),
                                   config, THREADS)  # fmt: skip
    rows, results = [], {}
    for seconds in (5.0, 10.0):
        f = bm.features(seconds)
        x, mask = f["input_features"], f["attention_mask"]
        t = bm.interleaved({"conv float": lambda: models["int8"].runtime.encode(x, mask),
                            "conv int8": lambda: both.encode(x, mask)}, REPEATS["encoder"])  # fmt: skip
        results[f"{seconds:g} s"] = t
        rows.append([f"{seconds:g} s", f"{t['conv float'] * 1e3:.0f}", f"{t['conv int8'] * 1e3:.0f}",
                     f"{t['conv int8'] / t['conv float']:.2f}"])  # fmt: skip
    print_table(f"(g) int8 encoder, convolutions float (as shipped) or quantised too, best of {REPEATS['encoder']} (ms)",
                ["audio", "conv float", "conv int8", "int8 / float"], rows)  # fmt: skip
    return results


def fused_profile(models, graphs: dict, seconds: float = 10.0) -> dict:
    """Where the fused graphs' time goes: onnxruntime's profiler (kernel time per operator
    type, 2 threads) over one 10 s, 5-beam transcription, per graph, against the call's wall time."""
    import collections
    import json
    import time

    import onnxruntime as ort

    runtime = models["fused"].runtime
    wave = bm.audio(seconds)
    import minis2t

    f = minis2t.FeatureExtractor()(wave)
    options = dict(num_beams=bm.BEAMS, max_length=bm.TOKENS + 1, min_length=bm.TOKENS + 1, early_stopping=True)
    models["fused"].generate(f["input_features"], f["attention_mask"], **options)  # warm
    original = dict(runtime.sessions)
    directory = Path(tempfile.mkdtemp(prefix="profile."))
    for role, session in original.items():
        opts = ort.SessionOptions()
        opts.intra_op_num_threads, opts.inter_op_num_threads = THREADS, 1
        opts.enable_profiling, opts.profile_file_prefix = True, str(directory / role)
        opts.log_severity_level = 3
        runtime.sessions[role] = ort.InferenceSession(graphs[role].SerializeToString(), opts,
                                                      providers=["CPUExecutionProvider"])  # fmt: skip
    start = time.perf_counter()
    models["fused"].generate(f["input_features"], f["attention_mask"], **options)
    wall = time.perf_counter() - start
    spent = {}
    for role, session in runtime.sessions.items():
        counter = collections.Counter()
        for event in json.loads(Path(session.end_profiling()).read_text()):
            if event.get("cat") == "Node" and event.get("name", "").endswith("_kernel_time"):
                counter[event["args"]["op_name"]] += event["dur"] / 1e6
        spent[role] = dict(counter)
    runtime.sessions.update(original)
    rows = []
    for role in ("encoder", "decoder"):
        total = sum(spent[role].values())
        for op, t in sorted(spent[role].items(), key=lambda kv: -kv[1])[:6]:
            rows.append([role, op, f"{t * 1e3:.1f}", f"{100 * t / total:.0f} %"])
        rows.append([role, "all operators", f"{total * 1e3:.1f}", "100 %"])
    print_table(f"(f) where the fused graphs' time goes in one {seconds:g} s, {bm.BEAMS}-beam transcription "
                f"(onnxruntime's profiler, kernel time; the call took {wall * 1e3:.0f} ms, the rest is features, "
                f"search and the runtime's Python)", ["graph", "operator", "ms", "share"], rows)  # fmt: skip
    return {"wall": wall, "kernels": spent}


def verdicts(results: dict) -> None:
    verdict = lambda ok: "**met**" if ok else "**missed**"  # noqa: E731
    lines = []
    for kind, targets in TARGETS.items():
        enc = [e[kind] / e["transformers"] for e in results["encoder"].values()]
        lines.append(f"{kind} encoder at most {targets['encoder']}× transformers (5/10/20 s): "
                     f"{verdict(max(enc) <= targets['encoder'])}, {min(enc):.2f}–{max(enc):.2f}×")
        if "generate" not in results:
            continue
        for label, key in ((f"{bm.BEAMS} beams", "beams"), ("greedy", "greedy")):
            if key in targets:
                g = results["generate"][label]
                r = g[kind] / g["transformers"]
                lines.append(f"{kind} 10 s {label} at most {targets[key]}× transformers: {verdict(r <= targets[key])}, "
                             f"{r:.2f}× ({g[kind]:.3f} s against {g['transformers']:.3f} s; NumPy {g['numpy']:.3f} s, "
                             f"plain graphs {g['plain']:.3f} s)")  # fmt: skip
        if "batch" in targets:
            r = results["batch"][kind] / results["batch"]["transformers"]
            lines.append(f"{kind} {bm.BATCH} utterances batched at most {targets['batch']}× transformers: "
                         f"{verdict(r <= targets['batch'])}, {r:.2f}×")
        if "memory" in targets:
            m = results["memory_mb"]
            r = m[kind]["peak"] / m["numpy"]["peak"]
            lines.append(f"{kind} peak memory no more than the NumPy path's: {verdict(r <= targets['memory'])}, "
                         f"{m[kind]['peak']:.0f} MB against {m['numpy']['peak']:.0f} MB ({r:.2f}×)")
    verdicts_of("issue 42, 2 threads", lines, results)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true", help="5 s encoder and the decoder steps, printed, not saved")
    parser.add_argument("--profile", action="store_true", help="only (f), the fused graphs' profile, printed")
    args = parser.parse_args()
    import torch
    from threadpoolctl import threadpool_limits

    torch.set_num_threads(THREADS)
    note(f"Threads: {THREADS} for torch, NumPy's BLAS and onnxruntime {onnxruntime.__version__} (intra-op). "
         f"Graphs built by minis2t from the weights (no torch); int8: dynamic, weight products only.\n")
    load = os.getloadavg()[0]
    with tempfile.TemporaryDirectory() as tmp, threadpool_limits(limits=THREADS):
        hf, models, fused = build(Path(tmp))
        if args.profile:
            fused_profile(models, fused)
            return
        results = {"threads": THREADS, "onnxruntime": onnxruntime.__version__}
        results["encoder"] = bench_encoder(hf, models, [5.0] if args.quick else [5.0, 10.0, 20.0])
        results["decoder_step"] = bench_decoder_step(models)
        if not args.quick:
            results["generate"] = bench_generate(hf, models)
            results["batch"] = bench_batch(hf, models)
            from minis2t.app import onnx_fused

            for kind, graphs in (("fused", fused), ("int8", onnx_fused.quantize_int8(fused))):
                for role, graph in graphs.items():
                    (Path(tmp) / f"{kind}.{role}.onnx").write_bytes(graph.SerializeToString())
            results["memory_mb"] = peak_memory(Path(tmp) / "hf", Path(tmp))
            results["profile"] = fused_profile(models, fused)
            results["int8_conv"] = bench_int8_conv(models, fused)
        verdicts(results)
    end = os.getloadavg()[0]
    results["load_average"] = [load, end]
    busy = ("above the core count: other processes shared the cores and every time above is stretched, "
            "BLAS-threaded NumPy and torch most." if max(load, end) > os.cpu_count()
            else "below the core count: nothing else competed for the cores.")  # fmt: skip
    note(f"\nThe machine's load average (1 min) was {load:.1f} when this run started and {end:.1f} "
         f"when it ended, on {os.cpu_count()} cores: {busy}")
    if not args.quick:  # a partial run must not replace the committed complete one
        save("onnx", results)


if __name__ == "__main__":
    main()
