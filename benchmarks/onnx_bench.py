"""Benchmark onnxruntime on the exported graphs against NumPy and transformers, s2t-small size.

    python benchmarks/onnx_bench.py [--quick]

The model of benchmarks/model.py (random weights of facebook/s2t-small-librispeech-asr's
configuration, transformers' initialisation, seed 0), exported by ``minis2t export-onnx``
and run by onnxruntime with 1 and with 2 intra-op threads, beside NumPy and transformers
(2 threads each) in the same run, on the same inputs, taking turns:

(a) encoder forward for 5, 10 and 20 s of audio;
(b) end-to-end transcription of 10 s, a forced 40 tokens, 5 beams and greedy (features,
    search and everything around the network are minis2t's NumPy code for NumPy and for
    onnxruntime alike; transformers runs its own ``generate``);
(c) 32 utterances of 2-15 s in one batch, 5 beams, 20 forced tokens;
(d) peak resident memory of a fresh process transcribing 10 s with one runtime;
(e) where the time goes: onnxruntime's own profiler (time per operator type) against
    NumPy's profile (benchmarks/model.py's instrumented building blocks), for the encoder
    on 10 s and the 5-beam transcription of (b);

then a verdict per target of issue 34 (2 threads).
"""

from __future__ import annotations

import argparse
import collections
import json
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

import onnx  # noqa: E402, F401  (named onnx_bench.py so that it never shadows this package)
import onnxruntime  # noqa: E402, F401

sys.path.insert(0, str(Path(__file__).parent))
sys.path.insert(0, str(Path(__file__).parent.parent))
import model as bm  # noqa: E402  (benchmarks/model.py: the model, the audio, the interleaved timer)
from common import note, print_table, save  # noqa: E402
from common import verdicts as verdicts_of  # noqa: E402

THREADS = 2  # the targets' thread count; onnxruntime is also measured with 1
TARGETS = dict(encoder=0.8, transcription=0.5, batch=0.5, memory=1.0)  # issue 34, vs transformers (memory: vs NumPy)
RUNTIMES = ("numpy", "onnxruntime 1", "onnxruntime 2", "transformers")


def build(directory: Path):
    """transformers' model, minis2t's NumPy model, and the exported graphs loaded with 1
    and 2 intra-op threads, all with the same weights; the model directories written
    under ``directory`` (``hf`` and ``onnx``)."""
    import minis2t
    from minis2t.app.onnx_export import export

    hf, ours, _ = bm.build()
    hf.save_pretrained(directory / "hf")
    out = export(directory / "hf", directory / "onnx")
    graphs = {n: minis2t.Speech2Text.from_pretrained(out, threads=n) for n in (1, 2)}
    return hf, ours, graphs, out


def bench_encoder(hf, ours, graphs, seconds_list) -> dict:
    import torch

    rows, results = [], {}
    for seconds in seconds_list:
        batch = bm.features(seconds)
        x, mask = batch["input_features"], batch["attention_mask"]
        tx, tmask = torch.from_numpy(x), torch.from_numpy(mask)
        with torch.no_grad():
            t = bm.interleaved({"numpy": lambda: ours.encode(x, mask),
                                "onnxruntime 1": lambda: graphs[1].encode(x, mask),
                                "onnxruntime 2": lambda: graphs[2].encode(x, mask),
                                "transformers": lambda: hf.model.encoder(tx, attention_mask=tmask)}, 5)  # fmt: skip
        results[f"{seconds:g} s"] = t
        rows.append([f"{seconds:g} s", *(f"{t[k] * 1e3:.0f}" for k in RUNTIMES),
                     f"{t['onnxruntime 2'] / t['transformers']:.2f}", f"{t['onnxruntime 2'] / t['numpy']:.2f}"])  # fmt: skip
    print_table("(a) encoder forward, best of 5, interleaved (ms)",
                ["audio", *RUNTIMES, "ort 2 / transformers", "ort 2 / numpy"], rows)  # fmt: skip
    return results


