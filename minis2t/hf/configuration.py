"""transformers' ``Speech2TextConfig`` (its ``configuration_speech_to_text``), over
:class:`minis2t.ModelConfig`."""

from __future__ import annotations

import dataclasses

from ..errors import UnsupportedError
from ..io.checkpoint import resolve_model_dir
from ..io.config import ModelConfig, read_json


class Speech2TextConfig(ModelConfig):
    """transformers' ``Speech2TextConfig``: every field, same names and defaults
    (:class:`minis2t.ModelConfig`), keyword arguments it does not know kept in ``extra``
    (transformers keeps them as attributes; here ``config.extra[name]``). A value minis2t
    cannot compute is a :class:`~minis2t.errors.ConfigError` naming the field."""

    model_type = "speech_to_text"

    def __init__(self, **kwargs):
        known = {f.name for f in dataclasses.fields(ModelConfig)} - {"extra"}
        extra = {**kwargs.pop("extra", {}), **{k: kwargs.pop(k) for k in list(kwargs) if k not in known}}
        for name in ("architectures", "model_type", "transformers_version"):
            extra.pop(name, None)
        _check_config_extras(extra)
        super().__init__(**kwargs, extra=extra)

    # transformers' attribute_map
    hidden_size = property(lambda self: self.d_model)
    num_attention_heads = property(lambda self: self.encoder_attention_heads)
    num_hidden_layers = property(lambda self: self.encoder_layers)

    @classmethod
    def from_pretrained(cls, name, **overrides) -> "Speech2TextConfig":
        """``config.json`` of a model directory or of ``"bundled-asr"`` / ``"bundled-st"``,
        with ``overrides`` on top."""
        return cls(**{**read_json(resolve_model_dir(name) / "config.json"), **overrides})

    @classmethod
    def from_dict(cls, values: dict) -> "Speech2TextConfig":
        return cls(**values)

    @classmethod
    def of(cls, config: ModelConfig) -> "Speech2TextConfig":
        return config if isinstance(config, cls) else cls(**config.to_dict())


def _check_config_extras(extra: dict) -> None:
    """Config keys outside Speech2TextConfig's fields that would change transformers'
    numbers: honoured where minis2t can, refused otherwise."""
    dtype = extra.get("torch_dtype", extra.get("dtype"))
    if dtype not in (None, "float32", "float64"):
        raise UnsupportedError(f"config field 'dtype' ({dtype!r}): minis2t computes in float32 or float64; "
                               f"pass dtype=np.float32 / np.float64 to from_pretrained.")  # fmt: skip
    for name, allowed in (("chunk_size_feed_forward", (None, 0)), ("add_cross_attention", (None, False)),
                          ("is_decoder", (None, False)), ("tie_encoder_decoder", (None, False)),
                          ("pruned_heads", (None, {})), ("_attn_implementation", (None, "eager"))):  # fmt: skip
        if extra.get(name) not in allowed:
            raise UnsupportedError(f"config field '{name}' ({extra[name]!r}) changes transformers' model "
                                   f"in a way minis2t does not follow; leave it at its default.")  # fmt: skip
