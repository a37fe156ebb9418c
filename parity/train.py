"""The twin of :mod:`minis2t.train`: the same loss and the same loop, differentiated by
``torch.autograd`` and stepped by ``torch.optim.AdamW``.

Batching, SpecAugment and the learning-rate schedule are NumPy-side choices, not
arithmetic to prove, so the twin takes the same batches and schedule as the NumPy loop;
everything that computes — the forward pass, the losses, the gradients, clipping and the
optimiser — is torch's. ``tests/test_train.py`` runs both from the same weights on the
same batches and compares the losses step by step.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

from minis2t.reference.model import IGNORE_INDEX
from minis2t.train import learning_rate
from parity import model as tm
from parity import nn as tnn


def leaves(weights: dict[str, np.ndarray], dtype=torch.float64) -> dict[str, torch.Tensor]:
    """One trainable leaf per distinct array: tied names share their leaf."""
    made: dict[int, torch.Tensor] = {}
    out = {}
    for name, array in weights.items():
        if id(array) not in made:
            made[id(array)] = torch.tensor(array, dtype=dtype, requires_grad=True)
        out[name] = made[id(array)]
    return out


def training_loss(named, config, positions, x, mask, labels, smoothing=0.0, ctc_head=None, ctc_weight=0.0):
    """``(loss, parts)`` as :func:`minis2t.train.training_loss_and_grads` computes them."""
    params = tm.nest(named)
    x, mask, labels = torch.from_numpy(x).to(named["lm_head.weight"].dtype), torch.from_numpy(mask), torch.from_numpy(labels)
    enc = tm.encode(params, config, x, mask, positions=positions["encoder"])
    decoder_input = tm.shift_tokens_right(labels, config.pad_token_id, config.decoder_start_token_id)
    cache = tm.init_cache(params, config, enc["last_hidden_state"])
    out = tm.decode(params, config, decoder_input, cache, enc["mask"], positions=positions["decoder"])
    ce = F.cross_entropy(out["logits"].reshape(-1, config.vocab_size), labels.reshape(-1),
                         ignore_index=IGNORE_INDEX, label_smoothing=smoothing)  # fmt: skip
    if ctc_head is None or ctc_weight == 0:
        return ce, {"ce": ce.item()}
    log_probs = tnn.log_softmax(tnn.linear(enc["last_hidden_state"], ctc_head["weight"], ctc_head["bias"]))
    targets = [[int(t) for t in row if t not in (IGNORE_INDEX, config.eos_token_id)] for row in labels.tolist()]
    flat = torch.tensor([t for row in targets for t in row], dtype=torch.long)
    ctc = F.ctc_loss(log_probs.transpose(0, 1), flat, enc["mask"].sum(1), torch.tensor([len(t) for t in targets]),
                     blank=0, reduction="mean", zero_infinity=True)  # fmt: skip
    return (1 - ctc_weight) * ce + ctc_weight * ctc, {"ce": ce.item(), "ctc": ctc.item()}


def fit(weights, config, positions, batches, steps, peak_lr=2e-3, warmup=400, ctc_head=None, ctc_weight=0.0,
        smoothing=0.0, clip=5.0, betas=(0.9, 0.98), weight_decay=0.01, dtype=torch.float64):  # fmt: skip
    """The twin of :func:`minis2t.train.fit`. Returns the history and the trained leaves."""
    named = leaves(weights, dtype)
    head = None if ctc_head is None else {k: torch.tensor(v, dtype=dtype, requires_grad=True)
                                          for k, v in ctc_head.items()}  # fmt: skip
    params = list({id(t): t for t in named.values()}.values()) + ([] if head is None else list(head.values()))
    optimizer = torch.optim.AdamW(params, lr=peak_lr, betas=betas, weight_decay=weight_decay)
    tables = {k: torch.from_numpy(np.array(v)).to(dtype) for k, v in positions.items()}
    history = []
    for step in range(1, steps + 1):
        x, mask, labels = next(batches)
        lr = learning_rate(step, steps, peak_lr, warmup)
        for group in optimizer.param_groups:
            group["lr"] = lr
        loss, parts = training_loss(named, config, tables, x, mask, labels, smoothing, head, ctc_weight)
        optimizer.zero_grad()
        loss.backward()
        norm = torch.nn.utils.clip_grad_norm_(params, clip)
        optimizer.step()
        history.append({"step": step, "loss": loss.item(), **parts, "lr": lr, "grad_norm": float(norm)})
    return history, named
