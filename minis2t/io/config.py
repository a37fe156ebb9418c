"""Model and generation settings, read from a model directory's JSON files.

Two frozen dataclasses, one comment per field:

* :class:`ModelConfig` — every field of transformers' ``Speech2TextConfig``, same names and
  defaults (the defaults are s2t-small's architecture);
* :class:`GenerationConfig` — the decoding options ``generate`` honours.

``config.json`` carries both in older checkpoints (the released facebook/s2t-* models put
``num_beams`` and ``max_length`` there); ``generation_config.json``, when present, wins.
Keys we do not know are kept in ``extra``, so a directory we read and write back loses
nothing.
"""

from __future__ import annotations

import dataclasses
import json
import math
from dataclasses import dataclass, field
from pathlib import Path

from ..errors import ConfigError
from ..jsonfile import read_json_file
from ..reference.generate import max_length_of

ACTIVATIONS = ("relu", "gelu", "gelu_new", "gelu_python", "silu", "swish")

# facebook/s2t-small-librispeech-asr's architecture (29.5 M parameters), for building a
# model of the released size with random weights: ModelConfig(**S2T_SMALL).
S2T_SMALL = dict(
    d_model=256, encoder_layers=12, decoder_layers=6, encoder_attention_heads=4,
    decoder_attention_heads=4, encoder_ffn_dim=2048, decoder_ffn_dim=2048, conv_channels=1024,
    num_conv_layers=2, conv_kernel_sizes=[5, 5], input_feat_per_channel=80, vocab_size=10000,
    max_source_positions=6000, max_target_positions=1024,
)  # fmt: skip


@dataclass(frozen=True)
class ModelConfig:
    """The Speech2Text architecture (field names as in ``config.json``)."""

    vocab_size: int = 10000  # V: rows of the token embedding and the LM head
    d_model: int = 256  # D: width of every hidden state
    encoder_layers: int = 12
    encoder_ffn_dim: int = 2048  # E: hidden width of the encoder's feed-forward blocks
    encoder_attention_heads: int = 4  # H (encoder); D must be divisible by it
    decoder_layers: int = 6
    decoder_ffn_dim: int = 2048
    decoder_attention_heads: int = 4
    encoder_layerdrop: float = 0.0  # training only
    decoder_layerdrop: float = 0.0  # training only
    use_cache: bool = True
    is_encoder_decoder: bool = True
    activation_function: str = "relu"  # one of ACTIVATIONS, in the feed-forward blocks
    dropout: float = 0.1  # training only: minis2t runs inference, dropout is the identity
    attention_dropout: float = 0.0
    activation_dropout: float = 0.0
    init_std: float = 0.02
    decoder_start_token_id: int = 2  # the decoder's first input: </s>, as in fairseq
    scale_embedding: bool = True  # multiply embeddings by sqrt(D) before adding positions
    pad_token_id: int = 1
    bos_token_id: int = 0
    eos_token_id: int = 2
    max_source_positions: int = 6000  # longest encoder input after subsampling (frames)
    max_target_positions: int = 1024  # longest decoder input (tokens)
    num_conv_layers: int = 2  # conv subsampler: each layer halves the frame rate
    conv_kernel_sizes: tuple[int, ...] = (5, 5)  # one odd kernel size per conv layer
    conv_channels: int = 1024  # C: output channels of the inner conv layers (before GLU)
    input_feat_per_channel: int = 80  # F: mel bins per frame
    input_channels: int = 1
    tie_word_embeddings: bool = True  # LM head shares the token embedding's weights
    # config.json may give eos_token_id as a list of stop ids: the first is eos_token_id,
    # the others are kept here (eos_token_ids is the whole list)
    extra_eos_token_ids: tuple[int, ...] = ()
    extra: dict = field(default_factory=dict, compare=False, repr=False)  # unknown keys

    def __post_init__(self):
        if not isinstance(self.conv_kernel_sizes, (list, tuple)):
            raise ConfigError(f"config field 'conv_kernel_sizes' must be a list of odd integers, "
                              f"got {self.conv_kernel_sizes!r:.80}")  # fmt: skip
        object.__setattr__(self, "conv_kernel_sizes", tuple(self.conv_kernel_sizes))
        _split_eos_list(self)
        _validate_model(self)

    @property
    def eos_token_ids(self) -> tuple[int, ...]:
        """Every stop id: ``eos_token_id`` first, then the others of a list."""
        return (self.eos_token_id, *self.extra_eos_token_ids)

    @property
    def encoder_head_dim(self) -> int:
        return self.d_model // self.encoder_attention_heads

    @property
    def decoder_head_dim(self) -> int:
        return self.d_model // self.decoder_attention_heads

    @classmethod
    def from_dict(cls, values: dict) -> "ModelConfig":
        known = {f.name for f in dataclasses.fields(cls)} - {"extra"}
        kwargs = {k: v for k, v in values.items() if k in known}
        extra = {k: v for k, v in values.items() if k not in known}
        return cls(**kwargs, extra=extra)  # an eos_token_id list is split in __post_init__

    def to_dict(self) -> dict:
        """The fields and the kept unknown keys, as ``config.json`` holds them."""
        out = _as_dict(self)
        out.setdefault("model_type", "speech_to_text")
        out.setdefault("architectures", ["Speech2TextForConditionalGeneration"])
        return out

    @classmethod
    def from_pretrained(cls, directory) -> "ModelConfig":
        """``directory/config.json``, checked, every count within :data:`MAX_SIZES`."""
        return cls.from_dict(read_json(Path(directory) / "config.json"))

    def save_pretrained(self, directory) -> None:
        write_json(Path(directory) / "config.json", self.to_dict())


