"""``minis2t export-onnx``: a model directory -> ONNX graphs that onnxruntime runs.

The graphs are written from minis2t's reference with the ``onnx`` package
(:mod:`minis2t.app.onnx_build`; ``graphs="fused"``: :mod:`minis2t.app.onnx_fused`, and
``quantize="int8"`` on top), from the weights minis2t read from the directory: no torch,
no transformers. ``graphs="traced"`` traces them from **transformers'**
``Speech2TextForConditionalGeneration`` instead (``torch.onnx.export``; with torch and
transformers installed): the oracle the built graphs are tested against. A fairseq
directory is first read by minis2t's torch-free reader (:mod:`minis2t.io.fairseq`), like
every other directory, so one path serves them all.

Three graphs and the files that make the directory self-contained, in the format of
:mod:`minis2t.engine.onnx_format` (which :mod:`minis2t.engine.onnx_runtime` reads)::

    encoder.onnx    input_features [B, T, F], attention_mask [B, T]
                      -> last_hidden_state [B, S, D], encoder_mask [B, S]
    cross_kv.onnx   encoder_states [B, S, D] -> cross_key.i, cross_value.i [B, H, S, Dh]
    decoder.onnx    input_ids [N, L], encoder_mask [N, S], past_key.i, past_value.i
                      [N, H, P, Dh], cross_key.i, cross_value.i [N, H, S, Dh]
                      -> logits [N, L, V], present_key.i, present_value.i [N, H, P + L, Dh],
                         cross_attention.i [N, H, L, S]
    onnx_config.json, config.json, generation_config.json, preprocessor_config.json,
    vocab.json, sentencepiece.bpe.model, tokenizer_config.json

The fused decoder takes its cache as buffers written in place and each utterance's
encoder mask once (:func:`minis2t.engine.onnx_format.expected_shapes`). torch,
transformers and onnx are imported inside :func:`export` only: importing this module (or
minis2t) never imports them, and without what an export needs it raises
:class:`~minis2t.errors.ExportError` naming the extra to install.
"""

from __future__ import annotations

import json
import shutil
import tempfile
from pathlib import Path

import numpy as np

from ..engine.onnx_format import (DEFAULT_OPSET, DTYPES, GRAPHS, MANIFEST, MIN_OPSET, expected_shapes, graph_digests,
                                  graph_metadata)
from ..engine.onnx_format import manifest as manifest_of
from ..errors import ExportError, MiniS2TError
from . import onnx_graphs
from .pipeline import Speech2Text

# --- the export ------------------------------------------------------------------------------


def _require_export_packages():
    try:
        import onnx  # noqa: F401
        import torch  # noqa: F401
        import transformers  # noqa: F401
    except ImportError as e:
        raise ExportError(
            f"exporting to ONNX needs torch, transformers and onnx ({e.name} is missing): "
            f'pip install "minis2t[export]" (with torch installed first). Running an '
            f'exported directory needs only "minis2t[onnx]".'
        ) from None


GRAPH_KINDS = ("plain", "fused", "traced")


def _require_onnx():
    try:
        import onnx  # noqa: F401
    except ImportError:
        raise ExportError('writing ONNX graphs needs the onnx package: pip install "minis2t[onnx]".') from None


def export(model_dir, out_dir, opset: int = DEFAULT_OPSET, dtype: str = "float32", graphs: str = "plain",
           quantize: str | None = None) -> Path:  # fmt: skip
    """Export the model in ``model_dir`` (a Hugging Face or fairseq directory, or
    ``bundled-asr`` / ``bundled-st``) to ``out_dir``, which must not exist or be empty:
    ``graphs`` ``"plain"`` (written from the reference), ``"fused"`` (onnxruntime's fused
    operators, the cache written in place) or ``"traced"`` (from transformers' modules,
    needs torch); ``quantize="int8"`` quantises the fused graphs' weight products.

    The graphs are written into a temporary directory next to ``out_dir``, checked by
    ``onnx.checker``, and moved into place only when all is done: a failed export leaves
    nothing behind. Returns ``out_dir``."""
    out_dir = Path(out_dir)
    if dtype not in DTYPES:
        raise ExportError(f"--dtype {dtype}: the export writes {', '.join(DTYPES)} graphs.")
    if isinstance(opset, bool) or not isinstance(opset, int) or opset < MIN_OPSET:
        raise ExportError(f"--opset {opset!r}: choose {MIN_OPSET} or later (LayerNormalization "
                          f"became an ONNX operator in opset 17).")  # fmt: skip
    if graphs not in GRAPH_KINDS:
        raise ExportError(f"graphs={graphs!r}: choose one of {', '.join(GRAPH_KINDS)}.")
    if quantize not in (None, "int8") or (quantize and graphs != "fused"):
        raise ExportError(f"--quantize {quantize}: int8 quantises the fused graphs written by minis2t, not "
                          f"traced ones (--quantize int8, without --traced).")  # fmt: skip
    if out_dir.exists() and (not out_dir.is_dir() or any(out_dir.iterdir())):
        raise ExportError(f"{out_dir} exists and is not an empty directory; nothing was written.")
    _require_export_packages() if graphs == "traced" else _require_onnx()
    from ..engine.onnx_format import is_onnx_dir
    from ..io.checkpoint import resolve_model_dir

    if is_onnx_dir(resolve_model_dir(model_dir)):  # an exported directory's graphs: no weights to export
        raise ExportError(f"{model_dir} is already an exported ONNX directory; export its source model.")
    model = Speech2Text.from_pretrained(model_dir, runtime="numpy")  # any layout minis2t reads, validated
    _check_exportable(model, graphs)
    import onnx

    if opset > onnx.defs.onnx_opset_version():
        raise ExportError(f"--opset {opset}: the installed onnx ({onnx.__version__}) knows opsets up "
                          f"to {onnx.defs.onnx_opset_version()}.")  # fmt: skip
    out_dir.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{out_dir.name}.", dir=out_dir.parent))
    try:
        if graphs == "traced":
            _write_graphs(model, staging, opset)
        else:
            _write_built_graphs(model, staging, opset, graphs, quantize)
        _write_side_files(model, staging, opset, dtype, "fused" if graphs == "fused" else "plain", quantize)
        staging.chmod(0o777 & ~_umask())  # mkdtemp made it private
        if out_dir.exists():
            out_dir.rmdir()  # empty, checked above
        staging.rename(out_dir)
    except MiniS2TError:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    except Exception as e:
        shutil.rmtree(staging, ignore_errors=True)
        raise ExportError(f"the export of {model_dir} failed ({type(e).__name__}: {str(e)[:300]}); "
                          f"nothing was written to {out_dir}.") from e  # fmt: skip
    return out_dir


