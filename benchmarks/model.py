"""Benchmark the model at the released s2t-small size: minis2t vs the twin vs transformers.

    python benchmarks/model.py [--quick]

Random weights with facebook/s2t-small-librispeech-asr's configuration (d_model 256,
12 + 6 layers, 4 heads, FFN 2048, conv channels 1024, vocabulary 10 000): speed does not
depend on the values. Everything is measured in this run, on the same inputs and threads;
the three implementations take turns (interleaved), so a slow spell of a shared machine
hits all of them.

(a) encoder forward for 5, 10 and 20 s of audio: NumPy vs twin (torch CPU, eager) vs
    transformers;
(b) end-to-end transcription of 10 s, a forced 40 output tokens (``min_length =
    max_length``: random weights would stop anywhere), 5 beams and greedy: NumPy
    ``Speech2Text.generate`` vs transformers ``generate``, features included for both;
(c) a batch of 32 utterances of 2-15 s, 5 beams, 20 forced tokens, in one call each;
(d) peak resident memory of a fresh process with one library, transcribing 10 s;
(e) how cost grows with length: the encoder alone on 10 to 240 s, time and memory growth,
    each in a fresh process;
(f) where NumPy's time goes: a profile of (a) at 10 s and of (b);
(g) the distance of each to the FLOP bound (benchmarks/flops.py, shown in
    docs/performance.md) at this machine's float32 matmul peak, and a verdict per target.
"""

from __future__ import annotations

import argparse
import collections
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).parent))
sys.path.insert(0, str(Path(__file__).parent.parent))
from common import best_time, note, print_table, save  # noqa: E402
from common import verdicts as verdicts_of  # noqa: E402
from flops import cross_kv_flops, decoder_flops, decoder_step_bytes, decoder_step_flops, encoder_flops  # noqa: E402

from minis2t.io.config import S2T_SMALL  # noqa: E402
from minis2t.reference.model import subsampled_lengths  # noqa: E402
TOKENS = 40  # forced output length for (b)
BEAMS = 5
BATCH, BATCH_TOKENS = 32, 20  # (c): utterances of 2-15 s, forced output length
GROWTH_SECONDS = (10, 30, 60, 120, 240)  # (e)
TARGETS = dict(encoder_twin=1.0, encoder_transformers=0.8, transcription=0.5, batch=0.5, memory=0.6)


def build():
    """The transformers model, minis2t's Speech2Text and the twin's params, same weights."""
    import torch

    import minis2t
    import parity.model as tm
    from parity.transformers_oracle import random_model

    hf, config, weights = random_model(S2T_SMALL, seed=0)
    return hf, minis2t.Speech2Text(config, weights), tm.to_torch(weights, torch.float32)


def audio(seconds: float, start: float = 0.0) -> np.ndarray:
    """Real speech: the test recordings (42 s) strung together, repeated as often as
    ``seconds`` needs, from ``start`` seconds in."""
    import minis2t

    speech = Path(__file__).parent.parent / "tests" / "data" / "speech"
    pool = np.concatenate([minis2t.load_audio(p) for p in sorted(speech.glob("*.wav"))])
    first = int(start * 16000) % len(pool)
    return np.resize(np.roll(pool, -first), int(seconds * 16000)).astype(np.float32)


def features(seconds: float):
    import minis2t

    return minis2t.FeatureExtractor()(audio(seconds))


def matmul_peak() -> float:
    a = np.random.default_rng(0).standard_normal((2048, 2048)).astype(np.float32)
    t = best_time(lambda: a @ a, repeats=5)
    return 2 * 2048**3 / t / 1e9


# After a product OpenBLAS's worker threads keep spinning on their cores for about 0.1 s
# (measured here: 0.11 s of CPU while the caller sleeps; torch's OpenMP threads 0.01 s).
# A library timed right after NumPy would share its cores with them, so every timed call
# starts after a pause that lets the previous call's threads go to sleep.
SETTLE_SECONDS = 0.25


