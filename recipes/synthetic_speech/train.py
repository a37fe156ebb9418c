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

Training survives being cut off: with ``checkpoint=PATH`` the whole state — weights, the
CTC head, AdamW's moments, the step (the schedule is a function of it), the Python and
torch random states and the data position (the batches of the epoch still to come) — is
written to PATH every ``checkpoint_every`` seconds (atomically: a temporary file, then a
rename), and a call that finds PATH resumes from it. A resumed run computes the same
weights as an uninterrupted one (``tests/test_recipe_resume.py`` proves it on a tiny
model).
"""

from __future__ import annotations

import os
import random
import time
from pathlib import Path

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
          spec_augment_from: int = 1500, log=print, init_from: dict | None = None,
          checkpoint: Path | None = None, checkpoint_every: float = 180.0,
          stop_after: int | None = None) -> dict[str, np.ndarray]:  # fmt: skip
    """Train for ``steps`` updates; returns the weights (NumPy, float32, no CTC head).
    ``init_from``: weights that replace the random ones of the same name and shape (the
    encoder of a trained recogniser, for a translation model). ``checkpoint``: where the
    state is kept every ``checkpoint_every`` seconds, and resumed from if it exists;
    ``stop_after``: write the checkpoint after that step and return (a planned cut)."""
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
    start, running, first, before = time.time(), None, 1, 0.0
    unique = {id(t): name for name, t in named.items()}  # tied weights once

    def save(step: int) -> None:
        state = {"step": step, "steps": steps, "seconds": before + time.time() - start,
                 "weights": {name: named[name].detach().clone() for name in unique.values()},
                 "ctc_head": ctc_head.state_dict(), "optimizer": optimizer.state_dict(),
                 "python_rng": rng.getstate(), "torch_rng": torch.get_rng_state(),
                 "batches": [list(b) for b in batches], "running": running}  # fmt: skip
        temporary = Path(f"{checkpoint}.tmp")
        torch.save(state, temporary)
        os.replace(temporary, checkpoint)

    if checkpoint is not None and Path(checkpoint).is_file():
        state = torch.load(checkpoint, weights_only=False)
        assert state["steps"] == steps, f"{checkpoint} is a run of {state['steps']} steps, not {steps}"
        with torch.no_grad():
            for name, value in state["weights"].items():
                named[name].copy_(value)
        ctc_head.load_state_dict(state["ctc_head"])
        optimizer.load_state_dict(state["optimizer"])
        rng.setstate(state["python_rng"])
        torch.set_rng_state(state["torch_rng"])
        batches, running, first, before = state["batches"], state["running"], state["step"] + 1, state["seconds"]
        log(f"resumed from {checkpoint} after step {state['step']} ({before:.0f} s of training)")
    last_save = time.time()
    for step in range(first, steps + 1):
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
            log(log_line(step, steps, lr, running["ce"], running.get("ctc", float("nan")),
                         before + time.time() - start))  # fmt: skip
        if checkpoint is not None and (step == stop_after or time.time() - last_save >= checkpoint_every):
            save(step)
            last_save = time.time()
        if step == stop_after:
            break
    return {name: named[name].detach().numpy().copy() for name in weights}
