"""The fused graphs of a model, built on first use and kept in a cache directory.

With ``minis2t[onnx]`` installed (onnxruntime and onnx), a model loaded from its weights
runs in onnxruntime without an export step: the first load builds the fused float32
graphs from the weights (:mod:`minis2t.app.onnx_fused`, about a second at s2t-small's
size), writes them under the cache directory, and later loads read them from there.

The cache directory is ``$MINIS2T_CACHE`` or ``$XDG_CACHE_HOME/minis2t`` (by default
``~/.cache/minis2t``); graphs live in ``onnx/KEY/``, where KEY hashes everything the
graphs depend on: the weights' bytes, the configuration, the builder's version and
onnxruntime's version. Another model, changed weights or an upgraded minis2t or
onnxruntime gets new graphs, never stale ones. A directory is written under a temporary
name and renamed into place when complete, so two processes building at once each end
with complete graphs, and a build that failed leaves nothing that a later load reads.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import tempfile
from pathlib import Path

BUILDER_VERSION = "1"  # raise it when the builders' graphs change: cached graphs are then rebuilt
ROLES = ("encoder", "cross_kv", "decoder")


def cache_root() -> Path:
    explicit = os.environ.get("MINIS2T_CACHE")
    if explicit:
        return Path(explicit)
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "minis2t"


def graphs_key(config, weights: dict, quantize: str | None = None) -> str:
    """What the graphs depend on, hashed: weights, configuration, builder and onnxruntime."""
    import onnxruntime

    from ..io.checkpoint import content_checksum
    from .onnx_build import metadata

    parts = [content_checksum(weights), metadata("decoder", config)["minis2t.config"], BUILDER_VERSION,
             onnxruntime.__version__, str(quantize)]  # fmt: skip
    return hashlib.sha256("|".join(parts).encode()).hexdigest()[:24]


def cached_graphs(config, weights: dict, quantize: str | None = None, root: Path | None = None) -> dict:
    """``{role: path}`` of the model's fused graphs (int8 with ``quantize="int8"``),
    built and written on the first call for these weights."""
    from ..reference.model import nest
    from . import onnx_fused

    directory = (root or cache_root()) / "onnx" / graphs_key(config, weights, quantize)
    paths = {role: directory / f"{role}.onnx" for role in ROLES}
    if all(p.is_file() for p in paths.values()):
        return paths
    if directory.exists():  # incomplete (a file removed by hand): built again
        shutil.rmtree(directory, ignore_errors=True)
    graphs = onnx_fused.build(nest(weights), config)
    if quantize == "int8":
        graphs = onnx_fused.quantize_int8(graphs)
    directory.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{directory.name}.", dir=directory.parent))
    try:
        for role, graph in graphs.items():
            (staging / f"{role}.onnx").write_bytes(graph.SerializeToString())
        try:
            staging.rename(directory)
        except OSError:  # another process finished first: its graphs are the same
            shutil.rmtree(staging, ignore_errors=True)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return paths
