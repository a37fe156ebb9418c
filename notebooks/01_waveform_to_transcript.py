# %% [markdown]
# # From waveform to transcript
#
# The whole line, one stage at a time, with the model bundled with minis2t. Every cell
# calls the package; nothing is re-implemented here. Shapes use the glossary
# `B` batch, `N` samples, `T` frames, `F` mel bins, `S` encoder frames, `D` d_model,
# `L` tokens, `V` vocabulary.

# %%
import json
from pathlib import Path

import numpy as np

import minis2t
from minis2t import model as m
from minis2t.pipeline import BUNDLED_MODEL

samples = BUNDLED_MODEL.parent / "samples"
reference = json.loads((samples / "references.json").read_text())[0]
print(reference)

# %% [markdown]
# ## 1. Audio: a float32 waveform at 16 kHz

# %%
wave = minis2t.load_audio(samples / reference["file"])
print("waveform", wave.shape, wave.dtype, f"{wave.shape[0] / 16000:.2f} s")

# %% [markdown]
# ## 2. Features: Kaldi log-mel filter bank, then CMVN

# %%
raw = minis2t.fbank(wave)                       # [T, F]
model = minis2t.Speech2Text.from_pretrained()   # the bundled model
batch = model.feature_extractor(wave)           # CMVN + batch of one
features, mask = batch["input_features"], batch["attention_mask"]
print("raw log-mel", raw.shape, "-> features", features.shape, "mask", mask.shape)
print(f"per-band mean after CMVN ~ {np.abs(features[0].mean(0)).max():.1e}, std ~ {features[0].std(0).mean():.3f}")

# %% [markdown]
# ## 3. Encoder: conv subsampling, positions, Transformer layers

# %%
enc = m.encode(model.params, model.config, features, mask, output_hidden_states=True)
for i, x in enumerate(enc["conv_outputs"]):
    print(f"conv layer {i} + GLU", x.shape)
print("encoder input (x sqrt(D) + positions)", enc["hidden_states"][0].shape)
print("encoder output", enc["last_hidden_state"].shape, "mask", enc["mask"].shape)

# %% [markdown]
# ## 4. Decoder, one token at a time, with an explicit KV cache (greedy here)

# %%
cache = m.init_cache(model.params, model.config, enc["last_hidden_state"])
tokens = [model.config.decoder_start_token_id]
for _ in range(40):
    out = m.decode(model.params, model.config, np.array([[tokens[-1]]]), cache, enc["mask"])
    cache = out["cache"]
    tokens.append(int(out["logits"][0, -1].argmax()))
    if tokens[-1] == model.config.eos_token_id:
        break
print("logits per step", out["logits"].shape, "cache holds", cache.length, "positions")
print("greedy ids", tokens)

# %% [markdown]
# ## 5. Tokens to text, and the same with beam search in one call

# %%
print("greedy:", model.tokenizer.decode(tokens, skip_special_tokens=True))
print("beam 5:", model.transcribe(wave)[0])
print("reference:", reference["text"])
