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
# # From waveform to transcript
#
# The whole line, one stage at a time, with the model bundled with minis2t. Every cell
# calls the package; nothing is re-implemented here. Shapes use the glossary `B` batch,
# `N` samples, `T` frames, `F` mel bins, `S` encoder frames, `D` d_model, `L` tokens,
# `V` vocabulary. Each section names the documentation page that explains the stage
# (build the site with `.venv/bin/mkdocs serve`); the exercises at the end are yours.

# %%
import json

import numpy as np

import minis2t
from minis2t.reference import model as m
from minis2t.app.pipeline import BUNDLED_MODEL

samples = BUNDLED_MODEL.parent / "samples"
reference = json.loads((samples / "references.json").read_text())[0]
print(reference)

# %% [markdown]
# ## 1. Audio: a float32 waveform at 16 kHz (page 1, *Audio loading and resampling*)

# %%
wave = minis2t.load_audio(samples / reference["file"])
print("waveform", wave.shape, wave.dtype, f"{wave.shape[0] / 16000:.2f} s, peak {np.abs(wave).max():.3f}")

# %% [markdown]
# ## 2–4. Features: frames, mel filter bank, log, CMVN (pages 2–4)
#
# 25 ms frames every 10 ms, 80 log-mel bands, each band normalised over the utterance.

# %%
model = minis2t.Speech2Text.from_pretrained()
batch = model.feature_extractor(wave)
feats = batch["input_features"]
print("features", feats.shape, "= [B, T, F]; T = 1 + (N - 400) // 160 =", 1 + (wave.shape[0] - 400) // 160)
print("band means after CMVN ~ 0:", np.abs(feats[0].mean(axis=0)).max().round(6))

# %% [markdown]
# ## 5–7. Encoder: conv subsampling, positions, self-attention (pages 5–7)

# %%
enc = m.encode(model.params, model.config, feats)
for i, x in enumerate(enc["conv_outputs"]):
    print(f"conv layer {i} + GLU", x.shape)
print("encoder states", enc["last_hidden_state"].shape, "= [B, S, D]; one step per",
      2 ** model.config.num_conv_layers * 10, "ms")

# %% [markdown]
# ## 8. Decoder, one step by hand, with the KV cache (page 8)

# %%
cache = m.init_cache(model.params, model.config, enc["last_hidden_state"])
tokens = np.array([[model.config.decoder_start_token_id]])
for step in range(4):
    out = m.decode(model.params, model.config, tokens[:, -1:], cache)
    cache = out["cache"]
    next_id = int(out["logits"][0, -1].argmax())
    print(f"step {step}: logits {out['logits'].shape}, cache holds {cache.length} tokens, "
          f"next piece {model.tokenizer.convert_ids_to_tokens([next_id])[0]!r}")
    tokens = np.concatenate([tokens, [[next_id]]], axis=1)

# %% [markdown]
# ## 9. Beam search does all the steps (page 9)

# %%
ids = model.generate(feats, num_beams=5)
print("token ids", ids)

# %% [markdown]
# ## 10. Tokenizer: ids back to text (page 10)

# %%
print("pieces:", model.tokenizer.convert_ids_to_tokens(ids[0]))
text = model.tokenizer.decode(ids[0], skip_special_tokens=True)
print("transcript:", text)
print("reference: ", reference["text"])
assert text == reference["text"]

# %% [markdown]
# ## The one-liner

# %%
print(model.transcribe(samples / reference["file"]))

# %% [markdown]
# ## Exercises
#
# 1. **Another recording.** Change `reference` to the fourth entry of `references.json`
#    (a different engine and voice). Which shapes change, and which do not?
# 2. **Greedy by hand.** Extend the hand-written decoding loop above until it produces
#    `</s>` (id 2). Does it give the same transcript as `generate(num_beams=1)`?
# 3. **Pieces.** Encode your own sentence with `model.tokenizer.encode(...)`. Which words
#    of it does the vocabulary know whole, and which fall back to letters?
#
# Answers: shapes `N`, `T`, `S` and `L` follow the recording, `F`, `D` and `V` are the
# model's; the hand-written loop is exactly greedy search (the test suite checks
# `generate` against transformers token for token); page 10 shows the fall-back.


# %% [markdown]
# ### Check your answers
#
# Put your answer in the variable (it holds one already, so that the notebook runs top
# to bottom); the cell under it checks it. On the site the checking cells are hidden.
#
# 4. **Encoder steps.** How many encoder steps `S` does this recording give, from the
#    number of feature frames alone? (Page 5: two stride-2 layers.)

# %%
S_answer = -(-feats.shape[1] // 4)  # your answer: ceil(T / 4)

# %% tags=["answer-check"]
assert S_answer == enc["last_hidden_state"].shape[1], f"S is {enc['last_hidden_state'].shape[1]}"
print("right")  # no more: running this notebook should not give the answer away

# %% [markdown]
# 5. **Greedy by hand.** Write the decoding loop (exercise 2) into `greedy_by_hand`, a
#    list of ids starting with the start token and ending with `</s>`.

# %%
by_hand_cache = m.init_cache(model.params, model.config, enc["last_hidden_state"])
greedy_by_hand = [model.config.decoder_start_token_id]
while greedy_by_hand[-1] != model.config.eos_token_id or len(greedy_by_hand) == 1:
    step = m.decode(model.params, model.config, np.array([[greedy_by_hand[-1]]]), by_hand_cache)
    by_hand_cache = step["cache"]
    greedy_by_hand.append(int(step["logits"][0, -1].argmax()))

# %% tags=["answer-check"]
assert greedy_by_hand == model.generate(feats, num_beams=1)[0].tolist(), "not what generate(num_beams=1) gives"
print("right")  # no more: running this notebook should not give the answer away
