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
# # Training a recogniser from scratch, in NumPy
#
# A toy language small enough to learn in minutes on two cores: **telephone key tones**.
# Each key of a phone's keypad sounds as two sine waves at once — one frequency for its
# row (697, 770, 852, 941 Hz), one for its column (1209, 1336, 1477 Hz). An "utterance" is
# one to five key presses with pauses between them and noise on top; its transcript is the
# digits. The model is a Speech2Text — the same conv subsampler, encoder, decoder and CTC
# head as the bundled model, just tiny — trained from random weights by
# `minis2t.train.train`: forward, hand-written backward (`minis2t.reference.grad`), AdamW. No torch.
# The site's page 11 (*Learning: gradients by hand*) explains every step.

# %%
import time

import jiwer
import matplotlib.pyplot as plt
import numpy as np

import minis2t
from minis2t import train as nt

ROWS, COLS = [697, 770, 852, 941], [1209, 1336, 1477]
KEYS = {"1": (0, 0), "2": (0, 1), "3": (0, 2), "4": (1, 0), "5": (1, 1), "6": (1, 2),
        "7": (2, 0), "8": (2, 1), "9": (2, 2), "0": (3, 1)}  # fmt: skip


def utterance(digits: str, rng) -> np.ndarray:
    """Key tones of 80-160 ms, pauses of 40-100 ms, white noise at 5-25 dB SNR."""
    parts = [np.zeros(int(rng.uniform(0.05, 0.15) * 16000))]
    for d in digits:
        row, col = KEYS[d]
        t = np.arange(int(rng.uniform(0.08, 0.16) * 16000)) / 16000
        parts.append(rng.uniform(0.1, 0.5) * (np.sin(2 * np.pi * ROWS[row] * t) + np.sin(2 * np.pi * COLS[col] * t)) / 2)
        parts.append(np.zeros(int(rng.uniform(0.04, 0.1) * 16000)))
    wave = np.concatenate(parts)
    noise = rng.standard_normal(wave.shape) * np.sqrt(np.mean(wave**2) / 10 ** (rng.uniform(5, 25) / 10))
    return (wave + noise).astype(np.float32)


rng = np.random.default_rng(0)
extractor = minis2t.FeatureExtractor()


def dataset(n: int):
    texts = ["".join(rng.choice(list("0123456789"), rng.integers(1, 6))) for _ in range(n)]
    return texts, [extractor(utterance(t, rng))["input_features"][0] for t in texts]


train_texts, train_feats = dataset(2000)
test_texts, test_feats = dataset(50)
print(f"{len(train_texts)} training utterances, {sum(f.shape[0] for f in train_feats) / 100 / 60:.1f} minutes; "
      f"{len(test_texts)} test utterances")

example = utterance("159", np.random.default_rng(1))
fig, ax = plt.subplots(2, 1, figsize=(7.5, 4))
ax[0].plot(np.arange(example.shape[0]) / 16000, example, lw=0.4)
ax[0].set_title('"159" as key tones')
ax[1].imshow(extractor(example)["input_features"][0].T, origin="lower", aspect="auto")
ax[1].set_title("its features: two bright bands per key")
plt.tight_layout()

# %% [markdown]
# ## The vocabulary and the model
#
# fairseq's four special ids first (`<s>` 0, `<pad>` 1, `</s>` 2, `<unk>` 3), then the
# ten digits. A tiny configuration: `d_model` 32, two encoder layers, one decoder layer.

# %%
def to_ids(text: str) -> list[int]:
    return [4 + int(c) for c in text] + [2]


def to_text(ids) -> str:
    return "".join(str(i - 4) for i in ids if 4 <= i < 14)


config = minis2t.ModelConfig(d_model=32, encoder_layers=2, decoder_layers=1, encoder_attention_heads=2,
                             decoder_attention_heads=2, encoder_ffn_dim=64, decoder_ffn_dim=64,
                             conv_channels=32, vocab_size=14, max_source_positions=200,
                             max_target_positions=16)  # fmt: skip
untrained = minis2t.Speech2Text(config, nt.init_weights(config, seed=0))
print(f"{untrained.num_parameters:,} parameters")
print("before training:", [to_text(untrained.generate(f[None], num_beams=1, max_length=8)[0]) for f in test_feats[:5]],
      "for", test_texts[:5])

# %% [markdown]
# ## Train
#
# The knobs: `STEPS` and `PEAK_LR`. Each step: a batch of utterances of similar length,
# cross-entropy plus the auxiliary CTC loss (weight 0.3), the gradients of all weights,
# clipping, one AdamW update.

# %%
STEPS, PEAK_LR = 900, 4e-3
start = time.perf_counter()
model, history = nt.train(config, train_feats, [to_ids(t) for t in train_texts], steps=STEPS, max_frames=3000,
                          warmup=100, peak_lr=PEAK_LR, spec_augment_from=10**9, progress=False)  # fmt: skip