def _runs(hf, ours, graphs, waves, beams: int, tokens: int) -> dict:
    """A callable per runtime transcribing ``waves`` (one batch) from the waveform."""
    run_numpy, run_hf, _ = bm._generate_pair(hf, ours, waves, beams, tokens)
    import minis2t

    options = dict(num_beams=beams, max_length=tokens + 1, min_length=tokens + 1)
    if beams > 1:
        options["early_stopping"] = True
    extractor = minis2t.FeatureExtractor()

    def on_graphs(n):
        def run():
            f = extractor(waves)
            return graphs[n].generate(f["input_features"], f["attention_mask"], **options)

        return run

    assert on_graphs(2)().shape[1] == tokens + 1
    return {"numpy": run_numpy, "onnxruntime 1": on_graphs(1), "onnxruntime 2": on_graphs(2), "transformers": run_hf}


def bench_generate(hf, ours, graphs, seconds: float = 10.0) -> dict:
    rows, results = [], {}
    wave = bm.audio(seconds)
    for label, beams in ((f"{bm.BEAMS} beams", bm.BEAMS), ("greedy", 1)):
        t = bm.interleaved(_runs(hf, ours, graphs, [wave], beams, bm.TOKENS), 3)
        results[label] = t
        rows.append([label, *(f"{t[k]:.3f}" for k in RUNTIMES), f"{t['onnxruntime 2'] / t['transformers']:.2f}",
                     f"{t['onnxruntime 2'] / t['numpy']:.2f}"])  # fmt: skip
    print_table(f"(b) transcription of {seconds:g} s, {bm.TOKENS} tokens, features included, best of 3 (s)",
                ["search", *RUNTIMES, "ort 2 / transformers", "ort 2 / numpy"], rows)  # fmt: skip
    return results


def bench_batch(hf, ours, graphs) -> dict:
    rng = np.random.default_rng(1)  # the utterances of benchmarks/model.py's (c)
    lengths = rng.uniform(2, 15, bm.BATCH)
    waves = [bm.audio(s, start=float(rng.uniform(0, 40))) for s in lengths]
    t = bm.interleaved(_runs(hf, ours, graphs, waves, bm.BEAMS, bm.BATCH_TOKENS), 2)
    print_table(f"(c) {bm.BATCH} utterances of 2-15 s ({lengths.sum():.0f} s of audio) in one batch, {bm.BEAMS} "
                f"beams, {bm.BATCH_TOKENS} tokens each, best of 2 (s)",
                ["", *RUNTIMES, "ort 2 / transformers", "ort 2 / numpy"],
                [["seconds", *(f"{t[k]:.2f}" for k in RUNTIMES), f"{t['onnxruntime 2'] / t['transformers']:.2f}",
                  f"{t['onnxruntime 2'] / t['numpy']:.2f}"]])  # fmt: skip
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
model = minis2t.Speech2Text.from_pretrained({onnx!r}, threads=2) if {which!r} == "onnxruntime" else \\
    minis2t.Speech2Text.from_pretrained({hf!r})
loaded = status('VmRSS')
f = minis2t.FeatureExtractor()(wave)
model.generate(f["input_features"], f["attention_mask"], **opts)
print(loaded, status('VmHWM'))
"""


def peak_memory(hf_dir: Path, onnx_dir: Path) -> dict:
    """Resident memory (MB) of a fresh process loading one runtime and transcribing 10 s
    with 5 beams: after loading, and the peak (loading included). transformers' figure is
    benchmarks/model.py's (d); here NumPy, the bar of the memory target, and onnxruntime."""
    results = {}
    for which in ("numpy", "onnxruntime"):
        code = _CHILD.format(bench=str(Path(__file__).parent), root=str(Path(__file__).parent.parent),
                             onnx=str(onnx_dir), hf=str(hf_dir), which=which)  # fmt: skip
        out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
        if out.returncode:
            raise RuntimeError(out.stderr[-2000:])
        loaded, peak = (float(v) for v in out.stdout.strip().splitlines()[-1].split())
        results[which] = {"after_load": loaded, "peak": peak}
    print_table("(d) resident memory of a fresh process transcribing 10 s, 5 beams (MB)",
                ["", "resident after loading", "peak (loading included)"],
                [[w, f"{m['after_load']:.0f}", f"{m['peak']:.0f}"] for w, m in results.items()])  # fmt: skip
    return results


