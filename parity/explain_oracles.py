"""The twin's and transformers' numbers for ``minis2t explain``'s parity strip.

:func:`oracle_stages` runs one recording through the PyTorch twin (this package) and
transformers' ``Speech2TextForConditionalGeneration`` on a minis2t model's weights, in
float32 on the CPU: the features from each one's own front end, the network on the
reference's features (so each stage's difference is that stage's, as in ``python -m
parity compare``), teacher-forced over the tokens the explained search chose; each value
is named as the page's strip names its stage. ``minis2t.app.explain`` imports it only
where it is importable (a checkout) and torch and transformers are installed.
"""

from __future__ import annotations

import tempfile

import numpy as np
import torch

from . import features as tf
from . import model as tm
from .compare import hf_stages, stage_dict, to_numpy

# the strip's stage names (minis2t.app.explain.engine_parity) for compare's stage names
STAGES = {"features": "features (log-mel after CMVN)", "encoder input": "encoder input (positions added)",
          "encoder output": "encoder output", "logits": "decoder logits (teacher-forced)"}  # fmt: skip


def _named(stages: dict, conv_layers: int) -> dict:
    out = {STAGES[k]: v for k, v in stages.items() if k in STAGES}
    last = stages.get(f"conv layer {conv_layers - 1}")
    if last is not None:
        out["conv subsampler output"] = last
    return {k: v[0] if v.ndim == 3 and k != "features (log-mel after CMVN)" else v for k, v in out.items()}


@torch.no_grad()
def oracle_stages(model, wave: np.ndarray, features: np.ndarray,
                  sequence: np.ndarray) -> dict[str, dict[str, np.ndarray]]:  # fmt: skip
    """``{"twin": {stage: array}, "transformers": {stage: array}}`` for one 16 kHz ``wave``,
    the reference's features ``[T, F]`` of it and the token ids ``sequence [L]`` (start
    token first) of a loaded :class:`minis2t.Speech2Text`; arrays without the batch axis."""
    from transformers import Speech2TextFeatureExtractor, Speech2TextForConditionalGeneration

    cfg, extractor = model.config, model.feature_extractor
    ids = torch.from_numpy(np.asarray(sequence, np.int64)[None])
    # the twin, from its own front end
    twin_x = tf.FeatureExtractor(**extractor.to_dict(), device="cpu")([wave])["input_features"]
    tparams = tm.to_torch(model.weights, torch.float32, "cpu")
    tx = torch.from_numpy(np.asarray(features, np.float32)[None])  # [1, T, F]
    enc = tm.encode(tparams, cfg, tx)
    dec = tm.decode(tparams, cfg, ids, tm.init_cache(tparams, cfg, enc["last_hidden_state"]), enc["mask"])
    twin = {"features": to_numpy(twin_x)[0].astype(np.float32), **stage_dict(enc, dec)}
    # transformers, on the same weights written in its layout
    settings = {k: v for k, v in extractor.to_dict().items() if k not in ("feature_extractor_type", "global_cmvn")}
    hf_x = Speech2TextFeatureExtractor(**settings)(wave, sampling_rate=16000, return_tensors="np")["input_features"]
    from transformers.utils import logging as hf_logging

    with tempfile.TemporaryDirectory() as directory:
        model.save_pretrained(directory)
        hf_logging.disable_progress_bar()  # no bar on the command's terminal
        try:
            hf = Speech2TextForConditionalGeneration.from_pretrained(directory).eval()
        finally:
            hf_logging.enable_progress_bar()
    hf_all = {"features": hf_x[0]} if extractor.global_cmvn is None else {}  # transformers has no global CMVN
    hf_all.update(hf_stages(hf, tx, torch.ones(tx.shape[:2], dtype=torch.long), ids))
    return {"twin": _named(twin, cfg.num_conv_layers), "transformers": _named(hf_all, cfg.num_conv_layers)}
