"""Benchmark the front end: minis2t vs transformers' NumPy path vs kaldi-native-fbank.

    python benchmarks/features.py

Two workloads, all measured in this run on the same inputs and threads: 60 s of audio
(one utterance) and a batch of 32 utterances of 2-15 s. Printed: best-of-5 times and
the ratios transformers / minis2t and kaldi-native-fbank / minis2t (above 1 = minis2t
is faster). Target from the issue: at least 3x faster than transformers' NumPy path.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).parent))
from common import best_time, note, print_table, save  # noqa: E402

import minis2t  # noqa: E402

SPEECH = Path(__file__).parent.parent / "tests" / "data" / "speech"


def speech_of(seconds: float, rng) -> np.ndarray:
    """Real speech, the bundled recordings concatenated and cut to ``seconds``."""
    waves = [minis2t.load_audio(p) for p in sorted(SPEECH.glob("*.wav")) + sorted(SPEECH.glob("*.flac"))]
    pool = np.concatenate(waves * 2)  # 2 x 48 s
    start = rng.integers(0, pool.shape[0] - int(seconds * 16000))
    return pool[start : start + int(seconds * 16000)].copy()


def kaldi_native(waves, bins=80):
    import kaldi_native_fbank as knf

    opts = knf.FbankOptions()
    opts.frame_opts.dither = 0.0
    opts.mel_opts.num_bins = bins
    out = []
    for w in waves:
        online = knf.OnlineFbank(opts)
        online.accept_waveform(16000, w * 32768)
        online.input_finished()
        out.append(np.stack([online.get_frame(i) for i in range(online.num_frames_ready)]))
    return out


def main() -> None:
    from transformers import Speech2TextFeatureExtractor

    rng = np.random.default_rng(0)
    long = [speech_of(60.0, rng)]
    batch = [speech_of(float(s), rng) for s in rng.uniform(2, 15, 32)]
    ours, theirs = minis2t.FeatureExtractor(), Speech2TextFeatureExtractor()
    rows, results = [], {}
    for name, waves in (("60 s, 1 utterance", long), ("32 utterances, 2-15 s", batch)):
        t_ours = best_time(lambda: ours(waves, padding=True))
        t_raw = best_time(lambda: [minis2t.fbank(w) for w in waves])
        t_hf = best_time(lambda: theirs(waves, sampling_rate=16000, padding=True))
        t_knf = best_time(lambda: kaldi_native(waves))
        results[name] = dict(minis2t=t_ours, minis2t_fbank_only=t_raw, transformers=t_hf,
                             kaldi_native_fbank=t_knf)  # fmt: skip
        rows.append([name, f"{t_ours * 1e3:.1f}", f"{t_raw * 1e3:.1f}", f"{t_hf * 1e3:.1f}",
                     f"{t_knf * 1e3:.1f}", f"{t_hf / t_ours:.2f}x", f"{t_knf / t_ours:.2f}x"])  # fmt: skip
    print_table(
        "front end, best of 5 (ms); ratios = their time / minis2t FeatureExtractor time",
        ["workload", "minis2t", "minis2t fbank f32", "transformers", "knf",
         "transformers/minis2t", "knf/minis2t"],  # fmt: skip
        rows,
    )
    worst = min(r["transformers"] / r["minis2t"] for r in results.values())
    note(f"\nTarget: at least 3× faster than transformers' NumPy path: "
         f"{'**met**' if worst >= 3 else '**missed**'}, {worst:.2f}× on the slower workload.")
    save("features", {"seconds": results})


if __name__ == "__main__":
    main()
