"""Training in NumPy: the loss and its gradients, the optimiser, the schedule.

    from minis2t.train import loss_and_grads
    loss, grads = loss_and_grads(model, input_features, attention_mask, labels)

The forward pass is the reference's (:func:`minis2t.reference.model.encode` and
:func:`~minis2t.reference.model.decode` over the labels shifted right — teacher forcing),
the loss is :func:`minis2t.reference.model.cross_entropy`, and the backward pass is
:mod:`minis2t.reference.model_grad` built from :mod:`minis2t.reference.grad`: loss to
gradients with the reference alone. ``tests/test_train.py`` checks the loss and every
gradient against transformers' ``loss.backward()``, and one optimiser step against
``torch.optim.AdamW``.
"""

from __future__ import annotations

import math
import re
import time
from typing import TYPE_CHECKING

import numpy as np

from ..errors import ConfigError, LabelError
from ..reference import model as m
from ..reference.grad import cross_entropy_backward, ctc_loss, linear_backward
from ..reference.model_grad import decode_backward, encode_backward
from ..reference.nn import linear, log_softmax

if TYPE_CHECKING:  # the learning layer sits above the application: it trains a Speech2Text
    from ..app.pipeline import Speech2Text

IGNORE = m.IGNORE_INDEX


def flatten(tree, prefix: str = "") -> dict[str, np.ndarray]:
    """The inverse of :func:`minis2t.reference.model.nest`: ``{"a": {"b": [{"c": x}]}}`` ->
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


def loss_and_grads(model: Speech2Text, input_features: np.ndarray, attention_mask: np.ndarray | None,
                   labels: np.ndarray, label_smoothing: float = 0.0) -> tuple[float, dict[str, np.ndarray]]:  # fmt: skip
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
    both names (one array).
    """
    loss, grads, _ = training_loss_and_grads(model, input_features, attention_mask, labels, label_smoothing)
    return loss, grads


def training_loss_and_grads(model: Speech2Text, input_features, attention_mask, labels, label_smoothing: float = 0.0,
                            ctc_head: dict | None = None, ctc_weight: float = 0.0):  # fmt: skip
    """:func:`loss_and_grads`, optionally with the recipe's auxiliary CTC loss on the
    encoder: ``(1 - w) CE + w CTC``, CTC over ``log_softmax(states W^T + b)`` with blank
    ``<s>`` (id 0), targets the labels without ``</s>`` and -100, each sequence's loss
    divided by its target length and averaged over the batch (torch's ``reduction="mean"``),
    infeasible sequences counted as 0 (``zero_infinity``). ``ctc_head`` is
    ``{"weight": [V, D], "bias": [V]}``, a training-only projection.
    Returns ``(loss, grads, parts)``: ``grads`` has ``"ctc_head.weight"`` and
    ``"ctc_head.bias"`` too when a head is given; ``parts`` the two losses.
    """
    config, params = model.config, model.params
    features = model._features(input_features)
    labels = check_labels(labels, features.shape[0], config.vocab_size)
    # The forward keeps each layer's input (a [B, S, D] array per layer), which the
    # backward needs; everything inside a layer is recomputed there.
    enc = m.encode(params, config, features, attention_mask)
    states, mask = enc["last_hidden_state"], enc["mask"]
    decoder_input = m.shift_tokens_right(labels, config.pad_token_id, config.decoder_start_token_id)
    out = m.decode(params, config, decoder_input, m.init_cache(params, config, states), mask)
    ce = m.cross_entropy(out["logits"], labels, label_smoothing)
    d_logits = cross_entropy_backward(out["logits"], labels, label_smoothing)
    use_ctc = ctc_head is not None and ctc_weight > 0
    if use_ctc:
        d_logits *= d_logits.dtype.type(1 - ctc_weight)
    decoder, head, d_states = decode_backward(d_logits, params, config, decoder_input, states, mask, forward=out)
    parts = {"ce": ce}
    extra = {}
    if use_ctc:
        ctc, d_ctc_states, extra = _ctc(states, mask, labels, ctc_head, config.eos_token_id)
        d_states += d_ctc_states * d_states.dtype.type(ctc_weight)
        extra = {k: v * ctc_weight for k, v in extra.items()}
        parts["ctc"] = ctc
    encoder = encode_backward(d_states, params, config, features, attention_mask, forward=enc)
    named = flatten({"model": {"encoder": encoder, "decoder": decoder}, "lm_head": head})
    # Tied weights are one array under two names: their gradient is one array too, the
    # sum over every name that shares the weight, given under each of those names.
    totals: dict[int, np.ndarray] = {}
    for name, weight in model.weights.items():
        totals[id(weight)] = named[name] if id(weight) not in totals else totals[id(weight)] + named[name]
    grads = {name: totals[id(weight)] for name, weight in model.weights.items()}
    grads.update(extra)
    loss = ce if not use_ctc else (1 - ctc_weight) * ce + ctc_weight * parts["ctc"]
    return loss, grads, parts


