"""Waveform to tokens with the reference alone: the whole data path in two functions.

    waveform [N] --fbank, utterance_cmvn--> features [1, T, F] --encode--> [1, S, D]
      --search (step = decode one token)--> token ids [1, L]

Each beam gets its own copy of the encoder's keys and values here (``np.repeat``); the
engine shares one copy among an utterance's beams (:func:`minis2t.engine.model.group_beams`).
"""

from __future__ import annotations

import numpy as np

from .features import fbank, utterance_cmvn
from .model import decode, encode, init_cache
from .search import search


def generate(params: dict, config, features: np.ndarray, attention_mask, options, rules: str = "transformers"):
    """Features ``[B, T, F]`` (mask ``[B, T]``) -> a :class:`~minis2t.reference.generate.GenerateOutput`
    with ``sequences [B, L]``. ``options`` is a
    :class:`~minis2t.io.config.GenerationConfig`; ``rules`` picks transformers' or
    fairseq's search (see :func:`minis2t.reference.search.search`)."""
    enc = encode(params, config, features, attention_mask)
    batch, k = features.shape[0], options.num_beams
    states = np.repeat(enc["last_hidden_state"], k, axis=0)  # [B*K, S, D], item-major
    mask = np.repeat(enc["mask"], k, axis=0)  # [B*K, S]

    def step(tokens, cache):  # [B*K, 1] -> logits [B*K, V]
        out = decode(params, config, tokens, cache, mask)
        return out["logits"][:, -1], out["cache"]

    return search(step, init_cache(params, config, states), batch, options, config.vocab_size, rules)


def waveform_to_tokens(params: dict, config, waveform: np.ndarray, options, rules: str = "transformers"):
    """One 16 kHz waveform ``[N]`` -> its token ids ``[L]`` (start token first)."""
    # the front end in float64, the features rounded to float32, as transformers does
    features = utterance_cmvn(fbank(waveform.astype(np.float64)).astype(np.float32))  # [T, F]
    dtype = params["model"]["decoder"]["embed_tokens"]["weight"].dtype
    features = features.astype(dtype)[None]  # [1, T, F]
    return generate(params, config, features, None, options, rules).sequences[0]  # [L]
