"""Backward passes of the primitives in :mod:`minis2t.reference.nn`, written by hand.

Each ``*_backward`` function takes the gradient of a scalar loss with respect to a
primitive's output (``dy``, the same shape as the output) and the primitive's inputs,
and returns the gradients with respect to those inputs — the vector-Jacobian product.
Nothing is stored by the forward pass: what a backward needs (a normalised input, a
softmax) it recomputes from the inputs, which keeps :mod:`minis2t.reference.nn` exactly as
inference uses it. Each docstring gives the derivation; ``tests/test_grad.py`` checks
every function against ``torch.autograd`` run on the twin's forward (float64, 1e-10).

Notation: ``dy`` is :math:`\\partial \\ell / \\partial y` for the loss :math:`\\ell`;
shapes as in :mod:`minis2t.reference.nn` (``B`` batch, ``T``/``S`` time, ``D`` width, ``H`` heads).
"""

from __future__ import annotations

import math

import numpy as np
import scipy.special

from .nn import LAYER_NORM_EPS, log_softmax, merge_heads, sigmoid, split_heads


def _sum_to_last(x: np.ndarray) -> np.ndarray:
    """Sum over every axis but the last: the gradient of a broadcast bias."""
    return x.reshape(-1, x.shape[-1]).sum(axis=0)


def linear_backward(dy: np.ndarray, x: np.ndarray, weight: np.ndarray, has_bias: bool = True):
    """``y = x W^T + b``  ->  ``dx = dy W``, ``dW = dy^T x`` (summed over every leading
    axis), ``db = sum dy``. Returns ``(dx, dW, db or None)``."""
    dx = (dy.reshape(-1, dy.shape[-1]) @ weight).reshape(*dy.shape[:-1], weight.shape[1])
    d_weight = dy.reshape(-1, dy.shape[-1]).T @ x.reshape(-1, x.shape[-1])  # [out, in]
    return dx, d_weight, (_sum_to_last(dy) if has_bias else None)


def layer_norm_backward(dy: np.ndarray, x: np.ndarray, weight: np.ndarray, eps: float = LAYER_NORM_EPS):
    """``y = x̂ w + b`` with ``x̂ = (x - μ) r``, ``r = (σ² + ε)^{-1/2}``, over the last axis.

    With ``g = dy w`` (the gradient reaching ``x̂``), the Jacobian of the normalisation
    gives ``dx = r (g - mean(g) - x̂ mean(g x̂))``: the mean removes the part of ``g``
    that would shift every entry (the mean is subtracted away), the last term the part
    that would scale them all (the variance is divided away). ``dw = sum dy x̂``,
    ``db = sum dy``. Returns ``(dx, dw, db)``.
    """
    mu = x.mean(axis=-1, keepdims=True)
    r = 1.0 / np.sqrt(np.square(x - mu).mean(axis=-1, keepdims=True) + x.dtype.type(eps))
    x_hat = (x - mu) * r
    g = dy * weight
    dx = r * (g - g.mean(axis=-1, keepdims=True) - x_hat * (g * x_hat).mean(axis=-1, keepdims=True))
    return dx, _sum_to_last(dy * x_hat), _sum_to_last(dy)


def relu_backward(dy, x):
    """``max(x, 0)``: the gradient passes where ``x > 0`` (0 at ``x = 0``, as torch)."""
    return dy * (x > 0)


def gelu_backward(dy, x):
    """``x Φ(x)``  ->  ``Φ(x) + x φ(x)``, with ``φ`` the standard normal density."""
    cdf = 0.5 * (1.0 + scipy.special.erf(x / math.sqrt(2.0)))
    pdf = np.exp(-0.5 * x * x) / math.sqrt(2.0 * math.pi)
    return dy * (cdf + x * pdf)


