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
# # Features in depth: turn the knobs
#
# A LibriSpeech utterance (CC BY 4.0, see `tests/data/speech/SOURCES.md`) through every
# step of the Kaldi front end — then three knobs to turn and watch: **noise level**,
# **number of mel bins** and **pre-emphasis**. Pages 1–4 of the site explain the steps
# (*Audio*, *Frames*, *Mel filter bank*, *CMVN*); their exercises are meant to be done here.

# %%
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np

import minis2t
from minis2t.reference import features as F

ROOT = Path.cwd() if (Path.cwd() / "tests").exists() else Path.cwd().parent
path = ROOT / "tests" / "data" / "speech" / "en_librispeech_dev-clean_1272-128104-0000.flac"
wave = minis2t.load_audio(path)
print(wave.shape, f"{wave.shape[0] / 16000:.2f} s", "frames:", F.num_frames(wave.shape[0]))

# %% [markdown]
# ## The steps, one by one (float64)
#
# Written out with the package's own functions: the result is exactly `fbank`'s.


# %%
def front_end(wave, num_mel_bins=80, preemphasis=0.97):
    x = F.scale_waveform(wave.astype(np.float64))                   # [N], 16-bit units
    frames = F.frame_signal(x)                                      # [T, 400], a view
    frames = F.preemphasize(F.remove_dc_offset(frames), preemphasis)  # [T, 400]
    frames = frames * F.povey_window(400, np.float64)               # [T, 400]
    power = F.power_spectrum(frames)                                # [T, 257]
    return power, F.log_mel(power, F.mel_filterbank(num_mel_bins))  # [T, 257], [T, F]


power, log_mel = front_end(wave)
print(power.shape, log_mel.shape)
assert np.array_equal(log_mel, minis2t.fbank(wave.astype(np.float64)))  # the same as fbank

fig, ax = plt.subplots(2, 1, figsize=(7.5, 5))
ax[0].imshow(np.log(power.T + 1e-3), origin="lower", aspect="auto")
ax[0].set_title("log power spectrum, 257 bins")
ax[1].imshow(log_mel.T, origin="lower", aspect="auto")
ax[1].set_title("log-mel, 80 bands")
plt.tight_layout()

# %% [markdown]
# ## Knob 1: noise
#
# White noise at a chosen signal-to-noise ratio. Watch the quiet parts of the log-mel
# fill up: the log compresses loud speech but lifts the noise floor into view. CMVN then
# rescales every band — compare the two rows.

# %%
SNR_DB = [30, 10, 0]  # try 40, 20, -5


def add_noise(wave, snr_db, seed=0):
    noise = np.random.default_rng(seed).standard_normal(wave.shape[0])
    power = np.mean(wave.astype(np.float64) ** 2)
    return (wave + noise * np.sqrt(power / 10 ** (snr_db / 10))).astype(np.float32)


fig, axes = plt.subplots(len(SNR_DB), 2, figsize=(7.5, 2.3 * len(SNR_DB)), sharey=True, squeeze=False)
for k, snr in enumerate(SNR_DB):  # one row per noise level: legible at a page's width
    noisy = add_noise(wave, snr)
    raw = minis2t.fbank(noisy)
    axes[k, 0].imshow(raw.T, origin="lower", aspect="auto", vmin=-5, vmax=25)
    axes[k, 0].set_title(f"log-mel, SNR {snr} dB")
    axes[k, 1].imshow(F.utterance_cmvn(raw).T, origin="lower", aspect="auto", vmin=-3, vmax=3)
    axes[k, 1].set_title("after CMVN")
    print(f"SNR {snr:3d} dB: median log-mel {np.median(raw):.2f}, minimum {raw.min():.2f}")
plt.tight_layout()

# %% [markdown]
# ## Knob 2: the number of mel bins
#
# Fewer bins: coarser frequency detail, each band averaging more FFT bins. The released
# models use 80; try 23 (old ASR systems) or 128.

# %%
for bins in (23, 80, 128):
    banks = F.mel_filterbank(bins)
    widths = (banks > 0).sum(axis=0)
    print(f"{bins:3d} bins: narrowest band {widths.min()} FFT bins, widest {widths.max()}")
fig, axes = plt.subplots(3, 1, figsize=(7.5, 6), sharex=True)
for ax, bins in zip(axes, (23, 80, 128)):
    ax.imshow(front_end(wave, num_mel_bins=bins)[1].T, origin="lower", aspect="auto")
    ax.set_title(f"{bins} mel bins")
plt.tight_layout()

