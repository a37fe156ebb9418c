"""Model directories: a config and a dict of weight arrays, read and written without torch.

A Speech2Text checkpoint becomes ``(ModelConfig, {name: array})`` keyed by the Hugging Face
state-dict names (``model.encoder.layers.3.fc1.weight``, ``lm_head.weight``, ...), so the
model code can look weights up by the names everyone else uses.

Weights files, in the order they are looked for:

* ``model.safetensors`` — read with ``safetensors.numpy`` (bfloat16 converted by hand,
  as NumPy has no such type); sharded checkpoints through ``model.safetensors.index.json``;
* ``pytorch_model.bin`` — torch's zip format, read **without torch** by
  :class:`RestrictedUnpickler`. A pickle is a program for a small stack machine that can
  import and call anything; ours refuses every import except the handful that rebuild
  tensors, and those are our own NumPy functions, not torch's. Sharded through
  ``pytorch_model.bin.index.json``.

``lm_head.weight`` may be absent when the head is tied to the token embedding (the
default): it is then ``model.decoder.embed_tokens.weight``. Position tables are never
stored (they are computed), and stale copies of them in old files are dropped.
"""

from __future__ import annotations

import collections
import pickle
import struct
import zipfile
from pathlib import Path

import numpy as np

from .config import ModelConfig, check_fits_weights, read_json
from ..engine.nn import matmul_layout
from ..errors import CheckpointError, ConfigError, MiniS2TError, ModelNotFoundError, UnsafePickleError
from ..jsonfile import parse_json, read_json_file

SAFETENSORS, SAFETENSORS_INDEX = "model.safetensors", "model.safetensors.index.json"
TORCH_BIN, TORCH_BIN_INDEX = "pytorch_model.bin", "pytorch_model.bin.index.json"
WEIGHT_FILES = (SAFETENSORS, SAFETENSORS_INDEX, TORCH_BIN, TORCH_BIN_INDEX)
TIED_HEAD, EMBED_TOKENS = "lm_head.weight", "model.decoder.embed_tokens.weight"
# Buffers some older files carry; minis2t computes them, so they are dropped on load.
DROPPED = ("model.encoder.embed_positions.weights", "model.decoder.embed_positions.weights")
# Every weight of a finite, trained S2T model is below float16's largest value: fairseq
# trained them in float16, where anything larger is inf. A weight beyond it (or NaN/inf)
# means damaged bytes, and is refused at load instead of yielding garbage text.
MAX_WEIGHT = 65504.0
CHECKSUM_KEY = "minis2t.sha256"  # safetensors metadata written by save_checkpoint
# A pytorch_model.bin may hold views of shared storages (a tied head and its embedding);
# its tensors together may hold at most this many times the elements of its storages.
MAX_VIEW_FACTOR = 2
# Records in torch's zip are stored, not compressed; a record that would inflate to more
# than this many times its stored size (plus 1 MiB) is a zip bomb, refused before inflating.
MAX_INFLATION = 4
# Config fields that decide the tensors' shapes: when one is absent from config.json and
# the weights do not fit, the error names it instead of a mis-shaped tensor.
SHAPE_FIELDS = ("d_model", "vocab_size", "encoder_layers", "decoder_layers", "encoder_ffn_dim",
                "decoder_ffn_dim", "conv_channels", "num_conv_layers", "conv_kernel_sizes",
                "input_feat_per_channel", "input_channels")  # fmt: skip
FILES_NEEDED = (
    "config.json, model.safetensors or pytorch_model.bin, sentencepiece.bpe.model, "
    "vocab.json, tokenizer_config.json and preprocessor_config.json"
)


# --- the public entry points --------------------------------------------------------