@dataclass(frozen=True)
class GenerationConfig:
    """Decoding options, with transformers' meaning and defaults."""

    num_beams: int = 1  # 1 = greedy search; released S2T checkpoints use 5
    max_length: int = 20  # longest output, counting the decoder start token
    max_new_tokens: int | None = None  # if set, wins over max_length: tokens after the prompt
    min_length: int = 0  # EOS is forbidden until the output is this long (start token counts)
    early_stopping: bool | str = False  # True, False or "never": when beam search may stop
    length_penalty: float = 1.0  # beam scores are sum(log p) / generated_length ** this
    no_repeat_ngram_size: int = 0  # forbid repeating any n-gram of this size (0 = off)
    decoder_start_token_id: int = 2  # first decoder input (</s> in S2T)
    forced_bos_token_id: int | None = None  # token forced at the first step (a <lang:xx>)
    bos_token_id: int = 0
    eos_token_id: int = 2
    pad_token_id: int = 1  # fills finished rows of the output
    extra_eos_token_ids: tuple[int, ...] = ()  # the rest of an eos_token_id list: they stop too
    extra: dict = field(default_factory=dict, compare=False, repr=False)

    def __post_init__(self):
        _split_eos_list(self)
        _validate_generation(self)

    @property
    def eos_token_ids(self) -> tuple[int, ...]:
        """Every id that ends an output: ``eos_token_id`` first, then the others of a list
        (transformers stops on any of them)."""
        return (self.eos_token_id, *self.extra_eos_token_ids)

    @classmethod
    def from_dict(cls, values: dict) -> "GenerationConfig":
        known = {f.name for f in dataclasses.fields(cls)} - {"extra"}
        nullable = ("forced_bos_token_id", "max_new_tokens")  # None is a meaningful value
        kwargs = {k: v for k, v in values.items()
                  if k in known and (v is not None or k in nullable)}  # fmt: skip
        extra = {k: v for k, v in values.items() if k not in known}
        return cls(**kwargs, extra=extra)  # an eos_token_id list is split in __post_init__

    def to_dict(self) -> dict:
        return _as_dict(self)

    def replace(self, **changes) -> "GenerationConfig":
        """A copy with some options changed (validated again). A new ``eos_token_id``
        (an id or a list) replaces the whole list of stop ids."""
        if "eos_token_id" in changes and "extra_eos_token_ids" not in changes:
            changes["extra_eos_token_ids"] = ()
        return dataclasses.replace(self, **changes)

    @classmethod
    def from_pretrained(cls, directory) -> "GenerationConfig":
        """``generation_config.json`` over the generation keys of ``config.json``."""
        directory = Path(directory)
        values = {}
        model_json = directory / "config.json"
        if model_json.is_file():
            model = read_json(model_json)
            known = {f.name for f in dataclasses.fields(cls)} - {"extra"}
            values.update({k: v for k, v in model.items() if k in known})
        gen_json = directory / "generation_config.json"
        if gen_json.is_file():
            values.update(read_json(gen_json))
        return cls.from_dict(values)

    def save_pretrained(self, directory) -> None:
        write_json(Path(directory) / "generation_config.json", self.to_dict())


# --- validation ---------------------------------------------------------------------


