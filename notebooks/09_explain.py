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
# # Explain your own recording
#
# `minis2t.explain` follows one recording through every stage with the reference
# functions and returns what each computed; `minis2t explain` draws the same data as one
# offline HTML page. Here it runs on the LibriSpeech recording bundled in
# `minis2t/assets`. Knobs: **the recording** (put yours), **the beams** and **the encoder
# layer** whose attention is kept. The site's page *Explain your own recording* shows the
# page it writes.

# %%
import io
from pathlib import Path

import numpy as np
from IPython.display import Image

import minis2t
from minis2t.app.cli import BUNDLED_RECORDING
from minis2t.app.explain_page import figures

RECORDING = BUNDLED_RECORDING  # knob: any audio file
BEAMS = 5  # knob: 1 is greedy search
LAYER = 0  # knob: the encoder layer whose self-attention is kept

e = minis2t.explain(str(RECORDING), beams=BEAMS, layer=LAYER, oracles=False)
print(f"segment {e.segment} of {len(e.segments)}: {e.start:.2f}-{e.end:.2f} s")
print(f"transcript: {e.text!r}")

# %% [markdown]
# ## Every stage, the functions that computed it and its shapes

# %%
for sid, stage in e.stages.items():
    shapes = ", ".join(f"{name} {list(np.shape(x))}" for name, x in stage.arrays.items() if not name.startswith("step "))
    print(f"{sid:12s} {', '.join(f.removeprefix('minis2t.') for f in stage.functions)}")
    print(f"{'':12s} {shapes}")

# %% [markdown]
# ## CMVN, from its numbers
#
# The features after CMVN are the log-mel features minus each bin's mean, divided by its
# standard deviation — check it from the arrays the trace keeps.

# %%
cmvn, mel = e.stages["cmvn"].arrays, e.stages["mel"].arrays
again = (mel["log-mel"] - cmvn["means"]) / cmvn["standard deviations"]
print("largest difference to the stage's features:", float(np.abs(again - cmvn["features"]).max()))

# %% [markdown]
# ## The search, step by step
#
# Each step of beam search ranks 2K candidates; `live` says which K continue.

# %%
search = e.stages["search"]
pieces = search.details["pieces_by_id"]
for i, step in enumerate(search.details["steps"][:5]):
    kept = [pieces[int(t)] for t in step["token"][0, step["live"][0]]]
    print(f"step {i}: kept {kept}")
print("stopped by:", search.numbers["stopped by"])

# %%
tree = figures(e)["search"]  # the page's figure of the search (a matplotlib Figure)
tree.tight_layout()
png = io.BytesIO()
tree.savefig(png, format="png", dpi=100)
Image(png.getvalue())

# %% [markdown]
# ## Where the decoder looked

# %%
for w in e.stages["cross"].details["words"]:
    print(f"{w['start']:5.2f}-{w['end']:5.2f} s  {w['word']}")

# %% [markdown]
# ## The parity strip: the reference against the engine

# %%
for row in e.parity:
    print(f"{row['stage']:34s} {row.get('tokens') or row['engine']}")

# %% [markdown]
# ## Exercises
#
# (On the site the checking cells are hidden; they ran when the page was built.)
#
# 1. How many encoder frames does the segment give? Use only the number of feature
#    frames and the rule `(L - 1) // 2 + 1` of each of the two stride-2 conv layers; put
#    it in `encoder_frames`.

# %%
frames = e.stages["mel"].arrays["log-mel"].shape[0]
encoder_frames = ((frames - 1) // 2 + 1 - 1) // 2 + 1  # your answer

# %% tags=["answer-check"]
assert encoder_frames == e.stages["positions"].arrays["encoder input"].shape[0], "count again, layer by layer"
assert e.stages["attention"].arrays["weights"].shape[1:] == (encoder_frames, encoder_frames)
print(f"right: {frames} frames -> {(frames - 1) // 2 + 1} -> {encoder_frames}")

# %% [markdown]
# 2. Which step's candidates first include end-of-sentence among the best K? Put the
#    step's index in `first_end`.

# %%
k = search.numbers["beams K"]
first_end = next(i for i, s in enumerate(search.details["steps"]) if s["ends"][0, :k].any())  # your answer

# %% tags=["answer-check"]
ends = [i for i, s in enumerate(search.details["steps"]) if s["ends"][0, :k].any()]
assert first_end == ends[0], f"step {ends[0]}"
print(f"right: step {first_end}; that hypothesis is finished, the others go on")

# %% [markdown]
# 3. Write the page with `e.to_html()` into a file and open it in a browser (it needs no
#    network).

# %%
page = Path("explain_notebook.html")
page.write_text(e.to_html(), encoding="utf-8")
print(f"{page}: {page.stat().st_size / 1e6:.1f} MB")
page.unlink()
