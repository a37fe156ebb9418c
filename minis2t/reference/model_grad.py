"""Backward passes of the blocks in :mod:`minis2t.reference.model`, from the primitives' in
:mod:`minis2t.reference.grad`.

Each ``*_backward`` takes the gradient at a block's output and the block's *input*, and
returns the gradient at that input and the gradients of the block's weights, as a dict
shaped like the block's own weights (``{"fc1": {"weight": ..., "bias": ...}, ...}``).
The intermediate values a backward needs are recomputed from the input by the very
forward functions inference uses — activation recomputation, as "gradient
checkpointing" does on a GPU: memory holds one layer's intermediates at a time, and there
is no second copy of the forward to drift from the first. Within a layer, the attention
blocks' keys, values and weights (which the forward functions return anyway) are kept
while the layer's backward runs, so only the queries and the weighted sums are computed
a second time. ``tests/test_train.py`` checks the whole chain against transformers' own
``loss.backward()``.
"""

from __future__ import annotations

import numpy as np

from .grad import (
    ACTIVATION_BACKWARDS,
    attention_backward,
    conv1d_backward,
    embedding_backward,
    glu_backward,
    layer_norm_backward,
    linear_backward,
    merge_heads_backward,
    split_heads_backward,
)
from .model import (
    causal_bias,
    conv_subsampler,
    cross_attention_block,
    cross_attention_kv,
    decode,
    decoder_layer,
    encode,
    encoder_layer,
    init_cache,
    key_padding_bias,
    self_attention_block,
)
from .nn import ACTIVATIONS, attention, conv1d, layer_norm, linear, merge_heads, split_heads


def _linear(dy, x, p) -> tuple[np.ndarray, dict]:
    dx, d_weight, d_bias = linear_backward(dy, x, p["weight"], has_bias="bias" in p)
    return dx, ({"weight": d_weight, "bias": d_bias} if "bias" in p else {"weight": d_weight})


def _layer_norm(dy, x, p) -> tuple[np.ndarray, dict]:
    dx, d_weight, d_bias = layer_norm_backward(dy, x, p["weight"])
    return dx, {"weight": d_weight, "bias": d_bias}


def _attention_backward(dy, h, kv_source, p, n_head, bias, saved=None):
    """Through ``out_proj(merge(attention(split(q(h)), split(k(src)), split(v(src)))))``.
    ``saved`` is ``((k, v), weights)`` as the forward block returned them, if at hand:
    then only the query and the weighted sum are recomputed. Returns
    ``(dh from the query, d kv_source, grads)``."""
    q = split_heads(linear(h, **p["q_proj"]), n_head)
    if saved is None:
        k = split_heads(linear(kv_source, **p["k_proj"]), n_head)
        v = split_heads(linear(kv_source, **p["v_proj"]), n_head)
        out, weights = attention(q, k, v, bias)
    else:
        (k, v), weights = saved
        out = weights @ v
    grads = {}
    d_merged, grads["out_proj"] = _linear(dy, merge_heads(out), p["out_proj"])
    d_q, d_k, d_v = attention_backward(merge_heads_backward(d_merged, n_head), q, k, v, weights)
    dh, grads["q_proj"] = _linear(split_heads_backward(d_q), h, p["q_proj"])
    d_src_k, grads["k_proj"] = _linear(split_heads_backward(d_k), kv_source, p["k_proj"])
    d_src_v, grads["v_proj"] = _linear(split_heads_backward(d_v), kv_source, p["v_proj"])
    return dh, d_src_k + d_src_v, grads


def self_attention_block_backward(dy, x, layer: dict, n_head: int, bias, saved=None):
    """``y = x + SelfAttn(LN(x))``: the residual passes ``dy`` through unchanged."""
    h = layer_norm(x, **layer["self_attn_layer_norm"])
    dh, d_src, attn = _attention_backward(dy, h, h, layer["self_attn"], n_head, bias, saved)
    dx, ln = _layer_norm(dh + d_src, x, layer["self_attn_layer_norm"])  # h is query and source
    return dy + dx, {"self_attn": attn, "self_attn_layer_norm": ln}