def _as_dict(config) -> dict:
    """A config's fields and kept unknown keys as its JSON file holds them: tuples as lists,
    and the stop ids as one ``eos_token_id`` list when there are several."""
    out = dict(config.extra)
    for f in dataclasses.fields(config):
        if f.name not in ("extra", "extra_eos_token_ids"):
            value = getattr(config, f.name)
            out[f.name] = list(value) if isinstance(value, tuple) else value
    if config.extra_eos_token_ids:
        out["eos_token_id"] = list(config.eos_token_ids)
    return out


def _split_eos_list(config) -> None:
    """``eos_token_id`` given as a list (or tuple) of stop ids: the first stays
    ``eos_token_id``, the others go to ``extra_eos_token_ids``. Checked here, so that a
    list is never silently cut to its first id."""
    value = config.eos_token_id
    if isinstance(value, (list, tuple)):
        if not value or not all(_is_int(x) for x in value):
            raise ConfigError(f"config field 'eos_token_id' must be a token id or a non-empty list "
                              f"of them, got {value!r:.80}")  # fmt: skip
        if config.extra_eos_token_ids:
            raise ConfigError("give the stop ids either as an 'eos_token_id' list or as "
                              "'extra_eos_token_ids', not both")  # fmt: skip
        object.__setattr__(config, "eos_token_id", value[0])
        object.__setattr__(config, "extra_eos_token_ids", tuple(value[1:]))
    extra = config.extra_eos_token_ids
    if not isinstance(extra, (list, tuple)) or not all(_is_int(x) for x in extra):
        raise ConfigError(f"config field 'eos_token_id': the stop ids must be integers, got {extra!r:.80}")
    object.__setattr__(config, "extra_eos_token_ids", tuple(extra))


def _positive_int(config, name: str) -> None:
    value = getattr(config, name)
    if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
        raise ConfigError(f"config field '{name}' must be a positive integer, got {value!r}")


# Upper bounds on every count and size of a config, checked before anything is built from it
# (the list of tensor names, position tables, graphs): each is far above any Speech2Text model
# (s2t-large: 12 + 6 layers, d_model 1024, ffn 4096, 16 heads, vocabulary 10 000), and far below
# what would exhaust memory before the weights are compared (a billion layers' names took
# 2.7 GB). The tighter bound is the weights' size: :func:`check_fits_weights`.
MAX_SIZES = {
    "vocab_size": 2**20, "d_model": 2**14, "encoder_layers": 1024, "decoder_layers": 1024,
    "encoder_ffn_dim": 2**16, "decoder_ffn_dim": 2**16, "encoder_attention_heads": 1024,
    "decoder_attention_heads": 1024, "max_source_positions": 2**20, "max_target_positions": 2**20,
    "num_conv_layers": 8, "conv_channels": 2**15, "input_feat_per_channel": 256, "input_channels": 16,
}  # fmt: skip
MAX_KERNEL = 63  # conv_kernel_sizes: fairseq's S2T uses 5


