"""The fastest correct runtime without asking: the fused graphs of a model, built on first
use and kept in a cache directory.

With ``minis2t[onnx]`` installed (onnxruntime and onnx), a model directory loads into
onnxruntime without an export step: the first load builds the fused float32 graphs from
the weights (:mod:`minis2t.app.onnx_fused`, a second or two at s2t-small's size) and
writes them under the cache directory; later loads read them from there, without reading
the weights into NumPy at all (the NumPy arrays are loaded if something asks for them:
``model.weights``, training, the teaching outputs).

The cache directory is ``$MINIS2T_CACHE`` or ``$XDG_CACHE_HOME/minis2t`` (by default
``~/.cache/minis2t``); graphs live in ``onnx/KEY/``, where KEY hashes everything the
graphs depend on: the bytes of the model directory's files (weights, config), the
builder's version, onnxruntime's version and the quantisation. Another model, changed
weights or an upgraded minis2t or onnxruntime get new graphs, never stale ones. A
directory is written under a temporary name and renamed into place when complete: two
processes building at once each end with complete graphs, and a failed build leaves
nothing that a later load reads.

Which runtime runs (:func:`choose_runtime`): the one asked for (``runtime="numpy"`` or
``"onnx"``, the command's ``--runtime``), else ``$MINIS2T_RUNTIME``, else onnxruntime
where onnxruntime and onnx are installed and NumPy where not.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import tempfile
from pathlib import Path

from ..errors import ConfigError, OnnxModelError

BUILDER_VERSION = "1"  # raise it when the builders' graphs change: cached graphs are then rebuilt
ROLES = ("encoder", "cross_kv", "decoder")
RUNTIMES = ("numpy", "onnx")
QUANTIZE = (None, "int8")
KEYED_SUFFIXES = (".safetensors", ".bin", ".pt", ".json", ".yaml", ".model", ".txt")  # what a model is made of


def onnx_available() -> bool:
    """Whether onnxruntime and onnx can be imported (the ``minis2t[onnx]`` extra)."""
    import importlib.util

    try:
        return all(importlib.util.find_spec(name) is not None for name in ("onnxruntime", "onnx"))
    except (ImportError, ValueError):  # a broken or blocked installation: as if absent
        return False


def choose_runtime(requested: str | None = None) -> str:
    """``"numpy"`` or ``"onnx"``: ``requested``, else ``$MINIS2T_RUNTIME``, else onnx
    where it is installed. Asking for onnx without it installed is a clear error."""
    choice = requested or os.environ.get("MINIS2T_RUNTIME") or None
    if choice is None:
        return "onnx" if onnx_available() else "numpy"
    if choice not in RUNTIMES:
        raise ConfigError(f"runtime {choice!r}: choose one of {', '.join(RUNTIMES)}.")
    if choice == "onnx" and not onnx_available():
        raise OnnxModelError('the onnx runtime needs onnxruntime and onnx: pip install "minis2t[onnx]".')
    return choice


def cache_root() -> Path:
    explicit = os.environ.get("MINIS2T_CACHE")
    if explicit:
        return Path(explicit)
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "minis2t"


def directory_key(directory: Path, quantize: str | None = None) -> str:
    """A hash of the model directory's files (names and bytes), the builder's version,
    onnxruntime's version and the quantisation."""
    import onnxruntime

    digest = hashlib.sha256(f"{BUILDER_VERSION}|{onnxruntime.__version__}|{quantize}".encode())
    for path in sorted(Path(directory).iterdir()):
        if path.is_file() and path.suffix in KEYED_SUFFIXES:
            digest.update(f"|{path.name}|{path.stat().st_size}|".encode())
            with open(path, "rb") as f:
                for block in iter(lambda: f.read(1 << 22), b""):
                    digest.update(block)
    return digest.hexdigest()[:24]


def cached_graphs(directory: Path, load_weights, config, quantize: str | None = None,
                  root: Path | None = None) -> dict:  # fmt: skip
    """``{role: path}`` of the fused graphs (int8 with ``quantize="int8"``) of the model
    in ``directory``; on the first call they are built from ``load_weights()`` (the
    checkpoint's flat arrays) and written."""
    from ..reference.model import nest
    from . import onnx_fused

    if quantize not in QUANTIZE:
        raise ConfigError(f"quantize={quantize!r}: choose None or 'int8'.")
    target = (root or cache_root()) / "onnx" / directory_key(directory, quantize)
    paths = {role: target / f"{role}.onnx" for role in ROLES}
    if all(p.is_file() for p in paths.values()):
        return paths
    if target.exists():  # incomplete (a file removed by hand): built again
        shutil.rmtree(target, ignore_errors=True)
    graphs = onnx_fused.build(nest(load_weights()), config)
    if quantize == "int8":
        graphs = onnx_fused.quantize_int8(graphs)
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        staging = Path(tempfile.mkdtemp(prefix=f".{target.name}.", dir=target.parent))
    except OSError as e:
        raise OnnxModelError(f"cannot write the ONNX graphs' cache under {target.parent} ({e.strerror}); "
                             f"set MINIS2T_CACHE to a writable directory, or use runtime='numpy'.") from None  # fmt: skip
    try:
        for role, graph in graphs.items():
            (staging / f"{role}.onnx").write_bytes(graph.SerializeToString())
        try:
            staging.rename(target)
        except OSError:  # another process finished first: its graphs are the same
            shutil.rmtree(staging, ignore_errors=True)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return paths


def runtime_for(directory: Path, load_weights, config, threads: int | None = None, quantize: str | None = None):
    """The :class:`~minis2t.engine.onnx_fused_runtime.FusedRuntime` of the model in ``directory``,
    its graphs from the cache (built on the first call); ``load_weights`` is kept for
    whoever asks the runtime for the NumPy weights."""
    from ..engine.onnx_fused_runtime import FusedRuntime

    paths = cached_graphs(directory, load_weights, config, quantize)
    runtime = FusedRuntime(paths, config, threads, load_weights=load_weights)
    runtime.directory, runtime.quantize = paths["encoder"].parent, quantize
    return runtime


def open_exported(directory: Path, config, threads: int | None = None):
    """The runtime of a directory written by ``minis2t export-onnx``: its fused graphs
    (``--fused``, ``--quantize int8``) in :class:`~minis2t.engine.onnx_fused_runtime.FusedRuntime`,
    plain or traced ones in :class:`~minis2t.engine.onnx_runtime.OnnxRuntime`."""
    from ..engine.onnx_format import read_manifest
    from ..engine.onnx_fused_runtime import FusedRuntime
    from ..engine.onnx_runtime import OnnxRuntime, require_onnxruntime

    require_onnxruntime()
    if read_manifest(directory)["kind"] == "fused":
        return FusedRuntime.from_directory(directory, config, threads)
    return OnnxRuntime(directory, config, threads)


def describe_runtime(runtime) -> str:
    """One line saying what computes the network: the command prints it, ``info`` shows it."""
    if runtime.name == "numpy":
        return f"numpy (minis2t's NumPy engine, {runtime.dtype})"
    import onnxruntime

    from ..engine.onnx_fused_runtime import FusedRuntime

    if isinstance(runtime, FusedRuntime):
        what = f"fused {runtime.quantize or 'float32'} graphs"
    else:
        what = "plain float32 graphs"
    where = "" if runtime.directory is None else f", {runtime.directory}"
    return f"onnxruntime {onnxruntime.__version__} ({what}{where})"