def load_checkpoint(path: str | Path, dtype: type = np.float32) -> tuple[ModelConfig, dict[str, np.ndarray]]:
    """Read a model directory into ``(config, weights)``.

    Args:
        path: a model directory (or a Hugging Face model name, when ``huggingface_hub``
            is installed and online).
        dtype: floating type of the returned weights (float32 or float64).

    Raises:
        ModelNotFoundError: no such directory, and it could not be downloaded.
        ConfigError: a bad ``config.json``.
        CheckpointError: missing, corrupt or truncated weights; missing, unexpected or
            mis-shaped tensors (named); unsupported dtypes.
        UnsafePickleError: a ``pytorch_model.bin`` that tries to import anything else than
            tensor rebuilding. Nothing in it was run.
    """
    directory = resolve_model_dir(path)
    values = read_json(directory / "config.json")
    config = ModelConfig.from_dict(values)
    weights = read_weights(directory)  # bounded by the files themselves (sizes, views, zip records)
    try:
        check_fits_weights(config, sum(int(w.size) for w in weights.values()), directory / "config.json")
        check_structure(config, weights)
    except (CheckpointError, ConfigError) as e:
        absent = [k for k in SHAPE_FIELDS if k not in values]
        if absent:
            raise ConfigError(
                f"config.json does not set {', '.join(absent)}, and the defaults "
                f"({', '.join(f'{k}={getattr(config, k)!r}' for k in absent)}) do not fit the "
                f"weights: {e} Add the missing field(s) to config.json."
            ) from None
        raise
    return config, _cast_checked(config, weights, dtype, consume=True)


def save_checkpoint(path, config: ModelConfig, weights: dict[str, np.ndarray]) -> None:
    """Write ``config.json`` and ``model.safetensors`` (transformers reads them back).

    A tied head equal to the embedding is not written twice, as transformers does.
    """
    from safetensors.numpy import save_file

    directory = Path(path)
    directory.mkdir(parents=True, exist_ok=True)
    prepare_weights(config, dict(weights), None)  # validate names and shapes first
    out = {k: np.ascontiguousarray(v) for k, v in weights.items()}
    if config.tie_word_embeddings and TIED_HEAD in out:
        del out[TIED_HEAD]
    config.save_pretrained(directory)
    metadata = {"format": "pt", CHECKSUM_KEY: content_checksum(out)}
    save_file(out, str(directory / SAFETENSORS), metadata=metadata)


# The models shipped with the package, by their reserved names.
BUNDLED_MODELS = {
    "bundled-asr": Path(__file__).parents[1] / "assets" / "model",  # English speech recognition
    "bundled-st": Path(__file__).parents[1] / "assets" / "model_st",  # English speech -> fr, de, es text
}


def resolve_model_dir(path) -> Path:
    """A reserved name (``bundled-asr``, ``bundled-st``: the models shipped with the
    package), a local model directory, or a hub name fetched through huggingface_hub."""
    if isinstance(path, str) and path in BUNDLED_MODELS:
        return BUNDLED_MODELS[path]
    local = Path(path)
    if local.is_dir():
        return local
    if local.exists():
        raise ModelNotFoundError(
            f"{local} is a file; pass the model directory that holds it ({FILES_NEEDED})."
        )
    name = str(path)
    looks_like_path = name.startswith((".", "/", "~")) or name.count("/") > 1
    if looks_like_path:
        raise ModelNotFoundError(f"no model directory at {name}. It needs {FILES_NEEDED}.")
    try:
        from huggingface_hub import snapshot_download
    except ImportError:
        raise ModelNotFoundError(
            f"{name!r} is not a local directory, and huggingface_hub is not installed to "
            f"fetch it. Download {name} on a machine with network access (it needs "
            f"{FILES_NEEDED}) and pass its directory, or `pip install huggingface_hub`."
        ) from None
    try:
        return Path(snapshot_download(name, allow_patterns=["*.json", "*.model", "*.safetensors",
                                                            "*.bin"]))  # fmt: skip
    except Exception as e:  # offline, unknown repo, no permission: all say the same
        raise ModelNotFoundError(
            f"{name!r} is not a local directory and could not be fetched from the hub "
            f"({type(e).__name__}). Download it where there is network access, e.g. "
            f"`huggingface-cli download {name} --local-dir DIR` (it needs {FILES_NEEDED}), "
            f"then pass DIR."
        ) from None


