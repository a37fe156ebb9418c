"""The exported ONNX directory's format, in one place: file names, the graphs' input and
output names with their shapes, the manifest, each graph's metadata, and the checks a
directory passes before it runs.

Both sides import it: :mod:`minis2t.app.onnx_export` (and the graphs it traces,
:mod:`minis2t.app.onnx_graphs`) writes the format, :mod:`minis2t.engine.onnx_runtime`
reads it. Nothing here imports onnx, onnxruntime or torch; the checks take an
onnxruntime session that the runtime made.

A directory (``i`` a decoder layer, ``H`` its heads, ``Dh = D / H``, ``N = B * K``
decoder rows)::

    encoder.onnx   in:  input_features float [B, T, F], attention_mask int64 [B, T]
                   out: last_hidden_state float [B, S, D], encoder_mask int64 [B, S]
    cross_kv.onnx  in:  encoder_states float [B, S, D]
                   out: cross_key.i, cross_value.i float [B, H, S, Dh]
    decoder.onnx   in:  input_ids int64 [N, L], encoder_mask int64 [N, S],
                        past_key.i, past_value.i float [N, H, P, Dh]   (P = 0 at the first step)
                        cross_key.i, cross_value.i float [N, H, S, Dh]
                   out: logits float [N, L, V], present_key.i, present_value.i float [N, H, P + L, Dh],
                        cross_attention.i float [N, H, L, S]
    onnx_config.json (the manifest), config.json, generation_config.json,
    preprocessor_config.json, vocab.json, sentencepiece.bpe.model, tokenizer_config.json

Each graph carries its role, its model's fingerprint (:func:`config_fingerprint`), the
format version and the opset in its metadata (:func:`graph_metadata`), so a graph copied
from another model or another export is recognised when the directory is read.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

from ..errors import OnnxModelError
from ..jsonfile import read_json_file

FORMAT_VERSION = 1
DEFAULT_OPSET = 18
MIN_OPSET = 17  # LayerNormalization is an ONNX operator from opset 17
DTYPES = ("float32",)
GRAPHS = {"encoder": "encoder.onnx", "cross_kv": "cross_kv.onnx", "decoder": "decoder.onnx"}
MANIFEST = "onnx_config.json"


# --- names of the graphs' inputs and outputs ------------------------------------------------


def cross_names(layers: int) -> list[str]:
    return [f"cross_{kind}.{i}" for i in range(layers) for kind in ("key", "value")]


def past_names(layers: int) -> list[str]:
    return [f"past_{kind}.{i}" for i in range(layers) for kind in ("key", "value")]


def present_names(layers: int) -> list[str]:
    return [f"present_{kind}.{i}" for i in range(layers) for kind in ("key", "value")]


def attention_names(layers: int) -> list[str]:
    return [f"cross_attention.{i}" for i in range(layers)]


KINDS = ("plain", "fused")  # the graphs' kind: plain (one node per reference operation) or fused (#42)
QUANTIZED = (None, "int8")


def cache_head_dim(c) -> int:
    """The fused decoder's cache head width: ``Dh`` rounded up to a multiple of 8, which
    onnxruntime's GroupQueryAttention requires (the extra columns are zeros)."""
    return -(-(c.d_model // c.decoder_attention_heads) // 8) * 8


def expected_shapes(role: str, c, kind: str = "plain") -> tuple[dict, dict]:
    """``({input: shape}, {output: shape})`` of the graph ``role`` of ``kind`` for the
    model config ``c``, None for a dynamic size. The fused decoder takes its cache as
    buffers ``[N, H, capacity, W]`` read and written in place (``past_length`` tokens
    filled) and each utterance's encoder mask once."""
    layers, heads = c.decoder_layers, c.decoder_attention_heads
    head = c.d_model // heads
    kv = [None, heads, None, head]
    if role == "decoder" and kind == "fused":
        buffer = [None, heads, None, cache_head_dim(c)]
        inputs = {"input_ids": [None, None], "encoder_mask": [None, None], "past_length": [1]}
        inputs |= {n: buffer for n in past_names(layers)} | {n: kv for n in cross_names(layers)}
        outputs = {"logits": [None, None, c.vocab_size]} | {n: buffer for n in present_names(layers)}
        outputs |= {n: [None, heads, None, None] for n in attention_names(layers)}
        return inputs, outputs
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


# --- what identifies a graph and a directory ---------------------------------------------------


def config_fingerprint(config) -> str:
    """A hash of the architecture and token ids (``config.json``'s known fields): a graph
    carries it, so a graph from another model is recognised when the directory is read."""
    values = {k: v for k, v in config.to_dict().items()
              if k in type(config).__dataclass_fields__ and k != "extra"}  # fmt: skip
    return hashlib.sha256(json.dumps(values, sort_keys=True, default=list).encode()).hexdigest()[:16]


def graph_metadata(role: str, config, opset: int) -> dict[str, str]:
    """The metadata the export writes into each graph (and :func:`check_graph` reads)."""
    return {"minis2t.role": role, "minis2t.config": config_fingerprint(config),
            "minis2t.format": str(FORMAT_VERSION), "minis2t.opset": str(opset)}  # fmt: skip


def manifest(config, opset: int, dtype: str, kind: str = "plain", quantize: str | None = None,
             digests: dict[str, str] | None = None) -> dict:  # fmt: skip
    """``onnx_config.json``'s content: what :func:`read_manifest` checks; ``digests``: each
    graph file's SHA-256 (:func:`graph_digests`), which :func:`check_digests` verifies."""
    return {"format": FORMAT_VERSION, "opset": opset, "dtype": dtype, "graphs": GRAPHS, "kind": kind,
            "quantize": quantize, "config": config_fingerprint(config), "sha256": digests,
            "exported_by": "minis2t export-onnx"}  # fmt: skip


def graph_digests(directory: Path) -> dict[str, str]:
    """The SHA-256 of each graph file in ``directory`` (read in 1 MiB pieces); a missing
    one is left out (the runtime names it)."""
    digests = {}
    for name in GRAPHS.values():
        if not (Path(directory) / name).is_file():
            continue
        sha = hashlib.sha256()
        with open(Path(directory) / name, "rb") as f:
            while piece := f.read(2**20):
                sha.update(piece)
        digests[name] = sha.hexdigest()
    return digests


def check_digests(directory: Path, found: dict) -> None:
    """Each graph file is the one the export wrote: its SHA-256 is the manifest's. A flipped
    bit in a weight leaves a graph onnxruntime loads and runs, giving other words in
    silence; this finds it. Directories exported before the checksums existed carry none
    and are read as they are."""
    expected = found.get("sha256")
    if expected is None:
        return
    path = Path(directory) / MANIFEST
    if not isinstance(expected, dict) or set(expected) != set(GRAPHS.values()) or not all(
            isinstance(v, str) for v in expected.values()):  # fmt: skip
        raise OnnxModelError(f"{path}: 'sha256' must name each graph file's checksum; re-export the model.")
    for name, digest in graph_digests(directory).items():
        if digest != expected[name]:
            raise OnnxModelError(f"{Path(directory) / name} is damaged: its SHA-256 is not the one {MANIFEST} "
                                 f"recorded when it was exported. Re-export the model.")  # fmt: skip


def is_onnx_dir(path) -> bool:
    """Whether ``path`` is a directory written by ``minis2t export-onnx`` (it has the
    manifest ``onnx_config.json``)."""
    return Path(path).is_dir() and (Path(path) / MANIFEST).is_file()


# --- the checks of a directory being read ------------------------------------------------------


def read_manifest(directory: Path) -> dict:
    """``directory``'s manifest, checked: format, dtype, opset and graph files this
    minis2t runs."""
    path = Path(directory) / MANIFEST
    found = read_json_file(path, OnnxModelError, " Re-export the model.")
    if not isinstance(found, dict) or found.get("format") != FORMAT_VERSION:
        raise OnnxModelError(f"{path}: format {found.get('format') if isinstance(found, dict) else None!r}, "
                             f"this minis2t reads format {FORMAT_VERSION}; re-export the model.")  # fmt: skip
    if found.get("dtype") not in DTYPES:
        raise OnnxModelError(f"{path}: dtype {found.get('dtype')!r}; this minis2t runs {', '.join(DTYPES)} graphs.")
    opset = found.get("opset")
    if isinstance(opset, bool) or not isinstance(opset, int) or opset < MIN_OPSET:
        found_as = "" if _is_int(opset) else f" (a JSON {_json_type(opset)}, not an integer)"
        raise OnnxModelError(f"{path}: opset {opset!r}{found_as}; the graphs need an integer opset, "
                             f"{MIN_OPSET} or later; re-export the model.")  # fmt: skip
    if found.get("graphs") != GRAPHS:
        raise OnnxModelError(f"{path}: graphs {found.get('graphs')!r}, expected {GRAPHS}; re-export the model.")
    found.setdefault("kind", "plain")  # written before the fused graphs existed
    if found["kind"] not in KINDS or found.get("quantize") not in QUANTIZED:
        raise OnnxModelError(f"{path}: graphs of kind {found['kind']!r}, quantize {found.get('quantize')!r}; "
                             f"this minis2t runs {' and '.join(KINDS)} graphs, float32 or int8.")  # fmt: skip
    return found


def _is_int(value) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _json_type(value) -> str:
    """The JSON name of a parsed value's type (what the file holds)."""
    names = {bool: "boolean", int: "number", float: "number", str: "string", list: "array", dict: "object"}
    return "null" if value is None else names.get(type(value), type(value).__name__)


CACHE_WORDS = {"past": "the self-attention cache", "present": "the self-attention cache",
               "cross_key": "the cross-attention keys", "cross_value": "the cross-attention values",
               "cross_attention": "the cross-attention weights (word timestamps)"}  # fmt: skip


def check_graph(session, role: str, name: str, c, found: dict) -> None:
    """The graph's role and model (from its metadata), and every input and output the
    decoding loop needs, with the sizes ``config.json`` (``c``) gives; ``found`` is the
    directory's manifest. ``session``: an onnxruntime ``InferenceSession``."""
    meta = session.get_modelmeta().custom_metadata_map
    if meta.get("minis2t.role") != role:
        raise OnnxModelError(f"{name} is not minis2t's {role} graph (its role is "
                             f"{meta.get('minis2t.role')!r}); re-export the model.")  # fmt: skip
    if meta.get("minis2t.config") != found.get("config") or found.get("config") != config_fingerprint(c):
        raise OnnxModelError(f"{name} was exported from another model than this directory's config.json "
                             f"(fingerprints {meta.get('minis2t.config')}, {config_fingerprint(c)}); "
                             f"re-export the model into an empty directory.")  # fmt: skip
    if meta.get("minis2t.opset", str(found["opset"])) != str(found["opset"]):
        raise OnnxModelError(f"{name} has opset {meta.get('minis2t.opset')}, {MANIFEST} says {found['opset']}.")
    inputs, outputs = expected_shapes(role, c, found.get("kind", "plain"))
    for kind, expected, given in (("input", inputs, session.get_inputs()), ("output", outputs, session.get_outputs())):
        have = {x.name: x for x in given}
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