def gelu_tanh_backward(dy, x):
    """``½ x (1 + tanh u)``, ``u = c (x + 0.044715 x³)``  ->
    ``½ (1 + tanh u) + ½ x (1 - tanh² u) c (1 + 3 · 0.044715 x²)``."""
    c = math.sqrt(2.0 / math.pi)
    t = np.tanh(c * (x + 0.044715 * x**3))
    return dy * (0.5 * (1 + t) + 0.5 * x * (1 - t * t) * c * (1 + 3 * 0.044715 * x * x))


def silu_backward(dy, x):
    """``x σ(x)``  ->  ``σ(x) (1 + x (1 - σ(x)))``."""
    s = sigmoid(x)
    return dy * (s * (1 + x * (1 - s)))


ACTIVATION_BACKWARDS = {
    "relu": relu_backward,
    "gelu": gelu_backward,
    "gelu_python": gelu_backward,
    "gelu_new": gelu_tanh_backward,
    "silu": silu_backward,
    "swish": silu_backward,
}


def glu_backward(dy: np.ndarray, x: np.ndarray, axis: int = -1) -> np.ndarray:
    """``[a; b] -> a σ(b)``  ->  ``da = dy σ(b)``, ``db = dy a σ(b)(1 - σ(b))``, joined
    back along ``axis`` in the order of ``x``."""
    a, b = np.split(x, 2, axis=axis)
    s = sigmoid(b)
    return np.concatenate([dy * s, dy * a * s * (1 - s)], axis=axis)


def softmax_backward(dy: np.ndarray, y: np.ndarray, axis: int = -1) -> np.ndarray:
    """``y = softmax(x)`` has Jacobian ``diag(y) - y y^T``; applied to ``dy`` that is
    ``y (dy - <dy, y>)``: each input's gradient is its probability times how much its own
    output's gradient exceeds the probability-weighted mean one."""
    return y * (dy - (dy * y).sum(axis=axis, keepdims=True))


def attention_backward(d_out: np.ndarray, q: np.ndarray, k: np.ndarray, v: np.ndarray, weights: np.ndarray):
    """Scaled dot-product attention, ``out = P V``, ``P = softmax(c Q K^T + M)``,
    ``c = d_h^{-1/2}``, the mask ``M`` a constant.

    Four matrix products, one per input of the two forward products:
    ``dV = P^T dOut`` and ``dP = dOut V^T`` (from ``out = P V``); then through the
    softmax ``dS = P (dP - rowsum(dP P))``; and ``dQ = c dS K``, ``dK = c dS^T Q`` (from
    ``S = c Q K^T``). Masked entries have ``P = 0``, so they get no gradient. ``weights``
    is the forward's ``P``. Returns ``(dq, dk, dv)``.
    """
    scale = q.dtype.type(q.shape[-1] ** -0.5)
    d_v = weights.swapaxes(-1, -2) @ d_out  # [B, H, Lk, Dh]
    d_p = d_out @ v.swapaxes(-1, -2)  # [B, H, Lq, Lk]
    d_s = softmax_backward(d_p, weights)
    return (d_s @ k) * scale, (d_s.swapaxes(-1, -2) @ q) * scale, d_v


def split_heads_backward(dy: np.ndarray) -> np.ndarray:
    """Splitting heads is a reshape and a transpose: its backward is the inverse one."""
    return merge_heads(dy)


def merge_heads_backward(dy: np.ndarray, n_head: int) -> np.ndarray:
    return split_heads(dy, n_head)


