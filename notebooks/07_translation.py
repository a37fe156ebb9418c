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
# # Speech translation: one token steers the decoder
#
# The bundled translation model (`bundled-st`) hears English and writes French, German or
# Spanish. Nothing in the encoder knows the target language: the decoder's first output
# is *forced* to `<lang:xx>`, and everything after follows from that one token. Knobs:
# **which recording**, **which languages**, **how many first steps** to look at. Pages 9
# (search) and 10 (tokenizer) of the site explain the parts.

# %%
import json

import matplotlib.pyplot as plt
import numpy as np

import minis2t
from minis2t.reference import model as m
from minis2t.io.checkpoint import BUNDLED_MODELS

model = minis2t.Speech2Text.from_pretrained("bundled-st")
samples = BUNDLED_MODELS["bundled-st"].parent / "samples_st"
refs = json.loads((samples / "references.json").read_text())
RECORDING, LANGUAGES, STEPS = 0, ("fr", "de", "es"), 3  # knobs
ref = refs[RECORDING]
wave = minis2t.load_audio(samples / ref["file"])
batch = model.feature_extractor([wave])
print(model)
print("English:", ref["text"])
print("languages the model was trained for:", model.languages, "| its vocabulary's codes:", model.tokenizer.langs)

# %% [markdown]
# ## The forced first token
#
# The search starts from `</s>` (the decoder start token). At the first step, every token
# but `<lang:xx>` is given a score of −∞, so the language token is chosen whatever the
# model would have said; the translation is the rest of the sequence.

# %%
for lang in LANGUAGES:
    forced = model.tokenizer.language_id(lang)
    ids = model.generate(batch["input_features"], batch["attention_mask"], forced_bos_token_id=forced)[0]
    print(f"{lang}: ids {ids[:4].tolist()}... pieces {model.tokenizer.convert_ids_to_tokens(ids[:4])}")
    print(f"    {model.tokenizer.decode(ids, skip_special_tokens=True)}   (reference: {ref['translations'][lang]})")

# %% [markdown]
# ## What the language token changes in the next steps
#
# Teacher forcing `</s> <lang:xx>` and the greedy continuation, the probabilities of the
# likeliest pieces at each of the first steps: the same audio, three different
# beginnings.

# %%
states, mask = model.encode(batch["input_features"], batch["attention_mask"])
rows = -(-len(LANGUAGES) * STEPS // 2)  # two panels a row: legible at a page's width
fig, axes = plt.subplots(rows, 2, figsize=(7.5, 2.2 * rows), squeeze=False)
for row, lang in enumerate(LANGUAGES):
    forced = model.tokenizer.language_id(lang)
    ids = model.generate(None, encoder_outputs=(states, mask), forced_bos_token_id=forced)
    logits = m.decode(model.params, model.config, ids[:, : STEPS + 1], m.init_cache(model.params, model.config, states),
                      mask)["logits"][0]
    for step in range(STEPS):
        p = np.exp(logits[step + 1] - logits[step + 1].max())
        p /= p.sum()
        top = np.argsort(-p)[:5]
        ax = axes.flat[row * STEPS + step]
        ax.barh(range(5)[::-1], p[top])
        ax.set_yticks(range(5)[::-1], model.tokenizer.convert_ids_to_tokens(top), fontsize=8)
        ax.set_xlim(0, 1)
        ax.set_title(f"{lang}, step {step + 2}", fontsize=9)
fig.tight_layout()

# %% [markdown]
# ## Where each language looks
#
# Cross-attention of the last decoder layer (heads averaged) while the decoder writes
# each translation: the words come in each language's own order, and the attention
# follows — German puts the time before the object, French and Spanish the adjective
# after the noun.

# %%
fig, axes = plt.subplots(len(LANGUAGES), 1, figsize=(7.5, 3.4 * len(LANGUAGES)), squeeze=False)
axes = axes[:, 0]
for ax, lang in zip(axes, LANGUAGES):
    forced = model.tokenizer.language_id(lang)
    ids = model.generate(None, encoder_outputs=(states, mask), forced_bos_token_id=forced)
    out = m.decode(model.params, model.config, ids, m.init_cache(model.params, model.config, states), mask)
    attention = out["cross_attentions"][-1][0].mean(axis=0)  # [L, S]
    ax.imshow(attention, aspect="auto", cmap="magma")
    ax.set_yticks(range(ids.shape[1]), model.tokenizer.convert_ids_to_tokens(ids[0]), fontsize=8)
    ax.set_xlabel("encoder frame (40 ms)")
    ax.set_title(lang)
fig.tight_layout()

# %% [markdown]
# ## Exercises
#
# 1. Force a language the model was not trained for: `model.transcribe(..., language="it")`
#    refuses. Call `model.generate` with `forced_bos_token_id` of `<lang:it>` yourself:
#    what comes out, and why?
# 2. Change `STEPS` to 6: from which step on do the three languages' distributions stop
#    depending on the language token, and start depending on the words already written?
# 3. Translate every recording in `samples_st` and compute BLEU with `sacrebleu` against
#    the references. What does one wrong number word cost in BLEU, and in chrF?


# %% [markdown]
# ### Check your answers
#
# Put your answer in the variable (it holds one already, so that the notebook runs top
# to bottom); the cell under it checks it. On the site the checking cells are hidden.
#
# 4. **Untrained codes.** Does forcing `<lang:it>` give the same output as forcing
#    `<lang:pt>` (neither was trained)? Put `True` or `False` in `same_output`.

# %%
same_output = True  # your answer

# %% tags=["answer-check"]
outputs = [model.generate(batch["input_features"], forced_bos_token_id=model.tokenizer.language_id(c))[0].tolist()[2:]
           for c in ("it", "pt")]
assert same_output == (outputs[0] == outputs[1]), outputs
print("right")  # no more: running this notebook should not give the answer away