def _validate_model(c: ModelConfig) -> None:
    for name, most in MAX_SIZES.items():
        _positive_int(c, name)
        if getattr(c, name) > most:
            raise ConfigError(
                f"config field '{name}' is {getattr(c, name):,}; minis2t allows at most {most:,} (far above "
                f"any Speech2Text model's): the config is damaged or not a Speech2Text config."
            )
    for side in ("encoder", "decoder"):
        heads = getattr(c, f"{side}_attention_heads")
        if c.d_model % heads:
            raise ConfigError(
                f"config field 'd_model' ({c.d_model}) must be divisible by "
                f"'{side}_attention_heads' ({heads})"
            )
    if len(c.conv_kernel_sizes) != c.num_conv_layers:
        raise ConfigError(
            f"config field 'conv_kernel_sizes' has {len(c.conv_kernel_sizes)} entries but "
            f"'num_conv_layers' is {c.num_conv_layers}; give one kernel size per layer"
        )
    for k in c.conv_kernel_sizes:
        if isinstance(k, bool) or not isinstance(k, int) or k <= 0 or k % 2 == 0 or k > MAX_KERNEL:
            raise ConfigError(
                f"config field 'conv_kernel_sizes' must hold odd integers in [1, {MAX_KERNEL}] (padding "
                f"k // 2 keeps 'same' lengths only for odd k), got {list(c.conv_kernel_sizes)[:8]}"
            )
    if c.conv_channels % 2 and c.num_conv_layers > 1:  # one layer: conv_channels is unused
        raise ConfigError(
            f"config field 'conv_channels' ({c.conv_channels}) must be even: GLU halves it"
        )
    rows = min(c.max_source_positions, c.max_target_positions) + 2
    if isinstance(c.pad_token_id, int) and not 0 <= c.pad_token_id < rows:
        # the position tables have max_*_positions + 2 rows and the pad id's row is zeroed:
        # transformers cannot even build such a model (an index error)
        raise ConfigError(
            f"config field 'pad_token_id' ({c.pad_token_id}) must be below the position tables' "
            f"{rows} rows (min(max_source_positions, max_target_positions) + 2), whose row "
            f"pad_token_id is the padding row"
        )
    if c.activation_function not in ACTIVATIONS:
        raise ConfigError(
            f"config field 'activation_function' is {c.activation_function!r}; "
            f"minis2t supports {', '.join(ACTIVATIONS)}"
        )
    for side in ("source", "target"):
        entries = getattr(c, f"max_{side}_positions") * c.d_model
        if entries > MAX_TABLE_ENTRIES:
            raise ConfigError(
                f"config fields 'max_{side}_positions' ({getattr(c, f'max_{side}_positions')}) "
                f"x 'd_model' ({c.d_model}) = {entries:,} position-table entries, more than "
                f"the {MAX_TABLE_ENTRIES:,} minis2t allows (s2t-large needs 6.1 million): "
                f"the config is damaged or not a Speech2Text config."
            )
    for name in ("pad_token_id", "bos_token_id", "eos_token_id", "decoder_start_token_id"):
        values = c.eos_token_ids if name == "eos_token_id" else (getattr(c, name),)
        for value in values:
            if not _is_int(value) or not 0 <= value < c.vocab_size:
                raise ConfigError(
                    f"config field '{name}' ({value!r}) must be a token id in [0, {c.vocab_size})"
                )


# --- the config against the weights on disk ----------------------------------------------------

def minimum_parameters(c: ModelConfig) -> int:
    """A lower bound on the numbers a model of config ``c`` holds, computed from the config
    alone (nothing is allocated): the conv kernels, every layer's weight matrices (4 D x D
    attention projections, 8 in a decoder layer, and the two D x ffn matrices) and the token
    embedding; biases and norms left out, so it never exceeds the true count."""
    d, in_channels, conv = c.d_model, c.input_feat_per_channel * c.input_channels, 0
    for i, k in enumerate(c.conv_kernel_sizes):
        out_channels = 2 * d if i == len(c.conv_kernel_sizes) - 1 else c.conv_channels
        conv += out_channels * in_channels * k
        in_channels = out_channels // 2
    encoder = c.encoder_layers * (4 * d * d + 2 * d * c.encoder_ffn_dim)
    decoder = c.decoder_layers * (8 * d * d + 2 * d * c.decoder_ffn_dim)
    return conv + encoder + decoder + c.vocab_size * d


def check_fits_weights(c: ModelConfig, held: int, source) -> None:
    """Refuse a config that needs more numbers than the weights read from ``source`` hold.

    The rule: the tensors on disk hold ``held`` numbers (every element of every tensor), and
    a Speech2Text model of config ``c`` has at least :func:`minimum_parameters` of them, so
    the config must not ask for more. A config.json of 1000 layers beside a 9 MB file is
    refused here, by arithmetic, before any tensor name of the config is listed (the counts
    themselves are capped by :data:`MAX_SIZES` when the config is read)."""
    needed = minimum_parameters(c)
    if needed > held:
        raise ConfigError(
            f"{source}: {c.encoder_layers} encoder and {c.decoder_layers} decoder layers of d_model "
            f"{c.d_model} (ffn {c.encoder_ffn_dim}/{c.decoder_ffn_dim}), a vocabulary of {c.vocab_size} and the "
            f"conv layers need at least {needed:,} parameters, but the weights hold {held:,} numbers (the rule: "
            f"the config may not ask for more numbers than its weights hold). The config does not belong to "
            f"these weights, or it is damaged."
        )


TOKEN_ID_FIELDS = ("decoder_start_token_id", "bos_token_id", "eos_token_id", "pad_token_id",
                   "forced_bos_token_id")  # fmt: skip
MAX_BEAMS = 128  # each beam holds its own decoder cache: more is memory, not accuracy
# A position table holds max_positions x d_model numbers, computed when a model loads; its
# float64 intermediates take ~3x that. 2**24 numbers (s2t-large has 6e6) bounds it to
# ~400 MB before any weight is read, whatever a config.json says.
MAX_TABLE_ENTRIES = 2**24