def read_weights(directory: Path) -> dict[str, np.ndarray]:
    """Every tensor of the first weights file found, as stored (no renaming, no casting)."""
    for name in WEIGHT_FILES:
        path = directory / name
        if path.is_file():
            if name.endswith(".index.json"):
                return _read_sharded(path)
            return read_safetensors(path) if name == SAFETENSORS else read_torch_bin(path)
    raise CheckpointError(
        f"{directory} has no weights: expected one of {', '.join(WEIGHT_FILES)}."
    )


# --- checking against the config ------------------------------------------------------------


def expected_shapes(config: ModelConfig) -> dict[str, tuple[int, ...]]:
    """Every tensor a Speech2Text model of this config has, with its shape."""
    d, v = config.d_model, config.vocab_size
    shapes: dict[str, tuple[int, ...]] = {}
    in_channels = config.input_feat_per_channel * config.input_channels
    for i, k in enumerate(config.conv_kernel_sizes):
        last = i == config.num_conv_layers - 1
        out_channels = 2 * d if last else config.conv_channels  # GLU then halves it
        shapes[f"model.encoder.conv.conv_layers.{i}.weight"] = (out_channels, in_channels, k)
        shapes[f"model.encoder.conv.conv_layers.{i}.bias"] = (out_channels,)
        in_channels = out_channels // 2

    def linear(prefix, n_out, n_in):
        shapes[f"{prefix}.weight"] = (n_out, n_in)
        shapes[f"{prefix}.bias"] = (n_out,)

    def norm(prefix):
        shapes[f"{prefix}.weight"] = shapes[f"{prefix}.bias"] = (d,)

    def attention(prefix):
        for proj in ("q_proj", "k_proj", "v_proj", "out_proj"):
            linear(f"{prefix}.{proj}", d, d)

    for side, layers, ffn in (("encoder", config.encoder_layers, config.encoder_ffn_dim),
                              ("decoder", config.decoder_layers, config.decoder_ffn_dim)):  # fmt: skip
        for i in range(layers):
            p = f"model.{side}.layers.{i}"
            attention(f"{p}.self_attn")
            norm(f"{p}.self_attn_layer_norm")
            if side == "decoder":
                attention(f"{p}.encoder_attn")
                norm(f"{p}.encoder_attn_layer_norm")
            linear(f"{p}.fc1", ffn, d)
            linear(f"{p}.fc2", d, ffn)
            norm(f"{p}.final_layer_norm")
        norm(f"model.{side}.layer_norm")
    shapes[EMBED_TOKENS] = (v, d)
    shapes[TIED_HEAD] = (v, d)
    return shapes


def prepare_weights(config: ModelConfig, weights: dict, dtype) -> dict[str, np.ndarray]:
    """Check names, shapes and values against the config, fill a tied head, cast to
    ``dtype``. ``dtype=None`` keeps the stored types.
    """
    check_structure(config, weights)
    return _cast_checked(config, weights, dtype)


def _cast_checked(config: ModelConfig, weights: dict, dtype, consume: bool = False) -> dict[str, np.ndarray]:
    """Weights that passed :func:`check_structure`, cast to ``dtype``, value-checked and
    in :func:`minis2t.engine.nn.matmul_layout`. With ``consume`` each array is taken out of
    ``weights`` as it is converted (the caller's dict is ours to empty), so loading never
    holds two copies of the model."""
    out, done = {}, {}  # done: id of an input array -> its converted array (a tied head is its embedding)
    for name in list(weights):
        array = weights.pop(name) if consume else weights[name]
        if id(array) not in done:
            done[id(array)] = matmul_layout(array, dtype)
            check_values(name, done[id(array)])
        out[name] = done[id(array)]
    if config.tie_word_embeddings and dtype is not None:
        out[TIED_HEAD] = out[EMBED_TOKENS]
    return out


