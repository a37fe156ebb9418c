"""transformers as an oracle: a model of a given architecture with transformers' own
random initialisation, and its weights as minis2t keeps them.

The benchmarks, the long-form recipe (s2t-small's size, for speed) and the synthetic
recipe (the starting point of training) all draw their weights here, so "random weights
of this architecture" means one thing everywhere.
"""

from __future__ import annotations

import numpy as np
import torch

import minis2t


def random_model(config: dict | minis2t.ModelConfig, seed: int = 0, dtype=np.float32):
    """``(hf, config, weights)``: transformers' ``Speech2TextForConditionalGeneration``
    initialised by transformers under ``torch.manual_seed(seed)`` (eval mode), its
    config as a :class:`minis2t.ModelConfig`, and its state dict prepared for minis2t in
    ``dtype`` (copies: the two models share no memory)."""
    from transformers import Speech2TextConfig, Speech2TextForConditionalGeneration

    values = config.to_dict() if isinstance(config, minis2t.ModelConfig) else dict(config)
    values = {k: v for k, v in values.items() if k not in ("architectures", "model_type")}
    torch.manual_seed(seed)
    hf = Speech2TextForConditionalGeneration(Speech2TextConfig(**values)).eval()
    ours = minis2t.ModelConfig.from_dict(hf.config.to_dict())
    weights = minis2t.io.checkpoint.prepare_weights(
        ours, {k: v.detach().numpy().copy() for k, v in hf.state_dict().items()}, dtype
    )
    return hf, ours, weights
