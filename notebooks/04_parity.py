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
# # Parity: NumPy vs the PyTorch twin vs transformers, stage by stage
#
# The bundled model, loaded by all three, on one utterance. The knob is the **dtype**: in
# float64 the implementations must agree to rounding (1e-16 per operation), so anything
# larger is a real difference; in float32 every library rounds its own way. The site's
# *Parity* page explains the three layers of checks and the bars the tests assert.

# %%
import json
import logging
import warnings

import numpy as np
import torch
from transformers import Speech2TextForConditionalGeneration

import minis2t
from minis2t.app.pipeline import BUNDLED_MODEL
from parity import bars
from parity.compare import compare, format_table

# fairseq, the fourth column when it is installed, starts hydra, which turns the root
# logger to DEBUG and warns about its own API: keep the output to the table.
logging.disable(logging.INFO)
warnings.filterwarnings("ignore", module="hydra")
samples = BUNDLED_MODEL.parent / "samples"
ref = json.loads((samples / "references.json").read_text())[0]
rows = compare(BUNDLED_MODEL, [samples / ref["file"]], steps=6, device="cpu")
print(format_table(rows))

# %% [markdown]
# ## The bars the tests assert
#
# The same constants the test suite imports (`parity/bars.py`).

# %%
for name in ("FRONT_END_TWIN", "MODEL_TWIN", "MODEL_TRANSFORMERS"):
    print(f"{name:20s}", getattr(bars, name))

# %% [markdown]
# ## One stage by hand: the encoder output in float32 and float64
#
# Each library computes its position table in float32 with its own `sin` and `exp`
# (page 6), so the tables differ by about an ulp. Run once with each side's own table,
# once with the twin's table handed to both: in float64 that difference is the only one.

# %%
import parity.model as tm
from minis2t.reference import model as M

config, weights = minis2t.load_checkpoint(BUNDLED_MODEL)
for dtype, tdtype in ((np.float32, torch.float32), (np.float64, torch.float64)):
    model = minis2t.Speech2Text.from_pretrained(dtype=dtype)
    feats = model.feature_extractor(minis2t.load_audio(samples / ref["file"]))["input_features"].astype(dtype)
    params = tm.to_torch(weights, tdtype)
    table = tm.position_table(config.max_source_positions, config.d_model, config.pad_token_id, tdtype, "cpu")
    theirs = tm.encode(params, config, torch.from_numpy(feats), positions=table)["last_hidden_state"].numpy()
    own = M.encode(model.params, config, feats)["last_hidden_state"]
    model.positions = {"encoder": table.numpy()}  # the twin's table in place of ours
    shared = M.encode(model.params, config, feats)["last_hidden_state"]
    print(f"{np.dtype(dtype).name}: max |NumPy - twin| own tables {np.abs(own - theirs).max():.1e}, "
          f"same table {np.abs(shared - theirs).max():.1e}")

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

# %% [markdown]
# ## Exercises
#
# 1. **Find the biggest gap.** In the table, which stage has the largest float32
#    difference between NumPy and transformers, and why there? (Hint: how many
#    operations deep is it, and how large are its values?)
# 2. **Break it on purpose.** Copy `minis2t.reference.nn.attention`, scale by `d_h ** -0.5` *after*
#    the product instead of before, and compare its output with the original in float32
#    and in float64. Which dtype reveals that the two orders are the same mathematics?
# 3. **A real difference.** Pad one utterance in a batch with another, longer one and
#    compare its encoder output with running it alone, in float64. The gap is not
#    rounding — page 5 (*Convolutional subsampling*) explains where it comes from.


# %% [markdown]
# ### Check your answers
#
# Put your answer in the variable (it holds one already, so that the notebook runs top
# to bottom); the cell under it checks it. On the site the checking cells are hidden.
#
# 4. **Which dtype shows that scaling before or after the product is the same
#    mathematics?** Put `"float32"` or `"float64"` in `revealing_dtype`.

# %%
revealing_dtype = "float64"  # your answer

# %% tags=["answer-check"]
rng = np.random.default_rng(0)
gaps = {}
for dt in (np.float32, np.float64):
    q, k = (rng.standard_normal((4, 16, 32)).astype(dt) for _ in range(2))
    before = (q * dt(32 ** -0.5)) @ k.swapaxes(-1, -2)
    after = (q @ k.swapaxes(-1, -2)) * dt(32 ** -0.5)
    gaps[np.dtype(dt).name] = float(np.abs(before - after).max())
assert gaps[revealing_dtype] < 1e-12 < gaps["float32"], gaps
print("right")  # no more: running this notebook should not give the answer away