def conv1d_backward(dy: np.ndarray, x: np.ndarray, weight: np.ndarray, stride: int = 1, padding: int = 0):
    """:func:`minis2t.reference.nn.conv1d` is ``y = cols W_f^T + b`` with ``cols`` the im2col view
    (each output step's ``k`` input steps flattened to ``C_in k`` numbers). So
    ``dW_f = dy^T cols`` and ``db = sum dy``, and ``d cols = dy W_f`` — which goes back to
    the input by the transpose of the view: window ``t``'s tap ``j`` came from padded
    step ``t·stride + j``, so each tap's column is added back there (windows overlap,
    so steps collect several contributions). The padding's share is dropped.
    Returns ``(dx, dW, db)``."""
    c_out, c_in, k = weight.shape
    x_pad = np.pad(x, ((0, 0), (padding, padding), (0, 0)))
    windows = np.lib.stride_tricks.sliding_window_view(x_pad, k, axis=1)[:, ::stride]  # [B, T', C_in, k]
    b, t_out = windows.shape[:2]
    cols = windows.reshape(b * t_out, c_in * k)
    dy2 = dy.reshape(b * t_out, c_out)
    d_weight = (dy2.T @ cols).reshape(c_out, c_in, k)
    d_cols = (dy2 @ weight.reshape(c_out, c_in * k)).reshape(b, t_out, c_in, k)
    d_pad = np.zeros_like(x_pad)
    for j in range(k):  # tap j of window t read padded step t * stride + j
        d_pad[:, j : j + stride * (t_out - 1) + 1 : stride, :] += d_cols[:, :, :, j]
    return d_pad[:, padding : padding + x.shape[1]], d_weight, dy2.sum(axis=0)


def embedding_backward(dy: np.ndarray, ids: np.ndarray, num_embeddings: int) -> np.ndarray:
    """``x = E[ids]``  ->  ``dE[i] = sum of dy over the positions whose id is i``
    (a scatter-add: repeated ids accumulate)."""
    d_table = np.zeros((num_embeddings, dy.shape[-1]), dtype=dy.dtype)
    np.add.at(d_table, np.asarray(ids).reshape(-1), dy.reshape(-1, dy.shape[-1]))
    return d_table


def cross_entropy_backward(
    logits: np.ndarray, labels: np.ndarray, label_smoothing: float = 0.0, ignore_index: int = -100
) -> np.ndarray:
    """The gradient of :func:`minis2t.reference.model.cross_entropy` (the mean
    label-smoothed cross-entropy over the labels that are not ``ignore_index``) with
    respect to the logits ``[B, L, V]``.

    The target distribution is ``(1 - ε) onehot + ε / V`` and the loss ``-sum q log p``
    averaged over the ``N`` kept positions, so (softmax and log cancel)
    ``d_logits = (p - q) / N`` on kept positions, 0 on ignored ones.
    """
    vocab = logits.shape[-1]
    keep = labels != ignore_index  # [B, L]
    count = int(keep.sum())
    p = np.exp(log_softmax(logits.astype(np.float64, copy=False)))  # [B, L, V]
    target = np.full(logits.shape, label_smoothing / vocab)
    np.put_along_axis(
        target, np.where(keep, labels, 0)[..., None], 1 - label_smoothing + label_smoothing / vocab, axis=-1
    )
    d_logits = (p - target) * (keep[..., None] / max(count, 1))
    return d_logits.astype(logits.dtype)


def _shift(a: np.ndarray, k: int, fill) -> np.ndarray:
    """``a`` moved ``k`` places right (``k < 0``: left), the vacated places ``fill``."""
    out = np.full_like(a, fill)
    if k >= 0:
        out[k:] = a[: a.shape[0] - k]
    else:
        out[:k] = a[-k:]
    return out


