# %% [markdown]
# # Features in depth, on a real recording
#
# A LibriSpeech utterance (CC BY 4.0, see `tests/data/speech/SOURCES.md`) through every
# step of the Kaldi front end, checked against kaldi-native-fbank and transformers.

# %%
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np

import minis2t
from minis2t import features as F

ROOT = Path.cwd() if (Path.cwd() / "tests").exists() else Path.cwd().parent
path = ROOT / "tests" / "data" / "speech" / "en_librispeech_dev-clean_1272-128104-0000.flac"
wave = minis2t.load_audio(path)
print(wave.shape, f"{wave.shape[0] / 16000:.2f} s", "frames:", F.num_frames(wave.shape[0]))

# %% [markdown]
# ## The steps, one by one (float64)

# %%
x = F.scale_waveform(wave.astype(np.float64))            # [N], 16-bit units
frames = F.frame_signal(x)                               # [T, 400], a view
frames = F.preemphasize(F.remove_dc_offset(frames))      # [T, 400]
frames = frames * F.povey_window(400, np.float64)        # [T, 400]
power = F.power_spectrum(frames)                         # [T, 257]
banks = F.mel_filterbank(80)                             # [257, 80]
log_mel = F.log_mel(power, banks)                        # [T, 80]
print(frames.shape, power.shape, banks.shape, log_mel.shape)
assert np.array_equal(log_mel, minis2t.fbank(wave.astype(np.float64)))  # the same as fbank

# %%
fig, ax = plt.subplots(2, 1, figsize=(9, 5))
ax[0].imshow(np.log(power.T + 1e-3), origin="lower", aspect="auto")
ax[0].set_title("log power spectrum, 257 bins")
ax[1].imshow(log_mel.T, origin="lower", aspect="auto")
ax[1].set_title("log-mel, 80 bands")
plt.tight_layout()

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
