"""Beam search's per-step record (``GenerateOutput.steps``) tells the search's story truly.

Walking back from the winning candidate through ``beam`` (its source beam) and ``live``
(where each live beam sat among the previous step's candidates) must spell the returned
sequence, and that candidate's running score, length-normalised, must be the returned
score. Both searches (transformers' and fairseq's rules) on the bundled model and one of
its recordings.
"""

import json

import numpy as np
import pytest

import minis2t
from minis2t.io.checkpoint import BUNDLED_MODELS

K = 3


def walk_back(steps, t: int, c: int) -> list[int]:
    """Tokens of candidate ``c`` of step ``t`` (item 0), oldest first."""
    tokens = []
    while True:
        tokens.append(int(steps[t]["token"][0, c]))
        if t == 0:
            return tokens[::-1]
        c = int(steps[t - 1]["live"][0, int(steps[t]["beam"][0, c])])
        t -= 1


@pytest.mark.parametrize("search", ["transformers", "fairseq"])
def test_steps_spell_the_returned_sequence(search):
    model = minis2t.Speech2Text.from_pretrained()
    samples = BUNDLED_MODELS["bundled-asr"].parent / "samples"
    first = json.loads((samples / "references.json").read_text())[0]["file"]
    feats = model.feature_extractor(minis2t.load_audio(samples / first))["input_features"]
    out = model.generate(feats, num_beams=K, search=search, return_dict=True)
    steps = out.steps
    assert steps and all(s["token"].shape == s["beam"].shape == s["ends"].shape for s in steps)
    assert all(s["live"].shape == (1, K) for s in steps)
    winner = [int(x) for x in out.sequences[0, 1:]]
    lp = model.generation_config.length_penalty
    matches = [
        (t, c)
        for t, s in enumerate(steps)
        for c in range(K)
        if s["ends"][0, c]
        and walk_back(steps, t, c) == winner[: t + 1]
        and np.isclose(s["score"][0, c] / np.float32((t + 1) ** lp), out.sequences_scores[0], rtol=1e-6)
    ]
    assert matches, "no ended candidate spells the returned sequence with its score"
    t = matches[0][0]
    assert all(tok == model.generation_config.pad_token_id for tok in winner[t + 1 :])
