"""The onnxruntime runtime: an exported ONNX directory (``minis2t export-onnx``) computes
the network, without torch. It is a runtime as :mod:`minis2t.engine.runtime` defines one
(the NumPy engine's :class:`~minis2t.engine.runtime.NumpyRuntime` is the other), so
features, both beam searches, long form, word timestamps and confidence stay minis2t's
NumPy code, the same whichever runtime :class:`minis2t.Speech2Text` was given::

    runtime.encode(features [B, T, F], mask [B, T])     -> {last_hidden_state [B, S, D], mask [B, S]}
    runtime.init_cache(states [B, S, D])                -> OnnxCache (cross keys/values, no tokens)
    runtime.decode(ids [N, L], cache, encoder_mask [N, S], output_attentions=False)
                                                        -> {logits [N, L, V], cache, cross_attentions}

``N = B * K`` decoder rows (``K`` beams, item-major). The graphs' inputs and outputs, and
the checks of a directory, are the format's (:mod:`minis2t.engine.onnx_format`).

The cache crosses the graph boundary as plain arrays: the self-attention keys and values
come out of one step as ``present_*`` and go into the next as ``past_*`` (one position
longer each step); the cross-attention keys and values are computed once per utterance by
``cross_kv.onnx`` and handed to every step unchanged. With ``K`` beams they are repeated
once per beam on the first step (onnxruntime's MatMul has no broadcast over a beam axis
that would share them, as the NumPy model's grouped product does).

A directory is checked when its runtime is made, before any audio is read: every graph
present, loadable by onnxruntime, of the role and the model that ``onnx_config.json`` and
``config.json`` say (each graph carries its model's fingerprint), with every input and
output the loop needs. Any failure is an :class:`~minis2t.errors.OnnxModelError`.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ..errors import InputTooLongError, ModelInputError, OnnxModelError
from ..reference.model import subsampled_lengths
from .runtime import check_threads
from .onnx_format import (GRAPHS, attention_names, check_digests, check_graph, cross_names, past_names, present_names,
                          read_manifest)


class OnnxCache:
    """The decoder's state between steps: ``self_kv`` (``2 * layers`` arrays ``[N, H, P,
    Dh]``, keys then values per layer; None before the first step) and ``cross_kv``
    (``[B or N, H, S, Dh]``: once per utterance until the first step repeats them per beam)."""

    def __init__(self, self_kv, cross_kv):
        self.self_kv, self.cross_kv = self_kv, cross_kv

    @property
    def length(self) -> int:
        return 0 if self.self_kv is None else self.self_kv[0].shape[2]

    def reorder(self, rows) -> "OnnxCache":
        """Pick decoder rows (beam search: the beams it continues). The rows must stay
        within each utterance's beams, as both searches' do: the cross keys and values of
        an utterance's beams are equal, so they are not reordered."""
        rows = np.asarray(rows)
        picked = None if self.self_kv is None else [x[rows] for x in self.self_kv]
        return OnnxCache(picked, self.cross_kv)


def require_onnxruntime():
    try:
        import onnxruntime
    except ImportError:
        raise OnnxModelError(
            'this is an exported ONNX directory, and running it needs onnxruntime: '
            'pip install "minis2t[onnx]".'
        ) from None
    return onnxruntime


