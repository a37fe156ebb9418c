"""The Speech2Text network as pure functions over a nested dict of weights: the math.

``model_params(weights, config)`` turns the checkpoint's flat names into a tree, so
``params["model"]["encoder"]["layers"][3]["fc1"]["weight"]`` is
``model.encoder.layers.3.fc1.weight`` and each function takes just its own sub-tree; it
adds the two sinusoidal position tables where transformers' modules keep them
(``model.encoder.embed_positions.weights``, ``model.decoder.embed_positions.weights``).
``config`` is a :class:`minis2t.io.config.ModelConfig`; only its fields are read.

The data path (``B`` batch, ``T`` feature frames, ``F`` mel bins, ``S`` encoder frames,
``D`` d_model, ``H`` heads, ``Dh = D / H``, ``L`` tokens, ``P`` cached tokens,
``V`` vocabulary)::

    features [B, T, F] --conv_subsampler--> [B, S, D]          S = T halved per conv layer
      x sqrt(D) + positions --encoder_layer x N--> layer_norm   encoder states [B, S, D]
    token ids [B, L] --embed x sqrt(D) + positions--> decoder_layer x M --> layer_norm
      --> lm_head --> logits [B, L, V]

Everything is inference: dropout and LayerDrop are the identity. The decoder's state — the
keys and values of past tokens — is a :class:`KVCache` value passed in and returned.
Inputs are trusted (the application checks them where they come in), and every function
returns every intermediate a reader may want to look at. The fast version that the
application runs is :mod:`minis2t.engine.model`, held equal to this one by a test.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from .nn import (
    ACTIVATIONS,
    attention,
    conv1d,
    glu,
    layer_norm,
    linear,
    log_softmax,
    mask_bias,
    merge_heads,
    sinusoidal_positions,
    split_heads,
)

POSITION_OFFSET = 2  # position tables have two rows more than the model's positions
IGNORE_INDEX = -100  # label value that the loss skips (PyTorch's convention)


# --- weights and positions ----------------------------------------------------------------


def nest(weights: dict[str, np.ndarray]) -> dict:
    """``{"a.b.0.c": x}`` -> ``{"a": {"b": [{"c": x}]}}``: numbered levels become lists."""
    tree: dict = {}
    for name, array in weights.items():
        node = tree
        *path, leaf = name.split(".")
        for part in path:
            node = node.setdefault(part, {})
        node[leaf] = array
    return _lists_from_numbered_keys(tree)


def _lists_from_numbered_keys(node):
    if not isinstance(node, dict):
        return node
    if node and all(k.isdigit() for k in node):
        return [_lists_from_numbered_keys(node[str(i)]) for i in range(len(node))]
    return {k: _lists_from_numbered_keys(v) for k, v in node.items()}


def model_params(weights: dict[str, np.ndarray], config) -> dict:
    """The checkpoint's weights as a tree (:func:`nest`), with the encoder's and the
    decoder's position tables (:func:`position_table`, in the weights' dtype) added
    under ``embed_positions.weights``: fixed, not learned, computed once here."""
    params = nest(weights)
    dtype = params["model"]["decoder"]["embed_tokens"]["weight"].dtype
    for part, size in (("encoder", config.max_source_positions), ("decoder", config.max_target_positions)):
        table = position_table(size, config.d_model, config.pad_token_id, dtype)  # [size + 2, D]
        params["model"][part]["embed_positions"] = {"weights": table}
    return params


def position_table(num_positions: int, dim: int, padding_idx: int, dtype=np.float32) -> np.ndarray:
    """The sinusoidal table ``[rows, D]`` for positions ``padding_idx + 1 ..
    padding_idx + num_positions``; row ``padding_idx`` is zeros (padding adds nothing).
    fairseq's and transformers' pad id is 1, and the table then has ``num_positions + 2``
    rows."""
    rows = num_positions + max(POSITION_OFFSET, padding_idx + 1)
    return sinusoidal_positions(rows, dim, padding_idx, dtype)  # [rows, D]


def position_ids(real: np.ndarray, padding_idx: int, past_length: int = 0) -> np.ndarray:
    """Position ids from a 0/1 "counts" mask ``[B, L]``: counted items number up from
    ``padding_idx + 1 + past_length``, the others get ``padding_idx`` (the zero row)."""
    real = real.astype(np.int64)
    return (np.cumsum(real, axis=1) + past_length) * real + padding_idx  # [B, L]


def encoder_position_ids(mask: np.ndarray, padding_idx: int) -> np.ndarray:
    """The encoder's position ids for its frame mask ``[B, S]`` (1 = real frame).

    transformers compares the *padding* mask (1 = padded) with the pad id: for the usual
    pad id 1 the real frames count up from 2 and padded frames get the zero row; any
    other pad id counts every frame, or (pad id 0) only the padded ones. We follow it."""
    return position_ids((1 - mask) != padding_idx, padding_idx)  # [B, S]


# --- masks ---------------------------------------------------------------------------------


def subsampled_lengths(lengths: np.ndarray, num_conv_layers: int) -> np.ndarray:
    """Frames left after the conv subsampler: each stride-2 layer maps ``L -> (L - 1) // 2 + 1``.

    This is the output length of a convolution with odd kernel ``k``, stride 2 and padding
    ``k // 2``, whatever ``k`` is."""
    lengths = np.asarray(lengths)
    for _ in range(num_conv_layers):
        lengths = (lengths - 1) // 2 + 1
    return lengths