def interleaved(fns: dict, repeats: int) -> dict:
    """Best time of each function, the functions taking turns (after one warm-up each),
    each timed call after a pause (``SETTLE_SECONDS``)."""
    for fn in fns.values():
        fn()
    times = {name: [] for name in fns}
    for i in range(repeats):
        for name in list(fns)[:: 1 if i % 2 else -1]:
            time.sleep(SETTLE_SECONDS)
            start = time.perf_counter()
            fns[name]()
            times[name].append(time.perf_counter() - start)
    return {name: min(t) for name, t in times.items()}


def bench_encoder(hf, ours, twin, seconds_list, peak):
    import torch

    import parity.model as tm

    rows, results = [], {}
    for seconds in seconds_list:
        batch = features(seconds)
        x, mask = batch["input_features"], batch["attention_mask"]
        tx, tmask = torch.from_numpy(x), torch.from_numpy(mask)
        with torch.no_grad():
            t = interleaved({"numpy": lambda: ours.encode(x, mask),
                             "twin": lambda: tm.encode(twin, ours.config, tx, tmask),
                             "transformers": lambda: hf.model.encoder(tx, attention_mask=tmask)}, 5)  # fmt: skip
        bound = encoder_flops(ours.config, x.shape[1]) / (peak * 1e9)
        results[f"{seconds:g} s"] = dict(**t, flop_bound=bound)
        rows.append([f"{seconds:g} s", *(f"{t[k] * 1e3:.0f}" for k in ("numpy", "twin", "transformers")),
                     f"{t['numpy'] / t['twin']:.2f}", f"{t['numpy'] / t['transformers']:.2f}",
                     f"{bound * 1e3:.0f}", f"{t['numpy'] / bound:.1f}×"])  # fmt: skip
    print_table("(a) encoder forward, best of 5, interleaved (ms)",
                ["audio", "numpy", "twin", "transformers", "numpy/twin", "numpy/transformers",
                 "FLOP bound", "numpy/bound"], rows)  # fmt: skip
    return results


def _generate_pair(hf, ours, waves, beams: int, tokens: int):
    """Two callables transcribing ``waves`` (one batch) from the waveform: NumPy and transformers."""
    import torch
    from transformers import Speech2TextFeatureExtractor

    import minis2t

    options = dict(num_beams=beams, max_length=tokens + 1, min_length=tokens + 1)
    if beams > 1:
        options["early_stopping"] = True
    ours_extractor, hf_extractor = minis2t.FeatureExtractor(), Speech2TextFeatureExtractor()

    def run_numpy():
        f = ours_extractor(waves)
        return ours.generate(f["input_features"], f["attention_mask"], **options)

    def run_hf():
        f = hf_extractor(waves, sampling_rate=16000, return_tensors="pt", padding=True, return_attention_mask=True)
        with torch.no_grad():
            return hf.generate(input_features=f["input_features"], attention_mask=f["attention_mask"], **options)

    assert run_numpy().shape[1] == tokens + 1
    return run_numpy, run_hf, ours_extractor(waves)["input_features"].shape[1]


def _flops(config, frames: list[int], tokens: int, beams: int) -> float:
    total = 0.0
    for f in frames:
        s = int(subsampled_lengths(f, config.num_conv_layers))
        total += encoder_flops(config, f) + decoder_flops(config, s, tokens, beams)
    return total


def stream_bandwidth() -> float:
    """GB/s of one pass reading a 256 MB float32 array (a sum): how fast weights that do
    not fit in the caches can arrive."""
    a = np.ones(1 << 26, dtype=np.float32)
    return a.nbytes / best_time(lambda: np.add.reduce(a), repeats=5) / 1e9