def check_structure(config: ModelConfig, weights: dict) -> None:
    """Names, shapes and dtypes against the config (dropping stale position buffers and
    filling a tied head in ``weights``, in place)."""
    for name in DROPPED:
        weights.pop(name, None)
    if TIED_HEAD not in weights and config.tie_word_embeddings and EMBED_TOKENS in weights:
        weights[TIED_HEAD] = weights[EMBED_TOKENS]  # the same array: tied means shared
    shapes = expected_shapes(config)
    missing = sorted(set(shapes) - set(weights))
    if missing:
        raise CheckpointError(
            f"the checkpoint lacks {len(missing)} tensor(s) the config needs, e.g. "
            f"{', '.join(missing[:3])}. Does config.json belong to these weights?"
        )
    unexpected = sorted(set(weights) - set(shapes))
    if unexpected:
        raise CheckpointError(
            f"the checkpoint has {len(unexpected)} tensor(s) a Speech2Text model of this "
            f"config does not, e.g. {', '.join(unexpected[:3])}."
        )
    for name, array in weights.items():
        if tuple(array.shape) != shapes[name]:
            raise CheckpointError(
                f"tensor {name} has shape {tuple(array.shape)}, but the config implies "
                f"{shapes[name]}."
            )
        if not np.issubdtype(array.dtype, np.floating):
            raise CheckpointError(
                f"tensor {name} has dtype {array.dtype}; weights must be floating point."
            )


def check_values(name: str, array: np.ndarray) -> None:
    """Refuse NaN, inf and magnitudes beyond ``MAX_WEIGHT``: signs of damaged bytes."""
    with np.errstate(invalid="ignore", over="ignore"):
        peak = np.max(np.abs(array), initial=0.0)
    if not np.isfinite(peak):
        bad = int(np.count_nonzero(~np.isfinite(array)))
        raise CheckpointError(
            f"tensor {name} holds {bad} NaN or infinite value(s): the weights file is damaged. "
            f"Re-download or re-export the model."
        )
    if peak > MAX_WEIGHT:
        raise CheckpointError(
            f"tensor {name} holds a weight of magnitude {float(peak):.3g}, beyond any trained "
            f"S2T model (they fit float16, max {MAX_WEIGHT:g}): the weights file is damaged. "
            f"Re-download or re-export the model."
        )


# --- safetensors ---------------------------------------------------------------------------


def read_safetensors(path: Path) -> dict[str, np.ndarray]:
    """All tensors of a ``.safetensors`` file; bfloat16 widened to float32."""
    from safetensors import SafetensorError, safe_open

    try:
        header = _safetensors_header(path)
        out = {}
        with safe_open(str(path), framework="numpy") as f:
            expected = (f.metadata() or {}).get(CHECKSUM_KEY)
            for name in f.keys():
                if header[name]["dtype"] == "BF16":
                    out[name] = _read_bf16(path, header, name)
                else:
                    out[name] = f.get_tensor(name)
    except (SafetensorError, OSError, ValueError, KeyError, TypeError, struct.error) as e:
        raise CheckpointError(f"cannot read {path}: {e}. Is the file complete?") from None
    if expected is not None and expected != content_checksum(out):
        raise CheckpointError(
            f"{path} does not match the checksum minis2t wrote into it: its bytes were "
            f"changed or damaged. Re-download or re-export the model."
        )
    return out


def content_checksum(tensors: dict[str, np.ndarray]) -> str:
    """SHA-256 over the tensors' names, dtypes, shapes and bytes, in name order.

    ``save_checkpoint`` writes it into the safetensors metadata (key ``CHECKSUM_KEY``) and
    loading verifies it, so damage that leaves plausible numbers (a flipped sign or
    exponent bit) is caught in files minis2t wrote, like the bundled model. Files written
    by others carry no checksum; their values are still checked (``check_values``)."""
    import hashlib

    digest = hashlib.sha256()
    for name in sorted(tensors):
        array = np.ascontiguousarray(tensors[name])
        digest.update(f"{name}|{array.dtype.str}|{array.shape}|".encode())
        digest.update(array.view(np.uint8).reshape(-1).data if array.size else b"")
    return digest.hexdigest()


