"""Training in NumPy: the loss and its gradients, the optimiser, the schedule.

    from minis2t.train import loss_and_grads
    loss, grads = loss_and_grads(model, input_features, attention_mask, labels)

The forward pass is inference's own (:func:`minis2t.model.encode` and
:func:`~minis2t.model.decode` over the labels shifted right — teacher forcing), the loss
is :func:`minis2t.grad.cross_entropy`, and the backward pass is
:mod:`minis2t.model_grad` built from :mod:`minis2t.grad`. ``tests/test_train.py`` checks
the loss and every gradient against transformers' ``loss.backward()``, and one
optimiser step against ``torch.optim.AdamW``.
"""

from __future__ import annotations

import math

import numpy as np

from minis2t import model as m
from minis2t.errors import LabelError
from minis2t.grad import cross_entropy
from minis2t.model_grad import decode_backward, encode_backward


def flatten(tree, prefix: str = "") -> dict[str, np.ndarray]:
    """The inverse of :func:`minis2t.model.nest`: ``{"a": {"b": [{"c": x}]}}`` ->
    ``{"a.b.0.c": x}``."""
    if isinstance(tree, dict):
        items = tree.items()
    elif isinstance(tree, list):
        items = ((str(i), v) for i, v in enumerate(tree))
    else:
        return {prefix: tree}
    out = {}
    for key, value in items:
        out.update(flatten(value, f"{prefix}.{key}" if prefix else key))
    return out


def check_labels(labels, batch: int, vocab_size: int) -> np.ndarray:
    """Labels ``[B, L]``: integers in ``[0, vocab_size)`` or -100 (ignored), at least one
    not ignored."""
    array = np.asarray(labels)
    if array.ndim != 2 or array.shape[0] != batch or array.shape[1] == 0:
        raise LabelError(f"labels must be [B, L] with B = {batch} (the batch of features) and L >= 1, "
                         f"got shape {array.shape}.")  # fmt: skip
    if not np.issubdtype(array.dtype, np.integer):
        raise LabelError(f"labels must be integer token ids, got {array.dtype}.")
    bad = (array != m.IGNORE_INDEX) & ((array < 0) | (array >= vocab_size))
    if bad.any():
        raise LabelError(f"label {int(array[bad][0])} is outside the vocabulary [0, {vocab_size}) "
                         f"(-100 marks a position the loss ignores).")  # fmt: skip
    if (array == m.IGNORE_INDEX).all():
        raise LabelError("every label is -100: there is nothing to learn from.")
    return array.astype(np.int64)


def loss_and_grads(model, input_features, attention_mask, labels, label_smoothing: float = 0.0):
    """Mean cross-entropy of ``labels [B, L]`` given the features, and its gradient with
    respect to every weight.

    Args:
        model: a :class:`minis2t.Speech2Text`; its dtype is the computation's.
        input_features: ``[B, T, F]``; attention_mask: ``[B, T]`` or None (all real).
        labels: token ids ``[B, L]``, -100 where the loss should not look. The decoder's
            input is the labels shifted right (``decoder_start_token_id`` first, -100 as
            padding), as in transformers.
        label_smoothing: ``ε`` of ``torch.nn.functional.cross_entropy``.
    Returns ``(loss, grads)``: the loss as a float — with ``label_smoothing=0`` equal to
    transformers' ``Speech2TextForConditionalGeneration(..., labels=labels).loss`` —
    and ``{name: gradient}`` for every name in ``model.weights``, each of its weight's
    shape; tied weights (the LM head and the embedding) carry their shared total under
    both names.
    """
    config, params = model.config, model.params
    features = model._features(input_features)
    labels = check_labels(labels, features.shape[0], config.vocab_size)
    enc = m.encode(params, config, features, attention_mask, model.positions["encoder"])
    states, mask = enc["last_hidden_state"], enc["mask"]
    decoder_input = m.shift_tokens_right(labels, config.pad_token_id, config.decoder_start_token_id)
    out = m.decode(params, config, decoder_input, m.init_cache(params, config, states), mask,
                   positions=model.positions["decoder"])  # fmt: skip
    loss, d_logits = cross_entropy(out["logits"], labels, label_smoothing)

    decoder, head, d_states = decode_backward(d_logits, params, config, decoder_input, states, mask,
                                              model.positions["decoder"])  # fmt: skip
    encoder = encode_backward(d_states, params, config, features, attention_mask, model.positions["encoder"])
    named = flatten({"model": {"encoder": encoder, "decoder": decoder}, "lm_head": head})
    # Tied weights are one array under two names: their gradient is one array too, the
    # sum over every name that shares the weight, given under each of those names.
    totals: dict[int, np.ndarray] = {}
    for name, weight in model.weights.items():
        totals[id(weight)] = named[name] if id(weight) not in totals else totals[id(weight)] + named[name]
    return loss, {name: totals[id(weight)] for name, weight in model.weights.items()}


