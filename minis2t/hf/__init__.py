"""transformers' Speech2Text classes, in NumPy: the Hugging Face page's calls, over minis2t.

Code written for ``transformers`` runs with ``minis2t.hf`` in its place::

    from minis2t.hf import Speech2TextForConditionalGeneration, Speech2TextProcessor

    model = Speech2TextForConditionalGeneration.from_pretrained("bundled-asr")  # or a directory
    processor = Speech2TextProcessor.from_pretrained("bundled-asr")
    inputs = processor(wave, sampling_rate=16_000, return_tensors="np")
    ids = model.generate(inputs["input_features"], attention_mask=inputs["attention_mask"])
    processor.batch_decode(ids, skip_special_tokens=True)

This is a thin layer: every number comes from :class:`minis2t.Speech2Text`'s public
methods (whatever runtime it has) and the model functions (:mod:`minis2t.reference.model`);
what this package adds is transformers' names, argument
conventions and output objects. Arrays are NumPy (``return_tensors="np"``). What
transformers accepts and minis2t does not compute is refused with a typed error that names
the argument or config field (:class:`minis2t.errors.UnsupportedError`,
:class:`~minis2t.errors.ConfigError`, ...) — never a silent difference. :func:`refused` lists
those refusals with the reason; the documentation's *transformers API* page is generated
from it and from ``CALLS``.

The package is laid out as transformers lays out a model: ``configuration``
(:class:`Speech2TextConfig`), ``feature_extraction``, ``tokenization``, ``processing``,
``modeling`` (the two models, and ``past_key_values`` in transformers 4's per-layer layout,
:func:`cache_from_transformers`), ``outputs`` (:class:`ModelOutput`) and ``calls`` (the
tables of the documentation's page). Every name is importable from ``minis2t.hf``.
"""

from __future__ import annotations

from .calls import CALLS, refused, signature
from .configuration import Speech2TextConfig
from .feature_extraction import Speech2TextFeatureExtractor
from .modeling import (
    GENERATE_REFUSED,
    Speech2TextForConditionalGeneration,
    Speech2TextModel,
    cache_from_transformers,
)
from .outputs import OUTPUT_FIELDS, BatchEncoding, BatchFeature, ModelOutput
from .processing import Speech2TextProcessor
from .tokenization import Speech2TextTokenizer

__all__ = [
    "Speech2TextConfig",
    "Speech2TextFeatureExtractor",
    "Speech2TextTokenizer",
    "Speech2TextProcessor",
    "Speech2TextModel",
    "Speech2TextForConditionalGeneration",
    "ModelOutput",
    "cache_from_transformers",
]
