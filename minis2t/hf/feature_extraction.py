"""transformers' ``Speech2TextFeatureExtractor`` (its ``feature_extraction_speech_to_text``),
over :class:`minis2t.FeatureExtractor`."""

from __future__ import annotations

import inspect

from ..errors import FeatureError
from ..io.checkpoint import resolve_model_dir
from ..io.features import FeatureExtractor
from .outputs import BatchFeature


class Speech2TextFeatureExtractor(FeatureExtractor):
    """transformers' ``Speech2TextFeatureExtractor``: the minis2t feature extractor with
    transformers' call defaults (``padding=False``; ``return_tensors=None`` gives lists of
    per-utterance arrays, ``"np"`` one array). ``"pt"`` is an
    :class:`~minis2t.errors.UnsupportedError`; unknown arguments a ``FeatureError``."""

    model_input_names = ["input_features", "attention_mask"]

    @classmethod
    def from_pretrained(cls, name, **overrides) -> "Speech2TextFeatureExtractor":
        """``preprocessor_config.json`` of a directory or bundled model, ``overrides``
        (constructor arguments) on top; an unknown one is a ``FeatureError``."""
        known = set(inspect.signature(FeatureExtractor.__init__).parameters) - {"self", "unused"}
        unknown = sorted(set(overrides) - known)
        if unknown:
            raise FeatureError(f"unknown feature extractor option(s) {', '.join(unknown)}; "
                               f"it takes {', '.join(sorted(known))}.")  # fmt: skip
        directory = resolve_model_dir(name)
        return cls(**{**FeatureExtractor.from_pretrained(directory).to_dict(), **overrides})

    def __call__(self, raw_speech, padding=False, max_length=None, truncation=False,
                 pad_to_multiple_of=None, return_tensors=None, sampling_rate=None,
                 return_attention_mask=None, **kwargs) -> ModelOutput:  # fmt: skip
        out = super().__call__(raw_speech, sampling_rate=sampling_rate, padding=padding,
                               max_length=max_length, truncation=truncation,
                               pad_to_multiple_of=pad_to_multiple_of, return_tensors=return_tensors,
                               return_attention_mask=return_attention_mask, **kwargs)  # fmt: skip
        ragged = isinstance(out["input_features"], list)
        if return_tensors is None:  # transformers: a list of [T, F] arrays, masks [T]
            out = {k: list(v) for k, v in out.items()}
        elif ragged:
            raise FeatureError("return_tensors='np' needs utterances of one length: pass padding=True "
                               "(or padding='max_length' with max_length).")  # fmt: skip
        return BatchFeature(**out)
