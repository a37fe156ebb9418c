"""Run an exported ONNX directory (``minis2t export-onnx``) with onnxruntime, without torch.

The graphs replace the network only: features, both beam searches, long form and word
timestamps stay minis2t's NumPy code, which drives an :class:`OnnxRuntime` through the
same three calls as the NumPy model::

    runtime.encode(features [B, T, F], mask [B, T])     -> {last_hidden_state [B, S, D], mask [B, S]}
    runtime.init_cache(states [B, S, D])                -> OnnxCache (cross keys/values, no tokens)
    runtime.decode(ids [N, L], cache, encoder_mask [N, S], output_attentions=False)
                                                        -> {logits [N, L, V], cache, cross_attentions}

``N = B * K`` decoder rows (``K`` beams, item-major). The graphs' inputs and outputs, ``i``
a decoder layer, ``H`` its heads, ``Dh = D / H``::

    encoder.onnx   in:  input_features float [B, T, F], attention_mask int64 [B, T]
                   out: last_hidden_state float [B, S, D], encoder_mask int64 [B, S]
    cross_kv.onnx  in:  encoder_states float [B, S, D]
                   out: cross_key.i, cross_value.i float [B, H, S, Dh]
    decoder.onnx   in:  input_ids int64 [N, L], encoder_mask int64 [N, S],
                        past_key.i, past_value.i float [N, H, P, Dh]   (P = 0 at the first step)
                        cross_key.i, cross_value.i float [N, H, S, Dh]
                   out: logits float [N, L, V], present_key.i, present_value.i float [N, H, P + L, Dh],
                        cross_attention.i float [N, H, L, S]

The cache crosses the graph boundary as plain arrays: the self-attention keys and values
come out of one step as ``present_*`` and go into the next as ``past_*`` (one position
longer each step); the cross-attention keys and values are computed once per utterance by
``cross_kv.onnx`` and handed to every step unchanged. With ``K`` beams they are repeated
once per beam on the first step (onnxruntime's MatMul has no broadcast over a beam axis
that would share them, as the NumPy model's grouped product does).

A directory is checked when it is loaded, before any audio is read: every graph present,
loadable by onnxruntime, of the role and the model that ``onnx_config.json`` and
``config.json`` say (each graph carries its model's fingerprint), with every input and
output the loop needs. Any failure is an :class:`~minis2t.errors.OnnxModelError`.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from ..io.config import GenerationConfig, ModelConfig
from ..errors import ConfigError, InputTooLongError, ModelInputError, OnnxModelError
from ..reference.model import subsampled_lengths
from .onnx_export import (
    DTYPES,
    FORMAT_VERSION,
    GRAPHS,
    MANIFEST,
    MIN_OPSET,
    attention_names,
    config_fingerprint,
    cross_names,
    past_names,
    present_names,
)


def is_onnx_dir(path) -> bool:
    """Whether ``path`` is a directory written by ``minis2t export-onnx`` (it has the
    manifest ``onnx_config.json``)."""
    return Path(path).is_dir() and (Path(path) / MANIFEST).is_file()


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


def _require_onnxruntime():
    try:
        import onnxruntime
    except ImportError:
        raise OnnxModelError(
            'this is an exported ONNX directory, and running it needs onnxruntime: '
            'pip install "minis2t[onnx]".'
        ) from None
    return onnxruntime


class OnnxRuntime:
    """The encoder and decoder steps of an exported directory, in onnxruntime sessions:
    the runtime interface of :class:`minis2t.engine.runtime.NumpyRuntime`."""

    name = "onnxruntime"

    def __init__(self, directory, config: ModelConfig, threads: int | None = None):
        ort = _require_onnxruntime()
        self.directory, self.config = Path(directory), config
        manifest = read_manifest(self.directory)
        self.opset = manifest["opset"]
        options = ort.SessionOptions()
        if threads is not None:
            options.intra_op_num_threads = threads
            options.inter_op_num_threads = 1
        options.log_severity_level = 3  # errors only: the checks below explain what is wrong
        self.sessions = {}
        for role, name in GRAPHS.items():
            self.sessions[role] = _session(ort, self.directory / name, options)
            _check_graph(self.sessions[role], role, name, config, manifest)
        self.layers = config.decoder_layers

    @property
    def num_parameters(self) -> int:
        """The model's parameters, counted from its config (the graphs hold them as
        initialisers; a tied head counted once), as :attr:`Speech2Text.num_parameters`."""
        from ..io.checkpoint import TIED_HEAD, expected_shapes

        shapes = expected_shapes(self.config)
        if self.config.tie_word_embeddings:
            del shapes[TIED_HEAD]
        return int(sum(np.prod(shape) for shape in shapes.values()))

    # --- the three calls ---------------------------------------------------------------------

    def encode(self, features, attention_mask=None, output_hidden_states=False, output_attentions=False) -> dict:
        """Features ``[B, T, F]`` (mask ``[B, T]``, None: every frame real) ->
        ``{"last_hidden_state": [B, S, D], "mask": [B, S]}``."""
        if output_hidden_states or output_attentions:
            raise ModelInputError("an exported ONNX model gives the encoder's output only, not its "
                                  "hidden states or attention weights.")  # fmt: skip
        c = self.config
        b, t, f = features.shape
        if f != c.input_feat_per_channel * c.input_channels:
            raise ModelInputError(f"features have {f} bins per frame; this model takes "
                                  f"{c.input_feat_per_channel * c.input_channels}.")  # fmt: skip
        s = int(subsampled_lengths(t, c.num_conv_layers))
        if s > c.max_source_positions:
            raise InputTooLongError(
                f"{t} feature frames ({t / 100:.1f} s) give {s} encoder positions, more than the "
                f"model's max_source_positions ({c.max_source_positions}); split the audio, or use "
                f"Speech2Text.transcribe_long (or the minis2t command)."
            )
        mask = np.ones((b, t), np.int64) if attention_mask is None else np.asarray(attention_mask, np.int64)
        states, encoder_mask = self.sessions["encoder"].run(
            None, {"input_features": np.ascontiguousarray(features, np.float32), "attention_mask": mask})
        return {"last_hidden_state": states, "mask": encoder_mask}

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
        ids = np.asarray(input_ids, dtype=np.int64)
        n, length = ids.shape
        if cache.length + length > c.max_target_positions:
            raise InputTooLongError(f"{cache.length + length} decoder positions exceed max_target_positions "
                                    f"({c.max_target_positions}); ask for fewer tokens.")  # fmt: skip
        if ids.min(initial=0) < 0 or ids.max(initial=0) >= c.vocab_size:
            raise ModelInputError(f"token ids must lie in [0, {c.vocab_size}).")
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


# --- loading and checking a directory ---------------------------------------------------------


def read_manifest(directory: Path) -> dict:
    path = directory / MANIFEST
    try:
        manifest = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
        raise OnnxModelError(f"{path} is not readable JSON ({type(e).__name__}); re-export the model.") from None
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT_VERSION:
        raise OnnxModelError(f"{path}: format {manifest.get('format') if isinstance(manifest, dict) else None!r}, "
                             f"this minis2t reads format {FORMAT_VERSION}; re-export the model.")  # fmt: skip
    if manifest.get("dtype") not in DTYPES:
        raise OnnxModelError(f"{path}: dtype {manifest.get('dtype')!r}; this minis2t runs {', '.join(DTYPES)} graphs.")
    opset = manifest.get("opset")
    if isinstance(opset, bool) or not isinstance(opset, int) or opset < MIN_OPSET:
        raise OnnxModelError(f"{path}: opset {opset!r}; the graphs need opset {MIN_OPSET} or later.")
    if manifest.get("graphs") != GRAPHS:
        raise OnnxModelError(f"{path}: graphs {manifest.get('graphs')!r}, expected {GRAPHS}; re-export the model.")
    return manifest


def _session(ort, path: Path, options):
    if not path.is_file():
        raise OnnxModelError(f"{path} is missing: an exported directory holds {', '.join(GRAPHS.values())}.")
    try:
        return ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
    except Exception as e:  # onnxruntime raises its own types: damaged file, unsupported opset, ...
        first = str(e).strip().splitlines()[0][:300] if str(e).strip() else type(e).__name__
        raise OnnxModelError(f"onnxruntime cannot load {path}: {first}") from None


def expected_shapes(role: str, c: ModelConfig) -> tuple[dict, dict]:
    """``({input: shape}, {output: shape})``, None for a dynamic size."""
    layers, heads = c.decoder_layers, c.decoder_attention_heads
    head = c.d_model // heads
    kv = [None, heads, None, head]
    if role == "encoder":
        return ({"input_features": [None, None, c.input_feat_per_channel * c.input_channels],
                 "attention_mask": [None, None]},
                {"last_hidden_state": [None, None, c.d_model], "encoder_mask": [None, None]})  # fmt: skip
    if role == "cross_kv":
        return {"encoder_states": [None, None, c.d_model]}, {n: kv for n in cross_names(layers)}
    inputs = {"input_ids": [None, None], "encoder_mask": [None, None]}
    inputs |= {n: kv for n in past_names(layers) + cross_names(layers)}
    outputs = {"logits": [None, None, c.vocab_size]} | {n: kv for n in present_names(layers)}
    outputs |= {n: [None, heads, None, None] for n in attention_names(layers)}
    return inputs, outputs


CACHE_WORDS = {"past": "the self-attention cache", "present": "the self-attention cache",
               "cross_key": "the cross-attention keys", "cross_value": "the cross-attention values",
               "cross_attention": "the cross-attention weights (word timestamps)"}  # fmt: skip


def _check_graph(session, role: str, name: str, c: ModelConfig, manifest: dict) -> None:
    """The graph's role and model (from its metadata), and every input and output the
    decoding loop needs, with the sizes ``config.json`` gives."""
    meta = session.get_modelmeta().custom_metadata_map
    if meta.get("minis2t.role") != role:
        raise OnnxModelError(f"{name} is not minis2t's {role} graph (its role is "
                             f"{meta.get('minis2t.role')!r}); re-export the model.")  # fmt: skip
    if meta.get("minis2t.config") != manifest.get("config") or manifest.get("config") != config_fingerprint(c):
        raise OnnxModelError(f"{name} was exported from another model than this directory's config.json "
                             f"(fingerprints {meta.get('minis2t.config')}, {config_fingerprint(c)}); "
                             f"re-export the model into an empty directory.")  # fmt: skip
    if meta.get("minis2t.opset", str(manifest["opset"])) != str(manifest["opset"]):
        raise OnnxModelError(f"{name} has opset {meta.get('minis2t.opset')}, {MANIFEST} says {manifest['opset']}.")
    inputs, outputs = expected_shapes(role, c)
    for kind, expected, found in (("input", inputs, session.get_inputs()), ("output", outputs, session.get_outputs())):
        have = {x.name: x for x in found}
        for wanted, shape in expected.items():
            if wanted not in have:
                what = next((w for k, w in CACHE_WORDS.items() if wanted.startswith(k)), None)
                raise OnnxModelError(f"{name} lacks the {kind} {wanted!r}" + (f" ({what})" if what else "")
                                     + "; re-export the model.")  # fmt: skip
            got = have[wanted].shape
            fixed_ok = len(got) == len(shape) and all(
                e is None or not isinstance(g, int) or g == e for g, e in zip(got, shape))  # fmt: skip
            if not fixed_ok:
                raise OnnxModelError(f"{name}: {kind} {wanted!r} has shape {got}, this directory's config.json "
                                     f"gives {['*' if e is None else e for e in shape]}.")  # fmt: skip


def load_onnx_dir(directory, threads: int | None = None):
    """``(config, generation_config, feature_extractor | None, tokenizer | None, runtime)``
    of an exported directory, everything checked."""
    from ..io.features import FeatureExtractor
    from ..io.tokenizer import Tokenizer

    directory = Path(directory)
    if not (directory / "config.json").is_file():
        raise ConfigError(f"{directory} has {MANIFEST} but no config.json; re-export the model.")
    config = ModelConfig.from_pretrained(directory)
    runtime = OnnxRuntime(directory, config, threads)
    has = lambda *names: any((directory / n).is_file() for n in names)  # noqa: E731
    extractor = (FeatureExtractor.from_pretrained(directory)
                 if has("preprocessor_config.json", "processor_config.json") else None)  # fmt: skip
    tokenizer = Tokenizer.from_pretrained(directory) if has("vocab.json") else None
    return config, GenerationConfig.from_pretrained(directory), extractor, tokenizer, runtime
