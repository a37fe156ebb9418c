"""The Speech2Text network as pure functions over a nested dict of weights.

``nest(weights)`` turns the checkpoint's flat names into a tree, so
``params["model"]["encoder"]["layers"][3]["fc1"]["weight"]`` is
``model.encoder.layers.3.fc1.weight`` and each function takes just its own sub-tree.

The data path (``B`` batch, ``T`` feature frames, ``F`` mel bins, ``S`` encoder frames,
``D`` d_model, ``L`` tokens, ``V`` vocabulary)::

    features [B, T, F] --conv_subsampler--> [B, S, D]          S = T halved per conv layer
      x sqrt(D) + positions --encoder_layer x N--> layer_norm   encoder states [B, S, D]
    token ids [B, L] --embed x sqrt(D) + positions--> decoder_layer x M --> layer_norm
      --> lm_head --> logits [B, L, V]

Everything is inference: dropout and LayerDrop are the identity. The decoder's state — the
keys and values of past tokens — is a :class:`KVCache` value passed in and returned.
"""

from __future__ import annotations

import functools
from typing import NamedTuple

import numpy as np

from .config import ModelConfig
from .errors import InputTooLongError, ModelInputError
from .nn import (
    ACTIVATIONS,
    attention,
    conv1d,
    glu,
    keys_layout,
    layer_norm,
    linear,
    log_softmax,
    mask_bias,
    merge_heads,
    sinusoidal_positions,
    split_heads,
)

POSITION_PADDING_IDX = 1  # fairseq: positions reuse the pad id; real positions start at 2
IGNORE_INDEX = -100  # label value that the loss skips (PyTorch's convention)


# --- weights ---------------------------------------------------------------------------


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


@functools.lru_cache(maxsize=8)
def position_table(num_positions: int, dim: int, dtype_name: str) -> np.ndarray:
    """The sinusoidal table with transformers' two extra rows (pad row 1), read-only."""
    table = sinusoidal_positions(num_positions + POSITION_PADDING_IDX + 1, dim,
                                 POSITION_PADDING_IDX, np.dtype(dtype_name))  # fmt: skip
    table.setflags(write=False)
    return table


# --- encoder -------------------------------------------------------------------------


def subsampled_lengths(lengths: np.ndarray, num_conv_layers: int) -> np.ndarray:
    """Frames left after the conv subsampler: each stride-2 layer maps ``L -> (L - 1) // 2 + 1``.

    This is the output length of a convolution with odd kernel ``k``, stride 2 and padding
    ``k // 2``, whatever ``k`` is."""
    lengths = np.asarray(lengths)
    for _ in range(num_conv_layers):
        lengths = (lengths - 1) // 2 + 1
    return lengths


def conv_subsampler(features: np.ndarray, conv_layers: list[dict],
                    kernel_sizes: tuple[int, ...]) -> list[np.ndarray]:  # fmt: skip
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