def cross_attention_block_backward(dy, x, layer: dict, n_head: int, encoder_states, bias, saved=None):
    """``y = x + CrossAttn(LN(x), encoder states)``. Also returns the gradient reaching the
    encoder states through this layer's key and value projections."""
    h = layer_norm(x, **layer["encoder_attn_layer_norm"])
    dh, d_states, attn = _attention_backward(dy, h, encoder_states, layer["encoder_attn"], n_head, bias, saved)
    dx, ln = _layer_norm(dh, x, layer["encoder_attn_layer_norm"])
    return dy + dx, d_states, {"encoder_attn": attn, "encoder_attn_layer_norm": ln}


def feed_forward_block_backward(dy, x, layer: dict, activation: str):
    """``y = x + W_2 act(W_1 LN(x) + b_1) + b_2``."""
    h = layer_norm(x, **layer["final_layer_norm"])
    pre = linear(h, **layer["fc1"])
    grads = {}
    d_act, grads["fc2"] = _linear(dy, ACTIVATIONS[activation](pre), layer["fc2"])
    dh, grads["fc1"] = _linear(ACTIVATION_BACKWARDS[activation](d_act, pre), h, layer["fc1"])
    dx, grads["final_layer_norm"] = _layer_norm(dh, x, layer["final_layer_norm"])
    return dy + dx, grads


def encoder_layer_backward(dy, x, layer: dict, n_head: int, bias, activation: str):
    mid, kv, weights = self_attention_block(x, layer, n_head, bias)
    d_mid, ff = feed_forward_block_backward(dy, mid, layer, activation)
    dx, sa = self_attention_block_backward(d_mid, x, layer, n_head, bias, (kv, weights))
    return dx, {**sa, **ff}


def decoder_layer_backward(dy, x, layer: dict, n_head: int, self_bias, encoder_states, cross_bias, activation: str):
    """Returns ``(dx, d encoder states, grads)``; the forward is without a cache (teacher
    forcing: all positions at once)."""
    after_self, self_kv, self_weights = self_attention_block(x, layer, n_head, self_bias)
    kv = (
        split_heads(linear(encoder_states, **layer["encoder_attn"]["k_proj"]), n_head),
        split_heads(linear(encoder_states, **layer["encoder_attn"]["v_proj"]), n_head),
    )
    after_cross, cross_weights = cross_attention_block(after_self, layer, n_head, kv, cross_bias)
    d_cross, ff = feed_forward_block_backward(dy, after_cross, layer, activation)
    d_self, d_states, ca = cross_attention_block_backward(
        d_cross, after_self, layer, n_head, encoder_states, cross_bias, (kv, cross_weights)
    )
    dx, sa = self_attention_block_backward(d_self, x, layer, n_head, self_bias, (self_kv, self_weights))
    return dx, d_states, {**sa, **ca, **ff}