def _memory_bound(config, frames: int, tokens: int, beams: int, peak: float, bandwidth: float) -> float:
    """Seconds for one utterance if the encoder ran at the FLOP peak and each decoding step
    took the longer of its FLOPs at the peak and its bytes (flops.decoder_step_bytes) at
    the streaming bandwidth: with few rows per weight, the step waits for memory."""
    s = int(subsampled_lengths(frames, config.num_conv_layers))
    compute = (encoder_flops(config, frames) + cross_kv_flops(config, s)) / (peak * 1e9)
    steps = sum(max(beams * decoder_step_flops(config, s, t) / (peak * 1e9),
                    decoder_step_bytes(config, s, t, beams) / (bandwidth * 1e9)) for t in range(1, tokens + 1))  # fmt: skip
    return compute + steps


def bench_generate(hf, ours, peak, bandwidth, seconds: float = 10.0):
    rows, results = [], {}
    wave = audio(seconds)
    for label, beams in ((f"{BEAMS} beams", BEAMS), ("greedy", 1)):
        run_numpy, run_hf, frames = _generate_pair(hf, ours, [wave], beams, TOKENS)
        t = interleaved({"numpy": run_numpy, "transformers": run_hf}, 3)
        bound = _flops(ours.config, [frames], TOKENS, beams) / (peak * 1e9)
        memory = _memory_bound(ours.config, frames, TOKENS, beams, peak, bandwidth)
        results[label] = dict(**t, numpy_rtf=t["numpy"] / seconds, flop_bound=bound, memory_bound=memory)
        rows.append([label, f"{t['numpy']:.3f}", f"{t['transformers']:.3f}", f"{t['numpy'] / t['transformers']:.2f}",
                     f"{t['numpy'] / seconds:.4f}", f"{bound:.3f}", f"{t['numpy'] / bound:.1f}×",
                     f"{memory:.3f}", f"{t['numpy'] / memory:.1f}×", f"{t['transformers'] / memory:.1f}×"])  # fmt: skip
    print_table(f"(b) transcription of {seconds:g} s, {TOKENS} tokens, features included, best of 3 (s)",
                ["search", "numpy", "transformers", "numpy/transformers", "numpy real-time factor",
                 "FLOP bound", "numpy/bound", "memory bound", "numpy/memory bound",
                 "transformers/memory bound"], rows)  # fmt: skip
    return results


