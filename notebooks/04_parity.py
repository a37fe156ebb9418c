# %% [markdown]
# # Parity: NumPy vs the PyTorch twin vs transformers, stage by stage
#
# The bundled model, loaded by all three, on one utterance.

# %%
import json

import numpy as np
import torch
from transformers import Speech2TextForConditionalGeneration

import minis2t
from minis2t.pipeline import BUNDLED_MODEL
from parity.compare import compare, format_table

samples = BUNDLED_MODEL.parent / "samples"
ref = json.loads((samples / "references.json").read_text())[0]
rows = compare(BUNDLED_MODEL, [samples / ref["file"]], steps=6, device="cpu")
print(format_table(rows))

# %% [markdown]
# ## The same weights load in transformers, and the tokens agree

# %%
hf = Speech2TextForConditionalGeneration.from_pretrained(BUNDLED_MODEL).eval()
model = minis2t.Speech2Text.from_pretrained()
feats = model.feature_extractor(minis2t.load_audio(samples / ref["file"]))
with torch.no_grad():
    theirs = hf.generate(input_features=torch.from_numpy(feats["input_features"]),
                         attention_mask=torch.from_numpy(feats["attention_mask"]))
ours = model.generate(feats["input_features"], feats["attention_mask"])
print("identical token ids:", np.array_equal(ours, theirs.numpy()))
print(model.tokenizer.decode(ours[0], skip_special_tokens=True))
