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
# # Inside the model: attention, heads, the cache and beam search
#
# The bundled model on one of its test recordings. Knobs: **which layer and head** to look
# at, **beam width**, **length penalty** and **early stopping** — with the scores and the
# number of search steps printed, so that what a knob changes shows even when the
# transcript does not. Pages 5–9 of the site explain each part.

# %%
import json

import matplotlib.pyplot as plt
import numpy as np

import minis2t
from minis2t.reference import model as m
from minis2t.app.pipeline import BUNDLED_MODEL

model = minis2t.Speech2Text.from_pretrained()
samples = BUNDLED_MODEL.parent / "samples"
ref = json.loads((samples / "references.json").read_text())[1]
wave = minis2t.load_audio(samples / ref["file"])
feats = model.feature_extractor(wave)["input_features"]
ids = model.generate(feats)
tokens = model.tokenizer.convert_ids_to_tokens(ids[0])
print(model.tokenizer.decode(ids[0], skip_special_tokens=True), "|", ref["text"])

# %% [markdown]
# ## Subsampling and positions (pages 5 and 6)

# %%
enc = m.encode(model.params, model.config, feats)
print("features", feats.shape, "-> conv outputs", [x.shape for x in enc["conv_outputs"]])
table = minis2t.reference.nn.sinusoidal_positions(200, model.config.d_model)
similarity = table[2:] @ table[50]  # how alike position 50 is to every other
plt.figure(figsize=(7.5, 2.5))
plt.plot(np.arange(2, 200), similarity)
plt.title("PE[p] · PE[50]: nearby positions look alike")
plt.xlabel("position p")

# %% [markdown]
# ## Every head of every decoder layer (page 7)
#
# Cross-attention weights `[L tokens, S frames]`. Red dots: each token's largest weight.
# Some heads concentrate, others spread; none aligns cleanly in this small model.

