"""fairseq S2T directories, read without fairseq and without torch.

fairseq (the original Speech2Text) publishes a model as a directory:

* a checkpoint ``*.pt`` — torch's zip format; its pickle holds ``model`` (the state
  dict), the configuration (``cfg``: dicts, with ``cfg["model"]`` an
  ``argparse.Namespace``, or omegaconf containers in some versions; older files carry
  ``args``, one Namespace for everything) and training state (optimizer, metrics);
* the data configuration ``config.yaml``: the SentencePiece model and dictionary it was
  trained with, the feature transforms (``utterance_cmvn``, or ``global_cmvn`` with a
  ``.npz`` of mean and standard deviation);
* the SentencePiece model and the dictionary (``piece count`` per line).

:func:`load_fairseq_dir` turns such a directory into what the rest of minis2t uses: a
:class:`~minis2t.io.config.ModelConfig`, weights under the Hugging Face names, a
:class:`~minis2t.io.tokenizer.Tokenizer` and a
:class:`~minis2t.io.features.FeatureExtractor`.

The checkpoint's pickle is read by :class:`FairseqUnpickler`: like
:class:`~minis2t.io.checkpoint.RestrictedUnpickler` it imports nothing and calls nothing of
the pickle's choosing. Configuration objects (Namespace, omegaconf containers, enums,
NumPy scalars in the training metrics) come back as inert :class:`Record` objects, plain
data that :func:`plain` turns into dicts and lists; any global outside the modules a
fairseq checkpoint uses (``os``, ``subprocess``, ...) is refused before anything runs.
"""

from __future__ import annotations

import _compat_pickle
import re
from pathlib import Path

import numpy as np
import yaml

from .checkpoint import (
    TIED_HEAD,
    RestrictedUnpickler,
    UnsafePickleError,
    prepare_weights,
    read_torch_pickle,
    unbox_state_dict,
)
from .config import ACTIVATIONS, GenerationConfig, ModelConfig, check_fits_weights
from ..errors import CheckpointError, ConfigError, FeatureError, TokenizerError
from .tokenizer import SPECIAL_IDS, Tokenizer

# --- the checkpoint's pickle, as plain data ------------------------------------------


class Record:
    """An inert stand-in for an object of a class the pickle names (``module.name``):
    it keeps the arguments it was built with, its state and any items or list entries
    the pickle adds, and does nothing else."""

    def __init__(self, *args, **kwargs):
        self.args, self.kwargs = args, kwargs
        self.state, self.items, self.entries = None, {}, []

    def __setstate__(self, state):
        self.state = state

    def __setitem__(self, key, value):
        self.items[key] = value

    def append(self, value):
        self.entries.append(value)

    def extend(self, values):
        self.entries.extend(values)

    def __repr__(self) -> str:
        return f"Record({self.qualname})"


# Modules whose classes a fairseq checkpoint may name. Every one becomes a Record; the
# real classes are never looked up, so naming one runs nothing.
RECORD_MODULES = ("argparse", "omegaconf", "typing", "fairseq", "numpy", "collections", "enum",
                  "pathlib", "datetime")  # fmt: skip
# From builtins only the types a configuration names (omegaconf records its containers'
# key and element types); never a function such as eval, exec, getattr or open.
RECORD_BUILTINS = ("object", "dict", "list", "tuple", "str", "int", "float", "bool", "bytes", "complex")
# ... except these, which are rebuilt as what they are (they are plain containers).
CONTAINERS = {("builtins", "set"): set, ("builtins", "frozenset"): frozenset}


class FairseqUnpickler(RestrictedUnpickler):
    """A :class:`RestrictedUnpickler` that also accepts the configuration objects of a
    fairseq checkpoint, as :class:`Record` objects."""

    def find_class(self, module: str, name: str):
        # Protocol-2 pickles spell names as Python 2 did (__builtin__.long): translate them
        # as pickle's own find_class does, before looking them up.
        if (module, name) in _compat_pickle.NAME_MAPPING:
            module, name = _compat_pickle.NAME_MAPPING[(module, name)]
        module = _compat_pickle.IMPORT_MAPPING.get(module, module)
        if module == "builtins" and name in RECORD_BUILTINS:
            return type(name, (Record,), {"qualname": f"builtins.{name}"})
        if (module, name) in CONTAINERS:
            return CONTAINERS[(module, name)]
        if (module, name) in self.ALLOWED:
            return self.ALLOWED[(module, name)]
        if module.split(".")[0] in RECORD_MODULES and name.isidentifier():
            return type(name, (Record,), {"qualname": f"{module}.{name}"})
        raise UnsafePickleError(
            f"refused to load: the pickle asks for {module}.{name}, which no fairseq "
            f"checkpoint needs. A pickle can run code; this one was not run."
        )