def _ctc(states, mask, labels, head, eos_id):
    """The auxiliary CTC loss and its gradients (states, and the head's weights)."""
    logits = linear(states, head["weight"], head["bias"])  # [B, S, V]
    log_probs = log_softmax(logits.astype(np.float64))
    targets = [[int(t) for t in row if t not in (IGNORE, eos_id)] for row in labels]
    losses, d_lp = ctc_loss(log_probs, targets, mask.sum(axis=1))
    finite = np.isfinite(losses)
    lengths = np.array([max(len(t), 1) for t in targets], dtype=np.float64)
    batch = len(targets)
    loss = float(np.sum(np.where(finite, losses / lengths, 0.0)) / batch)
    d_lp *= (finite / lengths / batch)[:, None, None]
    d_logits = (d_lp - np.exp(log_probs) * d_lp.sum(axis=-1, keepdims=True)).astype(states.dtype)
    d_states, d_weight, d_bias = linear_backward(d_logits, states, head["weight"])
    return loss, d_states, {"ctc_head.weight": d_weight, "ctc_head.bias": d_bias}


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


# --- the loop ----------------------------------------------------------------------------


def make_batches(lengths: list[int], max_frames: int, rng) -> list[list[int]]:
    """Group utterances of similar length so that ``B x T_max <= max_frames``; the batches
    in random order. ``rng`` is a ``random.Random``."""
    order = sorted(range(len(lengths)), key=lambda i: lengths[i] + rng.random())
    batches, current = [], []
    for i in order:
        if current and (len(current) + 1) * lengths[i] > max_frames:
            batches.append(current)
            current = []
        current.append(i)
    if current:
        batches.append(current)
    rng.shuffle(batches)
    return batches


