"""The engine: the primitives of :mod:`minis2t.reference.nn`, made fast.

Every function here computes what the reference function of the same name computes, and
``tests/test_engine.py`` holds each to it with hypothesis: bit for bit where the
arithmetic is the same (the row-block pool, memory layouts), within a stated
rounding bound where the order of a sum changes (``linear``'s one 2-D product, the
item-by-item attention). Each device sits next to the measurement that justified it;
the site's *Performance* page shows each beside the reference it replaces.
"""

from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor

import numpy as np

from ..reference.nn import LAYER_NORM_EPS

# --- element-wise work on every core ------------------------------------------------------
# NumPy's BLAS runs the matrix products on all cores; its element-wise functions run on
# one. A softmax or layer norm over a big array therefore left the other cores idle. Its
# rows are independent, so blocks of rows go to a small thread pool (NumPy releases the
# GIL inside its loops). Below PARALLEL_MIN_SIZE elements the hand-off costs more than it
# buys. Measured on 2 cores (float32, medians of 40): softmax in place over [1, 4, S, S],
# S = 1500 (9 M elements) 15.0 -> 8.5 ms; but S = 362-750 (0.5-2.25 M) was slower pooled,
# 1.1-3.7 ms alone against 1.6-4.4 ms; layer norm over [32, 375, 256] (3 M) 6.2 -> 4.6 ms.
# Inside the s2t-small encoder the gain is smaller, because BLAS threads keep spinning on
# the other core for a while after each product: one 60 s utterance 641 -> 616 ms, 32
# utterances of 15 s 5.49 -> 5.03 s (medians of 8, interleaved). Attention at 20 s and a
# batch's per-item attention (nn.attention) were 5-10 % faster with this limit at 2 M
# elements than at 0.5 M (min of 45 calls, interleaved).
PARALLEL_MIN_SIZE = 1 << 21


def usable_cores() -> int:
    """The cores this process may run on (its CPU affinity where the OS has one)."""
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


def _threads() -> int:
    """Cores this process may use, capped by ``OMP_NUM_THREADS`` when set (the variable
    that also caps the BLAS): a corpus worker given one thread keeps to one."""
    cores = usable_cores()
    cap = os.environ.get("OMP_NUM_THREADS", "")
    return max(1, min(cores, int(cap) if cap.isdigit() and int(cap) > 0 else cores))


_POOL: dict[int, ThreadPoolExecutor] = {}
if hasattr(os, "register_at_fork"):  # a forked child has none of the parent's threads:
    os.register_at_fork(after_in_child=_POOL.clear)  # it starts its own pool when needed


def by_row_blocks(fn, x: np.ndarray, out: np.ndarray) -> np.ndarray:
    """``fn(rows_in, rows_out)`` over blocks of rows of ``x`` (every axis but the last is
    a row), in parallel when ``x`` is big; ``fn`` writes its result into ``rows_out``.
    ``x`` and ``out`` are C-contiguous of one shape (``out`` may be ``x``). Returns ``out``."""
    threads = 1 if x.size < PARALLEL_MIN_SIZE or x.ndim == 0 else _threads()  # small: no syscall
    if threads == 1:
        fn(x, out)
        return out
    rows_in, rows_out = x.reshape(-1, x.shape[-1]), out.reshape(-1, x.shape[-1])
    edges = np.linspace(0, len(rows_in), threads + 1).astype(int)
    pool = _POOL.get(threads) or _POOL.setdefault(threads, ThreadPoolExecutor(threads, "minis2t-rows"))
    blocks = [pool.submit(fn, rows_in[a:b], rows_out[a:b]) for a, b in zip(edges, edges[1:]) if b > a]
    for block in blocks:
        block.result()  # re-raises a block's exception here
    return out


def linear(x: np.ndarray, weight: np.ndarray, bias: np.ndarray | None = None) -> np.ndarray:
    """``y = x W^T + b``, weights stored ``[out, in]`` as in PyTorch: ``[..., in] -> [..., out]``."""
    # One 2-D product over every leading axis: NumPy runs a stacked [B, T, in] @ [in, out]
    # as B small products (about 3x slower at the bundled size); the result is a fresh
    # array, so adding the bias in place saves a copy.
    y = (x.reshape(-1, x.shape[-1]) @ weight.T).reshape(*x.shape[:-1], weight.shape[0])
    if bias is not None:
        y += bias
    return y


def matmul_layout(weight: np.ndarray, dtype=None) -> np.ndarray:
    """A weight as the model keeps it in memory: cast to ``dtype`` (if given), and a 2-D
    ``[out, in]`` matrix stored column-major (Fortran order). It is the same matrix to
    every reader; what changes is that ``weight.T`` in :func:`linear` is then a row-major
    ``[in, out]`` matrix, the layout BLAS reads fastest when the left operand has few
    rows — a decoding step has one row per beam. Measured on 2 cores (OpenBLAS, float32):
    5 rows x 256 -> 2048 from 271 to 136 us, the 10 000-word LM head from 1528 to 638 us;
    an encoder product of 1250 rows from 1071 to 976 us. One copy, made once at loading."""
    order = "F" if weight.ndim == 2 else "K"
    return np.asarray(weight, dtype=weight.dtype if dtype is None else dtype, order=order)


def keys_layout(k: np.ndarray) -> np.ndarray:
    """Keys ``[..., S, Dh]`` stored so that ``k^T`` (``[..., Dh, S]``, what
    :func:`attention` multiplies by) is the row-major array: the same values and shape,
    another memory order. For keys that many products read — cross-attention's, computed
    once per utterance and used at every decoding step — it pays: OpenBLAS is slow on the
    transposed operand when the left one has few rows. Measured on 2 cores (float32),
    5 beams' queries against 10 s of encoder states (4 heads): 40 -> 8.7 us a layer."""
    return np.ascontiguousarray(k.swapaxes(-1, -2)).swapaxes(-1, -2)