def frame_mask(attention_mask: np.ndarray | None, batch: int, num_frames: int,
               num_conv_layers: int) -> np.ndarray:  # fmt: skip
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
    None when nothing is padded (adding zeros would be a no-op)."""
    if mask is None or np.all(mask):
        return None
    return mask_bias(np.asarray(mask), dtype)[:, None, None, :]


def causal_bias(past: int, length: int, decoder_attention_mask, dtype) -> np.ndarray:
    """Decoder self-attention: query ``i`` (absolute position ``past + i``) may see keys
    ``0 .. past + i``, and only real tokens if a mask ``[B, P + L]`` is given.
    Returns ``[B|1, 1, L, P + L]``."""
    causal = np.arange(past + length)[None, :] <= past + np.arange(length)[:, None]  # [L, P+L]
    allowed = causal[None, :, :]  # [1, L, P+L]
    if decoder_attention_mask is not None:
        allowed = allowed & np.asarray(decoder_attention_mask, bool)[:, None, :]  # [B, L, P+L]
    return mask_bias(allowed, dtype)[:, None]


def position_ids(real: np.ndarray, past_length: int = 0) -> np.ndarray:
    """Position ids from a 0/1 "is real" mask ``[B, L]``: real tokens count up from
    ``padding_idx + 1 + past_length``, padding gets ``padding_idx`` (the zero row)."""
    real = real.astype(np.int64)
    return (np.cumsum(real, axis=1) + past_length) * real + POSITION_PADDING_IDX


def self_attention_block(x, layer: dict, n_head: int, bias, past=None, need_weights: bool = True):
    """Pre-LN self-attention with its residual: ``[B, L, D] -> [B, L, D]``.

    ``past`` is ``(k, v)`` of earlier positions ``[B, H, P, Dh]`` (decoder) or None. Returns
    ``(y, (k, v) including the new positions, attention weights [B, H, L, P + L])``, the
    weights None unless ``need_weights``."""
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
    """Pre-LN attention from decoder positions to the encoder states, with residual.

    ``kv`` are the encoder states' keys and values ``[B, H, S, Dh]``, computed once per
    utterance by :func:`cross_attention_kv`. Beam search keeps them once per utterance,
    not once per beam: ``x`` then holds ``K`` rows per utterance (``[B*K, L, D]``), and
    the ``K`` beams' queries become rows of one product against their utterance's keys."""
    p = layer["encoder_attn"]
    h = layer_norm(x, **layer["encoder_attn_layer_norm"])  # [B*K, L, D]
    q = split_heads(linear(h, **p["q_proj"]), n_head)  # [B*K, H, L, Dh]
    beams, rest = divmod(x.shape[0], kv[0].shape[0])
    if rest:
        raise ModelInputError(f"{x.shape[0]} decoder rows for the keys of {kv[0].shape[0]} utterances: the "
                              f"rows must be the same number of beams for each utterance.")  # fmt: skip
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
    """Pre-LN position-wise feed-forward with residual: ``D -> E -> D``."""
    h = layer_norm(x, **layer["final_layer_norm"])  # [B, L, D]
    h = activation(linear(h, **layer["fc1"]))  # [B, L, E]
    h = linear(h, **layer["fc2"])  # [B, L, D]
    h += x  # the residual, in place: h is our own array
    return h


def encoder_layer(x, layer: dict, n_head: int, bias, activation, need_weights: bool = True):
    """One pre-LN Transformer encoder layer: ``[B, S, D] -> [B, S, D]`` and its attention
    weights (None unless ``need_weights``)."""
    x, _, weights = self_attention_block(x, layer, n_head, bias, need_weights=need_weights)
    return feed_forward_block(x, layer, activation), weights


def encode(params: dict, config: ModelConfig, features: np.ndarray,
           attention_mask: np.ndarray | None = None, positions: np.ndarray | None = None,
           output_hidden_states: bool = False, output_attentions: bool = False) -> dict:  # fmt: skip
    """Features ``[B, T, F]`` (and their mask ``[B, T]``) -> encoder states ``[B, S, D]``.

    Returns a dict: ``last_hidden_state [B, S, D]``, ``mask [B, S]``; with
    ``output_hidden_states`` also ``conv_outputs`` (each conv layer) and ``hidden_states``
    (the embedded input, then each layer's output); with ``output_attentions`` the
    ``attentions`` ``[B, H, S, S]`` of each layer. ``positions`` overrides the computed
    sinusoidal table (the parity harness passes transformers' own).
    """
    enc = params["model"]["encoder"]
    b, t, f = features.shape
    if f != config.input_feat_per_channel * config.input_channels:
        raise ModelInputError(
            f"features have {f} bins per frame; this model takes "
            f"{config.input_feat_per_channel * config.input_channels}."
        )
    s = int(subsampled_lengths(t, config.num_conv_layers))
    if s > config.max_source_positions:
        seconds = config.max_source_positions * 2**config.num_conv_layers / 100
        raise InputTooLongError(
            f"{t} feature frames ({t / 100:.1f} s) give {s} encoder positions, more than the "
            f"model's max_source_positions ({config.max_source_positions}). Split the audio "
            f"into pieces shorter than {seconds:.0f} s, or use Speech2Text.transcribe_long "
            f"(or the minis2t command), which cuts recordings of any length at pauses."
        )
    dtype = features.dtype
    conv_outputs = conv_subsampler(features, enc["conv"]["conv_layers"], config.conv_kernel_sizes)
    x = conv_outputs[-1]  # [B, S, D]
    if config.scale_embedding:
        x = x * dtype.type(np.sqrt(config.d_model))
    mask = frame_mask(attention_mask, b, s, config.num_conv_layers)  # [B, S]
    if positions is None:
        positions = position_table(config.max_source_positions, config.d_model, dtype.name)
    x = x + positions[position_ids(mask)]  # [B, S, D]
    bias = key_padding_bias(mask, dtype)
    activation = ACTIVATIONS[config.activation_function]
    # Each layer's attention weights are [B, H, S, S]: 576 MB per layer for 240 s at
    # s2t-small's size. They are kept only when asked for; otherwise a layer frees its
    # scores as soon as it is done with them (and a large batch works item by item, see
    # nn.attention), so memory holds one layer's worth at a time.
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


# --- decoder -----------------------------------------------------------------------------


class KVCache(NamedTuple):
    """The decoder's state between steps, as plain data.

    ``self_kv[i] = (k, v)``, ``[B, H, P, Dh]``: keys and values of the ``P`` tokens seen
    so far by self-attention in layer ``i``. ``cross_kv[i] = (k, v)``, ``[B, H, S, Dh]``:
    the encoder states projected once for layer ``i``'s cross-attention.
    """

    self_kv: tuple
    cross_kv: tuple

    @property
    def length(self) -> int:
        return 0 if not self.self_kv or self.self_kv[0] is None else self.self_kv[0][0].shape[2]

    def reorder(self, index: np.ndarray) -> "KVCache":
        """Pick rows of the batch (beam search keeps the beams it continues)."""
        return KVCache(tuple((k[index], v[index]) for k, v in self.self_kv), self.cross_kv)


def cross_attention_kv(params: dict, config: ModelConfig, encoder_states: np.ndarray) -> tuple:
    """Each decoder layer's cross-attention keys and values, ``[B, H, S, Dh]`` each."""
    n_head = config.decoder_attention_heads
    return tuple(
        (keys_layout(split_heads(linear(encoder_states, **layer["encoder_attn"]["k_proj"]), n_head)),
         split_heads(linear(encoder_states, **layer["encoder_attn"]["v_proj"]), n_head))
        for layer in params["model"]["decoder"]["layers"]
    )  # fmt: skip


def init_cache(params: dict, config: ModelConfig, encoder_states: np.ndarray) -> KVCache:
    """An empty self-attention cache and the cross-attention keys and values."""
    empty = (None,) * config.decoder_layers
    return KVCache(empty, cross_attention_kv(params, config, encoder_states))


def decoder_layer(x, layer: dict, n_head: int, self_bias, past, cross_kv, cross_bias, activation):
    """One pre-LN decoder layer: causal self-attention, cross-attention, feed-forward."""
    x, new_kv, self_weights = self_attention_block(x, layer, n_head, self_bias, past)
    x, cross_weights = cross_attention_block(x, layer, n_head, cross_kv, cross_bias)
    return feed_forward_block(x, layer, activation), new_kv, self_weights, cross_weights


def decode(params: dict, config: ModelConfig, input_ids: np.ndarray, cache: KVCache,
           encoder_mask: np.ndarray | None = None, decoder_attention_mask: np.ndarray | None = None,
           positions: np.ndarray | None = None, output_hidden_states: bool = False,
           output_attentions: bool = False) -> dict:  # fmt: skip
    """New token ids ``[B, L]`` -> logits ``[B, L, V]`` and the cache extended by ``L``.

    Args:
        cache: from :func:`init_cache` (no tokens yet) or a previous ``decode``.
        encoder_mask: ``[B, S]`` 1 on real encoder frames (``encode(...)["mask"]``).
        decoder_attention_mask: ``[B, P + L]`` 1 on real tokens, over past and new ones.
    Returns a dict with ``logits``, ``cache``, and with the flags ``hidden_states`` (the
    embedded input, then each layer's output), ``self_attentions``, ``cross_attentions``.
    """
    dec = params["model"]["decoder"]
    input_ids = np.asarray(input_ids)
    b, length = input_ids.shape
    past = cache.length
    if past + length > config.max_target_positions:
        raise InputTooLongError(
            f"{past + length} decoder positions exceed max_target_positions "
            f"({config.max_target_positions}); ask for fewer tokens."
        )
    embed = dec["embed_tokens"]["weight"]  # [V, D]
    if input_ids.min(initial=0) < 0 or input_ids.max(initial=0) >= embed.shape[0]:
        raise ModelInputError(f"token ids must lie in [0, {embed.shape[0]}).")
    dtype = embed.dtype
    x = embed[input_ids]  # [B, L, D]
    if config.scale_embedding:
        x = x * dtype.type(np.sqrt(config.d_model))
    if positions is None:
        positions = position_table(config.max_target_positions, config.d_model, dtype.name)
    x = x + positions[position_ids(input_ids != config.pad_token_id, past)]  # [B, L, D]

    self_bias = causal_bias(past, length, decoder_attention_mask, dtype)
    cross_bias = key_padding_bias(encoder_mask, dtype)

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
    x = layer_norm(x, **dec["layer_norm"])  # [B, L, D]
    out = {"logits": lm_head(params, x), "cache": KVCache(tuple(new_self_kv), cache.cross_kv)}
    if output_hidden_states:
        out["hidden_states"] = hidden_states
    if output_attentions:
        out.update(self_attentions=self_attentions, cross_attentions=cross_attentions)
    return out


def lm_head(params: dict, x: np.ndarray) -> np.ndarray:
    """Decoder states ``[B, L, D]`` -> vocabulary logits ``[B, L, V]`` (no bias)."""
    return x @ params["lm_head"]["weight"].T


# --- training-side helpers -----------------------------------------------------------------


def shift_tokens_right(labels: np.ndarray, pad_token_id: int, decoder_start_token_id: int):
    """Teacher forcing: the decoder input is the labels moved one step right, starting with
    the start token; ignored labels (-100) become padding."""
    labels = np.asarray(labels)
    shifted = np.empty_like(labels)
    shifted[:, 1:] = labels[:, :-1]
    shifted[:, 0] = decoder_start_token_id
    return np.where(shifted == IGNORE_INDEX, pad_token_id, shifted)


def cross_entropy(logits: np.ndarray, labels: np.ndarray) -> float:
    """Mean negative log-likelihood of ``labels [B, L]`` under ``logits [B, L, V]``,
    skipping positions labelled -100 (as ``torch.nn.CrossEntropyLoss`` does; with every
    label skipped the mean is 0 / 0 = NaN there and here)."""
    labels = np.asarray(labels)
    keep = labels != IGNORE_INDEX  # [B, L]
    log_probs = log_softmax(logits)  # [B, L, V]
    picked = np.take_along_axis(log_probs, np.where(keep, labels, 0)[..., None], axis=-1)[..., 0]
    with np.errstate(invalid="ignore"):
        return float(-(picked * keep).sum() / keep.sum())
