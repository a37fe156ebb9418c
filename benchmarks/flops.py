"""The model's FLOP count, by formula: what a real-time factor is measured against.

A multiply-add counts as 2 FLOPs; only matrix products and convolutions are counted
(LayerNorm, softmax and the activations are a few FLOPs per element, not per weight).
``tests/test_flops.py`` checks both formulas against ``torch.utils.flop_counter`` run on
the twin, so the docs' equations (docs/performance.md shows this code) cannot drift.

A decoding step does little arithmetic per weight it reads (one multiply-add per weight
and beam), so its bound is memory, not FLOPs: :func:`decoder_step_bytes` counts what a
step must read at least once (checked against a model's own arrays by the same test).
"""

from __future__ import annotations


def encoder_flops(config, frames: int) -> float:
    """The conv subsampler and the encoder on ``frames`` feature frames (one utterance)."""
    d, e, c = config.d_model, config.encoder_ffn_dim, config.conv_channels
    f, (k1, k2) = config.input_feat_per_channel, config.conv_kernel_sizes[:2]
    t1 = (frames - 1) // 2 + 1  # after conv layer 1
    s = (t1 - 1) // 2 + 1  # after conv layer 2: the encoder frames
    conv = 2 * t1 * f * k1 * c + 2 * s * (c // 2) * k2 * 2 * d
    # per frame: Q, K, V, out projections 4 * 2d^2; FFN 2 * 2dE; scores and weighted sum 2 * 2Sd
    layers = config.encoder_layers * s * (8 * d * d + 4 * d * e + 4 * s * d)
    return conv + layers


def decoder_step_flops(config, s: int, t: int) -> float:
    """One decoder step for one beam: the ``t``-th token, attending over ``t`` cached
    self-attention keys (its own included) and ``s`` encoder frames."""
    d, e, v = config.d_model, config.decoder_ffn_dim, config.vocab_size
    self_attn = 8 * d * d + 4 * d * t  # Q, K, V, out projections; scores and weighted sum
    cross_attn = 4 * d * d + 4 * d * s  # Q and out projections (K, V are cached); attention
    ffn = 4 * d * e
    return config.decoder_layers * (self_attn + cross_attn + ffn) + 2 * d * v  # + the LM head


def cross_kv_flops(config, s: int) -> float:
    """Every decoder layer's cross-attention keys and values, once per utterance."""
    return config.decoder_layers * 2 * (2 * s * config.d_model**2)


def decoder_flops(config, s: int, tokens: int, beams: int) -> float:
    """Generating ``tokens`` tokens with ``beams`` beams over ``s`` encoder frames."""
    steps = sum(decoder_step_flops(config, s, t) for t in range(1, tokens + 1))
    return cross_kv_flops(config, s) + beams * steps


def decoder_step_bytes(config, s: int, t: int, beams: int, itemsize: int = 4) -> float:
    """The least a decoder step reads from memory for one utterance with ``beams`` beams:
    each weight it uses once (every decoder layer's but the cross-attention K and V
    projections, which ran once per utterance; the final layer norm; the LM head), the
    cached cross-attention keys and values (``s`` frames, shared by the beams) and each
    beam's ``t`` cached self-attention keys and values."""
    d, e, v, layers = config.d_model, config.decoder_ffn_dim, config.vocab_size, config.decoder_layers
    attention = 4 * (d * d + d)  # four [d, d] projections with biases
    per_layer = attention + 2 * (d * d + d) + 2 * d * e + e + d + 3 * 2 * d  # + cross Q, out; FFN; 3 LNs
    weights = layers * per_layer + 2 * d + v * d  # + the final layer norm and the LM head
    caches = layers * 2 * d * (s + beams * t)
    return itemsize * (weights + caches)
