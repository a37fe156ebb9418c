"""The PyTorch twin of ``minis2t/model.py``: same functions, same names, same order.

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

from minis2t.config import ModelConfig
from minis2t.errors import InputTooLongError
from minis2t.model import IGNORE_INDEX, POSITION_PADDING_IDX, nest

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
def position_table(num_positions: int, dim: int, dtype: torch.dtype, device: str) -> torch.Tensor:
    return sinusoidal_positions(num_positions + POSITION_PADDING_IDX + 1, dim,
                                POSITION_PADDING_IDX, dtype, device)  # fmt: skip


def subsampled_lengths(lengths, num_conv_layers: int):
    for _ in range(num_conv_layers):
        lengths = (lengths - 1) // 2 + 1
    return lengths


def conv_subsampler(features, conv_layers, kernel_sizes):
    outputs, x = [], features
    for layer, k in zip(conv_layers, kernel_sizes):
        x = conv1d(x, layer["weight"], layer["bias"], stride=2, padding=k // 2)
        x = glu(x, axis=-1)
        outputs.append(x)
    return outputs


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


def position_ids(real, past_length: int = 0):
    real = real.long()
    return (torch.cumsum(real, dim=1) + past_length) * real + POSITION_PADDING_IDX


def self_attention_block(x, layer, n_head, bias, past=None, need_weights: bool = True):
    p = layer["self_attn"]
    h = layer_norm(x, **layer["self_attn_layer_norm"])
    q = split_heads(linear(h, **p["q_proj"]), n_head)
    k = split_heads(linear(h, **p["k_proj"]), n_head)
    v = split_heads(linear(h, **p["v_proj"]), n_head)
    if past is not None:
        k = torch.cat([past[0], k], dim=2)
        v = torch.cat([past[1], v], dim=2)
    out, weights = attention(q, k, v, bias, need_weights)
    return x + linear(merge_heads(out), **p["out_proj"]), (k, v), weights


def cross_attention_block(x, layer, n_head, kv, bias):
    p = layer["encoder_attn"]
    h = layer_norm(x, **layer["encoder_attn_layer_norm"])
    q = split_heads(linear(h, **p["q_proj"]), n_head)
    beams = x.shape[0] // kv[0].shape[0]
    q = group_beams(q, beams)
    if bias is not None:
        bias = bias[::beams]
    out, weights = attention(q, kv[0], kv[1], bias)
    out, weights = ungroup_beams(out, beams), ungroup_beams(weights, beams)
    return x + linear(merge_heads(out), **p["out_proj"]), weights


def group_beams(q, beams: int):
    if beams == 1:
        return q
    bk, h, length, dh = q.shape
    return q.reshape(bk // beams, beams, h, length, dh).transpose(1, 2).reshape(bk // beams, h, beams * length, dh)


def ungroup_beams(x, beams: int):
    if beams == 1:
        return x
    b, h, kl, last = x.shape
    return x.reshape(b, h, beams, kl // beams, last).transpose(1, 2).reshape(b * beams, h, kl // beams, last)


def feed_forward_block(x, layer, activation):
    h = layer_norm(x, **layer["final_layer_norm"])
    h = activation(linear(h, **layer["fc1"]))
    return x + linear(h, **layer["fc2"])


def encoder_layer(x, layer, n_head, bias, activation, need_weights: bool = True):
    x, _, weights = self_attention_block(x, layer, n_head, bias, need_weights=need_weights)
    return feed_forward_block(x, layer, activation), weights


def encode(params, config: ModelConfig, features, attention_mask=None, positions=None,
           output_hidden_states=False, output_attentions=False) -> dict:  # fmt: skip
    enc = params["model"]["encoder"]
    b, t, _ = features.shape
    s = int(subsampled_lengths(t, config.num_conv_layers))
    if s > config.max_source_positions:
        raise InputTooLongError(f"{s} encoder positions > {config.max_source_positions}")
    dtype, device = features.dtype, features.device
    conv_outputs = conv_subsampler(features, enc["conv"]["conv_layers"], config.conv_kernel_sizes)
    x = conv_outputs[-1]
    if config.scale_embedding:
        x = x * float(np.sqrt(config.d_model))
    mask = frame_mask(attention_mask, b, s, config.num_conv_layers, device)
    if positions is None:
        positions = position_table(config.max_source_positions, config.d_model, dtype, str(device))
    x = x + positions[position_ids(mask)]
    bias = key_padding_bias(mask, dtype)
    activation = ACTIVATIONS[config.activation_function]
    hidden_states, attentions = [x], []
    for layer in enc["layers"]:
        x, weights = encoder_layer(x, layer, config.encoder_attention_heads, bias, activation,
                                   need_weights=output_attentions)  # fmt: skip
        if output_hidden_states:
            hidden_states.append(x)
        if output_attentions:
            attentions.append(weights)
    out = {"last_hidden_state": layer_norm(x, **enc["layer_norm"]), "mask": mask}
    if output_hidden_states:
        out.update(conv_outputs=conv_outputs, hidden_states=hidden_states)
    if output_attentions:
        out["attentions"] = attentions
    return out


class KVCache(NamedTuple):
    self_kv: tuple
    cross_kv: tuple

    @property
    def length(self) -> int:
        return 0 if not self.self_kv or self.self_kv[0] is None else self.self_kv[0][0].shape[2]

    def reorder(self, index) -> "KVCache":
        index = torch.as_tensor(index, device=self.cross_kv[0][0].device)
        return KVCache(tuple((k[index], v[index]) for k, v in self.self_kv), self.cross_kv)


def cross_attention_kv(params, config: ModelConfig, encoder_states) -> tuple:
    n_head = config.decoder_attention_heads
    return tuple(
        (split_heads(linear(encoder_states, **layer["encoder_attn"]["k_proj"]), n_head),
         split_heads(linear(encoder_states, **layer["encoder_attn"]["v_proj"]), n_head))
        for layer in params["model"]["decoder"]["layers"]
    )  # fmt: skip


def init_cache(params, config: ModelConfig, encoder_states) -> KVCache:
    return KVCache((None,) * config.decoder_layers, cross_attention_kv(params, config, encoder_states))


def decoder_layer(x, layer, n_head, self_bias, past, cross_kv, cross_bias, activation):
    x, new_kv, self_weights = self_attention_block(x, layer, n_head, self_bias, past)
    x, cross_weights = cross_attention_block(x, layer, n_head, cross_kv, cross_bias)
    return feed_forward_block(x, layer, activation), new_kv, self_weights, cross_weights


def decode(params, config: ModelConfig, input_ids, cache: KVCache, encoder_mask=None,
           decoder_attention_mask=None, positions=None, output_hidden_states=False,
           output_attentions=False) -> dict:  # fmt: skip
    dec = params["model"]["decoder"]
    embed = dec["embed_tokens"]["weight"]
    dtype, device = embed.dtype, embed.device
    input_ids = torch.as_tensor(input_ids, device=device)
    b, length = input_ids.shape
    past = cache.length
    if past + length > config.max_target_positions:
        raise InputTooLongError(f"{past + length} decoder positions > {config.max_target_positions}")
    # An embedding lookup whose padding row gets no gradient, as nn.Embedding(padding_idx)
    # in fairseq and transformers (the same values as embed[input_ids]).
    x = torch.nn.functional.embedding(input_ids, embed, padding_idx=config.pad_token_id)
    if config.scale_embedding:
        x = x * float(np.sqrt(config.d_model))
    if positions is None:
        positions = position_table(config.max_target_positions, config.d_model, dtype, str(device))
    x = x + positions[position_ids(input_ids != config.pad_token_id, past)]

    self_bias = causal_bias(past, length, decoder_attention_mask, dtype, device)
    cross_bias = None if encoder_mask is None else key_padding_bias(torch.as_tensor(encoder_mask, device=device), dtype)

    activation = ACTIVATIONS[config.activation_function]
    new_self_kv, hidden_states, self_attentions, cross_attentions = [], [x], [], []
    for layer, layer_past, cross_kv in zip(dec["layers"], cache.self_kv, cache.cross_kv):
        x, kv, self_w, cross_w = decoder_layer(x, layer, config.decoder_attention_heads,
                                               self_bias, layer_past, cross_kv, cross_bias,
                                               activation)  # fmt: skip
        new_self_kv.append(kv)
        if output_hidden_states:
            hidden_states.append(x)
        if output_attentions:
            self_attentions.append(self_w)
            cross_attentions.append(cross_w)
    x = layer_norm(x, **dec["layer_norm"])
    out = {"logits": lm_head(params, x), "cache": KVCache(tuple(new_self_kv), cache.cross_kv)}
    if output_hidden_states:
        out["hidden_states"] = hidden_states
    if output_attentions:
        out.update(self_attentions=self_attentions, cross_attentions=cross_attentions)
    return out


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