def plain(value, depth: int = 0):
    """Records of Namespaces, omegaconf containers and enums as dicts, lists and values."""
    if depth > 64:
        raise CheckpointError("the checkpoint's configuration is nested too deeply.")
    if isinstance(value, dict):
        return {k: plain(v, depth + 1) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [plain(v, depth + 1) for v in value]
    if not isinstance(value, Record):
        return value
    state = value.state
    if value.qualname == "argparse.Namespace":
        return plain(state if isinstance(state, dict) else {}, depth + 1)
    if value.qualname.startswith("omegaconf."):
        if isinstance(state, dict) and "_content" in state:  # a container or a value node
            return plain(state["_content"], depth + 1)
        if isinstance(state, dict) and "_val" in state:
            return plain(state["_val"], depth + 1)
    if len(value.args) == 1 and state is None:  # an enum member: Class(value)
        return plain(value.args[0], depth + 1)
    return value  # anything else stays opaque (metrics, optimizer state)


def read_fairseq_checkpoint(path: Path) -> tuple[dict[str, np.ndarray], dict]:
    """``(state dict, configuration)`` of a fairseq checkpoint. The configuration is one
    flat dict of the model's and the task's settings (``args`` of older checkpoints, or
    ``cfg["task"]`` updated with ``cfg["model"]``)."""
    result, stored = read_torch_pickle(path, FairseqUnpickler)
    if not isinstance(result, dict) or "model" not in result:
        raise CheckpointError(f"{path} is not a fairseq checkpoint (no 'model' entry).")
    cfg = plain(result.get("cfg"))
    if isinstance(cfg, dict) and isinstance(cfg.get("model"), dict):
        settings = {**(cfg.get("task") or {}), **cfg["model"]}
    elif isinstance(plain(result.get("args")), dict):
        settings = plain(result["args"])
    else:
        raise CheckpointError(f"{path} carries neither 'cfg' nor 'args': its architecture is unknown.")
    return unbox_state_dict(result["model"], path, stored), settings


# --- architecture --------------------------------------------------------------------

# fairseq's defaults (s2t_transformer.base_architecture) and what each named
# architecture changes; a field the checkpoint sets explicitly wins over both.
BASE = dict(conv_kernel_sizes="5,5", conv_channels=1024, encoder_embed_dim=512,
            encoder_ffn_embed_dim=2048, encoder_layers=12, encoder_attention_heads=8,
            encoder_normalize_before=True, decoder_ffn_embed_dim=None, decoder_layers=6,
            decoder_attention_heads=8, decoder_normalize_before=True, decoder_learned_pos=False,
            activation_fn="relu", share_decoder_input_output_embed=False,
            no_token_positional_embeddings=False, no_scale_embedding=False, input_channels=1,
            input_feat_per_channel=80, conv_version="s2t_transformer", adaptive_input=False,
            adaptive_softmax_cutoff=None, layernorm_embedding=False,
            max_source_positions=6000, max_target_positions=1024)  # fmt: skip
_S = dict(encoder_embed_dim=256, encoder_ffn_embed_dim=2048, encoder_attention_heads=4, decoder_attention_heads=4)
_M = dict(encoder_embed_dim=512, encoder_ffn_embed_dim=2048, encoder_attention_heads=8, decoder_attention_heads=8)
_L = dict(encoder_embed_dim=1024, encoder_ffn_embed_dim=4096, encoder_attention_heads=16, decoder_attention_heads=16)
ARCHITECTURES = {
    "s2t_transformer": {},
    "s2t_transformer_s": _S,
    "s2t_transformer_xs": {**_S, "encoder_layers": 6, "decoder_layers": 3, "encoder_ffn_embed_dim": 1024},
    "s2t_transformer_sp": {**_S, "encoder_layers": 16},
    "s2t_transformer_m": _M,
    "s2t_transformer_mp": {**_M, "encoder_layers": 16},
    "s2t_transformer_l": _L,
    "s2t_transformer_lp": {**_L, "encoder_layers": 16},
}
# Settings the port (and minis2t) does not implement: (name, the value it requires).
UNSUPPORTED = (("encoder_normalize_before", True), ("decoder_normalize_before", True),
               ("decoder_learned_pos", False), ("no_token_positional_embeddings", False),
               ("conv_version", "s2t_transformer"), ("adaptive_input", False),
               ("adaptive_softmax_cutoff", None), ("layernorm_embedding", False),
               ("input_channels", 1))  # fmt: skip


def fairseq_settings(settings: dict) -> dict:
    """The checkpoint's settings completed with its architecture's defaults."""
    arch = settings.get("arch", "s2t_transformer")
    if arch not in ARCHITECTURES:
        raise ConfigError(
            f"architecture {arch!r} is not a fairseq S2T transformer; minis2t reads "
            f"{', '.join(ARCHITECTURES)}."
        )
    out = {**BASE, **ARCHITECTURES[arch]}
    out.update({k: v for k, v in settings.items() if v is not None or k in BASE})
    out["decoder_embed_dim"] = out.get("decoder_embed_dim") or out["encoder_embed_dim"]
    out["decoder_ffn_embed_dim"] = out.get("decoder_ffn_embed_dim") or out["encoder_ffn_embed_dim"]
    return out


def model_config(settings: dict, vocab_size: int) -> ModelConfig:
    """fairseq's architecture settings as a :class:`ModelConfig`."""
    s = fairseq_settings(settings)
    for name, required in UNSUPPORTED:
        if s.get(name, required) != required:
            raise ConfigError(
                f"this fairseq model sets {name}={s[name]!r}; the Speech2Text architecture "
                f"(fairseq's s2t_transformer as ported to transformers) needs {required!r}."
            )
    if s["decoder_embed_dim"] != s["encoder_embed_dim"]:
        raise ConfigError("encoder and decoder widths differ; Speech2Text has one d_model.")
    if s["activation_fn"] not in ACTIVATIONS:
        raise ConfigError(f"activation {s['activation_fn']!r} is not one of {sorted(ACTIVATIONS)}.")
    kernels = tuple(int(k) for k in str(s["conv_kernel_sizes"]).split(","))
    return ModelConfig(
        vocab_size=vocab_size, d_model=s["encoder_embed_dim"], encoder_layers=s["encoder_layers"],
        encoder_ffn_dim=s["encoder_ffn_embed_dim"], encoder_attention_heads=s["encoder_attention_heads"],
        decoder_layers=s["decoder_layers"], decoder_ffn_dim=s["decoder_ffn_embed_dim"],
        decoder_attention_heads=s["decoder_attention_heads"], activation_function=s["activation_fn"],
        dropout=float(s.get("dropout", 0.1)), scale_embedding=not s["no_scale_embedding"],
        max_source_positions=int(s["max_source_positions"]),
        max_target_positions=int(s["max_target_positions"]), num_conv_layers=len(kernels),
        conv_kernel_sizes=kernels, conv_channels=s["conv_channels"],
        input_feat_per_channel=s["input_feat_per_channel"], input_channels=s["input_channels"],
        tie_word_embeddings=bool(s["share_decoder_input_output_embed"]),
    )  # fmt: skip


# --- weights -------------------------------------------------------------------------

# fairseq's state-dict names -> the Hugging Face ones, first match wins.
RENAMES = (
    (r"encoder\.subsample\.conv_layers\.", "model.encoder.conv.conv_layers."),
    (r"encoder\.transformer_layers\.", "model.encoder.layers."),
    (r"encoder\.layer_norm\.", "model.encoder.layer_norm."),
    (r"decoder\.output_projection\.weight$", TIED_HEAD),
    (r"decoder\.", "model.decoder."),
)
# Entries with no weights (position-table placeholders, version counters) and the
# encoder's CTC projection, an auxiliary training loss the Speech2Text model does not have.
SKIPPED = re.compile(r".*(\._float_tensor|\.version|^encoder\.ctc_proj\..*)$")


def rename_weights(state: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """fairseq's state dict under the Hugging Face names (unknown names refused)."""
    out = {}
    for name, array in state.items():
        if SKIPPED.match(name):
            continue
        for pattern, new in RENAMES:
            if re.match(pattern, name):
                out[re.sub(pattern, new, name, count=1)] = array
                break
        else:
            raise CheckpointError(f"the fairseq checkpoint holds {name!r}, which no S2T transformer has.")
    return out


# --- the data configuration (config.yaml) --------------------------------------------


# config.yaml holds a few hundred bytes; a larger file is not one (and YAML's aliases can
# make a small text expand into a large structure: the bound is on the text).
MAX_YAML_BYTES = 2**20


def read_yaml(text: str, source: str = "config.yaml"):
    """The YAML that fairseq's data preparation writes (``yaml.dump`` of a dict), read by
    PyYAML's ``safe_load``: plain data only, no tag that builds a Python object. A
    malformed, hostile or oversized text raises :class:`~minis2t.errors.ConfigError`
    naming the file."""
    if len(text) > MAX_YAML_BYTES:
        raise ConfigError(f"{source} holds {len(text)} characters; a data configuration has a few hundred.")
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError as e:
        raise ConfigError(f"{source} is not YAML that minis2t reads ({' '.join(str(e).split())[:200]}).") from None
    except RecursionError:
        raise ConfigError(f"{source} nests too deeply to be a data configuration.") from None


# --- the dictionary and the directory ------------------------------------------------


def read_dictionary(path: Path) -> dict[str, int]:
    """fairseq's ``Dictionary``: ``<s> <pad> </s> <unk>`` as 0-3, then one piece per line
    of ``path`` (``piece count``, optionally ``#fairseq:overwrite``) in file order."""
    vocab = dict(SPECIAL_IDS)
    for number, line in enumerate(_text(path, TokenizerError).splitlines(), 1):
        if not line.strip():
            continue
        fields = line.rstrip().rsplit(" ", 1)
        overwrite = fields[-1] == "#fairseq:overwrite"
        if overwrite:
            fields = fields[0].rsplit(" ", 1)
        if len(fields) != 2 or not fields[1].lstrip("-").isdigit():
            raise TokenizerError(f"{path} line {number}: expected 'piece count', got {line!r:.60}.")
        piece = fields[0]
        if piece in vocab and not overwrite:
            raise TokenizerError(f"{path} line {number}: {piece!r} appears twice.")
        vocab.setdefault(piece, len(vocab))
    return vocab


CHECKPOINT_NAMES = ("model.pt", "checkpoint_best.pt", "checkpoint_last.pt")


def is_fairseq_dir(directory: Path) -> bool:
    """A directory with a ``*.pt`` checkpoint and no Hugging Face ``config.json``."""
    return directory.is_dir() and not (directory / "config.json").is_file() and any(directory.glob("*.pt"))


def find_checkpoint(directory: Path) -> Path:
    found = sorted(directory.glob("*.pt"))
    if len(found) == 1:
        return found[0]
    named = [directory / n for n in CHECKPOINT_NAMES if (directory / n).is_file()]
    if named:
        return named[0]
    raise CheckpointError(
        f"{directory} holds {len(found)} checkpoints ({', '.join(p.name for p in found)}); keep one, or "
        f"name the one to use {CHECKPOINT_NAMES[0]}."
    )


def _local(directory: Path, name: str, what: str) -> Path:
    """A file the configuration names, found in the model directory: configurations keep
    the training machine's paths, so the file's base name is looked up there too."""
    for candidate in (directory / name, directory / Path(name).name):
        if candidate.is_file():
            return candidate
    raise CheckpointError(f"{directory} lacks {Path(name).name}, the {what} its config.yaml names.")


def _text(path: Path, error: type[Exception]) -> str:
    try:
        return path.read_text(encoding="utf-8")
    except UnicodeDecodeError as e:
        raise error(f"{path} is not UTF-8 text ({e.reason} at byte {e.start}).") from None


# The statistics are two vectors of a few hundred numbers; a member inflating beyond this
# is not CMVN statistics (and would be a zip bomb).
MAX_STATS_BYTES = 2**20


def read_global_cmvn(path: Path) -> dict[str, np.ndarray]:
    """``{"mean", "std"}`` of fairseq's global CMVN ``.npz``, without unpickling anything."""
    import zipfile

    damaged = lambda e: FeatureError(  # noqa: E731
        f"{path} is not an .npz of global CMVN statistics with 'mean' and 'std' ({e}).")  # fmt: skip
    try:
        with zipfile.ZipFile(path) as archive:
            big = [i.filename for i in archive.infolist() if i.file_size > MAX_STATS_BYTES]
    except (zipfile.BadZipFile, OSError) as e:
        raise damaged(e) from None
    if big:
        raise FeatureError(f"{path}: {big[0]} is too large for CMVN statistics.")
    try:
        with np.load(path, allow_pickle=False) as stats:
            return {key: np.asarray(stats[key], np.float64) for key in ("mean", "std")}
    except (zipfile.BadZipFile, OSError, ValueError, KeyError, EOFError) as e:
        raise damaged(e) from None


def read_data_config(directory: Path, settings: dict) -> dict:
    name = settings.get("config_yaml") or "config.yaml"
    path = _local(directory, str(name), "data configuration")
    if path.stat().st_size > MAX_YAML_BYTES:  # before reading it
        raise ConfigError(f"{path} holds {path.stat().st_size} bytes; a data configuration has a few hundred.")
    config = read_yaml(_text(path, ConfigError), str(path))
    if not isinstance(config, dict):
        raise ConfigError(f"{path} is not a mapping.")
    return config


def feature_extractor(directory: Path, data: dict):
    """The front end ``config.yaml`` asks for at inference (its ``'*'`` transforms)."""
    from .features import FeatureExtractor

    transforms = (data.get("transforms") or {}).get("*", []) or []
    unknown = [t for t in transforms if t not in ("utterance_cmvn", "global_cmvn")]
    if unknown:
        raise ConfigError(f"config.yaml asks for feature transforms minis2t lacks: {unknown}.")
    if data.get("input_channels", 1) != 1 or data.get("use_audio_input"):
        raise ConfigError("this fairseq model does not take 80-channel filter banks of one channel.")
    mel_bins = int(data.get("input_feat_per_channel", 80))
    if "global_cmvn" in transforms:
        stats_path = _local(directory, str((data.get("global_cmvn") or {}).get("stats_npz_path", "")),
                            "global CMVN statistics")  # fmt: skip
        return FeatureExtractor(feature_size=mel_bins, num_mel_bins=mel_bins, do_ceptral_normalize=False,
                                global_cmvn=read_global_cmvn(stats_path))  # fmt: skip
    cmvn = "utterance_cmvn" in transforms
    return FeatureExtractor(feature_size=mel_bins, num_mel_bins=mel_bins, do_ceptral_normalize=cmvn)


def tokenizer(directory: Path, data: dict) -> Tokenizer:
    bpe = data.get("bpe_tokenizer") or {}
    if bpe.get("bpe") != "sentencepiece":
        raise TokenizerError(f"config.yaml's tokenizer is {bpe.get('bpe')!r}; minis2t reads sentencepiece.")
    spm = _local(directory, str(bpe.get("sentencepiece_model", "")), "SentencePiece model")
    vocab = read_dictionary(_local(directory, str(data.get("vocab_filename", "dict.txt")), "dictionary"))
    return Tokenizer(vocab, spm.read_bytes())


def load_fairseq_dir(directory, dtype=np.float32):
    """``(config, weights, generation config, feature extractor, tokenizer)`` of a fairseq
    S2T directory; weights cast to ``dtype`` under the Hugging Face names."""
    directory = Path(directory)
    state, settings = read_fairseq_checkpoint(find_checkpoint(directory))
    data = read_data_config(directory, settings)
    tok = tokenizer(directory, data)
    weights = rename_weights(state)
    embed = weights.get("model.decoder.embed_tokens.weight")
    if embed is None or embed.ndim != 2:
        raise CheckpointError(f"{directory}: the checkpoint has no decoder token embedding.")
    if embed.shape[0] < tok.vocab_size:
        raise CheckpointError(
            f"{directory}: the dictionary has {tok.vocab_size} entries but the model only "
            f"{embed.shape[0]} embeddings: they do not belong together."
        )
    config = model_config(settings, vocab_size=embed.shape[0])
    check_fits_weights(config, sum(int(w.size) for w in weights.values()), find_checkpoint(directory))
    weights = prepare_weights(config, weights, dtype)
    # fairseq's generator: beam 5, at most 200 tokens before EOS (max_len_a 0, max_len_b
    # 200): 202 with the start token and EOS, in transformers' counting — or what the
    # decoder's positions allow (fairseq would allow one token more there).
    generation = GenerationConfig(num_beams=5, max_length=min(202, config.max_target_positions))
    return config, weights, generation, feature_extractor(directory, data), tok