# --- optimisation ------------------------------------------------------------------------


class AdamW:
    """Adam with decoupled weight decay (Loshchilov & Hutter), as ``torch.optim.AdamW``.

    For each weight ``w`` with gradient ``g`` at step ``t``:
    ``w <- w (1 - lr λ)``; ``m <- β1 m + (1 - β1) g``; ``v <- β2 v + (1 - β2) g²``;
    ``w <- w - lr m̂ / (sqrt(v̂) + ε)`` with ``m̂ = m / (1 - β1^t)``, ``v̂ = v / (1 - β2^t)``.
    Tied weights (one array under several names) are updated once.
    """

    def __init__(self, weights: dict[str, np.ndarray], lr: float = 1e-3, betas=(0.9, 0.999),
                 eps: float = 1e-8, weight_decay: float = 0.01):  # fmt: skip
        self.weights, self.lr, self.betas, self.eps, self.weight_decay = weights, lr, betas, eps, weight_decay
        self.unique = {id(w): name for name, w in weights.items()}  # one name per array
        self.m = {name: np.zeros_like(weights[name]) for name in self.unique.values()}
        self.v = {name: np.zeros_like(weights[name]) for name in self.unique.values()}
        self.t = 0

    def step(self, grads: dict[str, np.ndarray]) -> None:
        """Update the weights in place (they are the model's own arrays)."""
        self.t += 1
        b1, b2 = self.betas
        for name in self.unique.values():
            w, g = self.weights[name], grads[name].astype(self.weights[name].dtype, copy=False)
            w *= 1 - self.lr * self.weight_decay
            self.m[name] = b1 * self.m[name] + (1 - b1) * g
            self.v[name] = b2 * self.v[name] + (1 - b2) * g * g
            m_hat = self.m[name] / (1 - b1**self.t)
            v_hat = self.v[name] / (1 - b2**self.t)
            w -= self.lr * m_hat / (np.sqrt(v_hat) + self.eps)


def clip_grad_norm(grads: dict[str, np.ndarray], max_norm: float) -> float:
    """Scale all gradients by ``min(1, max_norm / (total norm + 1e-6))``, as
    ``torch.nn.utils.clip_grad_norm_`` (a tied weight counted once). Returns the norm."""
    unique = {id(g): g for g in grads.values()}
    total = math.sqrt(sum(float(np.square(g, dtype=np.float64).sum()) for g in unique.values()))
    scale = max_norm / (total + 1e-6)
    if scale < 1:
        for g in unique.values():
            g *= scale
    return total


def learning_rate(step: int, steps: int, peak: float, warmup: int) -> float:
    """Linear warm-up to ``peak``, then a cosine decay to 2 % of it at the last step."""
    if step <= warmup:
        return peak * step / warmup
    progress = (step - warmup) / max(1, steps - warmup)
    return peak * (0.02 + 0.98 * 0.5 * (1 + math.cos(math.pi * progress)))
