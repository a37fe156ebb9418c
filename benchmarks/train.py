"""Benchmark one training step at the bundled model's size: NumPy (minis2t.train) vs the
twin (torch CPU autograd, same threads), and each one's peak memory.

    python benchmarks/train.py

A step is what the recipe repeats: forward, cross-entropy and the auxiliary CTC loss,
backward, gradient clipping, AdamW — on a batch of 16 utterances of 6 s (9 600 frames,
under the recipe's 12 000-frame batches), float32, fresh weights. Target (issue 13): the
NumPy step at most 2x the twin's.
"""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent))
from common import note, print_table, save  # noqa: E402

BATCH, FRAMES, TOKENS = 16, 600, 14


def setup():
    import minis2t
    from minis2t import train as nt

    sys.path.insert(0, str(HERE.parent / "recipes" / "synthetic_speech"))
    from run import ARCHITECTURE  # the bundled model's architecture

    config = minis2t.ModelConfig(**{**ARCHITECTURE, "vocab_size": 256})
    rng = np.random.default_rng(0)
    feats = [rng.standard_normal((FRAMES, 80)).astype(np.float32) for _ in range(BATCH)]
    targets = [rng.integers(4, 256, TOKENS - 1).tolist() + [2] for _ in range(BATCH)]
    x, mask, labels = nt.collate(feats, targets)
    return config, nt.init_weights(config, 0), nt.init_ctc_head(config, rng), (x, mask, labels)


def numpy_step():
    import minis2t
    from minis2t import train as nt

    config, weights, head, batch = setup()
    model = minis2t.Speech2Text(config, weights)
    batches = iter(lambda: batch, None)
    return lambda: nt.fit(model, batches, 1, ctc_head=head, ctc_weight=0.3, smoothing=0.1, warmup=1)


def twin_step():
    import torch

    import minis2t
    from parity import train as pt

    torch.set_num_threads(2)
    config, weights, head, batch = setup()
    positions = minis2t.Speech2Text(config, weights).positions
    batches = iter(lambda: batch, None)
    return lambda: pt.fit(weights, config, positions, batches, 1, ctc_head=head, ctc_weight=0.3, smoothing=0.1,
                          warmup=1, dtype=torch.float32)  # fmt: skip


def peak_memory(which: str) -> float:
    """Peak resident memory (MB) of a fresh process that runs one step."""
    code = (f"import sys; sys.path.insert(0, {str(HERE)!r}); import train as b; "
            f"b.{which}_step()(); print(next(l for l in open('/proc/self/status') if l.startswith('VmHWM')).split()[1])")  # fmt: skip
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=HERE.parent)
    return int(out.stdout.strip().splitlines()[-1]) / 1024


REPEATS = 7


def main() -> None:
    # Interleaved (numpy, twin, numpy, twin, ...), best of each: a shared machine's load
    # changes over seconds, and must not land on one side of the ratio only.
    steps = {"numpy": numpy_step(), "twin": twin_step()}
    times: dict[str, list[float]] = {name: [] for name in steps}
    for name, step in steps.items():
        step()  # warm-up
    for _ in range(REPEATS):
        for name, step in steps.items():
            start = time.perf_counter()
            step()
            times[name].append(time.perf_counter() - start)
    t_np, t_twin = min(times["numpy"]), min(times["twin"])
    memory = {w: peak_memory(w) for w in ("numpy", "twin")}
    print_table(f"one training step, {BATCH} x {FRAMES} frames, {TOKENS} tokens, best of {REPEATS} (interleaved)",
                ["", "seconds", "peak memory (MB)"],
                [["numpy (minis2t.train)", f"{t_np:.2f}", f"{memory['numpy']:.0f}"],
                 ["twin (torch autograd)", f"{t_twin:.2f}", f"{memory['twin']:.0f}"],
                 ["numpy / twin", f"{t_np / t_twin:.2f}", f"{memory['numpy'] / memory['twin']:.2f}"]])  # fmt: skip
    ok = t_np / t_twin <= 2
    note(f"\nTarget: a NumPy step at most 2× the twin's: {'**met**' if ok else '**missed**'}, {t_np / t_twin:.2f}×.")
    save("train", {"numpy_seconds": t_np, "twin_seconds": t_twin, "peak_mb": memory})


if __name__ == "__main__":
    main()
