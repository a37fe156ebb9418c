# ---
# jupyter:
#   jupytext:
#     formats: py:percent
#   kernelspec:
#     display_name: Python 3
#     language: python
#     name: python3
# ---

# %% [markdown]
# # Recordings of any length: pauses, cuts and word times
#
# The segmenter that `minis2t transcribe` runs on a long recording, taken apart on a
# person's speech: President Kennedy's "ask not" sentence (1961, public domain, in
# `tests/data/speech/`). Knobs: **the recording** and **the limit** a segment may not
# exceed.
# Page 13 of the site (*Recordings of any length*) explains each step.

# %%
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np

import minis2t
from minis2t.app import longform as L
from minis2t.app import timing

ROOT = Path.cwd() if (Path.cwd() / "tests").is_dir() else Path.cwd().parent  # run from the checkout or notebooks/
RECORDING = ROOT / "tests" / "data" / "speech" / "en_jfk_inaugural_1961_16k.wav"  # knob
LIMIT = 1.5  # knob: seconds a segment may last (the bundled model takes 60)
wave = minis2t.load_audio(RECORDING)
energies = L.frame_energies(wave)  # [T] dB, one per 25 ms frame every 10 ms
print(f"{wave.shape[0] / 16000:.2f} s, {energies.shape[0]} frames")

# %% [markdown]
# ## The threshold follows the recording
#
# The 10th percentile of the frame energies is the noise floor, the 95th the speech
# level; a frame is speech above `floor + 0.35 × (level − floor)`.

# %%
floor, level = np.percentile(energies, 10), np.percentile(energies, 95)
threshold = L.Segmenter(max_seconds=60).threshold(energies)
print(f"floor {floor:.1f} dB, level {level:.1f} dB -> threshold {threshold:.1f} dB")


# %%
def segments_of(wave, limit):
    segmenter = L.Segmenter(max_seconds=limit)
    return segmenter.feed(wave) + segmenter.finish()


fig, axes = plt.subplots(2, 1, figsize=(7.5, 5), sharex=True)
for ax, limit in zip(axes, (60.0, LIMIT)):
    t = np.arange(energies.shape[0]) / 100
    ax.plot(t, energies, lw=0.7)
    ax.axhline(threshold, color="C3", ls="--")
    for k, s in enumerate(segments_of(wave, limit)):
        ax.axvspan(s.start, s.end, color=f"C{2 + k % 2}", alpha=0.2)
    ax.set(ylabel="dB", ylim=(-80, 0), title=f"limit {limit:g} s")
axes[-1].set_xlabel("seconds")
plt.show()
for s in segments_of(wave, LIMIT):
    print(f"{s.start:5.2f} - {s.end:5.2f} s")

# %% [markdown]
# ## Dynamic time warping on a small matrix
#
# A word's time comes from the cheapest monotonic path through the decoder's
# cross-attention (tokens × frames). Here a matrix small enough to check by hand.

# %%
A = np.array([[0.1, 0.7, 0.5, 0.1, 0.0, 0.0],
              [0.0, 0.1, 0.4, 0.6, 0.2, 0.1],
              [0.0, 0.0, 0.1, 0.2, 0.5, 0.8]])  # fmt: skip
rows, cols = timing.dtw(-A)
print("path:", list(zip(rows.tolist(), cols.tolist())), "cost", round(-A[rows, cols].sum(), 3))
print("token starts:", timing.token_starts(A, free_start=False))

# %% [markdown]
# ## Exercises
#
# Each has a cell under it that checks your answer: put it in the variable, run the cell.
# (On the site the checking cells are hidden; they ran when the page was built.)
#
# 1. Multiply the recording by 10. By how many dB does the threshold move? Put the
#    number in `shift_db`.

# %%
shift_db = 20.0  # your answer

# %% tags=["answer-check"]
louder = L.Segmenter(max_seconds=60).threshold(L.frame_energies(10 * wave))
assert abs((louder - threshold) - shift_db) < 0.05, f"the threshold moved by {louder - threshold:.2f} dB"
assert [(s.start, s.end) for s in segments_of(10 * wave, 60.0)] == [(s.start, s.end) for s in segments_of(wave, 60.0)]
print("right")  # no more: running this notebook should not give the answer away

# %% [markdown]
# 2. With `LIMIT = 1.5`, the first phrase is cut. At which frame is its quietest point in
#    the search window (75 to 149 frames after the region's first speech frame, which is
#    0.15 s after the first segment's start)? Put the frame number in `quietest`.

# %%
region_start = int(round(segments_of(wave, 1.5)[0].start * 100)) + 15
quietest = region_start + 75 + int(np.argmin(energies[region_start + 75 : region_start + 150]))  # your answer

# %% tags=["answer-check"]
second = segments_of(wave, 1.5)[1]
assert quietest + 15 == int(round(second.start * 100)), "the second segment starts 0.15 s after the quietest frame"
print("right")  # no more: running this notebook should not give the answer away

# %% [markdown]
# 3. Without running `timing.dtw`, what is the cheapest path's cost through `-A` above?
#    Put it in `cost`.

# %%
cost = -3.8  # your answer

# %% tags=["answer-check"]
assert abs(cost - (-A[rows, cols].sum())) < 1e-9, f"the path costs {-A[rows, cols].sum():.2f}"
print("right")  # no more: running this notebook should not give the answer away
