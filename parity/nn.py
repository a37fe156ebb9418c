"""The PyTorch twin of ``minis2t/reference/nn.py``: same functions, same names, same order."""

from __future__ import annotations

import math

import torch

LAYER_NORM_EPS = 1e-5


def linear(x, weight, bias=None):
    y = x @ weight.T
    return y + bias if bias is not None else y


def layer_norm(x, weight, bias, eps: float = LAYER_NORM_EPS):
    centered = x - x.mean(dim=-1, keepdim=True)
    var = centered.square().mean(dim=-1, keepdim=True)
    return centered / torch.sqrt(var + eps) * weight + bias


def relu(x):
    return torch.clamp(x, min=0)


def gelu(x):
    return x * (0.5 * (1.0 + torch.erf(x / math.sqrt(2.0))))


def gelu_tanh(x):
    c = math.sqrt(2.0 / math.pi)
    return 0.5 * x * (1.0 + torch.tanh(c * (x + 0.044715 * x**3)))


def sigmoid(x):
    return torch.sigmoid(x)


def silu(x):
    return x * sigmoid(x)


ACTIVATIONS = {"relu": relu, "gelu": gelu, "gelu_python": gelu, "gelu_new": gelu_tanh,
               "silu": silu, "swish": silu}  # fmt: skip


def glu(x, axis: int = -1):
    a, b = torch.chunk(x, 2, dim=axis)
    return a * sigmoid(b)


def softmax(x, axis: int = -1):
    e = torch.exp(x - x.amax(dim=axis, keepdim=True))
    return e / e.sum(dim=axis, keepdim=True)


def log_softmax(x, axis: int = -1):
    return torch.log_softmax(x, dim=axis)


def conv1d(x, weight, bias, stride: int = 1, padding: int = 0):
    """``[B, T, C_in] -> [B, T', C_out]`` as one matrix product over unfolded windows."""
    c_out, c_in, k = weight.shape
    x = torch.nn.functional.pad(x, (0, 0, padding, padding))  # [B, T + 2p, C_in]
    windows = x.unfold(1, k, stride)  # [B, T', C_in, k]
    b, t_out = windows.shape[:2]
    cols = windows.reshape(b, t_out, c_in * k)
    return cols @ weight.reshape(c_out, c_in * k).T + bias


def sinusoidal_positions(num_positions: int, dim: int, padding_idx: int | None = 1,
                         dtype=torch.float32, device=None):  # fmt: skip
    """Computed in float32 by torch, exactly as transformers does (bit-identical tables)."""
    half = dim // 2
    step = math.log(10000.0) / (half - 1) if half > 1 else 0.0
    freqs = torch.exp(torch.arange(half, dtype=torch.int64).float() * -step)
    angles = torch.arange(num_positions, dtype=torch.int64).float().unsqueeze(1) * freqs.unsqueeze(0)
    table = torch.cat([torch.sin(angles), torch.cos(angles)], dim=1)
    if dim % 2:
        table = torch.cat([table, torch.zeros(num_positions, 1)], dim=1)
    if padding_idx is not None:
        table[padding_idx] = 0.0
    return table.to(dtype=dtype, device=device)


def mask_bias(mask, dtype):
    zero = torch.zeros((), dtype=dtype, device=mask.device)
    lowest = torch.tensor(torch.finfo(dtype).min, dtype=dtype, device=mask.device)
    return torch.where(mask.bool(), zero, lowest)


def split_heads(x, n_head: int):
    b, length, d = x.shape
    return x.reshape(b, length, n_head, d // n_head).transpose(1, 2)


def merge_heads(x):
    b, h, length, dh = x.shape
    return x.transpose(1, 2).reshape(b, length, h * dh)


def attention(q, k, v, bias=None):
    scale = q.shape[-1] ** -0.5
    scores = (q * scale) @ k.transpose(-1, -2)
    if bias is not None:
        scores = scores + bias
    weights = softmax(scores, axis=-1)
    return weights @ v, weights