def conv_subsampler_backward(dy, features, conv_layers: list[dict], kernel_sizes, outputs=None) -> list[dict]:
    """Back through each stride-2 convolution and its GLU, last layer first. ``outputs``
    are the forward's layer outputs (``encode``'s ``conv_outputs``), recomputed if None."""
    outputs = outputs if outputs is not None else conv_subsampler(features, conv_layers, kernel_sizes)
    inputs = [features, *outputs[:-1]]
    grads = [None] * len(conv_layers)
    for i in reversed(range(len(conv_layers))):
        layer, k = conv_layers[i], kernel_sizes[i]
        pre_glu = conv1d(inputs[i], layer["weight"], layer["bias"], stride=2, padding=k // 2)
        d_pre = glu_backward(dy, pre_glu, axis=-1)
        dy, d_weight, d_bias = conv1d_backward(d_pre, inputs[i], layer["weight"], stride=2, padding=k // 2)
        grads[i] = {"weight": d_weight, "bias": d_bias}
    return grads


def encode_backward(d_states, params: dict, config, features, attention_mask, forward: dict | None = None):
    """Gradient of the encoder's weights, given the gradient at its output states
    ``[B, S, D]``. ``forward`` is the forward pass's ``encode(...,
    output_hidden_states=True)`` if the caller kept it (else it is recomputed). Positions
    are fixed sinusoids: nothing to learn there."""
    enc = params["model"]["encoder"]
    out = forward or encode(params, config, features, attention_mask)
    bias = key_padding_bias(out["mask"], features.dtype)
    # each layer's input: the embedded input, then each layer's output but the last, which
    # ``hidden_states`` holds after the final norm; its input to that norm is recomputed
    hidden = out["hidden_states"][:-1]
    activation = ACTIVATIONS[config.activation_function]
    last, _ = encoder_layer(hidden[-1], enc["layers"][-1], config.encoder_attention_heads, bias, activation)
    grads = {}
    dx, grads["layer_norm"] = _layer_norm(d_states, last, enc["layer_norm"])
    layers = [None] * len(enc["layers"])
    for i in reversed(range(len(enc["layers"]))):
        dx, layers[i] = encoder_layer_backward(
            dx, hidden[i], enc["layers"][i], config.encoder_attention_heads, bias, config.activation_function
        )
    grads["layers"] = layers
    if config.scale_embedding:  # x0 = conv * sqrt(d) + positions
        dx = dx * dx.dtype.type(np.sqrt(config.d_model))
    conv = conv_subsampler_backward(
        dx, features, enc["conv"]["conv_layers"], config.conv_kernel_sizes, out["conv_outputs"]
    )
    grads["conv"] = {"conv_layers": conv}
    return grads


def decode_backward(
    d_logits, params: dict, config, input_ids, encoder_states, encoder_mask, forward: dict | None = None
):
    """Gradients of the decoder's weights and the LM head, and of the encoder states, given
    the gradient at the logits ``[B, L, V]`` of a teacher-forced pass over ``input_ids``
    (``forward``: that pass's ``decode(..., output_hidden_states=True)``, if kept).
    Returns ``(decoder grads, lm_head grads, d encoder states)``."""
    dec = params["model"]["decoder"]
    out = forward or decode(params, config, input_ids, init_cache(params, config, encoder_states), encoder_mask)
    dtype = encoder_states.dtype
    self_bias = causal_bias(0, input_ids.shape[1], None, dtype)
    cross_bias = key_padding_bias(encoder_mask, dtype)
    # each layer's input, and the last layer's output before the final norm, recomputed
    hidden, final = out["hidden_states"][:-1], out["hidden_states"][-1]
    kv = cross_attention_kv(params, config, encoder_states)[-1]
    last = decoder_layer(
        hidden[-1],
        dec["layers"][-1],
        config.decoder_attention_heads,
        self_bias,
        None,
        kv,
        cross_bias,
        ACTIVATIONS[config.activation_function],
    )[0]
    grads = {}
    dx, head = _linear(d_logits, final, params["lm_head"])
    dx, grads["layer_norm"] = _layer_norm(dx, last, dec["layer_norm"])
    d_states = np.zeros_like(encoder_states)
    layers = [None] * len(dec["layers"])
    for i in reversed(range(len(dec["layers"]))):
        dx, d_s, layers[i] = decoder_layer_backward(
            dx,
            hidden[i],
            dec["layers"][i],
            config.decoder_attention_heads,
            self_bias,
            encoder_states,
            cross_bias,
            config.activation_function,
        )
        d_states += d_s
    grads["layers"] = layers
    if config.scale_embedding:  # x0 = E[ids] * sqrt(d) + positions
        dx = dx * dx.dtype.type(np.sqrt(config.d_model))
    d_embed = embedding_backward(dx, input_ids, dec["embed_tokens"]["weight"].shape[0])
    # The padding token's row never learns (``nn.Embedding(padding_idx=...)`` in fairseq
    # and transformers): teacher forcing feeds pads after each sequence's end.
    d_embed[config.pad_token_id] = 0
    grads["embed_tokens"] = {"weight": d_embed}
    return grads, head, d_states