# --- where the time goes -------------------------------------------------------------------------

ORT_GROUPS = {  # onnxruntime's operator types, in the words of NumPy's profile
    "linear": ("MatMul", "Gemm", "FusedMatMul", "MatMulNBits", "Add"),
    "attention": ("Softmax", "Attention", "MultiHeadAttention"),
    "layer_norm": ("LayerNormalization", "SkipLayerNormalization"),
    "activation": ("Relu", "Gelu", "FastGelu", "BiasGelu"),
    "conv1d": ("Conv", "Sigmoid", "Mul", "Split", "Slice"),
}


def ort_profile(onnx_dir: Path, seconds: float = 10.0) -> dict:
    """onnxruntime's profiler on its own sessions (2 threads): time per operator type for
    the encoder on ``seconds`` and for the 5-beam transcription of (b)."""
    import minis2t
    import onnxruntime as ort

    import minis2t.engine.onnx_runtime as orm

    results = {}
    wave = bm.audio(seconds)
    f = minis2t.FeatureExtractor()(wave)
    options = dict(num_beams=bm.BEAMS, max_length=bm.TOKENS + 1, min_length=bm.TOKENS + 1, early_stopping=True)
    jobs = {"encoder": lambda g: g.encode(f["input_features"], f["attention_mask"]),
            "transcription": lambda g: g.generate(minis2t.FeatureExtractor()(wave)["input_features"], None, **options)}
    real = orm._session
    for job, run in jobs.items():
        sessions = []

        def profiled(module, path, opts, sessions=sessions):
            opts = ort.SessionOptions()
            opts.intra_op_num_threads, opts.inter_op_num_threads = THREADS, 1
            opts.enable_profiling = True
            opts.profile_file_prefix = str(Path(tempfile.mkdtemp()) / path.stem)
            s = real(module, path, opts)
            sessions.append(s)
            return s

        orm._session = profiled
        try:
            graphs = minis2t.Speech2Text.from_pretrained(onnx_dir, threads=THREADS)
        finally:
            orm._session = real
        run(graphs)  # the profile includes this one call (a warm-up of the sessions' first runs is in it too)
        spent = collections.Counter()
        for s in sessions:
            for event in json.loads(Path(s.end_profiling()).read_text()):
                if event.get("cat") == "Node" and event.get("name", "").endswith("_kernel_time"):
                    spent[event["args"]["op_name"]] += event["dur"] / 1e6
        results[job] = dict(spent)
    return results


def bench_profiles(ours, onnx_dir: Path) -> dict:
    numpy_profile = bm.profile(ours)  # prints its own table (f)
    ort = ort_profile(onnx_dir)
    rows = []
    for group, ops in ORT_GROUPS.items():
        cells = [group]
        for job in ("encoder", "transcription"):
            n = numpy_profile[job]["parts"].get(group, 0.0) + (numpy_profile[job]["parts"].get("softmax", 0.0)
                                                                if group == "attention" else 0.0)  # fmt: skip
            n += numpy_profile[job]["parts"].get("lm_head", 0.0) if group == "linear" else 0.0
            o = sum(ort[job].get(op, 0.0) for op in ops)
            cells += [f"{n * 1e3:.1f}", f"{o * 1e3:.1f}"]
        rows.append(cells)
    grouped = {op for ops in ORT_GROUPS.values() for op in ops}
    for job in ("encoder", "transcription"):
        top = sorted(((v, k) for k, v in ort[job].items() if k not in grouped), reverse=True)[:4]
        note(f"onnxruntime's other operators, {job}: " + ", ".join(f"{k} {v * 1e3:.1f} ms" for v, k in top))
    rows.append(["operators, total", *(c for job in ("encoder", "transcription") for c in
                 (f"{numpy_profile[job]['total'] * 1e3:.1f} (whole call)", f"{sum(ort[job].values()) * 1e3:.1f}"))])
    print_table("(e) where the time goes (ms): NumPy's instrumented building blocks (mean of 3 calls) against "
                "onnxruntime's profiler (kernel time per operator type, one call, 2 threads; with 2 threads "
                "kernel times may sum past the wall time). onnxruntime's operator types do not say which "
                "layer a MatMul belongs to: its 'linear' holds every product, attention's included, its "
                "'attention' the softmax",
                ["part", "encoder numpy", "encoder onnxruntime", "transcription numpy", "transcription onnxruntime"],
                rows)  # fmt: skip
    return {"numpy": numpy_profile, "onnxruntime": ort}


