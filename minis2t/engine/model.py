"""The engine's encoder and decoder: :mod:`minis2t.reference.model`, made fast.

The same layers in the same order, with three devices the reference leaves out (each
measured where it is defined, each held to the reference by ``tests/test_engine.py``):

* the fast primitives of :mod:`minis2t.engine.nn` (one 2-D product per linear layer,
  the row-block pool for layer norm and softmax, softmax in the scores' own memory);
* attention weights kept only when asked for (``need_weights``): a large batch's
  encoder attention then runs item by item, each item's padded keys left out;
* beam search's cross-attention keys and values kept once per utterance, not once per
  beam (:func:`group_beams`), and stored in the layout products read fastest
  (:func:`minis2t.engine.nn.keys_layout`).

What does not change for speed is imported from the reference, not copied.
"""

from __future__ import annotations

import numpy as np

from ..reference.model import (
    KVCache,
    causal_bias,
    conv_subsampler,
    embed_tokens,
    encoder_position_ids,
    frame_mask,
    key_padding_bias,
    lm_head,
)
from ..reference.nn import ACTIVATIONS, merge_heads, split_heads
from .nn import attention, keys_layout, layer_norm, linear


def self_attention_block(x, layer: dict, n_head: int, bias, past=None, need_weights: bool = True):
    """:func:`minis2t.reference.model.self_attention_block`; the weights None unless
    ``need_weights``."""
    p = layer["self_attn"]
    h = layer_norm(x, **layer["self_attn_layer_norm"])  # [B, L, D]
    q = split_heads(linear(h, **p["q_proj"]), n_head)  # [B, H, L, Dh]
    k = split_heads(linear(h, **p["k_proj"]), n_head)  # [B, H, L, Dh]
    v = split_heads(linear(h, **p["v_proj"]), n_head)  # [B, H, L, Dh]
    if past is not None:
        k = np.concatenate([past[0], k], axis=2)  # [B, H, P + L, Dh]
        v = np.concatenate([past[1], v], axis=2)
    out, weights = attention(q, k, v, bias, need_weights)  # [B, H, L, Dh]
    return x + linear(merge_heads(out), **p["out_proj"]), (k, v), weights


def cross_attention_block(x, layer: dict, n_head: int, kv, bias):
    """:func:`minis2t.reference.model.cross_attention_block` with the keys and values
    once per utterance: ``x`` may hold ``K`` rows (beams) per utterance of ``kv``
    (``[B*K, L, D]`` against ``[B, H, S, Dh]``), and the ``K`` beams' queries become rows
    of one product against their utterance's keys. ``bias`` is per row ``[B*K, 1, 1, S]``."""
    p = layer["encoder_attn"]
    h = layer_norm(x, **layer["encoder_attn_layer_norm"])  # [B*K, L, D]
    q = split_heads(linear(h, **p["q_proj"]), n_head)  # [B*K, H, L, Dh]
    beams = x.shape[0] // kv[0].shape[0]
    q = group_beams(q, beams)  # [B, H, K*L, Dh]
    if bias is not None:
        bias = bias[::beams]  # [B, 1, 1, S]: every beam of an utterance has its mask
    out, weights = attention(q, kv[0], kv[1], bias)  # [B, H, K*L, Dh], [B, H, K*L, S]
    out, weights = ungroup_beams(out, beams), ungroup_beams(weights, beams)  # [B*K, H, L, .]
    return x + linear(merge_heads(out), **p["out_proj"]), weights