def bench_batch(hf, ours, peak):
    rng = np.random.default_rng(1)
    lengths = rng.uniform(2, 15, BATCH)
    waves = [audio(s, start=float(rng.uniform(0, 40))) for s in lengths]
    run_numpy, run_hf, _ = _generate_pair(hf, ours, waves, BEAMS, BATCH_TOKENS)
    t = interleaved({"numpy": run_numpy, "transformers": run_hf}, 2)
    frames = [len(w) // 160 - 1 for w in waves]
    bound = _flops(ours.config, frames, BATCH_TOKENS, BEAMS) / (peak * 1e9)
    audio_s = float(lengths.sum())
    result = dict(**t, audio_seconds=audio_s, flop_bound=bound)
    print_table(f"(c) {BATCH} utterances of 2-15 s ({audio_s:.0f} s of audio) in one batch, {BEAMS} beams, "
                f"{BATCH_TOKENS} tokens each, best of 2 (s)",
                ["", "seconds", "utterances per second", "real-time factor", "numpy/transformers", "FLOP bound"],
                [["numpy", f"{t['numpy']:.2f}", f"{BATCH / t['numpy']:.1f}", f"{t['numpy'] / audio_s:.4f}",
                  f"{t['numpy'] / t['transformers']:.2f}", f"{bound:.2f}"],
                 ["transformers", f"{t['transformers']:.2f}", f"{BATCH / t['transformers']:.1f}",
                  f"{t['transformers'] / audio_s:.4f}", "", ""]])  # fmt: skip
    return result


_CHILD_PRELUDE = f"""
import sys, time
sys.path.insert(0, {str(Path(__file__).parent)!r}); sys.path.insert(0, {str(Path(__file__).parent.parent)!r})
import model as b
def status(key):  # MB, from /proc (ru_maxrss would include the parent process's peak)
    line = next(l for l in open("/proc/self/status") if l.startswith(key))
    return int(line.split()[1]) / 1024
"""


def _child(code: str) -> list[float]:
    out = subprocess.run([sys.executable, "-c", _CHILD_PRELUDE + code], capture_output=True, text=True)
    if out.returncode:
        raise RuntimeError(out.stderr[-2000:])
    return [float(v) for v in out.stdout.strip().splitlines()[-1].split()]


def peak_memory(model_dir: str, which: str) -> dict:
    """Resident memory (MB) of a fresh process that loads the model from ``model_dir``
    with one library only and transcribes 10 s once: resident after loading, and the
    process's peak (loading included)."""
    loaded, peak = _child(f"""
wave = b.audio(10.0)
opts = dict(num_beams=b.BEAMS, max_length=b.TOKENS + 1, min_length=b.TOKENS + 1)
if {which!r} == "numpy":
    import minis2t
    model = minis2t.Speech2Text.from_pretrained({model_dir!r})
    loaded = status('VmRSS')
    f = minis2t.FeatureExtractor()(wave)
    model.generate(f["input_features"], f["attention_mask"], **opts)
else:
    import torch
    from transformers import Speech2TextFeatureExtractor, Speech2TextForConditionalGeneration
    model = Speech2TextForConditionalGeneration.from_pretrained({model_dir!r}).eval()
    loaded = status('VmRSS')
    f = Speech2TextFeatureExtractor()(wave, sampling_rate=16000, return_tensors="pt")
    with torch.no_grad():
        model.generate(input_features=f["input_features"], attention_mask=f["attention_mask"], **opts)
print(loaded, status('VmHWM'))
""")
    return {"after_load": loaded, "peak": peak}


def encoder_growth(model_dir: str, which: str, seconds: float) -> dict:
    """One encoder pass over ``seconds`` of speech in a fresh process: its time, and how
    far it raised the process's peak resident memory above where it stood before the pass
    (features computed and model loaded; the kernel's peak counter reset at that point)."""
    elapsed, growth = _child(f"""
import numpy as np
import minis2t
f = minis2t.FeatureExtractor()(b.audio({seconds}))
if {which!r} == "numpy":
    model = minis2t.Speech2Text.from_pretrained({model_dir!r})
    run = lambda: model.encode(f["input_features"], f["attention_mask"])
else:
    import torch
    from transformers import Speech2TextForConditionalGeneration
    model = Speech2TextForConditionalGeneration.from_pretrained({model_dir!r}).eval()
    x, mask = torch.from_numpy(f["input_features"]), torch.from_numpy(f["attention_mask"])
    def run():
        with torch.no_grad():
            return model.model.encoder(x, attention_mask=mask)
open("/proc/self/clear_refs", "w").write("5")  # reset the peak to the present (Linux >= 4.0)
before = status('VmRSS')
start = time.perf_counter()
out = run()
print(time.perf_counter() - start, status('VmHWM') - before)
""")
    return {"seconds": elapsed, "growth_mb": growth}


def bench_growth(model_dir: str, peak: float, config) -> dict:
    results, rows = {}, []
    for seconds in GROWTH_SECONDS:
        r = {w: encoder_growth(model_dir, w, seconds) for w in ("numpy", "transformers")}
        frames = int(seconds * 100) - 1
        r["flop_bound"] = encoder_flops(config, frames) / (peak * 1e9)
        results[f"{seconds} s"] = r
        n, t = r["numpy"], r["transformers"]
        rows.append([f"{seconds} s", f"{n['seconds']:.2f}", f"{t['seconds']:.2f}", f"{n['seconds'] / seconds:.4f}",
                     f"{n['seconds'] / t['seconds']:.2f}", f"{r['flop_bound']:.2f}", f"{n['growth_mb']:.0f}",
                     f"{t['growth_mb']:.0f}", f"{n['growth_mb'] / max(t['growth_mb'], 1):.2f}"])  # fmt: skip
    print_table("(e) the encoder alone on long inputs, one pass in a fresh process: time (s) and "
                "growth of peak resident memory during the pass (MB)",
                ["audio", "numpy s", "transformers s", "numpy real-time factor", "numpy/transformers",
                 "FLOP bound s", "numpy MB", "transformers MB", "numpy/transformers MB"], rows)  # fmt: skip
    return results


def profile(ours, seconds: float = 10.0) -> dict:
    """Where NumPy's time goes: every call of the model's building blocks timed, for the
    encoder alone (a) and for the beam-5 transcription (b). ``other`` is the rest (search
    bookkeeping — top-k, beam reordering, n-gram and length rules — and Python)."""
    import minis2t
    import minis2t.engine.model as em
    import minis2t.engine.nn as enn
    import minis2t.reference.model as rm
    import minis2t.reference.nn as nn

    spent = collections.Counter()

    def timed(name, fn):
        def wrapper(*args, **kwargs):
            start = time.perf_counter()
            try:
                return fn(*args, **kwargs)
            finally:
                spent[name] += time.perf_counter() - start

        return wrapper

    originals = {(mod, name): getattr(mod, name) for mod, name in
                 [(em, "linear"), (em, "layer_norm"), (rm, "conv1d"), (em, "lm_head"), (enn, "softmax"),
                  (em, "attention")]}  # fmt: skip
    activation = nn.ACTIVATIONS[ours.config.activation_function]
    wave = audio(seconds)
    extractor = minis2t.FeatureExtractor()
    f = extractor(wave)
    options = dict(num_beams=BEAMS, max_length=TOKENS + 1, min_length=TOKENS + 1, early_stopping=True)
    jobs = {"encoder": lambda: ours.encode(f["input_features"], f["attention_mask"]),
            "transcription": lambda: ours.generate(extractor(wave)["input_features"], None, **options)}  # fmt: skip
    results = {}
    try:
        for (mod, name), fn in originals.items():
            setattr(mod, name, timed(name, fn))
        nn.ACTIVATIONS[ours.config.activation_function] = timed("activation", activation)  # the engine's too
        fe = minis2t.FeatureExtractor.__call__
        minis2t.FeatureExtractor.__call__ = timed("features", fe)
        for job, run in jobs.items():
            run()
            spent.clear()
            start = time.perf_counter()
            for _ in range(3):
                run()
            total = (time.perf_counter() - start) / 3
            parts = {k: v / 3 for k, v in spent.items()}
            parts["attention"] = parts.get("attention", 0.0) - parts.get("softmax", 0.0)  # the two products
            parts["other"] = total - sum(parts.values())
            results[job] = dict(total=total, parts=parts)
    finally:
        for (mod, name), fn in originals.items():
            setattr(mod, name, fn)
        nn.ACTIVATIONS[ours.config.activation_function] = activation
        minis2t.FeatureExtractor.__call__ = fe
    names = ["linear", "lm_head", "attention", "softmax", "layer_norm", "activation", "conv1d", "features", "other"]
    rows = []
    for name in names:
        cells = [name]
        for job in jobs:
            part, total = results[job]["parts"].get(name, 0.0), results[job]["total"]
            cells += [f"{part * 1e3:.1f}", f"{100 * part / total:.0f} %"]
        rows.append(cells)
    rows.append(["total", *(c for job in jobs for c in (f"{results[job]['total'] * 1e3:.1f}", "100 %"))])
    print_table(f"(f) where NumPy's time goes (ms per call, mean of 3): the encoder on {seconds:g} s; "
                f"the {BEAMS}-beam transcription of (b)",
                ["part", "encoder ms", "share", "transcription ms", "share"], rows)  # fmt: skip
    return results


def verdicts(results: dict) -> None:
    verdict = lambda ok: "**met**" if ok else "**missed**"  # noqa: E731
    lines = []
    enc = results["encoder"]
    twin = [e["numpy"] / e["twin"] for e in enc.values()]
    hf = [e["numpy"] / e["transformers"] for e in enc.values()]
    lines.append(f"encoder at most {TARGETS['encoder_twin']}× the twin (every length): "
                 f"{verdict(max(twin) <= TARGETS['encoder_twin'])}, {min(twin):.2f}–{max(twin):.2f}×")
    lines.append(f"encoder at most {TARGETS['encoder_transformers']}× transformers (every length): "
                 f"{verdict(max(hf) <= TARGETS['encoder_transformers'])}, {min(hf):.2f}–{max(hf):.2f}×")
    if "generate" in results:
        for label, g in results["generate"].items():
            r = g["numpy"] / g["transformers"]
            goal = TARGETS["transcription"] * g["transformers"]
            lines.append(f"10 s transcription, {label}, at most {TARGETS['transcription']}× transformers: "
                         f"{verdict(r <= TARGETS['transcription'])}, {r:.2f}× (the target is {goal:.3f} s, "
                         f"{goal / g['memory_bound']:.1f}× the memory bound; NumPy takes "
                         f"{g['numpy'] / g['memory_bound']:.1f}×)")
    if "batch" in results:
        r = results["batch"]["numpy"] / results["batch"]["transformers"]
        lines.append(f"{BATCH} utterances batched at most {TARGETS['batch']}× transformers' time: "
                     f"{verdict(r <= TARGETS['batch'])}, {r:.2f}×")
    if "memory_mb" in results:
        m = results["memory_mb"]
        r = m["numpy"]["peak"] / m["transformers"]["peak"]
        lines.append(f"peak resident memory at most {TARGETS['memory']}× transformers': "
                     f"{verdict(r <= TARGETS['memory'])}, {r:.2f}×")
    if "growth" in results:
        worst = max(g["numpy"]["growth_mb"] / max(g["transformers"]["growth_mb"], 1) for g in results["growth"].values())
        lines.append(f"memory growth with length no worse than transformers' (10–240 s): "
                     f"{verdict(worst <= 1.0)}, at most {worst:.2f}× theirs")
    verdicts_of("issue 17", lines, results)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true", help="5 s encoder only, printed, not saved")
    args = parser.parse_args()
    import torch

    print(f"threads: torch {torch.get_num_threads()}; float32 matmul peak ", end="")
    peak, bandwidth = matmul_peak(), stream_bandwidth()
    print(f"{peak:.0f} GFLOP/s; streaming reads {bandwidth:.1f} GB/s")
    note(f"Threads: {torch.get_num_threads()} for torch and for NumPy's BLAS. Float32 matmul peak measured "
         f"in this run: {peak:.0f} GFLOP/s (2048 × 2048 products); a FLOP bound is the job's FLOP count "
         f"(benchmarks/flops.py) at that peak. Streaming reads: {bandwidth:.1f} GB/s (a sum over 256 MB); "
         f"a memory bound adds to the encoder's FLOP bound each decoding step at the longer of its FLOPs "
         f"at the peak and its bytes (weights and caches it must read, flops.decoder_step_bytes) at "
         f"that rate.\n")  # fmt: skip
    hf, ours, twin = build()
    results = {"matmul_peak_gflops": peak, "stream_gbps": bandwidth}
    results["encoder"] = bench_encoder(hf, ours, twin, [5.0] if args.quick else [5.0, 10.0, 20.0], peak)
    if not args.quick:
        results["generate"] = bench_generate(hf, ours, peak, bandwidth)
        results["batch"] = bench_batch(hf, ours, peak)
        with tempfile.TemporaryDirectory() as tmp:
            hf.save_pretrained(tmp)
            memory = {w: peak_memory(tmp, w) for w in ("numpy", "transformers")}
            results["memory_mb"] = memory
            print_table("(d) resident memory of a fresh process transcribing 10 s (MB)",
                        ["", "resident after loading", "peak (loading included)"],
                        [[w, f"{m['after_load']:.0f}", f"{m['peak']:.0f}"] for w, m in memory.items()])  # fmt: skip
            results["growth"] = bench_growth(tmp, peak, ours.config)
        results["profile"] = profile(ours)
    verdicts(results)
    if not args.quick:  # a partial run must not replace the committed complete one
        save("model", results)


if __name__ == "__main__":
    main()