def frame_mask(attention_mask: np.ndarray | None, batch: int, num_frames: int, num_conv_layers: int) -> np.ndarray:
    """The feature-level mask ``[B, T]`` -> the encoder-level mask ``[B, S]`` (int, 1 = real).

    Assumes right padding: item ``b`` keeps its first ``subsampled_lengths(sum(mask_b))``
    frames. No mask means every frame is real.
    """
    if attention_mask is None:
        return np.ones((batch, num_frames), dtype=np.int64)
    lengths = subsampled_lengths(np.asarray(attention_mask).sum(axis=-1), num_conv_layers)  # [B]
    return (np.arange(num_frames)[None, :] < lengths[:, None]).astype(np.int64)  # [B, S]


def key_padding_bias(mask: np.ndarray | None, dtype) -> np.ndarray | None:
    """Masks padded keys: ``[B, S]`` (1 = real) -> an additive bias ``[B, 1, 1, S]``, or
    None when nothing is padded (adding zeros would change nothing)."""
    if mask is None or np.all(mask):
        return None
    return mask_bias(np.asarray(mask), dtype)[:, None, None, :]  # [B, 1, 1, S]


def causal_bias(past: int, length: int, decoder_attention_mask, dtype) -> np.ndarray:
    """Decoder self-attention: query ``i`` (absolute position ``past + i``) may see keys
    ``0 .. past + i``, and only real tokens if a mask ``[B, P + L]`` is given.
    Returns ``[B|1, 1, L, P + L]``."""
    causal = np.arange(past + length)[None, :] <= past + np.arange(length)[:, None]  # [L, P+L]
    allowed = causal[None, :, :]  # [1, L, P+L]
    if decoder_attention_mask is not None:
        allowed = allowed & np.asarray(decoder_attention_mask, bool)[:, None, :]  # [B, L, P+L]
    return mask_bias(allowed, dtype)[:, None]  # [B|1, 1, L, P+L]


# --- blocks ------------------------------------------------------------------------------