print(f"trained {STEPS} steps in {time.perf_counter() - start:.0f} s")

fig, ax = plt.subplots(figsize=(7.5, 3))
for key in ("ce", "ctc"):
    ax.plot([h[key] for h in history], lw=0.6, label=key)
ax.set(xlabel="step", ylabel="loss", yscale="log", title="the two losses while training")
ax.legend()
plt.show()

# %% [markdown]
# ## After training
#
# Greedy decoding of the 50 test utterances, which the model never heard; the character
# error rate counts wrong, missing and extra digits. Compare the two losses above: when
# the CTC loss is near zero, the encoder already carries the digits in order; what the
# decoder still gets wrong is mostly *where to look* — swapped neighbours, a repeated key
# counted once. Its cross-attention learns that last, and a few minutes of training on a
# laptop are not enough to finish (exercise 5).

# %%
hyps = [to_text(model.generate(f[None], num_beams=1, max_length=8)[0]) for f in test_feats]
for hyp, ref in list(zip(hyps, test_texts))[:8]:
    print(("ok  " if hyp == ref else "ERR ") + f"{hyp:6s} (reference {ref})")
print(f"exact: {sum(h == r for h, r in zip(hyps, test_texts))} of {len(test_texts)}; "
      f"digit error rate {jiwer.cer(test_texts, hyps):.3f}")

# %% [markdown]
# ## The gradient, checked by hand
#
# In float64, nudge one weight by ±h and compare the change of the loss with the
# hand-written gradient.

# %%
from minis2t.train import loss_and_grads

weights64 = {k: v.astype(np.float64) for k, v in model.weights.items()}
weights64["lm_head.weight"] = weights64["model.decoder.embed_tokens.weight"]  # one array again: the tie
check = minis2t.Speech2Text(config, weights64)
x, mask, labels = nt.collate(test_feats[:4], [to_ids(t) for t in test_texts[:4]], np.float64)
loss, grads = loss_and_grads(check, x, mask, labels)
# the entry of this matrix with the largest gradient: a check on a gradient of 0 (a
# weight the loss does not depend on) would compare 0 with 0 and prove nothing
name, h = "model.encoder.layers.1.fc2.weight", 1e-5
index = np.unravel_index(np.argmax(np.abs(grads[name])), grads[name].shape)
w = check.weights[name]
w[index] += h
plus = loss_and_grads(check, x, mask, labels)[0]
w[index] -= 2 * h
minus = loss_and_grads(check, x, mask, labels)[0]
w[index] += h
numeric = (plus - minus) / (2 * h)
relative = abs(numeric - grads[name][index]) / abs(grads[name][index])
print(f"{name}{tuple(int(i) for i in index)}: finite difference {numeric:+.8e}, "
      f"hand-written gradient {grads[name][index]:+.8e}, relative difference {relative:.1e}")
# A central difference errs by about h² times the loss's third derivative over 6
# (truncation; taken as O(1)) plus eps · |loss| / h (rounding the two losses): allow ten
# times their sum, and ask the gradient to stand well above it, so that the check
# compares something with something.
bound = 10 * (h**2 + np.finfo(np.float64).eps * abs(float(loss)) / h)
assert abs(numeric - grads[name][index]) < bound < abs(grads[name][index]) / 10, (bound, relative)

# %% [markdown]
# ## Exercises
#
# 1. **No CTC.** Train with `ctc_weight=0.0` (an argument of `nt.train`). How do the
#    cross-entropy curve and the test error change? (The CTC loss forces the encoder to
#    carry the digits in order early, which helps the decoder's attention find them.)
# 2. **Learning rate.** Try `PEAK_LR` 1e-3 and 1e-2. Which one diverges or crawls?
# 3. **Harder data.** Lower the SNR range in `utterance` to -5…5 dB, or shorten the
#    pauses to 0–20 ms so that presses of the same key run together. What breaks first?
# 4. **Gradient check.** Repeat the last cell for a convolution weight and for
#    `lm_head.weight`. Why must the tie be restored after casting to float64?
# 5. **Longer, wider.** Train 3 000 steps, or with `d_model=64` and two decoder layers.
#    How do the exact-match count and the digit error rate move, and what does each
#    minute of training buy?


# %% [markdown]
# ### Check your answers
#
# Put your answer in the variable (it holds one already, so that the notebook runs top
# to bottom); the cell under it checks it. On the site the checking cells are hidden.
#
# 6. **One array or two?** The tiny model's config leaves `tie_word_embeddings` at its
#    default. After training, are `lm_head.weight` and `model.decoder.embed_tokens.weight`
#    one array (`True`) or two (`False`)? (Page 11, exercise 3.)

# %%
tied = True  # your answer

# %% tags=["answer-check"]
one_array = model.weights["lm_head.weight"] is model.weights["model.decoder.embed_tokens.weight"]
assert tied == one_array == config.tie_word_embeddings, (one_array, config.tie_word_embeddings)
print("right")  # no more: running this notebook should not give the answer away