def group_beams(q: np.ndarray, beams: int) -> np.ndarray:
    """``[B*K, H, L, Dh] -> [B, H, K*L, Dh]``: each utterance's beams as rows of one
    matrix. Sharing the keys this way turns ``B*K*H`` vector-matrix products per step into
    ``B*H`` matrix products, and keeps one copy of the keys and values instead of ``K``.
    Measured at s2t-small's size, 5 beams, 20 tokens, 2 cores (medians of 10, interleaved
    with per-beam copies): one 10 s utterance 0.287 -> 0.256 s, 8 utterances 2.45 -> 1.95 s."""
    if beams == 1:
        return q
    bk, h, length, dh = q.shape
    return q.reshape(bk // beams, beams, h, length, dh).swapaxes(1, 2).reshape(bk // beams, h, beams * length, dh)


def ungroup_beams(x: np.ndarray, beams: int) -> np.ndarray:
    """The inverse of :func:`group_beams`: ``[B, H, K*L, .] -> [B*K, H, L, .]``."""
    if beams == 1:
        return x
    b, h, kl, last = x.shape
    return x.reshape(b, h, beams, kl // beams, last).swapaxes(1, 2).reshape(b * beams, h, kl // beams, last)


def feed_forward_block(x, layer: dict, activation):
    """:func:`minis2t.reference.model.feed_forward_block`, the residual added in place."""
    h = layer_norm(x, **layer["final_layer_norm"])  # [B, L, D]
    h = activation(linear(h, **layer["fc1"]))  # [B, L, E]
    h = linear(h, **layer["fc2"])  # [B, L, D]
    h += x  # the residual, in place: h is our own array
    return h


def encoder_layer(x, layer: dict, n_head: int, bias, activation, need_weights: bool = True):
    x, _, weights = self_attention_block(x, layer, n_head, bias, need_weights=need_weights)
    return feed_forward_block(x, layer, activation), weights


def encode(params: dict, config, features: np.ndarray, attention_mask: np.ndarray | None = None,
           output_hidden_states: bool = False, output_attentions: bool = False) -> dict:
    """:func:`minis2t.reference.model.encode`, returning ``conv_outputs`` and
    ``hidden_states`` only with ``output_hidden_states`` and ``attentions`` only with
    ``output_attentions``. Each layer's attention weights are ``[B, H, S, S]`` (576 MB a
    layer for 240 s at s2t-small's size): not kept, a layer frees its scores as soon as it
    is done with them, and memory holds one layer's worth at a time."""
    enc = params["model"]["encoder"]
    b, t, _ = features.shape
    dtype = features.dtype
    conv_outputs = conv_subsampler(features, enc["conv"]["conv_layers"], config.conv_kernel_sizes)
    x = conv_outputs[-1]  # [B, S, D]
    if config.scale_embedding:
        x = x * dtype.type(np.sqrt(config.d_model))
    mask = frame_mask(attention_mask, b, x.shape[1], config.num_conv_layers)  # [B, S]
    positions = enc["embed_positions"]["weights"]  # [max_source_positions + 2, D]
    x = x + positions[encoder_position_ids(mask, config.pad_token_id)]  # [B, S, D]
    bias = key_padding_bias(mask, dtype)
    activation = ACTIVATIONS[config.activation_function]
    hidden_states, attentions = [], []
    for layer in enc["layers"]:
        if output_hidden_states:
            hidden_states.append(x)
        x, weights = encoder_layer(x, layer, config.encoder_attention_heads, bias, activation,
                                   need_weights=output_attentions)  # fmt: skip
        if output_attentions:
            attentions.append(weights)
    x = layer_norm(x, **enc["layer_norm"])
    out = {"last_hidden_state": x, "mask": mask}
    if output_hidden_states:
        out.update(conv_outputs=conv_outputs, hidden_states=hidden_states + [x])
    if output_attentions:
        out["attentions"] = attentions
    return out


def cross_attention_kv(params: dict, config, encoder_states: np.ndarray) -> tuple:
    """Each decoder layer's cross-attention keys and values, ``[B, H, S, Dh]`` each, the
    keys in :func:`~minis2t.engine.nn.keys_layout`."""
    n_head = config.decoder_attention_heads
    return tuple(
        (keys_layout(split_heads(linear(encoder_states, **layer["encoder_attn"]["k_proj"]), n_head)),
         split_heads(linear(encoder_states, **layer["encoder_attn"]["v_proj"]), n_head))
        for layer in params["model"]["decoder"]["layers"]
    )  # fmt: skip


def init_cache(params: dict, config, encoder_states: np.ndarray) -> KVCache:
    """An empty self-attention cache and the cross-attention keys and values, once per
    utterance: :func:`decode` may then run ``K`` rows (beams) per utterance."""
    return KVCache((None,) * config.decoder_layers, cross_attention_kv(params, config, encoder_states))


def decoder_layer(x, layer: dict, n_head: int, self_bias, past, cross_kv, cross_bias, activation,
                  need_weights: bool = True):  # fmt: skip
    x, new_kv, self_weights = self_attention_block(x, layer, n_head, self_bias, past, need_weights)
    x, cross_weights = cross_attention_block(x, layer, n_head, cross_kv, cross_bias)
    return feed_forward_block(x, layer, activation), new_kv, self_weights, cross_weights


def decode(params: dict, config, input_ids: np.ndarray, cache: KVCache,
           encoder_mask: np.ndarray | None = None, decoder_attention_mask: np.ndarray | None = None,
           output_hidden_states: bool = False, output_attentions: bool = False) -> dict:
    """:func:`minis2t.reference.model.decode` for ``N = B*K`` rows against a cache whose
    cross-attention keys are once per utterance (``B`` rows); ``encoder_mask`` is per row
    ``[N, S]``. ``hidden_states``, ``self_attentions`` and ``cross_attentions`` only with
    the flags."""
    dec = params["model"]["decoder"]
    past, length = cache.length, input_ids.shape[1]
    x = embed_tokens(params, config, input_ids, past)  # [N, L, D]
    dtype = x.dtype
    self_bias = causal_bias(past, length, decoder_attention_mask, dtype)
    cross_bias = key_padding_bias(encoder_mask, dtype)
    activation = ACTIVATIONS[config.activation_function]
    new_self_kv, hidden_states, self_attentions, cross_attentions = [], [], [], []
    for layer, layer_past, cross_kv in zip(dec["layers"], cache.self_kv, cache.cross_kv):
        if output_hidden_states:
            hidden_states.append(x)
        x, kv, self_w, cross_w = decoder_layer(x, layer, config.decoder_attention_heads, self_bias,
                                               layer_past, cross_kv, cross_bias, activation,
                                               output_attentions)  # fmt: skip
        new_self_kv.append(kv)
        if output_attentions:
            self_attentions.append(self_w)
            cross_attentions.append(cross_w)
    x = layer_norm(x, **dec["layer_norm"])  # [N, L, D]
    out = {"logits": lm_head(params, x), "cache": KVCache(tuple(new_self_kv), cache.cross_kv)}
    if output_hidden_states:
        out["hidden_states"] = hidden_states + [x]
    if output_attentions:
        out.update(self_attentions=self_attentions, cross_attentions=cross_attentions)
    return out