def ctc_loss(log_probs: np.ndarray, targets: list, input_lengths, blank: int = 0):
    """Connectionist temporal classification: ``-log p(target | input)`` summed over
    every alignment, and its gradient with respect to ``log_probs``. Returns
    ``(losses [B], d_log_probs [B, T, C])`` — one loss per sequence, not reduced.

    ``log_probs [B, T, C]`` are per-frame log-probabilities (a log-softmax); ``targets``
    one list of label ids per sequence, never ``blank``; ``input_lengths [B]`` the real
    frames. The target ``l`` is extended with blanks, ``l' = (∅, l_1, ∅, l_2, …, ∅)``, of
    length ``2U + 1``. In log space, with ``y_t(s) = log_probs[t, l'_s]``:

    * forward: ``α_0(0) = y_0(0)``, ``α_0(1) = y_0(1)``;
      ``α_t(s) = y_t(s) + logsumexp(α_{t-1}(s), α_{t-1}(s-1), α_{t-1}(s-2))``, the last
      term only when ``l'_s`` is a label different from ``l'_{s-2}`` (a path may skip a
      blank between two different labels, not between two equal ones);
    * backward, the mirror image from the last frame: ``β_{T-1}(2U) = y(2U)``,
      ``β_{T-1}(2U-1) = y(2U-1)``, ``β_t(s) = y_t(s) + logsumexp(β_{t+1}(s), β_{t+1}(s+1),
      β_{t+1}(s+2))``;
    * ``log p = logsumexp(α_{T-1}(2U), α_{T-1}(2U-1))``; and since ``α_t(s) β_t(s)``
      counts every path through ``(t, s)`` with frame ``t``'s probability twice,
      ``∂(-log p) / ∂ log_probs[t, c] = -sum over s with l'_s = c of
      exp(α_t(s) + β_t(s) - y_t(s) - log p)``: minus the expected occupancy of label
      ``c`` at frame ``t``.

    A target that no alignment fits (too long for its frames) has ``p = 0``: its loss
    is ``inf`` and its gradient 0 (as torch's ``zero_infinity`` would make it).
    """
    log_probs = np.asarray(log_probs, dtype=np.float64)
    losses = np.zeros(log_probs.shape[0])
    grads = np.zeros_like(log_probs)
    for b in range(log_probs.shape[0]):
        t_len = int(input_lengths[b])
        ext, alpha, beta, log_p = ctc_lattice(log_probs[b, :t_len], targets[b], blank)
        if not np.isfinite(log_p):
            losses[b] = np.inf
            continue
        losses[b] = -log_p
        y = log_probs[b, :t_len][:, ext]
        occupancy = np.exp(alpha + beta - y - log_p)  # [T, 2U + 1]
        for s, c in enumerate(ext):
            grads[b, :t_len, c] -= occupancy[:, s]
    return losses, grads


def ctc_lattice(log_probs: np.ndarray, target, blank: int = 0):
    """The CTC lattice of one sequence: ``log_probs [T, C]`` and a target -> the extended
    target ``l'`` (blanks around and between the labels), ``α [T, 2U + 1]``,
    ``β [T, 2U + 1]`` and ``log p(target)`` (see :func:`ctc_loss` for the recursions)."""
    ext = [blank]
    for label in target:
        ext += [int(label), blank]
    n, t_len = len(ext), log_probs.shape[0]
    y = log_probs[:, ext]  # [T, 2U + 1]
    skip = np.array([s >= 2 and ext[s] != blank and ext[s] != ext[s - 2] for s in range(n)])
    skip_back = _shift(skip, -2, False)  # s -> s + 2 is allowed when s + 2 may skip
    alpha = np.full((t_len, n), -np.inf)
    alpha[0, :2] = y[0, :2]
    for t in range(1, t_len):
        prev = alpha[t - 1]  # stay at s, come from s - 1, or skip from s - 2
        came = np.logaddexp(prev, _shift(prev, 1, -np.inf))
        alpha[t] = y[t] + np.logaddexp(came, np.where(skip, _shift(prev, 2, -np.inf), -np.inf))
    beta = np.full((t_len, n), -np.inf)
    beta[-1, -2:] = y[-1, -2:]
    for t in range(t_len - 2, -1, -1):
        nxt = beta[t + 1]  # stay at s, go to s + 1, or skip to s + 2
        goes = np.logaddexp(nxt, _shift(nxt, -1, -np.inf))
        beta[t] = y[t] + np.logaddexp(goes, np.where(skip_back, _shift(nxt, -2, -np.inf), -np.inf))
    log_p = np.logaddexp(alpha[-1, -1], alpha[-1, -2]) if n > 1 else alpha[-1, -1]
    return ext, alpha, beta, log_p