# %% [markdown]
# ## Knob 3: pre-emphasis
#
# The coefficient 0.97 lifts high frequencies. Set it to 0 and compare, band by band, the
# mean log-mel energy: low bands gain, high bands lose.

# %%
with_pre = front_end(wave, preemphasis=0.97)[1].mean(axis=0)
without = front_end(wave, preemphasis=0.0)[1].mean(axis=0)
fig, ax = plt.subplots(figsize=(7.5, 3))
ax.plot(without - with_pre)
ax.axhline(0, color="grey", lw=0.5)
ax.set(xlabel="mel band", ylabel="mean log-mel, without − with", title="what pre-emphasis changes")
print(f"band 0: {without[0] - with_pre[0]:+.2f}, band 79: {without[79] - with_pre[79]:+.2f}")

# %% [markdown]
# ## Against kaldi-native-fbank and transformers

# %%
import kaldi_native_fbank as knf
from transformers import Speech2TextFeatureExtractor

opts = knf.FbankOptions()
opts.frame_opts.dither = 0.0
opts.mel_opts.num_bins = 80
online = knf.OnlineFbank(opts)
online.accept_waveform(16000, (wave * 32768).tolist())
online.input_finished()
kaldi = np.stack([online.get_frame(i) for i in range(online.num_frames_ready)])
d = np.abs(minis2t.fbank(wave) - kaldi)
print(f"vs kaldi-native-fbank: mean {d.mean():.1e}, p99 {np.percentile(d, 99):.1e}")

ours = minis2t.FeatureExtractor()(wave)["input_features"]
theirs = Speech2TextFeatureExtractor()(wave, sampling_rate=16000, return_tensors="np")["input_features"]
print(f"vs transformers after CMVN: max {np.abs(ours - theirs).max():.1e}")

# %% [markdown]
# ## Silence: where we differ on purpose

# %%
silence = np.zeros(16000, np.float32)
print("minis2t:", minis2t.FeatureExtractor()(silence)["input_features"][0, :2, :4])
with np.errstate(all="ignore"):
    print("transformers:", Speech2TextFeatureExtractor()(silence, sampling_rate=16000)["input_features"][0][:2, :4])

# %% [markdown]
# ## Exercises
#
# 1. **Where does noise hurt?** With `SNR_DB = [20, 5, -5]`, which bands change most in
#    the raw log-mel — low or high? (Hint: speech energy falls with frequency, white
#    noise is flat.) Does CMVN undo it?
# 2. **A louder microphone.** Compute `minis2t.fbank(10 * wave)` and the normalised
#    features of `10 * wave`. What changes, exactly? (Page 4, exercise 1.)
# 3. **Leakage.** Make a 1030 Hz sine, frame it, and compare the power spectrum of one
#    frame with `np.ones(400)` and with `F.povey_window(400, np.float64)` as the window.
#    (Page 2, exercise 3.)
# 4. **Resampling.** Load `en_ljspeech_LJ050-0131_22k05.wav` (22.05 kHz) with
#    `minis2t.load_audio` and check the length against ⌈N · 16000 / 22050⌉. (Page 1.)
#
# The answers are under each exercise on the site's pages.


# %% [markdown]
# ### Check your answers
#
# Put your answer in the variable (it holds one already, so that the notebook runs top
# to bottom); the cell under it checks it. On the site the checking cells are hidden.
#
# 5. **A louder microphone, in numbers.** By how much does every raw log-mel value of
#    this (LibriSpeech) recording rise when the waveform is multiplied by 10? Put it in
#    `rise`.

# %%
rise = np.log(100)  # your answer

# %% tags=["answer-check"]
gap = minis2t.fbank(10 * wave.astype(np.float64)) - minis2t.fbank(wave.astype(np.float64))
assert np.allclose(gap, rise, atol=1e-9), f"the values rise by {gap.min():.4f} to {gap.max():.4f}"
print("right")  # no more: running this notebook should not give the answer away

# %% [markdown]
# 6. **Leakage.** For 400 samples of a 1 kHz sine through the 512-point FFT, which window
#    leaves more power more than 4 bins from 1 kHz: `"rectangle"` or `"povey"`?

# %%
leaks_more = "rectangle"  # your answer

# %% tags=["answer-check"]
sine = np.sin(2 * np.pi * 1000 * np.arange(400) / 16000)[None]
far = np.abs(np.arange(257) - 32) > 4
share = {name: F.power_spectrum(sine * w)[0][far].sum() / F.power_spectrum(sine * w)[0].sum()
         for name, w in (("rectangle", np.ones(400)), ("povey", F.povey_window(400, np.float64)))}
assert leaks_more == max(share, key=share.get), share
print("right")  # no more: running this notebook should not give the answer away
