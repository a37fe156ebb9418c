"""The primitives Speech2Text is built from, as NumPy functions: the math, nothing else.

Each function computes in the dtype of its inputs (float32 or float64) and returns a new
array. Shapes: ``B`` batch, ``T``/``S`` time, ``D`` d_model, ``H`` heads,
``Dh = D / H``, ``C`` channels, ``k`` kernel size. Inputs are trusted: what a user gives
is checked once, where it comes in (:mod:`minis2t.io`, :mod:`minis2t.app`). Faster
versions of some of these live in :mod:`minis2t.engine.nn`, each held equal to the one
here by a test (``tests/test_engine.py``).
"""

from __future__ import annotations

import math

import numpy as np
import scipy.special

LAYER_NORM_EPS = 1e-5  # fairseq's and transformers' nn.LayerNorm default


def linear(x: np.ndarray, weight: np.ndarray, bias: np.ndarray | None = None) -> np.ndarray:
    """``y = x W^T + b``, weights stored ``[out, in]`` as in PyTorch: ``[..., in] -> [..., out]``."""
    y = x @ weight.T  # [..., in] @ [in, out] -> [..., out]
    return y if bias is None else y + bias


def layer_norm(x: np.ndarray, weight: np.ndarray, bias: np.ndarray, eps: float = LAYER_NORM_EPS):
    """Normalise the last axis to zero mean and unit (biased) variance, then scale and
    shift: ``[..., D] -> [..., D]``."""
    centred = x - x.mean(axis=-1, keepdims=True)  # [..., D]
    var = np.square(centred).mean(axis=-1, keepdims=True)  # [..., 1]
    return centred / np.sqrt(var + x.dtype.type(eps)) * weight + bias


def relu(x):
    return np.maximum(x, 0)


def gelu(x):
    """The exact GELU, ``x Phi(x)`` with the normal CDF written through erf."""
    return x * (0.5 * (1.0 + scipy.special.erf(x / x.dtype.type(math.sqrt(2.0)))))


def gelu_tanh(x):
    """GELU's tanh approximation (transformers' ``gelu_new``)."""
    c = x.dtype.type(math.sqrt(2.0 / math.pi))
    return 0.5 * x * (1.0 + np.tanh(c * (x + x.dtype.type(0.044715) * x**3)))


def sigmoid(x):
    """``1 / (1 + exp(-x))``, in ``x``'s dtype. Where ``exp(-x)`` overflows (``x`` below
    -88.7 in float32) the result is 0, where the exact value is below 1.2e-38."""
    with np.errstate(over="ignore"):
        return 1 / (1 + np.exp(-x))


def silu(x):
    return x * sigmoid(x)


ACTIVATIONS = {"relu": relu, "gelu": gelu, "gelu_python": gelu, "gelu_new": gelu_tanh, "silu": silu, "swish": silu}


def glu(x: np.ndarray, axis: int = -1) -> np.ndarray:
    """Gated linear unit: the first half of ``axis`` times the sigmoid of the second half.

    It halves that axis: ``[..., 2C] -> [..., C]``. The conv subsampler uses it on channels.
    """
    a, b = np.split(x, 2, axis=axis)
    return a * sigmoid(b)


def softmax(x: np.ndarray, axis: int = -1) -> np.ndarray:
    """``exp(x) / sum(exp(x))`` along ``axis``, after subtracting the max so nothing
    overflows (the factor ``exp(-max)`` cancels: the result is the same)."""
    e = np.exp(x - x.max(axis=axis, keepdims=True))
    return e / e.sum(axis=axis, keepdims=True)


def log_softmax(x: np.ndarray, axis: int = -1) -> np.ndarray:
    """``log(softmax(x))`` without forming the softmax: ``x - max - log(sum(exp(x - max)))``."""
    z = x - x.max(axis=axis, keepdims=True)
    return z - np.log(np.exp(z).sum(axis=axis, keepdims=True))


def conv1d(x: np.ndarray, weight: np.ndarray, bias: np.ndarray, stride: int = 1, padding: int = 0) -> np.ndarray:
    """1-D convolution over time, channels last: ``[B, T, C_in] -> [B, T', C_out]``.

    ``weight`` is PyTorch's ``[C_out, C_in, k]``; ``T' = (T + 2 padding - k) // stride + 1``.
    Written as one matrix product: every output step sees a window of ``k`` input steps
    (a strided view, no copy until the reshape), flattened to ``C_in * k`` numbers.
    """
    c_out, c_in, k = weight.shape
    x = np.pad(x, ((0, 0), (padding, padding), (0, 0)))  # [B, T + 2p, C_in]
    windows = np.lib.stride_tricks.sliding_window_view(x, k, axis=1)[:, ::stride]  # [B, T', C_in, k]
    b, t_out = windows.shape[:2]
    cols = windows.reshape(b, t_out, c_in * k)  # [B, T', C_in * k]
    return cols @ weight.reshape(c_out, c_in * k).T + bias  # [B, T', C_out]


