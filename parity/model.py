"""The PyTorch twin of ``minis2t/reference/model.py``: same functions, same names, same
order, line for line, so the two read as a translation.

It takes the same weights dict (NumPy arrays from ``minis2t.load_checkpoint``), moved to a
device and dtype by :func:`to_torch`. Shape comments are in the NumPy module. The
functions are differentiable (the bundled model was trained through them): wrap
inference in ``torch.no_grad()``.
"""

from __future__ import annotations

import functools
from typing import NamedTuple

import numpy as np
import torch

from minis2t.reference.model import IGNORE_INDEX, POSITION_OFFSET, nest

from .nn import (
    ACTIVATIONS,
    attention,
    conv1d,
    glu,
    layer_norm,
    linear,
    mask_bias,
    merge_heads,
    sinusoidal_positions,
    split_heads,
)

__all__ = ["nest", "to_torch"]


def to_torch(weights: dict[str, np.ndarray], dtype=torch.float32, device="cpu") -> dict:
    """NumPy weights -> nested torch tensors (shared arrays stay shared)."""
    moved: dict[int, torch.Tensor] = {}
    out = {}
    for name, array in weights.items():
        if id(array) not in moved:
            moved[id(array)] = torch.from_numpy(np.ascontiguousarray(array)).to(device, dtype)
        out[name] = moved[id(array)]
    return nest(out)


@functools.lru_cache(maxsize=8)
def position_table(num_positions: int, dim: int, padding_idx: int, dtype: torch.dtype, device: str):
    rows = num_positions + max(POSITION_OFFSET, padding_idx + 1)
    return sinusoidal_positions(rows, dim, padding_idx, dtype, device)


def position_ids(real, padding_idx: int, past_length: int = 0):
    real = real.long()
    return (torch.cumsum(real, dim=1) + past_length) * real + padding_idx


def encoder_position_ids(mask, padding_idx: int):
    return position_ids((1 - mask) != padding_idx, padding_idx)


def subsampled_lengths(lengths, num_conv_layers: int):
    for _ in range(num_conv_layers):
        lengths = (lengths - 1) // 2 + 1
    return lengths


def frame_mask(attention_mask, batch: int, num_frames: int, num_conv_layers: int, device="cpu"):
    if attention_mask is None:
        return torch.ones((batch, num_frames), dtype=torch.int64, device=device)
    lengths = subsampled_lengths(torch.as_tensor(attention_mask, device=device).sum(dim=-1),
                                 num_conv_layers)  # fmt: skip
    return (torch.arange(num_frames, device=device)[None, :] < lengths[:, None]).long()


def key_padding_bias(mask, dtype):
    if bool(mask.bool().all()):
        return None
    return mask_bias(mask, dtype)[:, None, None, :]


def causal_bias(past: int, length: int, decoder_attention_mask, dtype, device="cpu"):
    causal = (torch.arange(past + length, device=device)[None, :]
              <= past + torch.arange(length, device=device)[:, None])  # fmt: skip
    allowed = causal[None, :, :]
    if decoder_attention_mask is not None:
        allowed = allowed & torch.as_tensor(decoder_attention_mask, device=device).bool()[:, None, :]
    return mask_bias(allowed, dtype)[:, None]


def self_attention_block(x, layer, n_head, bias, past=None):
    p = layer["self_attn"]
    h = layer_norm(x, **layer["self_attn_layer_norm"])
    q = split_heads(linear(h, **p["q_proj"]), n_head)
    k = split_heads(linear(h, **p["k_proj"]), n_head)
    v = split_heads(linear(h, **p["v_proj"]), n_head)
    if past is not None:
        k = torch.cat([past[0], k], dim=2)
        v = torch.cat([past[1], v], dim=2)
    out, weights = attention(q, k, v, bias)
    return x + linear(merge_heads(out), **p["out_proj"]), (k, v), weights


def cross_attention_block(x, layer, n_head, kv, bias):
    p = layer["encoder_attn"]
    h = layer_norm(x, **layer["encoder_attn_layer_norm"])
    q = split_heads(linear(h, **p["q_proj"]), n_head)
    out, weights = attention(q, kv[0], kv[1], bias)
    return x + linear(merge_heads(out), **p["out_proj"]), weights


def feed_forward_block(x, layer, activation):
    h = layer_norm(x, **layer["final_layer_norm"])
    h = activation(linear(h, **layer["fc1"]))
    return x + linear(h, **layer["fc2"])