def _is_int(value) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _validate_generation(g: GenerationConfig) -> None:
    if not _is_int(g.num_beams) or not 1 <= g.num_beams <= MAX_BEAMS:
        raise ConfigError(f"num_beams must be an integer in [1, {MAX_BEAMS}], got {g.num_beams!r}")
    if isinstance(g.max_length, bool) or not isinstance(g.max_length, int) or g.max_length < 2:
        raise ConfigError(
            f"max_length must be an integer >= 2 (it counts the decoder start token), "
            f"got {g.max_length!r}"
        )
    if g.max_new_tokens is not None and (not _is_int(g.max_new_tokens) or g.max_new_tokens < 1):
        raise ConfigError(f"max_new_tokens must be an integer >= 1, got {g.max_new_tokens!r}")
    if not _is_int(g.min_length) or g.min_length < 0:
        raise ConfigError(f"min_length must be an integer >= 0, got {g.min_length!r}")
    longest = max_length_of(g)
    if g.min_length > longest:
        raise ConfigError(
            f"min_length ({g.min_length}) exceeds the longest allowed output ({longest}, from "
            f"{'max_length' if g.max_new_tokens is None else 'max_new_tokens'}): no output "
            f"could satisfy both."
        )
    if g.early_stopping not in (True, False, "never"):
        raise ConfigError(
            f"early_stopping must be True, False or 'never', got {g.early_stopping!r}"
        )
    if not _is_int(g.no_repeat_ngram_size) or g.no_repeat_ngram_size < 0:
        raise ConfigError(
            f"no_repeat_ngram_size must be an integer >= 0, got {g.no_repeat_ngram_size!r}"
        )
    if (not isinstance(g.length_penalty, (int, float)) or isinstance(g.length_penalty, bool)
            or not math.isfinite(g.length_penalty)):  # fmt: skip
        raise ConfigError(f"length_penalty must be a finite number, got {g.length_penalty!r}")
    for name in TOKEN_ID_FIELDS:
        value = getattr(g, name)
        if value is None and name == "forced_bos_token_id":
            continue
        for v in g.eos_token_ids if name == "eos_token_id" else (value,):
            if not _is_int(v) or v < 0:
                raise ConfigError(f"{name} must be a token id (an integer >= 0), got {v!r}")


def check_generation_for_model(g: GenerationConfig, c: ModelConfig) -> None:
    """What a generation config asks of one model: ids inside its vocabulary, outputs
    inside its decoder's positions. Checked before any audio is processed."""
    for name in TOKEN_ID_FIELDS:
        value = max(g.eos_token_ids) if name == "eos_token_id" else getattr(g, name)
        if value is not None and value >= c.vocab_size:
            raise ConfigError(
                f"{name} ({value}) is not a token of this model (vocabulary of {c.vocab_size})."
            )
    heads = g.extra.get("alignment_heads")
    if heads is not None and not (
        isinstance(heads, list) and heads
        and all(isinstance(h, list) and len(h) == 2 and all(type(x) is int for x in h)
                and 0 <= h[0] < c.decoder_layers and 0 <= h[1] < c.decoder_attention_heads for h in heads)
    ):  # fmt: skip
        raise ConfigError(
            f"alignment_heads must be a non-empty list of [layer, head] pairs of this model's "
            f"decoder ({c.decoder_layers} layers of {c.decoder_attention_heads} heads), got {heads!r:.80}."
        )
    longest = max_length_of(g)
    if longest > c.max_target_positions:
        raise ConfigError(
            f"outputs of up to {longest} tokens were asked for (max_length / max_new_tokens), "
            f"but this model's decoder has {c.max_target_positions} positions "
            f"(max_target_positions). Ask for at most {c.max_target_positions}."
        )


# --- JSON files -----------------------------------------------------------------------


def read_json(path: Path, error: type[Exception] = ConfigError) -> dict:
    """Read a JSON object, with errors (of type ``error``) that name the file; the size and
    nesting bounded (:func:`minis2t.jsonfile.read_json_file`, the one reader of every JSON file
    a model directory holds)."""
    if not Path(path).is_file():
        raise error(f"{path} not found: a Speech2Text model directory needs it.")
    value = read_json_file(path, error)
    if not isinstance(value, dict):
        raise error(f"{path} must hold a JSON object, got a {type(value).__name__}.")
    return value


def write_json(path: Path, value: dict) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(value, indent=2, sort_keys=True, ensure_ascii=False) + "\n")