def layer_norm(x: np.ndarray, weight: np.ndarray, bias: np.ndarray, eps: float = LAYER_NORM_EPS):
    """Normalise the last axis to zero mean and unit (biased) variance, then scale and shift."""
    n = x.shape[-1]

    def rows(x, out):  # [N, D] -> [N, D], written into out
        # the means as np.mean computes them (sum, then divide by n), without its Python
        # overhead: a decoding step normalises a few rows, 19 times. With the small-array
        # path of by_row_blocks and softmax: 10 s, 40 tokens at s2t-small's size, greedy
        # 0.264 -> 0.230 s, 5 beams 0.405 -> 0.380 s (medians of 8, interleaved)
        np.subtract(x, np.add.reduce(x, axis=-1, keepdims=True) / n, out=out)  # centred
        var = np.add.reduce(np.square(out), axis=-1, keepdims=True) / n  # [N, 1]
        out /= np.sqrt(var + x.dtype.type(eps))
        out *= weight
        out += bias

    x = np.ascontiguousarray(x)
    return by_row_blocks(rows, x, np.empty_like(x))


def softmax(x: np.ndarray, axis: int = -1, overwrite: bool = False) -> np.ndarray:
    """``exp(x) / sum(exp(x))``, computed after subtracting the max so nothing overflows.

    ``overwrite=True`` computes in ``x``'s own memory (for a caller that no longer needs
    ``x``, like attention with its scores): no temporary as big as ``x``."""

    def rows(x, out):  # written into out, which may be x itself
        np.subtract(x, x.max(axis=-1, keepdims=True), out=out)
        np.exp(out, out=out)
        out /= out.sum(axis=-1, keepdims=True)

    last = axis in (-1, x.ndim - 1)
    x = x if last else np.moveaxis(x, axis, -1)
    if overwrite and x.flags.c_contiguous:
        y = by_row_blocks(rows, x, x)
    else:
        x = np.ascontiguousarray(x)
        y = by_row_blocks(rows, x, np.empty_like(x))
    return y if last else np.moveaxis(y, -1, axis)


# Scores of a batch above this many elements (16 MB in float32) are computed one item at
# a time when nobody keeps the attention weights: each item's scores then stay in the CPU
# cache through bias, softmax and the weighted sum instead of making three trips to
# memory, and an item padded at the end attends to its real keys only — the padded ones
# would get weight exp(min - max) = 0 exactly, so only the sums' rounding changes.
# Measured on 2 cores, float32, 4 heads: 32 items of 375 frames 84 -> 68 ms a layer
# (all real), 8 items 17.3 -> 16.6 ms (min of 5). One item is not split further: blocks
# of its query rows were slower (one item of 6000 frames 503 -> 767 ms with 2 M-element
# blocks), because the blocks' products and softmax become too small to use both cores.
ITEMWISE_MIN_SCORES = 1 << 22


def _real_keys(bias: np.ndarray | None) -> int | None:
    """For one item's key-padding bias ``[1, 1, 1, Lk]``: how many keys are real when
    they are a prefix (padding at the end, at least one real key), else None."""
    if bias is None or bias.shape[:3] != (1, 1, 1):
        return None
    real = bias[0, 0, 0] == 0  # [Lk]
    n = int(real.sum())
    masked = bias[0, 0, 0, n:] == np.finfo(bias.dtype).min  # what mask_bias writes
    return n if 0 < n < real.size and real[:n].all() and masked.all() else None


def attention(q: np.ndarray, k: np.ndarray, v: np.ndarray, bias: np.ndarray | None = None,
              need_weights: bool = True):  # fmt: skip
    """Scaled dot-product attention.

    ``q [B, H, Lq, Dh]``, ``k, v [B, H, Lk, Dh]``, ``bias`` broadcastable to
    ``[B, H, Lq, Lk]`` (None: nothing is masked). Returns
    ``(out [B, H, Lq, Dh], weights [B, H, Lq, Lk])``; with ``need_weights=False`` the
    weights are None, and a large batch is computed item by item (see
    ``ITEMWISE_MIN_SCORES``: the same numbers, but for the softmax sums' rounding where
    an item's padded keys are left out). ``q`` is scaled before the product, as fairseq
    does: ``Dh`` numbers per query instead of ``Lk`` (transformers 5 scales the scores
    after: the same value, rounded differently).
    """
    b, h, lq, _ = q.shape
    if not need_weights and 1 < b == k.shape[0] and b * h * lq * k.shape[2] >= ITEMWISE_MIN_SCORES:
        out = np.empty((b, h, lq, v.shape[-1]), dtype=np.result_type(q, v))
        for i in range(b):
            item_bias = None if bias is None else bias[i : i + 1] if bias.shape[0] > 1 else bias
            n = _real_keys(item_bias)  # None: keep every key and the bias
            keys = slice(None) if n is None else slice(n)
            out[i : i + 1] = attention(q[i : i + 1], k[i : i + 1, :, keys], v[i : i + 1, :, keys],
                                       item_bias if n is None else None)[0]  # fmt: skip
        return out, None
    scale = q.dtype.type(q.shape[-1] ** -0.5)
    scores = (q * scale) @ k.swapaxes(-1, -2)  # [B, H, Lq, Lk]
    if bias is not None:
        scores += bias  # in place: scores is our own array
    weights = softmax(scores, axis=-1, overwrite=True)  # [B, H, Lq, Lk], in the scores' memory
    return weights @ v, weights if need_weights else None  # [B, H, Lq, Dh]