def verdicts(results: dict) -> None:
    verdict = lambda ok: "**met**" if ok else "**missed**"  # noqa: E731
    lines = []
    enc = [e["onnxruntime 2"] / e["transformers"] for e in results["encoder"].values()]
    lines.append(f"onnxruntime encoder at most {TARGETS['encoder']}× transformers (5/10/20 s): "
                 f"{verdict(max(enc) <= TARGETS['encoder'])}, {min(enc):.2f}–{max(enc):.2f}×")
    if "generate" in results:
        g = results["generate"][f"{bm.BEAMS} beams"]
        r = g["onnxruntime 2"] / g["transformers"]
        lines.append(f"10 s beam-{bm.BEAMS} transcription at most {TARGETS['transcription']}× transformers: "
                     f"{verdict(r <= TARGETS['transcription'])}, {r:.2f}× ({g['onnxruntime 2']:.3f} s against "
                     f"{g['transformers']:.3f} s; NumPy {g['numpy']:.3f} s)")
        r = results["batch"]["onnxruntime 2"] / results["batch"]["transformers"]
        lines.append(f"{bm.BATCH} utterances batched at most {TARGETS['batch']}× transformers: "
                     f"{verdict(r <= TARGETS['batch'])}, {r:.2f}×")
        m = results["memory_mb"]
        r = m["onnxruntime"]["peak"] / m["numpy"]["peak"]
        lines.append(f"peak memory no more than the NumPy path's: {verdict(r <= TARGETS['memory'])}, "
                     f"{m['onnxruntime']['peak']:.0f} MB against {m['numpy']['peak']:.0f} MB ({r:.2f}×)")
    verdicts_of("issue 34, 2 threads", lines, results)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true", help="5 s encoder only, printed, not saved")
    args = parser.parse_args()
    import torch
    from threadpoolctl import threadpool_limits

    torch.set_num_threads(THREADS)
    note(f"Threads: {THREADS} for torch, for NumPy's BLAS and for onnxruntime (also run with 1 intra-op "
         f"thread: 'onnxruntime 1'); onnxruntime {onnxruntime.__version__}, graphs of opset "
         f"{__import__('minis2t.app.onnx_export').app.onnx_export.DEFAULT_OPSET} exported by minis2t export-onnx.\n")  # fmt: skip
    import os

    load = os.getloadavg()[0]
    with tempfile.TemporaryDirectory() as tmp, threadpool_limits(limits=THREADS):
        hf, ours, graphs, onnx_dir = build(Path(tmp))
        results = {"threads": THREADS, "onnxruntime": onnxruntime.__version__}
        results["encoder"] = bench_encoder(hf, ours, graphs, [5.0] if args.quick else [5.0, 10.0, 20.0])
        if not args.quick:
            results["generate"] = bench_generate(hf, ours, graphs)
            results["batch"] = bench_batch(hf, ours, graphs)
            results["memory_mb"] = peak_memory(Path(tmp) / "hf", onnx_dir)
            results["profile"] = bench_profiles(ours, onnx_dir)
        verdicts(results)
    results["load_average"] = [load, os.getloadavg()[0]]
    end = os.getloadavg()[0]
    busy = ("above the core count, other processes shared the cores and every time above is stretched, "
            "BLAS-threaded NumPy and torch most." if max(load, end) > os.cpu_count()
            else "below the core count: nothing else competed for the cores.")  # fmt: skip
    note(f"\nThe machine's load average (1 min) was {load:.1f} when this run started and {end:.1f} "
         f"when it ended, on {os.cpu_count()} cores: {busy}")
    if not args.quick:  # a partial run must not replace the committed complete one
        save("onnx", results)


if __name__ == "__main__":
    main()