def _safetensors_header(path: Path) -> dict:
    """The JSON header: ``{name: {"dtype", "shape", "data_offsets"}}``."""
    with open(path, "rb") as f:
        (size,) = struct.unpack("<Q", f.read(8))
        if size > 16 * 2**20:  # s2t-large's header is ~60 kB
            raise ValueError("header length is implausible")
        header = parse_json(f.read(size).decode("utf-8", errors="replace"), path, CheckpointError)
    if not isinstance(header, dict):
        raise ValueError("the header is not a JSON object")
    header.pop("__metadata__", None)
    header["__data_start__"] = 8 + size
    return header


def _read_bf16(path: Path, header: dict, name: str) -> np.ndarray:
    """bfloat16 is the top half of a float32: shift its 16 bits up."""
    begin, end = header[name]["data_offsets"]
    with open(path, "rb") as f:
        f.seek(header["__data_start__"] + begin)
        raw = np.frombuffer(f.read(end - begin), dtype="<u2")
    return (raw.astype(np.uint32) << 16).view(np.float32).reshape(header[name]["shape"])


def _read_sharded(index_path: Path) -> dict[str, np.ndarray]:
    index = read_json_file(index_path, CheckpointError)
    weight_map = index.get("weight_map") if isinstance(index, dict) else None
    if not isinstance(weight_map, dict) or not all(isinstance(v, str) for v in weight_map.values()):
        raise CheckpointError(f"{index_path} is not a valid shard index (a 'weight_map' of tensor names "
                              f"to shard files).")  # fmt: skip
    out = {}
    for shard in sorted(set(weight_map.values())):
        path = index_path.parent / shard
        if not path.is_file():
            raise CheckpointError(f"shard {shard} listed in {index_path.name} is missing.")
        tensors = read_safetensors(path) if shard.endswith(".safetensors") else read_torch_bin(path)
        out.update({k: v for k, v in tensors.items() if weight_map.get(k) == shard})
    absent = sorted(set(weight_map) - set(out))
    if absent:
        raise CheckpointError(f"tensor {absent[0]} is listed in {index_path.name} but in no shard.")
    return out


# --- pytorch_model.bin without torch ---------------------------------------------------


class _StorageType:
    """Stands for ``torch.FloatStorage`` & co. in the pickle: only carries a dtype."""

    __slots__ = ("dtype",)

    def __init__(self, dtype: str):
        self.dtype = dtype


_STORAGE_TYPES = {
    "FloatStorage": "<f4", "DoubleStorage": "<f8", "HalfStorage": "<f2",
    "BFloat16Storage": "bfloat16", "LongStorage": "<i8", "IntStorage": "<i4",
    "ShortStorage": "<i2", "CharStorage": "i1", "ByteStorage": "u1", "BoolStorage": "?",
}  # fmt: skip


class _Tensor:
    """What the pickle gets back from a tensor rebuild: an opaque box around an array.

    Boxing keeps the array out of reach of pickle's BUILD opcode (which would otherwise
    call ``ndarray.__setstate__`` with data of the pickle's choosing)."""

    __slots__ = ("array",)

    def __init__(self, array: np.ndarray):
        self.array = array

    def __setstate__(self, state):
        raise UnsafePickleError("the pickle tried to BUILD (set the state of) a tensor")


