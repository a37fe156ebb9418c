"""Train a small Speech2Text model with the PyTorch twin (``parity.model``).

The twin's ``encode`` / ``decode`` are plain differentiable torch functions over a dict of
weights, so training is: weights as leaf tensors, a forward pass through the twin, a loss
(``parity.train.training_loss``), Adam. Batching, SpecAugment and the schedule are
``minis2t.train``'s, which the NumPy engine (``--engine numpy``) uses too. What the recipe adds to make attention learn to align quickly on a 2-core CPU:

* an auxiliary CTC loss on the encoder (training only: its projection is not shipped),
  which forces the encoder frames to carry the tokens in order;
* label-smoothed cross-entropy (0.1), as fairseq's S2T recipe;
* Adam with a linear warm-up and a cosine decay;
* SpecAugment (frequency and time masks) once the model has started to learn.
"""

from __future__ import annotations

import random
import time

import numpy as np
import torch

import minis2t
import parity.model as tm
from minis2t.train import collate, learning_rate, log_line, make_batches, spec_augment
from parity.train import leaves, training_loss
from parity.transformers_oracle import random_model


def init_weights(config: minis2t.ModelConfig, seed: int) -> dict[str, np.ndarray]:
    """transformers' initialisation of this architecture, as a NumPy weights dict."""
    return random_model(config, seed)[2]


def train(config: minis2t.ModelConfig, features: list[np.ndarray], targets: list[list[int]],
          steps: int, seed: int = 0, max_frames: int = 12000, peak_lr: float = 2e-3,
          warmup: int = 400, ctc_weight: float = 0.3, smoothing: float = 0.1,
          spec_augment_from: int = 1500, log=print, init_from: dict | None = None) -> dict[str, np.ndarray]:  # fmt: skip
    """Train for ``steps`` updates; returns the weights (NumPy, float32, no CTC head).
    ``init_from``: weights that replace the random ones of the same name and shape (the
    encoder of a trained recogniser, for a translation model)."""
    torch.manual_seed(seed)
    rng = random.Random(seed)
    torch.set_num_threads(2)
    weights = init_weights(config, seed)
    for name, value in (init_from or {}).items():
        if name in weights and weights[name].shape == value.shape:
            weights[name] = np.array(value, np.float32)
    named = leaves(weights, torch.float32)  # one leaf per distinct array: the tied head is shared
    ctc_head = torch.nn.Linear(config.d_model, config.vocab_size)  # training only
    head = {"weight": ctc_head.weight, "bias": ctc_head.bias}
    parameters = list({id(t): t for t in named.values()}.values()) + list(ctc_head.parameters())
    positions = {side: tm.position_table(n, config.d_model, config.pad_token_id, torch.float32, "cpu")
                 for side, n in (("encoder", config.max_source_positions), ("decoder", config.max_target_positions))}
    optimizer = torch.optim.AdamW(parameters, lr=peak_lr, betas=(0.9, 0.98), weight_decay=0.01)
    lengths = [f.shape[0] for f in features]
    batches: list[list[int]] = []
    start, running = time.time(), None
    for step in range(1, steps + 1):
        if not batches:
            batches = make_batches(lengths, max_frames, rng)
        batch = batches.pop()
        lr = learning_rate(step, steps, peak_lr, warmup)
        for group in optimizer.param_groups:
            group["lr"] = lr
        x, mask, labels = collate([features[i] for i in batch], [targets[i] for i in batch])
        if step >= spec_augment_from:
            x = spec_augment(x, mask.sum(axis=1).tolist(), rng)
        loss, parts = training_loss(named, config, positions, x, mask, labels, smoothing, head, ctc_weight)
        optimizer.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(parameters, 5.0)
        optimizer.step()
        running = parts if running is None else {k: 0.98 * running[k] + 0.02 * v for k, v in parts.items()}
        if step % 100 == 0 or step == steps:
            log(log_line(step, steps, lr, running["ce"], running.get("ctc", float("nan")), time.time() - start))
    return {name: named[name].detach().numpy().copy() for name in weights}