def self_attention_block(x, layer: dict, n_head: int, bias, past=None):
    """Pre-LN self-attention with its residual: ``[B, L, D] -> [B, L, D]``.

    ``past`` is ``(k, v)`` of earlier positions ``[B, H, P, Dh]`` (decoder) or None.
    Returns ``(y, (k, v) including the new positions, weights [B, H, L, P + L])``."""
    p = layer["self_attn"]
    h = layer_norm(x, **layer["self_attn_layer_norm"])  # [B, L, D]
    q = split_heads(linear(h, **p["q_proj"]), n_head)  # [B, H, L, Dh]
    k = split_heads(linear(h, **p["k_proj"]), n_head)  # [B, H, L, Dh]
    v = split_heads(linear(h, **p["v_proj"]), n_head)  # [B, H, L, Dh]
    if past is not None:
        k = np.concatenate([past[0], k], axis=2)  # [B, H, P + L, Dh]
        v = np.concatenate([past[1], v], axis=2)  # [B, H, P + L, Dh]
    out, weights = attention(q, k, v, bias)  # [B, H, L, Dh], [B, H, L, P + L]
    return x + linear(merge_heads(out), **p["out_proj"]), (k, v), weights  # [B, L, D]


def cross_attention_block(x, layer: dict, n_head: int, kv, bias):
    """Pre-LN attention from decoder positions to the encoder states, with residual:
    ``[B, L, D] -> [B, L, D]``. ``kv`` are the encoder states' keys and values
    ``[B, H, S, Dh]``, computed once per utterance by :func:`cross_attention_kv`.
    Returns ``(y, weights [B, H, L, S])``."""
    p = layer["encoder_attn"]
    h = layer_norm(x, **layer["encoder_attn_layer_norm"])  # [B, L, D]
    q = split_heads(linear(h, **p["q_proj"]), n_head)  # [B, H, L, Dh]
    out, weights = attention(q, kv[0], kv[1], bias)  # [B, H, L, Dh], [B, H, L, S]
    return x + linear(merge_heads(out), **p["out_proj"]), weights  # [B, L, D]


def feed_forward_block(x, layer: dict, activation):
    """Pre-LN position-wise feed-forward with residual: ``[B, L, D] -> [B, L, E] -> [B, L, D]``."""
    h = layer_norm(x, **layer["final_layer_norm"])  # [B, L, D]
    h = activation(linear(h, **layer["fc1"]))  # [B, L, E]
    return x + linear(h, **layer["fc2"])  # [B, L, D]


# --- encoder -------------------------------------------------------------------------


