"""What :class:`minis2t.Speech2Text` runs: the engine's encoder and decoder over one
model's weights, behind three methods.

A runtime is the one thing that changes between backends; features, search, long form
and timestamps are the same code whichever runtime computes the network. Its methods:

* ``encode(features [B, T, F], attention_mask [B, T] | None, output_hidden_states,
  output_attentions) -> {"last_hidden_state": [B, S, D], "mask": [B, S], ...}``
* ``init_cache(encoder_states [B, S, D]) -> cache`` (``cache.length``,
  ``cache.reorder(rows)``)
* ``decode(input_ids [N, L], cache, encoder_mask [N, S], decoder_attention_mask,
  output_hidden_states, output_attentions) -> {"logits": [N, L, V], "cache": ..., ...}``,
  ``N = B*K`` rows, ``K`` beams per utterance, item-major.
"""

from __future__ import annotations

import numpy as np

from . import model as engine


class NumpyRuntime:
    """The NumPy engine (:mod:`minis2t.engine.model`) over nested weights."""

    name = "numpy"

    def __init__(self, params: dict, config):
        self.params, self.config = params, config  # params: minis2t.reference.model.model_params

    def encode(self, features, attention_mask=None, output_hidden_states=False, output_attentions=False):
        return engine.encode(self.params, self.config, features, attention_mask, output_hidden_states,
                             output_attentions)  # fmt: skip

    def init_cache(self, encoder_states):
        return engine.init_cache(self.params, self.config, encoder_states)

    def decode(self, input_ids, cache, encoder_mask=None, decoder_attention_mask=None,
               output_hidden_states=False, output_attentions=False):  # fmt: skip
        return engine.decode(self.params, self.config, input_ids, cache, encoder_mask, decoder_attention_mask,
                             output_hidden_states, output_attentions)  # fmt: skip