# %%
out = model.forward(feats, decoder_input_ids=ids, output_attentions=True)
layers, heads = model.config.decoder_layers, model.config.decoder_attention_heads
rows = -(-layers * heads // 2)  # two panels a row: legible at a page's width
fig, axes = plt.subplots(rows, 2, figsize=(7.5, 2.4 * rows), sharex=True, sharey=True, squeeze=False)
for i in range(layers):
    for h in range(heads):
        w = out.cross_attentions[i][0, h]
        ax = axes.flat[i * heads + h]
        ax.imshow(w, aspect="auto", cmap="Greys")
        ax.plot(w.argmax(axis=1), range(len(tokens)), "r.", ms=3)
        ax.set_title(f"layer {i} head {h}: median peak {np.median(w.max(axis=1)):.2f}", fontsize=9)
plt.tight_layout()

# %% [markdown]
# ## Encoder self-attention, one layer and head at a time

# %%
LAYER, HEAD = 0, 0  # try the last layer: model.config.encoder_layers - 1
w = enc["attentions"][LAYER][0, HEAD]
plt.figure(figsize=(4, 4))
plt.imshow(w, cmap="Greys")
plt.title(f"encoder layer {LAYER}, head {HEAD}")
distance = np.abs(np.arange(w.shape[0])[:, None] - np.arange(w.shape[1])[None, :])  # [S, S] frames apart
print(f"on average a frame looks {(w * distance).sum(axis=1).mean():.1f} frames away (40 ms each)")

# %% [markdown]
# ## The KV cache: step by step equals all at once (page 8)

# %%
states = enc["last_hidden_state"]
cache = m.init_cache(model.params, model.config, states)
steps = []
for t in range(ids.shape[1] - 1):
    o = m.decode(model.params, model.config, ids[:, t : t + 1], cache)
    cache = o["cache"]
    steps.append(o["logits"])
whole = m.decode(model.params, model.config, ids[:, :-1], m.init_cache(model.params, model.config, states))["logits"]
print("cache holds", cache.length, "tokens; largest difference step-by-step vs at once:",
      f"{np.abs(np.concatenate(steps, axis=1) - whole).max():.1e}")

# %% [markdown]
# ## Beam search step by step (page 9)
#
# Each step keeps the best `2K` candidates; the best `K` that did not end continue, and
# those among the best `K` that ended (EOS) become finished hypotheses.

# %%
result = model.generate(feats, num_beams=4, return_dict=True)
for t, step in enumerate(result.steps[:6]):
    cands = [f"{model.tokenizer.convert_ids_to_tokens([int(tok)])[0]}({s:.1f})"
             for tok, s in zip(step["token"][0], step["score"][0])]
    print(f"step {t}: kept {sorted(step['live'][0].tolist())}; candidates {' '.join(cands)}")
print("score of the result:", float(result.sequences_scores[0]), "after", len(result.steps), "steps")

# %% [markdown]
# ## Length penalty × early stopping: scores and steps
#
# The transcript may not change — this model is confident — but the score of the winner
# and the number of steps the search takes do. With a positive length penalty and
# `early_stopping="never"`, the search keeps going until no live beam could still win,
# scoring live beams as if they reached `max_length`.

# %%
print(f"{'length_penalty':>14} {'early_stopping':>14} {'steps':>5} {'score':>8}  transcript")
for lp in (-1.0, 0.0, 1.0, 2.0):
    for es in (True, False, "never"):
        r = model.generate(feats, num_beams=4, length_penalty=lp, early_stopping=es, return_dict=True)
        text = model.tokenizer.decode(r.sequences[0], skip_special_tokens=True)
        print(f"{lp:>+14.1f} {str(es):>14} {len(r.steps):>5} {float(r.sequences_scores[0]):>8.4f}  {text}")

# %% [markdown]
# ## Beam width

# %%
for k in (1, 2, 4, 8):
    r = model.generate(feats, num_beams=k, return_dict=True, output_scores=True)
    text = model.tokenizer.decode(r.sequences[0], skip_special_tokens=True)
    score = "greedy" if r.sequences_scores is None else f"{float(r.sequences_scores[0]):.4f}"
    print(f"{k} beams: {score:>8}  {text}")

# %% [markdown]
# ## Exercises
#
# 1. **Which head aligns?** From the grid above, pick the head whose red dots move most
#    steadily to the right. Is it the same for the other test recordings (change the
#    index in `references.json`)? (Page 7, exercise 3.)
# 2. **Length penalty by hand.** Take two finished hypotheses from `result.steps` and rank them
#    with `length_penalty` 0, 1 and 2. (Page 9, exercise 2.)
# 3. **Why 2K?** In the step-by-step printout, find a step where a candidate ends with
#    `</s>`. What would happen if only `K` candidates were kept? (Page 9, exercise 1.)
# 4. **Cache cost.** How many bytes does the cache hold after the last step, for this
#    model and for s2t-small (6 decoder layers, d_model 256) with 5 beams and 200 tokens?
#
# The answers are under each exercise on the site's pages; for 4:
# `2 × layers × tokens × d_model × 4 bytes × beams` for the self-attention part, plus the
# cross-attention keys and values, fixed per utterance.


# %% [markdown]
# ### Check your answers
#
# Put your answer in the variable (it holds one already, so that the notebook runs top
# to bottom); the cell under it checks it. On the site the checking cells are hidden.
#
# 5. **Length penalty by hand.** A finished 10-token hypothesis has sum log p = -3.0, a
#    14-token one -3.6. Which wins (`"short"` or `"long"`) for length_penalty 0, 1, 2?

# %%
winner = {0: "short", 1: "long", 2: "long"}  # your answer

# %% tags=["answer-check"]
truth = {a: "short" if -3.0 / 10**a > -3.6 / 14**a else "long" for a in (0, 1, 2)}
assert winner == truth, truth
print("right")  # no more: running this notebook should not give the answer away

# %% [markdown]
# 6. **Cache cost.** How many bytes do the self-attention keys and values of all decoder
#    layers hold after `L` tokens, for one beam? Write the formula as a function of the
#    config.

# %%
def cache_bytes(config, tokens):  # your answer
    return 2 * config.decoder_layers * tokens * config.d_model * 4


# %% tags=["answer-check"]
check_cache = m.init_cache(model.params, model.config, enc["last_hidden_state"])
check_cache = m.decode(model.params, model.config, ids[:, :7], check_cache)["cache"]
held = sum(k.nbytes + v.nbytes for k, v in check_cache.self_kv)
assert cache_bytes(model.config, 7) == held, f"the cache holds {held} bytes after 7 tokens"
print("right")  # no more: running this notebook should not give the answer away