def sinusoidal_positions(num_positions: int, dim: int, padding_idx: int | None = 1, dtype=np.float32) -> np.ndarray:
    """fairseq's sinusoidal position table ``[num_positions, dim]``.

    Row ``p`` is ``[sin(p w_0) .. sin(p w_{h-1}), cos(p w_0) .. cos(p w_{h-1})]`` with
    ``h = dim // 2`` and ``w_i = 10000 ** (-i / (h - 1))``: all sines, then all cosines
    (tensor2tensor's layout, not the interleaving of "Attention Is All You Need"). An odd
    ``dim`` gets a zero last column; row ``padding_idx`` is all zeros, so padding adds
    nothing. Positions of real tokens start at ``padding_idx + 1``.

    Numerics: the released models were trained on a float32 table computed by torch, and
    transformers recomputes it that way. We follow the same float32 steps, but take
    ``exp``, ``sin`` and ``cos`` in float64 and round them to float32 (within half an ulp;
    torch's float32 kernels are within an ulp or two, and which kernel runs depends on the
    CPU). An ulp in a frequency ``w`` grows into ``p`` ulps of the angle ``p w``, so the
    tables drift apart with the position ``p``, by at most ``2e-7 + 1.2e-7 p``. How much
    of that bound a machine uses varies with its vector math; the docs measure it when
    they are built.
    """
    half = dim // 2
    step = np.float32(math.log(10000.0) / (half - 1)) if half > 1 else np.float32(0.0)
    exponents = np.arange(half, dtype=np.float32) * -step  # [h], float32 as in torch
    freqs = np.exp(exponents.astype(np.float64)).astype(np.float32)  # [h]
    angles = np.arange(num_positions, dtype=np.float32)[:, None] * freqs[None, :]  # [P, h]
    angles = angles.astype(np.float64)
    table = np.concatenate([np.sin(angles), np.cos(angles)], axis=1).astype(np.float32)  # [P, 2h]
    if dim % 2:
        table = np.concatenate([table, np.zeros((num_positions, 1), np.float32)], axis=1)
    if padding_idx is not None:
        table[padding_idx] = 0.0
    return table.astype(dtype)


def mask_bias(mask: np.ndarray, dtype) -> np.ndarray:
    """A 0/1 "may attend" mask -> an additive bias: 0 where allowed, the dtype's most
    negative finite value where not. Finite on purpose: a fully masked row then gives a
    uniform softmax instead of ``-inf - -inf = NaN``."""
    return np.where(mask.astype(bool), 0.0, np.finfo(dtype).min).astype(dtype)


def split_heads(x: np.ndarray, n_head: int) -> np.ndarray:
    """``[B, L, D] -> [B, H, L, Dh]``."""
    b, length, d = x.shape
    return x.reshape(b, length, n_head, d // n_head).transpose(0, 2, 1, 3)


def merge_heads(x: np.ndarray) -> np.ndarray:
    """``[B, H, L, Dh] -> [B, L, D]``."""
    b, h, length, dh = x.shape
    return x.transpose(0, 2, 1, 3).reshape(b, length, h * dh)


def attention(q: np.ndarray, k: np.ndarray, v: np.ndarray, bias: np.ndarray | None = None):
    """Scaled dot-product attention, ``softmax(q k^T / sqrt(Dh) + bias) v``.

    ``q [B, H, Lq, Dh]``, ``k, v [B, H, Lk, Dh]``, ``bias`` broadcastable to
    ``[B, H, Lq, Lk]`` (0 where a query may look, the most negative number where not;
    None: nothing is masked). Returns ``(out [B, H, Lq, Dh], weights [B, H, Lq, Lk])``.
    ``q`` is scaled before the product, as fairseq does: ``Dh`` numbers per query instead
    of ``Lk`` (transformers 5 scales the scores after: the same value, rounded differently).
    """
    scale = q.dtype.type(q.shape[-1] ** -0.5)
    scores = (q * scale) @ k.swapaxes(-1, -2)  # [B, H, Lq, Dh] @ [B, H, Dh, Lk] -> [B, H, Lq, Lk]
    if bias is not None:
        scores = scores + bias  # a masked key's score becomes hugely negative
    weights = softmax(scores, axis=-1)  # [B, H, Lq, Lk]: each row sums to 1
    return weights @ v, weights  # [B, H, Lq, Lk] @ [B, H, Lk, Dh] -> [B, H, Lq, Dh]
