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
# # Measuring a recogniser: WER and CER with jiwer
#
# How good is the bundled model? The word error rate counts the substitutions, deletions
# and insertions needed to turn the transcript into the reference, divided by the
# reference's number of words; the character error rate does the same on characters.
# Here: the bundled test recordings, then noisier versions of them, greedy and beam
# search side by side. The site's *The bundled model* page has the recipe's full
# evaluation (hundreds of sentences, three engines, held-out voices).

# %%
import json

import jiwer
import matplotlib.pyplot as plt
import numpy as np

import minis2t
from minis2t.app.pipeline import BUNDLED_MODEL

model = minis2t.Speech2Text.from_pretrained()
samples = BUNDLED_MODEL.parent / "samples"
refs = json.loads((samples / "references.json").read_text())
waves = [minis2t.load_audio(samples / r["file"]) for r in refs]
texts = [r["text"] for r in refs]
for r in refs:
    print(f"{r['file']}  {r['engine']:9s} {r['voice']:22s} {r['text']}")

# %% [markdown]
# ## Clean recordings

# %%
hyps = model.transcribe(waves)
print(f"WER {jiwer.wer(texts, hyps):.3f}  CER {jiwer.cer(texts, hyps):.3f}")
for ref, hyp in zip(texts, hyps):
    print("ok  " if ref == hyp else "ERR ", hyp)

# %% [markdown]
# ## What an error looks like
#
# jiwer aligns the two word sequences and names each edit.

# %%
out = jiwer.process_words("set an alarm for seven thirty", "set the alarm for seven")
print(jiwer.visualize_alignment(out))
print("substitutions", out.substitutions, "deletions", out.deletions, "insertions", out.insertions,
      f"-> WER {out.wer:.3f}")

# %% [markdown]
# ## The knob: noise
#
# White noise at a signal-to-noise ratio, a new seed per recording. Change `SNR_DB` and
# `NUM_BEAMS`.

# %%
SNR_DB = [None, 20, 10, 5, 0]  # None: clean
NUM_BEAMS = [1, 5]


def add_noise(wave, snr_db, seed):
    noise = np.random.default_rng(seed).standard_normal(wave.shape[0])
    power = np.mean(wave.astype(np.float64) ** 2)
    return (wave + noise * np.sqrt(power / 10 ** (snr_db / 10))).astype(np.float32)


results = {k: [] for k in NUM_BEAMS}
for snr in SNR_DB:
    noisy = waves if snr is None else [add_noise(w, snr, seed=i) for i, w in enumerate(waves)]
    line = f"SNR {'clean' if snr is None else f'{snr} dB':>6}:"
    for k in NUM_BEAMS:
        hyps = model.transcribe(noisy, num_beams=k)
        results[k].append(jiwer.wer(texts, hyps))
        line += f"  {k} beam(s) WER {results[k][-1]:.3f} CER {jiwer.cer(texts, hyps):.3f}"
    print(line)

labels = ["clean" if s is None else f"{s} dB" for s in SNR_DB]
plt.figure(figsize=(7, 3))
for k, wers in results.items():
    plt.plot(labels, wers, marker="o", label=f"{k} beam(s)")
plt.ylabel("WER")
plt.xlabel("signal-to-noise ratio")
plt.legend()
plt.show()

# %% [markdown]
# ## How sure can six sentences make us?
#
# Six sentences hold about 50 words: one word more or less wrong moves the WER by two
# points. A bootstrap — resample the sentences with replacement and recompute — shows the
# spread that comes from the choice of sentences alone.

# %%
noisy = [add_noise(w, 5, seed=i) for i, w in enumerate(waves)]
hyps = model.transcribe(noisy)
rng = np.random.default_rng(0)
boot = [jiwer.wer([texts[i] for i in idx], [hyps[i] for i in idx])
        for idx in rng.integers(0, len(texts), size=(500, len(texts)))]
print(f"WER at 5 dB: {jiwer.wer(texts, hyps):.3f}; 90 % of resamples between "
      f"{np.percentile(boot, 5):.3f} and {np.percentile(boot, 95):.3f}")

# %% [markdown]
# ## Exercises
#
# 1. **Greedy or beam?** Run the noise sweep with several seeds (`seed=100 * rep + i`).
#    How often do the two searches differ, and which is right more often? (Page 9,
#    exercise 3.)
# 2. **Another kind of noise.** Replace white noise with a stretch of a real recording
#    from `tests/data/speech/` (a voice in the background) at the same SNRs. Is it harder
#    or easier for the model than white noise?
# 3. **A real voice.** Record yourself saying a sentence of the model's grammar (one of
#    `texts`) and transcribe it. What does the WER of one sentence tell you?


# %% [markdown]
# ### Check your answers
#
# Put your answer in the variable (it holds one already, so that the notebook runs top
# to bottom); the cell under it checks it. On the site the checking cells are hidden.
#
# 4. **WER by hand.** Reference "set an alarm for seven thirty", hypothesis "set the
#    alarm for seven": what is the word error rate? Put it in `wer_answer`.

# %%
wer_answer = 2 / 6  # your answer: one substitution and one deletion over six words

# %% tags=["answer-check"]
measured = jiwer.wer("set an alarm for seven thirty", "set the alarm for seven")
assert abs(wer_answer - measured) < 1e-12, f"jiwer says {measured}"
print("right")  # no more: running this notebook should not give the answer away