def conv_subsampler(
    features: np.ndarray, conv_layers: list[dict], kernel_sizes: tuple[int, ...]
) -> list[np.ndarray]:
    """Stride-2 convolutions, each followed by a GLU that halves its channels.

    ``[B, T, F] -> [B, T/2, C/2] -> ... -> [B, S, D]``. Returns every layer's output (the
    last is the subsampler's). The padding frames of a batch are *not* masked between the
    layers (neither in fairseq nor in transformers), so the last valid frames of a padded
    item see zeros where running it alone would see the convolution's zero padding —
    slightly different numbers, spread to all frames by attention.
    """
    outputs, x = [], features
    for layer, k in zip(conv_layers, kernel_sizes):
        x = conv1d(x, layer["weight"], layer["bias"], stride=2, padding=k // 2)  # [B, T', 2C]
        x = glu(x, axis=-1)  # [B, T', 2C] -> [B, T', C]
        outputs.append(x)
    return outputs


def encoder_layer(x, layer: dict, n_head: int, bias, activation):
    """One pre-LN Transformer encoder layer: ``[B, S, D] -> [B, S, D]``, and its
    attention weights ``[B, H, S, S]``."""
    x, _, weights = self_attention_block(x, layer, n_head, bias)  # [B, S, D]
    return feed_forward_block(x, layer, activation), weights  # [B, S, D]


def encode(params: dict, config, features: np.ndarray, attention_mask: np.ndarray | None = None) -> dict:
    """Features ``[B, T, F]`` (and their mask ``[B, T]``) -> encoder states ``[B, S, D]``.

    Returns a dict: ``last_hidden_state [B, S, D]``, ``mask [B, S]``, ``conv_outputs``
    (each conv layer's output), ``hidden_states`` (the embedded input, each layer's
    output, and last the normalised output, as transformers lists them) and
    ``attentions`` (each layer's ``[B, H, S, S]``).
    """
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
    bias = key_padding_bias(mask, dtype)  # [B, 1, 1, S] or None
    activation = ACTIVATIONS[config.activation_function]
    hidden_states, attentions = [], []
    for layer in enc["layers"]:
        hidden_states.append(x)
        x, weights = encoder_layer(x, layer, config.encoder_attention_heads, bias, activation)
        attentions.append(weights)
    x = layer_norm(x, **enc["layer_norm"])  # [B, S, D]
    return {
        "last_hidden_state": x,
        "mask": mask,
        "conv_outputs": conv_outputs,
        "hidden_states": hidden_states + [x],
        "attentions": attentions,
    }


# --- decoder -----------------------------------------------------------------------------


class KVCache(NamedTuple):
    """The decoder's state between steps, as plain data.

    ``self_kv[i] = (k, v)``, ``[B, H, P, Dh]``: keys and values of the ``P`` tokens seen
    so far by self-attention in layer ``i`` (None before the first step).
    ``cross_kv[i] = (k, v)``, ``[B, H, S, Dh]``: the encoder states projected once for
    layer ``i``'s cross-attention.
    """

    self_kv: tuple
    cross_kv: tuple

    @property
    def length(self) -> int:
        return 0 if not self.self_kv or self.self_kv[0] is None else self.self_kv[0][0].shape[2]

    def reorder(self, index: np.ndarray) -> "KVCache":
        """Pick rows of the batch (beam search keeps the beams it continues). Beam search
        only moves rows among one utterance's beams, whose cross-attention keys and values
        are the same: those stay as they are."""
        return KVCache(tuple((k[index], v[index]) for k, v in self.self_kv), self.cross_kv)


def cross_attention_kv(params: dict, config, encoder_states: np.ndarray) -> tuple:
    """Each decoder layer's cross-attention keys and values, ``[B, H, S, Dh]`` each."""
    n_head = config.decoder_attention_heads
    return tuple(
        (
            split_heads(linear(encoder_states, **layer["encoder_attn"]["k_proj"]), n_head),
            split_heads(linear(encoder_states, **layer["encoder_attn"]["v_proj"]), n_head),
        )
        for layer in params["model"]["decoder"]["layers"]
    )


def init_cache(params: dict, config, encoder_states: np.ndarray) -> KVCache:
    """An empty self-attention cache and the cross-attention keys and values."""
    empty = (None,) * config.decoder_layers
    return KVCache(empty, cross_attention_kv(params, config, encoder_states))


def decoder_layer(x, layer: dict, n_head: int, self_bias, past, cross_kv, cross_bias, activation):
    """One pre-LN decoder layer: causal self-attention, cross-attention, feed-forward.
    ``[B, L, D] -> [B, L, D]``; also the new ``(k, v)`` and both attention weights."""
    x, new_kv, self_weights = self_attention_block(x, layer, n_head, self_bias, past)
    x, cross_weights = cross_attention_block(x, layer, n_head, cross_kv, cross_bias)
    return feed_forward_block(x, layer, activation), new_kv, self_weights, cross_weights


def embed_tokens(params: dict, config, input_ids: np.ndarray, past: int) -> np.ndarray:
    """Token ids ``[B, L]`` -> embeddings ``x sqrt(D)`` plus positions ``[B, L, D]``;
    ``past`` tokens came before (their positions are taken)."""
    dec = params["model"]["decoder"]
    embed = dec["embed_tokens"]["weight"]  # [V, D]
    x = embed[input_ids]  # [B, L, D]
    if config.scale_embedding:
        x = x * embed.dtype.type(np.sqrt(config.d_model))
    positions = dec["embed_positions"]["weights"]  # [max_target_positions + 2, D]
    return x + positions[position_ids(input_ids != config.pad_token_id, config.pad_token_id, past)]


def decode(
    params: dict,
    config,
    input_ids: np.ndarray,
    cache: KVCache,
    encoder_mask: np.ndarray | None = None,
    decoder_attention_mask: np.ndarray | None = None,
) -> dict:
    """New token ids ``[B, L]`` -> logits ``[B, L, V]`` and the cache extended by ``L``.

    Args:
        cache: from :func:`init_cache` (no tokens yet) or a previous ``decode``.
        encoder_mask: ``[B, S]`` 1 on real encoder frames (``encode(...)["mask"]``).
        decoder_attention_mask: ``[B, P + L]`` 1 on real tokens, over past and new ones.
    Returns a dict with ``logits``, ``cache``, ``hidden_states`` (the embedded input, each
    layer's output, and last the normalised output), ``self_attentions`` and
    ``cross_attentions`` (each layer's ``[B, H, L, P + L]`` and ``[B, H, L, S]``).
    """
    dec = params["model"]["decoder"]
    past, length = cache.length, input_ids.shape[1]
    x = embed_tokens(params, config, input_ids, past)  # [B, L, D]
    dtype = x.dtype
    self_bias = causal_bias(past, length, decoder_attention_mask, dtype)  # [B|1, 1, L, P + L]
    cross_bias = key_padding_bias(encoder_mask, dtype)  # [B, 1, 1, S] or None
    activation = ACTIVATIONS[config.activation_function]
    new_self_kv, hidden_states, self_attentions, cross_attentions = [], [], [], []
    for layer, layer_past, cross_kv in zip(dec["layers"], cache.self_kv, cache.cross_kv):
        hidden_states.append(x)
        x, kv, self_w, cross_w = decoder_layer(
            x, layer, config.decoder_attention_heads, self_bias, layer_past, cross_kv, cross_bias, activation
        )
        new_self_kv.append(kv)
        self_attentions.append(self_w)
        cross_attentions.append(cross_w)
    x = layer_norm(x, **dec["layer_norm"])  # [B, L, D]
    return {
        "logits": lm_head(params, x),
        "cache": KVCache(tuple(new_self_kv), cache.cross_kv),
        "hidden_states": hidden_states + [x],
        "self_attentions": self_attentions,
        "cross_attentions": cross_attentions,
    }


def lm_head(params: dict, x: np.ndarray) -> np.ndarray:
    """Decoder states ``[B, L, D]`` -> vocabulary logits ``[B, L, V]`` (no bias)."""
    return x @ params["lm_head"]["weight"].T  # [B, L, D] @ [D, V]


# --- training-side helpers -----------------------------------------------------------------


def shift_tokens_right(labels: np.ndarray, pad_token_id: int, decoder_start_token_id: int):
    """Teacher forcing: the decoder input is the labels moved one step right, starting with
    the start token; ignored labels (-100) become padding."""
    labels = np.asarray(labels)
    shifted = np.empty_like(labels)
    shifted[:, 1:] = labels[:, :-1]
    shifted[:, 0] = decoder_start_token_id
    return np.where(shifted == IGNORE_INDEX, pad_token_id, shifted)


def cross_entropy(logits: np.ndarray, labels: np.ndarray, label_smoothing: float = 0.0) -> float:
    """Mean negative log-likelihood of ``labels [B, L]`` under ``logits [B, L, V]``,
    skipping positions labelled -100 (as ``torch.nn.CrossEntropyLoss`` does; with every
    label skipped the mean is 0 / 0 = NaN there and here).

    With ``label_smoothing = ε`` the target is ``(1 - ε) onehot + ε / V``, so each
    position's loss is ``(1 - ε) (-log p[label]) + ε mean_c(-log p_c)`` (torch's
    ``label_smoothing``); its gradient is :func:`minis2t.reference.grad.cross_entropy_backward`."""
    labels = np.asarray(labels)
    keep = labels != IGNORE_INDEX  # [B, L]
    log_probs = log_softmax(logits)  # [B, L, V]
    picked = np.take_along_axis(log_probs, np.where(keep, labels, 0)[..., None], axis=-1)[..., 0]  # [B, L]
    per_token = -picked
    if label_smoothing:
        per_token = (1 - label_smoothing) * per_token - label_smoothing * log_probs.mean(axis=-1)
    with np.errstate(invalid="ignore"):
        return float((per_token * keep).sum() / keep.sum())