class OnnxRuntime:
    """The encoder and decoder steps of an exported directory, in onnxruntime sessions: a
    :class:`minis2t.engine.runtime.Runtime`. ``config`` is the directory's model config
    (:class:`minis2t.ModelConfig`), ``threads`` onnxruntime's intra-op threads (None:
    all cores). The graphs hold the weights: :attr:`weights` is None."""

    name = "onnxruntime"
    dtype = np.dtype(np.float32)  # the graphs' (onnx_format.DTYPES)
    weights = None

    def __init__(self, directory, config, threads: int | None = None):
        ort = require_onnxruntime()
        self.directory, self.config = Path(directory), config
        manifest = read_manifest(self.directory)
        check_digests(self.directory, manifest)
        self.opset = manifest["opset"]
        options = ort.SessionOptions()
        threads = check_threads(threads)
        if threads is not None:
            options.intra_op_num_threads = threads
            options.inter_op_num_threads = 1
        options.log_severity_level = 3  # errors only: the checks below explain what is wrong
        self.sessions = {}
        for role, name in GRAPHS.items():
            self.sessions[role] = _session(ort, self.directory / name, options)
            check_graph(self.sessions[role], role, name, config, manifest)
        self.layers = config.decoder_layers

    # --- the three calls ---------------------------------------------------------------------

    def encode(self, features, attention_mask=None, output_hidden_states=False, output_attentions=False) -> dict:
        """Features ``[B, T, F]`` (mask ``[B, T]``, None: every frame real) ->
        ``{"last_hidden_state": [B, S, D], "mask": [B, S]}``."""
        if output_hidden_states or output_attentions:
            raise ModelInputError("an exported ONNX model gives the encoder's output only, not its "
                                  "hidden states or attention weights.")  # fmt: skip
        return run_encoder(self.sessions["encoder"], self.config, features, attention_mask)

    def init_cache(self, encoder_states) -> OnnxCache:
        """The cross-attention keys and values of ``encoder_states [B, S, D]``, no tokens yet."""
        cross = self.sessions["cross_kv"].run(None, {"encoder_states": np.ascontiguousarray(encoder_states, np.float32)})
        return OnnxCache(None, cross)

    def decode(self, input_ids, cache: OnnxCache, encoder_mask, decoder_attention_mask=None,
               output_hidden_states=False, output_attentions=False) -> dict:  # fmt: skip
        """New token ids ``[N, L]`` -> ``{"logits": [N, L, V], "cache": the cache grown by
        L}`` and, with ``output_attentions``, ``"cross_attentions"``: each layer's ``[N,
        H, L, S]``. The graphs take no decoder attention mask and give no hidden states."""
        if decoder_attention_mask is not None or output_hidden_states:
            raise ModelInputError("an exported ONNX model takes no decoder_attention_mask and gives "
                                  "no hidden states.")  # fmt: skip
        c = self.config
        ids = decoder_ids(c, input_ids, cache.length)
        n, length = ids.shape
        cross = _rows_for(cache.cross_kv, n)
        past = cache.self_kv
        if past is None:
            heads = c.decoder_attention_heads
            empty = np.zeros((n, heads, 0, c.d_model // heads), np.float32)
            past = [empty] * (2 * self.layers)
        feeds = {"input_ids": ids, "encoder_mask": np.asarray(encoder_mask, np.int64)}
        feeds.update(zip(past_names(self.layers), past))
        feeds.update(zip(cross_names(self.layers), cross))
        outputs = ["logits", *present_names(self.layers)]
        if output_attentions:
            outputs += attention_names(self.layers)
        logits, *rest = self.sessions["decoder"].run(outputs, feeds)
        out = {"logits": logits, "cache": OnnxCache(rest[: 2 * self.layers], cross)}
        if output_attentions:
            out["cross_attentions"] = rest[2 * self.layers :]
        return out


def _rows_for(cross: list, n: int) -> list:
    """Cross keys/values for ``n`` decoder rows: as they are, or each utterance's repeated
    for its ``n / B`` beams (item-major, as the searches lay out their rows)."""
    b = cross[0].shape[0]
    if b == n:
        return cross
    beams, rest = divmod(n, b)
    if rest:
        raise ModelInputError(f"{n} decoder rows for the keys of {b} utterances: the rows must be "
                              f"the same number of beams for each utterance.")  # fmt: skip
    return [np.repeat(x, beams, axis=0) for x in cross]


def _session(ort, path: Path, options):
    if not path.is_file():
        raise OnnxModelError(f"{path} is missing: an exported directory holds {', '.join(GRAPHS.values())}.")
    try:
        return ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
    except Exception as e:  # onnxruntime raises its own types: damaged file, unsupported opset, ...
        first = str(e).strip().splitlines()[0][:300] if str(e).strip() else type(e).__name__
        raise OnnxModelError(f"onnxruntime cannot load {path}: {first}") from None


def run_encoder(session, config, features, attention_mask=None) -> dict:
    """The encoder graph on features ``[B, T, F]`` (mask ``[B, T]``, None: every frame real),
    after the checks the NumPy engine makes: ``{"last_hidden_state": [B, S, D], "mask": [B, S]}``.
    Shared by the plain and the fused runtimes, whose encoder graphs take the same inputs."""
    b, t, f = features.shape
    if f != config.input_feat_per_channel * config.input_channels:
        raise ModelInputError(f"features have {f} bins per frame; this model takes "
                              f"{config.input_feat_per_channel * config.input_channels}.")  # fmt: skip
    s = int(subsampled_lengths(t, config.num_conv_layers))
    if s > config.max_source_positions:
        raise InputTooLongError(
            f"{t} feature frames ({t / 100:.1f} s) give {s} encoder positions, more than the "
            f"model's max_source_positions ({config.max_source_positions}); split the audio, or use "
            f"Speech2Text.transcribe_long (or the minis2t command)."
        )
    mask = np.ones((b, t), np.int64) if attention_mask is None else np.asarray(attention_mask, np.int64)
    states, encoder_mask = session.run(
        None, {"input_features": np.ascontiguousarray(features, np.float32), "attention_mask": mask})
    return {"last_hidden_state": states, "mask": encoder_mask}


def decoder_ids(config, input_ids, cached: int) -> np.ndarray:
    """``input_ids [N, L]`` as int64, checked as the NumPy engine checks them: ``cached + L``
    positions within ``max_target_positions``, every id in the vocabulary. Shared by the
    plain and the fused runtimes."""
    ids = np.asarray(input_ids, dtype=np.int64)
    if cached + ids.shape[1] > config.max_target_positions:
        raise InputTooLongError(f"{cached + ids.shape[1]} decoder positions exceed max_target_positions "
                                f"({config.max_target_positions}); ask for fewer tokens.")  # fmt: skip
    if ids.min(initial=0) < 0 or ids.max(initial=0) >= config.vocab_size:
        raise ModelInputError(f"token ids must lie in [0, {config.vocab_size}).")
    return ids
