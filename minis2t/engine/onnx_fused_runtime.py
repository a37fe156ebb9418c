"""The fused graphs (:mod:`minis2t.app.onnx_fused`) in onnxruntime sessions: a runtime
(:class:`minis2t.engine.runtime.Runtime`) whose decoder writes its self-attention cache in
place.

The cache (:class:`BufferCache`) is a buffer per layer and kind, ``[N, H, M, W]``
(``W`` the head width rounded up to a multiple of 8,
:func:`~minis2t.engine.onnx_format.cache_head_dim`), allocated at an utterance's first
step with room for ``FIRST_CAPACITY`` tokens and doubled when full. Each ``decode`` binds
every buffer as both the graph's ``past_*`` input and its ``present_*`` output
(onnxruntime's I/O binding): GroupQueryAttention writes the new positions into it where
they belong, nothing is concatenated or copied. ``reorder`` (beam search following its
beams) gathers the rows into a second set of buffers and swaps the two. A cache is spent
by the call it is passed to — ``decode`` writes into its buffers, ``reorder`` into the
spare ones — as every search and every caller in minis2t uses a cache.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ..errors import ModelInputError, OnnxModelError
from .onnx_format import (
    GRAPHS,
    attention_names,
    cache_head_dim,
    check_digests,
    check_graph,
    cross_names,
    past_names,
    present_names,
    read_manifest,
)
from .onnx_runtime import decoder_ids, run_encoder

FIRST_CAPACITY = 32  # cache positions allocated at an utterance's first step; doubled when full


class BufferCache:
    """The fused decoder's state: ``keys``, ``values`` (per layer ``[N, H, M, Dh]``
    buffers, the first ``length`` positions filled; None before the first step),
    ``cross`` (per layer and kind ``[B, H, S, Dh]``, once per utterance) and ``spare``
    (buffers of the same shape that :meth:`reorder` gathers into, then swaps)."""

    def __init__(self, keys, values, length: int, cross: list, spare=None):
        self.keys, self.values, self.length, self.cross, self.spare = keys, values, length, cross, spare

    def reorder(self, rows) -> "BufferCache":
        """Follow the beams: row ``j`` becomes row ``rows[j]``. Rows stay within each
        utterance's beams (as both searches' do), so the cross keys stay as they are."""
        rows = np.asarray(rows)
        if self.keys is None or np.array_equal(rows, np.arange(len(rows))):
            return self
        if self.spare is None or self.spare[0][0].shape != self.keys[0].shape:
            self.spare = [(np.empty_like(k), np.empty_like(v)) for k, v in zip(self.keys, self.values)]
        for (k, v), (k2, v2) in zip(zip(self.keys, self.values), self.spare):
            np.take(k, rows, axis=0, out=k2)
            np.take(v, rows, axis=0, out=v2)
        old = list(zip(self.keys, self.values))
        return BufferCache([k for k, _ in self.spare], [v for _, v in self.spare], self.length, self.cross, old)


class FusedRuntime:
    """The fused graphs in onnxruntime sessions, behind ``encode``, ``init_cache`` and
    ``decode``. ``graphs`` maps each role to a ModelProto, serialised bytes or a path."""

    name = "onnxruntime"
    dtype = np.dtype(np.float32)  # what the graphs compute in (features are cast to it)

    def __init__(self, graphs: dict, config, threads: int | None = None, load_weights=None):
        import onnxruntime as ort

        options = ort.SessionOptions()
        if threads is not None:
            options.intra_op_num_threads, options.inter_op_num_threads = threads, 1
        options.log_severity_level = 3
        self.config, self.ort = config, ort
        self.directory, self.quantize = None, None
        self.sessions = {}
        for role, graph in graphs.items():
            source = graph.SerializeToString() if hasattr(graph, "SerializeToString") else str(graph)
            try:
                self.sessions[role] = ort.InferenceSession(source, options, providers=["CPUExecutionProvider"])
            except Exception as e:  # onnxruntime's own error types
                raise OnnxModelError(f"onnxruntime cannot load the fused {role} graph: {str(e)[:300]}") from None
        self._load_weights, self._weights, self._params = load_weights, None, None
        self.layers = config.decoder_layers
        self._names = (cross_names(self.layers), past_names(self.layers), present_names(self.layers),
                       attention_names(self.layers))  # fmt: skip

    @classmethod
    def from_directory(cls, directory, config, threads: int | None = None) -> "FusedRuntime":
        """An exported directory of fused graphs (``minis2t export-onnx --fused``), checked
        as :class:`~minis2t.engine.onnx_runtime.OnnxRuntime` checks its directory."""
        directory = Path(directory)
        manifest = read_manifest(directory)
        paths = {role: directory / name for role, name in GRAPHS.items()}
        for role, path in paths.items():
            if not path.is_file():
                raise OnnxModelError(f"{path} is missing: an exported directory holds {', '.join(GRAPHS.values())}.")
        check_digests(directory, manifest)
        runtime = cls(paths, config, threads)
        for role, name in GRAPHS.items():
            check_graph(runtime.sessions[role], role, name, config, manifest)
        runtime.directory, runtime.quantize = directory, manifest.get("quantize")
        return runtime

    @property
    def weights(self) -> dict | None:
        """The checkpoint's NumPy arrays, read when first asked for (None where the
        runtime was made from graphs alone): the graphs hold their own copy."""
        if self._weights is None and self._load_weights is not None:
            self._weights = self._load_weights()
        return self._weights

    @property
    def params(self) -> dict | None:
        """:attr:`weights` nested as the model functions read them (sharing their arrays)."""
        from ..reference.model import nest

        if self._params is None and self.weights is not None:
            self._params = nest(self.weights)
        return self._params

    def encode(self, features, attention_mask=None, output_hidden_states=False, output_attentions=False) -> dict:
        if output_hidden_states or output_attentions:
            raise ModelInputError("the ONNX runtime gives the encoder's output only, not its hidden "
                                  "states or attention weights: load the model with runtime='numpy' "
                                  "for those.")  # fmt: skip
        return run_encoder(self.sessions["encoder"], self.config, features, attention_mask)

    def init_cache(self, encoder_states) -> BufferCache:
        cross = self.sessions["cross_kv"].run(None, {"encoder_states": np.ascontiguousarray(encoder_states, np.float32)})
        return BufferCache(None, None, 0, cross)

    def decode(self, input_ids, cache: BufferCache, encoder_mask=None, decoder_attention_mask=None,
               output_hidden_states=False, output_attentions=False) -> dict:  # fmt: skip
        if decoder_attention_mask is not None or output_hidden_states:
            raise ModelInputError("the ONNX runtime takes no decoder_attention_mask and gives no hidden "
                                  "states: load the model with runtime='numpy' for those.")  # fmt: skip
        c = self.config
        ids = decoder_ids(c, input_ids, cache.length)
        n, length = ids.shape
        utterances = cache.cross[0].shape[0]
        if n % utterances:
            raise ModelInputError(f"{n} decoder rows for the keys of {utterances} utterances: the rows must "
                                  f"be the same number of beams for each utterance.")  # fmt: skip
        if encoder_mask is None:  # every encoder frame real
            encoder_mask = np.ones((n, cache.cross[0].shape[2]), np.int64)
        mask = np.ascontiguousarray(np.asarray(encoder_mask, np.int64)[:: n // utterances])  # one row per utterance
        if cache.length and length > 1 and n > 1:  # onnxruntime's kernel takes one token a row after the first step
            return self._token_by_token(ids, cache, encoder_mask, output_attentions)
        cache = self._room_for(cache, n, length)
        return self._step(ids, cache, mask, output_attentions)

    def _room_for(self, cache: BufferCache, n: int, length: int) -> BufferCache:
        """Buffers with room for ``length`` more positions: allocated at the first step,
        doubled (and the filled part copied) when full."""
        c = self.config
        heads = c.decoder_attention_heads
        need = cache.length + length
        have = 0 if cache.keys is None else cache.keys[0].shape[2]
        if need <= have:
            return cache
        capacity = min(c.max_target_positions, max(FIRST_CAPACITY, need, 2 * have))
        shape = (n, heads, capacity, cache_head_dim(c))
        keys, values = [], []
        for i in range(self.layers):
            k, v = np.zeros(shape, np.float32), np.zeros(shape, np.float32)
            if have:
                k[:, :, : cache.length] = cache.keys[i][:, :, : cache.length]
                v[:, :, : cache.length] = cache.values[i][:, :, : cache.length]
            keys.append(k)
            values.append(v)
        return BufferCache(keys, values, cache.length, cache.cross)

    def _step(self, ids, cache: BufferCache, mask, output_attentions: bool) -> dict:
        cross_names, past_names, present_names, attention_names = self._names
        ort = self.ort
        io = self.sessions["decoder"].io_binding()
        io.bind_cpu_input("input_ids", np.ascontiguousarray(ids))
        io.bind_cpu_input("encoder_mask", mask)
        io.bind_cpu_input("past_length", np.array([cache.length], np.int64))
        io.bind_output("logits")  # outputs come back in the order they are bound
        buffers = [x for pair in zip(cache.keys, cache.values) for x in pair]
        for past, present, buf in zip(past_names, present_names, buffers):
            value = ort.OrtValue.ortvalue_from_numpy(buf)  # the same memory, read and written in place
            io.bind_ortvalue_input(past, value)
            io.bind_ortvalue_output(present, value)
        for name, x in zip(cross_names, cache.cross):
            io.bind_cpu_input(name, x)
        wanted = attention_names if output_attentions else []
        for name in wanted:
            io.bind_output(name)
        self.sessions["decoder"].run_with_iobinding(io)
        outputs = io.get_outputs()
        out = {"logits": outputs[0].numpy(),
               "cache": BufferCache(cache.keys, cache.values, cache.length + ids.shape[1], cache.cross, cache.spare)}
        if output_attentions:
            out["cross_attentions"] = [o.numpy() for o in outputs[1 + 2 * self.layers :]]
        return out

    def _token_by_token(self, ids, cache, encoder_mask, output_attentions):
        logits, attentions = [], []
        for i in range(ids.shape[1]):
            out = self.decode(ids[:, i : i + 1], cache, encoder_mask, output_attentions=output_attentions)
            cache = out["cache"]
            logits.append(out["logits"])
            attentions.append(out.get("cross_attentions"))
        out = {"logits": np.concatenate(logits, axis=1), "cache": cache}
        if output_attentions:
            out["cross_attentions"] = [np.concatenate(a, axis=2) for a in zip(*attentions)]
        return out
