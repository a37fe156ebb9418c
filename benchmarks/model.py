"""Benchmark the model at the released s2t-small size: minis2t vs the twin vs transformers.

    python benchmarks/model.py [--quick]

Random weights with facebook/s2t-small-librispeech-asr's configuration (d_model 256,
12 + 6 layers, 4 heads, FFN 2048, conv channels 1024, vocabulary 10 000): speed does not
depend on the values. Everything is measured in this run, on the same inputs and threads.

(a) encoder forward for 5, 10 and 20 s of audio: NumPy vs twin (torch CPU, eager) vs
    transformers;
(b) end-to-end transcription of 10 s of audio, 5 beams, a forced 40 output tokens
    (``min_length = max_length``: random weights would stop anywhere): NumPy
    ``Speech2Text.generate`` vs transformers ``generate`` (features included for both);
(c) the front end (see benchmarks/features.py);
(d) peak resident memory of each, in a fresh process;
(e) real-time factor and achieved GFLOP/s, against the model's FLOP count (benchmarks/flops.py,
    shown in docs/performance.md) and this machine's float32 matmul peak.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).parent))
sys.path.insert(0, str(Path(__file__).parent.parent))
from common import best_time, note, print_table, save  # noqa: E402
from flops import decoder_flops, encoder_flops  # noqa: E402

from minis2t.config import S2T_SMALL  # noqa: E402
TOKENS = 40  # forced output length for (b)
BEAMS = 5


def build():
    """The transformers model, minis2t's Speech2Text and the twin's params, same weights."""
    import torch
    from transformers import Speech2TextConfig, Speech2TextForConditionalGeneration

    import minis2t
    import parity.model as tm

    torch.manual_seed(0)
    hf = Speech2TextForConditionalGeneration(Speech2TextConfig(**S2T_SMALL)).eval()
    config = minis2t.ModelConfig.from_dict(hf.config.to_dict())
    weights = minis2t.checkpoint.prepare_weights(
        config, {k: v.detach().numpy().copy() for k, v in hf.state_dict().items()}, np.float32
    )
    return hf, minis2t.Speech2Text(config, weights), tm.to_torch(weights, torch.float32)


def audio(seconds: float) -> np.ndarray:
    import minis2t

    speech = Path(__file__).parent.parent / "tests" / "data" / "speech"
    pool = np.concatenate([minis2t.load_audio(p) for p in sorted(speech.glob("*.wav"))])
    return pool[: int(seconds * 16000)].copy()


def features(seconds: float):
    import minis2t

    return minis2t.FeatureExtractor()(audio(seconds))


def matmul_peak() -> float:
    a = np.random.default_rng(0).standard_normal((2048, 2048)).astype(np.float32)
    t = best_time(lambda: a @ a, repeats=5)
    return 2 * 2048**3 / t / 1e9


def bench_encoder(hf, ours, twin, seconds_list):
    import torch

    import parity.model as tm

    rows, results = [], {}
    for seconds in seconds_list:
        batch = features(seconds)
        x, mask = batch["input_features"], batch["attention_mask"]
        tx, tmask = torch.from_numpy(x), torch.from_numpy(mask)
        t_np = best_time(lambda: ours.encode(x, mask), repeats=3)
        with torch.no_grad():
            t_twin = best_time(lambda: tm.encode(twin, ours.config, tx, tmask), repeats=3)
            t_hf = best_time(lambda: hf.model.encoder(tx, attention_mask=tmask), repeats=3)
        gflops = encoder_flops(ours.config, x.shape[1]) / t_np / 1e9
        results[f"{seconds:g} s"] = dict(numpy=t_np, twin=t_twin, transformers=t_hf, numpy_gflops=gflops)
        rows.append([f"{seconds:g} s", f"{t_np * 1e3:.0f}", f"{t_twin * 1e3:.0f}", f"{t_hf * 1e3:.0f}",
                     f"{t_np / t_twin:.2f}", f"{t_np / t_hf:.2f}", f"{gflops:.0f}"])  # fmt: skip
    print_table("(a) encoder forward, best of 3 (ms)",
                ["audio", "numpy", "twin", "transformers", "numpy/twin", "numpy/transformers", "numpy GFLOP/s"], rows)  # fmt: skip
    return results


def bench_generate(hf, ours, seconds: float = 10.0):
    import torch

    wave = audio(seconds)
    options = dict(num_beams=BEAMS, max_length=TOKENS + 1, min_length=TOKENS + 1, early_stopping=True)

    def run_numpy():
        batch = ours_extractor(wave)
        return ours.generate(batch["input_features"], batch["attention_mask"], **options)

    def run_hf():
        batch = hf_extractor(wave, sampling_rate=16000, return_tensors="pt")
        with torch.no_grad():
            return hf.generate(input_features=batch["input_features"], attention_mask=batch["attention_mask"], **options)

    import minis2t
    from transformers import Speech2TextFeatureExtractor

    ours_extractor, hf_extractor = minis2t.FeatureExtractor(), Speech2TextFeatureExtractor()
    assert run_numpy().shape[1] == TOKENS + 1
    t_np = best_time(run_numpy, repeats=3)
    t_hf = best_time(run_hf, repeats=3)
    frames = ours_extractor(wave)["input_features"].shape[1]
    s = ((frames - 1) // 2) // 2 + 1
    flops = encoder_flops(ours.config, frames) + decoder_flops(ours.config, s, TOKENS, BEAMS)
    result = dict(numpy=t_np, transformers=t_hf, numpy_rtf=t_np / seconds, transformers_rtf=t_hf / seconds,
                  flops=flops, numpy_gflops=flops / t_np / 1e9)  # fmt: skip
    print_table(f"(b) transcription of {seconds:g} s, {BEAMS} beams, {TOKENS} tokens, best of 3",
                ["", "seconds", "real-time factor", "GFLOP/s"],
                [["numpy", f"{t_np:.3f}", f"{t_np / seconds:.4f}", f"{flops / t_np / 1e9:.0f}"],
                 ["transformers", f"{t_hf:.3f}", f"{t_hf / seconds:.4f}", f"{flops / t_hf / 1e9:.0f}"],
                 ["numpy / transformers", f"{t_np / t_hf:.2f}", "", ""]])  # fmt: skip
    return result


def peak_memory(model_dir: str, which: str) -> dict:
    """Resident memory (MB) of a fresh process that loads the model from ``model_dir``
    with one library only and transcribes 10 s once: resident after loading, and the
    process's peak (loading included)."""
    code = f"""
import sys
sys.path.insert(0, {str(Path(__file__).parent)!r}); sys.path.insert(0, {str(Path(__file__).parent.parent)!r})
import model as b
def status(key):  # MB, from /proc (ru_maxrss would include the parent process's peak)
    line = next(l for l in open("/proc/self/status") if l.startswith(key))
    return int(line.split()[1]) / 1024
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
"""
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    loaded, peak = map(float, out.stdout.strip().splitlines()[-1].split())
    return {"after_load": loaded, "peak": peak}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true", help="5 s encoder only, no memory")
    args = parser.parse_args()
    import torch

    print(f"threads: torch {torch.get_num_threads()}; float32 matmul peak ", end="")
    peak = matmul_peak()
    print(f"{peak:.0f} GFLOP/s")
    hf, ours, twin = build()
    results = {"matmul_peak_gflops": peak}
    results["encoder"] = bench_encoder(hf, ours, twin, [5.0] if args.quick else [5.0, 10.0, 20.0])
    if not args.quick:
        results["generate"] = bench_generate(hf, ours)
        import tempfile

        with tempfile.TemporaryDirectory() as tmp:
            hf.save_pretrained(tmp)
            memory = {w: peak_memory(tmp, w) for w in ("numpy", "transformers")}
        results["memory_mb"] = memory
        print_table("(d) resident memory of a fresh process transcribing 10 s (MB)",
                    ["", "resident after loading", "peak (loading included)"],
                    [[w, f"{m['after_load']:.0f}", f"{m['peak']:.0f}"] for w, m in memory.items()])  # fmt: skip
        g = results["generate"]
        note(f"\n(e) The transcription's FLOP count (benchmarks/flops.py) is {g['flops'] / 1e9:.1f} GFLOP: "
             f"real-time factor {g['numpy_rtf']:.4f}, {g['numpy_gflops']:.0f} GFLOP/s achieved against a "
             f"float32 matmul peak of {peak:.0f} GFLOP/s measured in this run (at the peak the real-time "
             f"factor would be {g['flops'] / (peak * 1e9) / 10:.4f}).")  # fmt: skip
        enc = results["encoder"]
        worst = max(e["numpy"] / e["twin"] for e in enc.values())
        best = min(e["numpy"] / e["twin"] for e in enc.values())
        verdict = lambda ok: "**met**" if ok else "**missed**"  # noqa: E731
        note("\nAgainst the targets:\n")
        note(f"* end-to-end beam-5 transcription at most 0.8× transformers' time: "
             f"{verdict(g['numpy'] / g['transformers'] <= 0.8)}, {g['numpy'] / g['transformers']:.2f}×")
        note(f"* real-time factor at most 0.05 for 10 s with 5 beams: {verdict(g['numpy_rtf'] <= 0.05)}, "
             f"{g['numpy_rtf']:.3f}")
        note(f"* NumPy encoder at most 1.2× the twin: {verdict(worst <= 1.2)}, {best:.2f}–{worst:.2f}×")
    save("model", results)


if __name__ == "__main__":
    main()