def conv_subsampler(features, conv_layers, kernel_sizes):
    outputs, x = [], features
    for layer, k in zip(conv_layers, kernel_sizes):
        x = conv1d(x, layer["weight"], layer["bias"], stride=2, padding=k // 2)
        x = glu(x, axis=-1)
        outputs.append(x)
    return outputs


def encoder_layer(x, layer, n_head, bias, activation):
    x, _, weights = self_attention_block(x, layer, n_head, bias)
    return feed_forward_block(x, layer, activation), weights


def encode(params, config, features, attention_mask=None, positions=None) -> dict:
    enc = params["model"]["encoder"]
    b, t, _ = features.shape
    dtype, device = features.dtype, features.device
    conv_outputs = conv_subsampler(features, enc["conv"]["conv_layers"], config.conv_kernel_sizes)
    x = conv_outputs[-1]
    if config.scale_embedding:
        x = x * float(np.sqrt(config.d_model))
    mask = frame_mask(attention_mask, b, x.shape[1], config.num_conv_layers, device)
    if positions is None:
        positions = position_table(config.max_source_positions, config.d_model, config.pad_token_id, dtype, str(device))
    x = x + positions[encoder_position_ids(mask, config.pad_token_id)]
    bias = key_padding_bias(mask, dtype)
    activation = ACTIVATIONS[config.activation_function]
    hidden_states, attentions = [], []
    for layer in enc["layers"]:
        hidden_states.append(x)
        x, weights = encoder_layer(x, layer, config.encoder_attention_heads, bias, activation)
        attentions.append(weights)
    x = layer_norm(x, **enc["layer_norm"])
    return {"last_hidden_state": x, "mask": mask, "conv_outputs": conv_outputs,
            "hidden_states": hidden_states + [x], "attentions": attentions}  # fmt: skip


class KVCache(NamedTuple):
    self_kv: tuple
    cross_kv: tuple

    @property
    def length(self) -> int:
        return 0 if not self.self_kv or self.self_kv[0] is None else self.self_kv[0][0].shape[2]

    def reorder(self, index) -> "KVCache":
        index = torch.as_tensor(index, device=self.cross_kv[0][0].device)
        return KVCache(tuple((k[index], v[index]) for k, v in self.self_kv), self.cross_kv)


def cross_attention_kv(params, config, encoder_states) -> tuple:
    n_head = config.decoder_attention_heads
    return tuple(
        (split_heads(linear(encoder_states, **layer["encoder_attn"]["k_proj"]), n_head),
         split_heads(linear(encoder_states, **layer["encoder_attn"]["v_proj"]), n_head))
        for layer in params["model"]["decoder"]["layers"]
    )  # fmt: skip


def init_cache(params, config, encoder_states) -> KVCache:
    return KVCache((None,) * config.decoder_layers, cross_attention_kv(params, config, encoder_states))


def decoder_layer(x, layer, n_head, self_bias, past, cross_kv, cross_bias, activation):
    x, new_kv, self_weights = self_attention_block(x, layer, n_head, self_bias, past)
    x, cross_weights = cross_attention_block(x, layer, n_head, cross_kv, cross_bias)
    return feed_forward_block(x, layer, activation), new_kv, self_weights, cross_weights


def embed_tokens(params, config, input_ids, past: int, positions=None):
    embed = params["model"]["decoder"]["embed_tokens"]["weight"]
    # An embedding lookup whose padding row gets no gradient, as nn.Embedding(padding_idx)
    # in fairseq and transformers (the same values as embed[input_ids]).
    x = torch.nn.functional.embedding(input_ids, embed, padding_idx=config.pad_token_id)
    if config.scale_embedding:
        x = x * float(np.sqrt(config.d_model))
    if positions is None:
        positions = position_table(config.max_target_positions, config.d_model, config.pad_token_id, embed.dtype,
                                   str(embed.device))  # fmt: skip
    return x + positions[position_ids(input_ids != config.pad_token_id, config.pad_token_id, past)]


def decode(params, config, input_ids, cache: KVCache, encoder_mask=None, decoder_attention_mask=None,
           positions=None) -> dict:  # fmt: skip
    dec = params["model"]["decoder"]
    device = dec["embed_tokens"]["weight"].device
    input_ids = torch.as_tensor(input_ids, device=device)
    past, length = cache.length, input_ids.shape[1]
    x = embed_tokens(params, config, input_ids, past, positions)
    dtype = x.dtype
    self_bias = causal_bias(past, length, decoder_attention_mask, dtype, device)
    cross_bias = None if encoder_mask is None else key_padding_bias(torch.as_tensor(encoder_mask, device=device), dtype)
    activation = ACTIVATIONS[config.activation_function]
    new_self_kv, hidden_states, self_attentions, cross_attentions = [], [], [], []
    for layer, layer_past, cross_kv in zip(dec["layers"], cache.self_kv, cache.cross_kv):
        hidden_states.append(x)
        x, kv, self_w, cross_w = decoder_layer(x, layer, config.decoder_attention_heads,
                                               self_bias, layer_past, cross_kv, cross_bias,
                                               activation)  # fmt: skip
        new_self_kv.append(kv)
        self_attentions.append(self_w)
        cross_attentions.append(cross_w)
    x = layer_norm(x, **dec["layer_norm"])
    return {"logits": lm_head(params, x), "cache": KVCache(tuple(new_self_kv), cache.cross_kv),
            "hidden_states": hidden_states + [x], "self_attentions": self_attentions,
            "cross_attentions": cross_attentions}  # fmt: skip


def lm_head(params, x):
    return x @ params["lm_head"]["weight"].T


def shift_tokens_right(labels, pad_token_id: int, decoder_start_token_id: int):
    labels = torch.as_tensor(labels)
    shifted = torch.empty_like(labels)
    shifted[:, 1:] = labels[:, :-1]
    shifted[:, 0] = decoder_start_token_id
    return torch.where(shifted == IGNORE_INDEX, pad_token_id, shifted)


def cross_entropy(logits, labels) -> float:
    labels = torch.as_tensor(labels, device=logits.device)
    keep = labels != IGNORE_INDEX
    z = logits - logits.amax(dim=-1, keepdim=True)
    log_probs = z - torch.log(torch.exp(z).sum(dim=-1, keepdim=True))
    picked = torch.gather(log_probs, -1, torch.where(keep, labels, 0)[..., None])[..., 0]
    return float(-(picked * keep).sum() / keep.sum())
