# %% [markdown]
# # Attention and beam search, visualised
#
# The bundled model on one of its test recordings: where each output token looks in the
# audio, and how beam search grows and prunes its hypotheses.

# %%
import json

import matplotlib.pyplot as plt
import numpy as np

import minis2t
from minis2t.pipeline import BUNDLED_MODEL

model = minis2t.Speech2Text.from_pretrained()
samples = BUNDLED_MODEL.parent / "samples"
ref = json.loads((samples / "references.json").read_text())[1]
wave = minis2t.load_audio(samples / ref["file"])
feats = model.feature_extractor(wave)["input_features"]

# %% [markdown]
# ## Cross-attention: each token looks at the audio that says it

# %%
trace = []
result = model.generate(feats, num_beams=4, trace=trace, return_dict=True)
ids = result.sequences
out = model.forward(feats, decoder_input_ids=ids, output_attentions=True)
tokens = model.tokenizer.convert_ids_to_tokens(ids[0])
fig, axes = plt.subplots(1, model.config.decoder_layers, figsize=(14, 4), sharey=True)
for layer, ax in enumerate(axes):
    ax.imshow(out.cross_attentions[layer][0].mean(0), aspect="auto", cmap="Greys")
    ax.set_title(f"decoder layer {layer}")
axes[0].set_yticks(range(len(tokens)), tokens, fontsize=7)
plt.tight_layout()
print(model.tokenizer.decode(ids[0], skip_special_tokens=True), "|", ref["text"])

# %% [markdown]
# ## Beam search step by step
#
# Each step keeps the best `2K` candidates; the best `K` that did not end continue, and
# those among the best `K` that ended (EOS) become finished hypotheses.

# %%
for t, step in enumerate(trace[:8]):
    cands = [f"{model.tokenizer.convert_ids_to_tokens([int(tok)])[0]}({s:.1f})"
             for tok, s in zip(step["token"][0], step["score"][0])]
    print(f"step {t}: kept {sorted(step['live'][0].tolist())}; candidates {' '.join(cands)}")
print("score of the result:", float(result.sequences_scores[0]))

# %% [markdown]
# ## Length penalty and early stopping change the search, not the model

# %%
for lp in (-1.0, 0.0, 1.0, 2.0):
    for es in (True, False, "never"):
        ids = model.generate(feats, num_beams=4, length_penalty=lp, early_stopping=es)
        print(f"length_penalty {lp:+.1f} early_stopping {str(es):5s}:", model.tokenizer.decode(ids[0], True))