def spec_augment(x: np.ndarray, lengths: list[int], rng) -> np.ndarray:
    """SpecAugment's masks on a padded batch ``[B, T, F]`` (a copy): per utterance two
    frequency masks of up to 8 bins and two time masks of up to 10 % of its frames."""
    x = x.copy()
    for b, t in enumerate(lengths):
        for _ in range(2):
            f = rng.randint(0, 8)
            f0 = rng.randint(0, x.shape[2] - f)
            x[b, :t, f0 : f0 + f] = 0.0
            w = rng.randint(0, max(1, t // 10))
            t0 = rng.randint(0, max(0, t - w))
            x[b, t0 : t0 + w, :] = 0.0
    return x


def collate(features: list[np.ndarray], targets: list[list[int]], dtype=np.float32):
    """Padded features ``[B, T, F]``, their mask ``[B, T]``, labels ``[B, L]`` (-100 pad)."""
    lengths = [f.shape[0] for f in features]
    x = np.zeros((len(features), max(lengths), features[0].shape[1]), dtype=dtype)
    mask = np.zeros((len(features), max(lengths)), dtype=np.int64)
    labels = np.full((len(targets), max(len(t) for t in targets)), IGNORE, dtype=np.int64)
    for b, (f, t) in enumerate(zip(features, targets)):
        x[b, : f.shape[0]], mask[b, : f.shape[0]], labels[b, : len(t)] = f, 1, t
    return x, mask, labels


def init_ctc_head(config, rng: np.random.Generator, dtype=np.float32) -> dict[str, np.ndarray]:
    """A ``d_model -> vocab`` projection, initialised like ``torch.nn.Linear``."""
    bound = 1 / math.sqrt(config.d_model)
    return {"weight": rng.uniform(-bound, bound, (config.vocab_size, config.d_model)).astype(dtype),
            "bias": rng.uniform(-bound, bound, config.vocab_size).astype(dtype)}  # fmt: skip


def fit(model: Speech2Text, batches, steps: int, peak_lr: float = 2e-3, warmup: int = 400, ctc_head=None,
        ctc_weight: float = 0.0, smoothing: float = 0.0, clip: float = 5.0, betas=(0.9, 0.98),
        weight_decay: float = 0.01, on_step=None) -> list[dict]:  # fmt: skip
    """``steps`` AdamW updates of ``model.weights`` (in place) and of the CTC head, one per
    batch ``(features, mask, labels)`` drawn from the iterator ``batches``: warm-up and
    cosine schedule, gradient clipping. Returns each step's losses and learning rate."""
    if model.runtime.name != "numpy":  # graphs hold a copy of the weights that training would not update
        raise ConfigError(f"training updates the NumPy weights: load the model with runtime='numpy' "
                          f"(it runs in {model.runtime.name}).")  # fmt: skip
    trained = dict(model.weights)
    if ctc_head is not None:
        trained.update({f"ctc_head.{k}": v for k, v in ctc_head.items()})
    optimizer = AdamW(trained, lr=peak_lr, betas=betas, weight_decay=weight_decay)
    history = []
    for step in range(1, steps + 1):
        x, mask, labels = next(batches)
        optimizer.lr = learning_rate(step, steps, peak_lr, warmup)
        loss, grads, parts = training_loss_and_grads(model, x, mask, labels, smoothing, ctc_head, ctc_weight)
        norm = clip_grad_norm(grads, clip)
        optimizer.step(grads)
        history.append({"step": step, "loss": loss, **parts, "lr": optimizer.lr, "grad_norm": norm})
        if on_step is not None:
            on_step(history[-1])
    return history


def init_weights(config, seed: int, dtype=np.float32) -> dict[str, np.ndarray]:
    """Fresh weights as transformers initialises Speech2Text: matrices, kernels and
    embeddings ``N(0, init_std)`` (the padding row of the embedding zero), biases 0,
    LayerNorms scale 1 and shift 0; a tied head is the embedding itself."""
    from minis2t.io.checkpoint import EMBED_TOKENS, TIED_HEAD, expected_shapes

    rng = np.random.default_rng(seed)
    weights = {}
    for name, shape in expected_shapes(config).items():
        if name == TIED_HEAD and config.tie_word_embeddings:
            continue
        if "layer_norm" in name:
            weights[name] = (np.ones if name.endswith("weight") else np.zeros)(shape, dtype=dtype)
        elif name.endswith("bias"):
            weights[name] = np.zeros(shape, dtype=dtype)
        else:
            weights[name] = rng.normal(0.0, config.init_std, shape).astype(dtype)
    weights[EMBED_TOKENS][config.pad_token_id] = 0.0
    if config.tie_word_embeddings:
        weights[TIED_HEAD] = weights[EMBED_TOKENS]
    return weights


def log_line(step: int, steps: int, lr: float, ce: float, ctc: float, seconds: float) -> str:
    """One line of a training log (every 100 steps: smoothed losses, seconds since the
    start). The recipes' twin training writes the same; :func:`read_log` reads either."""
    return f"step {step:5d}/{steps}  lr {lr:.2e}  ce {ce:.3f}  ctc {ctc:.3f}  {seconds:6.0f} s"


LOG_LINE = re.compile(r"\bstep\s+(\d+)/(\d+)\s+lr \S+\s+ce ([\d.]+|nan)\s+ctc ([\d.]+|nan)\s+(\d+) s$", re.M)


def read_log(text: str) -> np.ndarray:
    """``[step, steps, ce, ctc, seconds]`` rows from a training log's :func:`log_line` lines."""
    return np.array([[float(v) for v in m.groups()] for m in LOG_LINE.finditer(text)]).reshape(-1, 5)


def train(config, features: list[np.ndarray], targets: list[list[int]], steps: int, seed: int = 0,
          max_frames: int = 12000, peak_lr: float = 2e-3, warmup: int = 400, ctc_weight: float = 0.3,
          smoothing: float = 0.1, spec_augment_from: int = 1500, log=print, progress: bool = True):  # fmt: skip
    """Train a model from scratch with NumPy alone — the recipe's settings
    (``recipes/synthetic_speech/train.py`` is the same loop on the twin). Returns the
    trained :class:`minis2t.Speech2Text` (float32; the CTC head is not part of it) and
    the per-step history."""
    import random

    from tqdm import tqdm

    from minis2t.app.pipeline import Speech2Text

    rng = random.Random(seed)
    model = Speech2Text(config, init_weights(config, seed))
    head = init_ctc_head(config, np.random.default_rng(seed + 1))
    lengths = [f.shape[0] for f in features]

    def batches():
        step = 0
        while True:
            for batch in make_batches(lengths, max_frames, rng):
                step += 1
                x, mask, labels = collate([features[i] for i in batch], [targets[i] for i in batch])
                if step >= spec_augment_from:
                    x = spec_augment(x, mask.sum(axis=1).tolist(), rng)
                yield x, mask, labels

    bar = tqdm(total=steps, unit="step", disable=not progress)
    running: dict = {}
    start = time.perf_counter()

    def on_step(record):
        bar.update(1)
        for key in ("ce", "ctc"):
            running[key] = record[key] if key not in running else 0.98 * running[key] + 0.02 * record[key]
        if record["step"] % 100 == 0 or record["step"] == steps:
            log(log_line(record["step"], steps, record["lr"], running["ce"], running["ctc"],
                         time.perf_counter() - start))  # fmt: skip

    history = fit(model, batches(), steps, peak_lr, warmup, head, ctc_weight, smoothing, on_step=on_step)
    bar.close()
    return model, history