def _rebuild_tensor(storage, storage_offset, size, stride, *unused) -> _Tensor:
    """``torch._utils._rebuild_tensor_v2``: a strided view of a flat storage.

    The view is checked to stay inside the storage and not to overlap itself (a stride of
    0, or strides that revisit elements, would let a few bytes stand for gigabytes), and
    is copied only after every tensor of the file has been counted
    (:func:`unbox_state_dict`)."""
    if not isinstance(storage, np.ndarray):
        raise UnsafePickleError("a tensor rebuild got something other than a storage")
    if not (isinstance(storage_offset, int) and isinstance(size, tuple) and isinstance(stride, tuple)):
        raise CheckpointError("a tensor has an invalid layout (offset, size or stride of the wrong type)")
    size, stride = tuple(int(s) for s in size), tuple(int(s) for s in stride)
    if len(size) != len(stride) or any(s < 0 for s in size + stride) or storage_offset < 0:
        raise CheckpointError(f"a tensor has an invalid layout (size {size}, stride {stride})")
    if all(size):
        last = storage_offset + sum((n - 1) * s for n, s in zip(size, stride))
        if last >= storage.shape[0]:
            raise CheckpointError(
                f"a tensor of size {size} reaches element {last} of a storage of "
                f"{storage.shape[0]}: the file is corrupt."
            )
        # No overlap: ordered by stride, each dimension must step over the whole extent
        # of the ones inside it (what contiguous and transposed tensors do).
        extent = 1
        for s, n in sorted((s, n) for n, s in zip(size, stride) if n > 1):
            if s < extent:
                raise CheckpointError(
                    f"a tensor of size {size} with strides {stride} overlaps itself (a "
                    f"stride-0 or overlapping view): not a saved parameter; the file is "
                    f"damaged or crafted."
                )
            extent = s * n
    else:
        return _Tensor(np.zeros(size, dtype=storage.dtype))
    item = storage.itemsize
    view = np.lib.stride_tricks.as_strided(
        storage[storage_offset:], shape=size, strides=[s * item for s in stride], writeable=False
    )
    return _Tensor(view)


def _rebuild_parameter(data, requires_grad=False, backward_hooks=None, *unused) -> _Tensor:
    """``torch._utils._rebuild_parameter``: an ``nn.Parameter`` is just its tensor here."""
    if not isinstance(data, _Tensor):
        raise UnsafePickleError("a parameter rebuild got something other than a tensor")
    return data


class RestrictedUnpickler(pickle.Unpickler):
    """Unpickles a torch state dict and nothing else.

    Every global the pickle names goes through ``find_class``; ours answers from a fixed
    table of four harmless things (an OrderedDict, two tensor rebuilders, storage type
    markers) and raises :class:`UnsafePickleError` for anything else, *before* anything
    is called. Storages come from the zip archive through ``persistent_load``.
    """

    ALLOWED = {
        ("collections", "OrderedDict"): collections.OrderedDict,
        ("torch._utils", "_rebuild_tensor_v2"): _rebuild_tensor,
        ("torch._utils", "_rebuild_parameter"): _rebuild_parameter,
        **{("torch", name): _StorageType(dt) for name, dt in _STORAGE_TYPES.items()},
    }

    def __init__(self, file, load_storage):
        super().__init__(file)
        self.load_storage = load_storage

    def find_class(self, module: str, name: str):
        try:
            return self.ALLOWED[(module, name)]
        except KeyError:
            raise UnsafePickleError(
                f"refused to load: the pickle asks for {module}.{name}, which is not part of "
                f"a tensor state dict. A pickle can run code; this one was not run. "
                f"Convert trusted checkpoints to model.safetensors."
            ) from None

    def persistent_load(self, pid):
        if not (isinstance(pid, tuple) and len(pid) == 5 and pid[0] == "storage"
                and isinstance(pid[1], _StorageType)):  # fmt: skip
            raise UnsafePickleError(f"unexpected persistent id in the pickle: {pid!r:.80}")
        _, storage_type, key, _location, numel = pid
        return self.load_storage(str(key), storage_type.dtype, int(numel))


def read_torch_bin(path: Path) -> dict[str, np.ndarray]:
    """Tensors of a ``torch.save`` zip archive, read by :class:`RestrictedUnpickler`."""
    result, stored = read_torch_pickle(path, RestrictedUnpickler)
    return unbox_state_dict(result, path, stored)


