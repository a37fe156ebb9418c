"""One object for the whole line: ``Speech2Text.from_pretrained(dir)``.

It holds the config, the weights (nested, see :func:`minis2t.model.nest`), the feature
extractor and the tokenizer of one model directory, and offers the model's entry points::

    model = minis2t.Speech2Text.from_pretrained("s2t-small-librispeech-asr/")
    states, mask = model.encode(features, attention_mask)     # [B, S, D], [B, S]
    logits = model.forward(features, attention_mask, decoder_input_ids=ids)   # [B, L, V]
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from . import model as m
from .checkpoint import load_checkpoint, resolve_model_dir
from .config import GenerationConfig, ModelConfig
from .errors import ModelInputError
from .features import FeatureExtractor
from .tokenizer import Tokenizer


class Output(dict):
    """A dict whose keys are also attributes: ``out.logits is out["logits"]``."""

    __getattr__ = dict.__getitem__


class Speech2Text:
    """A Speech2Text model directory, loaded into NumPy."""

    def __init__(self, config: ModelConfig, weights: dict[str, np.ndarray],
                 generation_config: GenerationConfig | None = None,
                 feature_extractor: FeatureExtractor | None = None,
                 tokenizer: Tokenizer | None = None):  # fmt: skip
        self.config = config
        self.weights = weights
        self.params = m.nest(weights)
        self.dtype = next(iter(weights.values())).dtype
        self.generation_config = generation_config or GenerationConfig()
        self.feature_extractor = feature_extractor
        self.tokenizer = tokenizer

    @classmethod
    def from_pretrained(cls, path, dtype=np.float32) -> "Speech2Text":
        """Load config, weights, generation config, feature extractor and tokenizer.

        The tokenizer and feature extractor are optional: a directory with only
        ``config.json`` and weights still encodes and decodes ids."""
        directory = resolve_model_dir(path)
        config, weights = load_checkpoint(directory, dtype=dtype)
        has = lambda *names: any((directory / n).is_file() for n in names)  # noqa: E731
        extractor = (FeatureExtractor.from_pretrained(directory)
                     if has("preprocessor_config.json", "processor_config.json") else None)  # fmt: skip
        tokenizer = Tokenizer.from_pretrained(directory) if has("vocab.json") else None
        return cls(config, weights, GenerationConfig.from_pretrained(directory), extractor,
                   tokenizer)  # fmt: skip

    @property
    def num_parameters(self) -> int:
        """Parameters, a tied head counted once."""
        return sum({id(a): a.size for a in self.weights.values()}.values())

    def _features(self, input_features) -> np.ndarray:
        x = np.asarray(input_features)
        if x.ndim == 2:
            x = x[None]  # one utterance [T, F] -> [1, T, F]
        if x.ndim != 3:
            raise ModelInputError(f"input_features must be [B, T, F], got shape {x.shape}.")
        if not np.all(np.isfinite(x)):
            raise ModelInputError("input_features hold NaN or infinite values.")
        return x.astype(self.dtype, copy=False)

    def encode(self, input_features, attention_mask=None, positions=None):
        """Features ``[B, T, F]`` and mask ``[B, T]`` -> (encoder states ``[B, S, D]``,
        encoder mask ``[B, S]``)."""
        out = m.encode(self.params, self.config, self._features(input_features),
                       attention_mask, positions)  # fmt: skip
        return out["last_hidden_state"], out["mask"]

    def forward(self, input_features, attention_mask=None, decoder_input_ids=None,
                decoder_attention_mask=None, labels=None, output_hidden_states=False,
                output_attentions=False, return_dict=False, encoder_positions=None,
                decoder_positions=None):  # fmt: skip
        """Logits ``[B, L, V]`` of ``decoder_input_ids`` ``[B, L]`` given the audio features.

        With ``labels`` and no ``decoder_input_ids``, the inputs are the labels shifted
        right (teacher forcing). Returns the logits array, or — when ``labels``,
        ``output_hidden_states``, ``output_attentions`` or ``return_dict`` is given — an
        :class:`Output` with ``logits``, ``loss``, ``encoder_last_hidden_state``,
        ``encoder_mask``, ``encoder_conv_outputs``, ``encoder_hidden_states``,
        ``decoder_hidden_states``, ``encoder_attentions``, ``decoder_attentions``,
        ``cross_attentions`` as asked.
        """
        if decoder_input_ids is None:
            if labels is None:
                raise ModelInputError("give decoder_input_ids (or labels to shift right).")
            decoder_input_ids = m.shift_tokens_right(labels, self.config.pad_token_id,
                                                     self.config.decoder_start_token_id)  # fmt: skip
        enc = m.encode(self.params, self.config, self._features(input_features), attention_mask,
                       encoder_positions, output_hidden_states, output_attentions)  # fmt: skip
        cache = m.init_cache(self.params, self.config, enc["last_hidden_state"])
        dec = m.decode(self.params, self.config, decoder_input_ids, cache, enc["mask"],
                       decoder_attention_mask, decoder_positions, output_hidden_states,
                       output_attentions)  # fmt: skip
        if not (labels is not None or output_hidden_states or output_attentions or return_dict):
            return dec["logits"]
        out = Output(logits=dec["logits"], encoder_last_hidden_state=enc["last_hidden_state"],
                     encoder_mask=enc["mask"])  # fmt: skip
        if labels is not None:
            out["loss"] = m.cross_entropy(dec["logits"], labels)
        if output_hidden_states:
            out.update(encoder_conv_outputs=enc["conv_outputs"],
                       encoder_hidden_states=enc["hidden_states"],
                       decoder_hidden_states=dec["hidden_states"])  # fmt: skip
        if output_attentions:
            out.update(encoder_attentions=enc["attentions"],
                       decoder_attentions=dec["self_attentions"],
                       cross_attentions=dec["cross_attentions"])  # fmt: skip
        return out

    __call__ = forward

    def __repr__(self) -> str:
        c = self.config
        return (f"Speech2Text(d_model={c.d_model}, layers={c.encoder_layers}+{c.decoder_layers}, "
                f"vocab={c.vocab_size}, parameters={self.num_parameters:,}, dtype={self.dtype})")  # fmt: skip