def _umask() -> int:
    import os

    mask = os.umask(0)
    os.umask(mask)
    return mask


def _check_exportable(model, graphs: str = "traced") -> None:
    """What the graphs cannot carry, refused before writing them."""
    c = model.config
    if c.input_channels != 1 and graphs == "traced":
        raise ExportError(f"input_channels={c.input_channels}: only single-channel features are exported "
                          f"(transformers' Speech2Text takes one).")  # fmt: skip
    if model.dtype != np.float32:
        raise ExportError(f"the model was loaded as {model.dtype}; the export writes float32 graphs.")


def transformers_model(model):
    """transformers' model of ``model``'s architecture holding its weights, float32, eval."""
    import torch
    from transformers import Speech2TextConfig, Speech2TextForConditionalGeneration

    values = {k: v for k, v in model.config.to_dict().items() if k not in ("architectures", "model_type")}
    hf = Speech2TextForConditionalGeneration(Speech2TextConfig(**values))
    state = {k: torch.from_numpy(np.array(v, dtype=np.float32)) for k, v in model.weights.items()}
    missing, unexpected = hf.load_state_dict(state, strict=False)
    missing = [k for k in missing if "embed_positions" not in k]  # computed, not stored
    if missing or unexpected:
        raise ExportError(f"transformers' model does not take these weights (missing {missing[:3]}, "
                          f"unexpected {unexpected[:3]}).")  # fmt: skip
    if model.config.tie_word_embeddings:
        hf.tie_weights()
    return hf.eval().float()


def _write_graphs(model, directory: Path, opset: int) -> None:
    import warnings

    import torch

    hf = transformers_model(model)
    c = model.config
    # The tracer warns about three Python-level decisions in transformers' code, each fixed
    # for every input the graphs take: the position table is long enough (decoding stops at
    # max_target_positions), the encoder mask is as long as the features (the runtime
    # passes both), and no subsampled length is 0 (features have at least one frame).
    with torch.no_grad(), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for role, (module, args, inputs, outputs, axes) in onnx_graphs.graphs(hf, c).items():
            path = directory / GRAPHS[role]
            torch.onnx.export(module, args, str(path), input_names=inputs, output_names=outputs,
                              dynamic_axes=axes, opset_version=opset, dynamo=False,
                              do_constant_folding=True)  # fmt: skip
            _stamp(path, role, c, opset)


def _stamp(path: Path, role: str, config, opset: int) -> None:
    """Declare every fixed size of the graph's inputs and outputs (the tracer names some it
    could not infer), record the graph's role and its model's fingerprint in its
    metadata, then check it."""
    import onnx

    graph = onnx.load(str(path))
    inputs, outputs = expected_shapes(role, config)
    for values, shapes in ((graph.graph.input, inputs), (graph.graph.output, outputs)):
        for value in values:
            for dim, size in zip(value.type.tensor_type.shape.dim, shapes.get(value.name, ())):
                if size is not None:
                    dim.dim_value = size  # replaces a dim_param such as "Transposecross_key.0_dim_1"
    for key, value in graph_metadata(role, config, opset).items():
        entry = graph.metadata_props.add()
        entry.key, entry.value = key, value
    onnx.checker.check_model(graph, full_check=True)
    onnx.save(graph, str(path))


def _write_built_graphs(model, directory: Path, opset: int, kind: str, quantize: str | None) -> None:
    """The graphs written from the reference (plain or fused, int8 on request), checked by onnx."""
    from . import onnx_build, onnx_fused

    built = (onnx_fused.build if kind == "fused" else onnx_build.build)(model.params, model.config, opset)
    if quantize == "int8":
        built = onnx_fused.quantize_int8(built)
    for role, graph in built.items():
        (directory / GRAPHS[role]).write_bytes(graph.SerializeToString())


def _write_side_files(model, directory: Path, opset: int, dtype: str, kind: str = "plain",
                      quantize: str | None = None) -> None:  # fmt: skip
    """config, generation config, feature extractor, tokenizer and confidence files, and the manifest."""
    model.config.save_pretrained(directory)
    model.generation_config.save_pretrained(directory)
    if model.feature_extractor is not None:
        model.feature_extractor.save_pretrained(directory)
    if model.tokenizer is not None:
        model.tokenizer.save_pretrained(directory)
    if model.calibration is not None:  # the confidence model reads the decoder's outputs: it travels too
        (directory / "confidence.json").write_text(json.dumps(model.calibration.to_dict(), indent=1) + "\n")
    found = manifest_of(model.config, opset, dtype, kind, quantize, graph_digests(directory))
    (directory / MANIFEST).write_text(json.dumps(found, indent=2) + "\n")