def read_torch_pickle(path: Path, unpickler: type[RestrictedUnpickler]):
    """The object a ``torch.save`` zip archive holds, read by ``unpickler`` (a
    :class:`RestrictedUnpickler`): tensors come back as boxed views of their storages.
    Returns ``(object, elements stored)``."""
    if not zipfile.is_zipfile(path):
        raise CheckpointError(
            f"{path} is not a torch zip archive (the format torch >= 1.6 writes). It may "
            f"be truncated, or the legacy format: re-save it with a current torch, or "
            f"convert it to model.safetensors."
        )
    try:
        with zipfile.ZipFile(path) as archive:
            names = archive.namelist()
            pickles = [n for n in names if n.endswith("/data.pkl") or n == "data.pkl"]
            if len(pickles) != 1:
                raise CheckpointError(f"{path} holds {len(pickles)} data.pkl records, expected 1.")
            root = pickles[0][: -len("data.pkl")]
            big_endian = (root + "byteorder" in names
                          and archive.read(root + "byteorder").strip() == b"big")  # fmt: skip
            cache: dict[str, np.ndarray] = {}

            def load_storage(key: str, dtype: str, numel: int) -> np.ndarray:
                if key not in cache:
                    record = f"{root}data/{key}"
                    if record not in names:
                        raise CheckpointError(f"{path} lacks storage record {record}.")
                    info = archive.getinfo(record)
                    if info.file_size > MAX_INFLATION * info.compress_size + 2**20:
                        raise CheckpointError(
                            f"{path}: record {record} would inflate from {info.compress_size:,} "
                            f"to {info.file_size:,} bytes; torch stores records uncompressed. "
                            f"The file is damaged or crafted."
                        )
                    cache[key] = _decode_storage(archive.read(record), dtype, big_endian)
                if cache[key].shape[0] < numel:
                    raise CheckpointError(f"storage {key} of {path} is shorter than declared.")
                return cache[key]

            with archive.open(pickles[0]) as f:
                result = unpickler(f, load_storage).load()
            stored = sum(a.shape[0] for a in cache.values())
    except MiniS2TError:
        raise
    except (zipfile.BadZipFile, EOFError, pickle.UnpicklingError, OSError, ValueError) as e:
        raise CheckpointError(f"cannot read {path}: {e}. Is the file complete?") from None
    except (TypeError, AttributeError, IndexError) as e:  # e.g. REDUCE on a storage marker: not a state dict either
        raise UnsafePickleError(f"{path} is not a plain state dict ({e}); nothing was run.") from None
    return result, stored


def _decode_storage(raw: bytes, dtype: str, big_endian: bool) -> np.ndarray:
    if dtype == "bfloat16":
        bits = np.frombuffer(raw, dtype=">u2" if big_endian else "<u2")
        return (bits.astype(np.uint32) << 16).view(np.float32)
    np_dtype = np.dtype(dtype)
    if big_endian and np_dtype.itemsize > 1:
        np_dtype = np_dtype.newbyteorder(">")
    return np.frombuffer(raw, dtype=np_dtype).astype(np_dtype.newbyteorder("="))


def unbox_state_dict(result, path: Path, stored: int) -> dict[str, np.ndarray]:
    """The named tensors, copied out of their storages once their total size is known to
    be at most ``MAX_VIEW_FACTOR`` times the ``stored`` elements."""
    if isinstance(result, dict) and "state_dict" in result and isinstance(result["state_dict"], dict):
        result = result["state_dict"]  # a training checkpoint wrapping the state dict
    if not isinstance(result, dict):
        raise CheckpointError(f"{path} does not hold a state dict (found {type(result).__name__}).")
    out = {}
    for name, value in result.items():
        if not isinstance(name, str) or not isinstance(value, _Tensor):
            raise CheckpointError(f"{path}: entry {name!r:.60} is not a named tensor.")
        out[name] = value.array
    total = sum(a.size for a in out.values())
    if total > MAX_VIEW_FACTOR * stored + 2**16:
        raise CheckpointError(
            f"{path}: its tensors would hold {total:,} numbers, but its storages only "
            f"{stored:,}: many tensors view the same data. The file is damaged or crafted."
        )
    return {name: np.array(a) for name, a in out.items()}
