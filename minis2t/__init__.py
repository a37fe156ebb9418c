"""minis2t: the fairseq S2T / Hugging Face Speech2Text model, in readable NumPy.

The data path, one module per stage::

    audio.py       load_audio           file or array -> float32 [N] at 16 kHz
    features.py    fbank, FeatureExtractor  -> log-mel [T, 80], CMVN, padded batch + mask
    tokenizer.py   Tokenizer            vocab.json + SentencePiece, language codes
    config.py      ModelConfig, GenerationConfig   frozen dataclasses from the JSON files
    checkpoint.py  load_checkpoint      model directory -> (config, {name: array}), no torch
    nn.py, model.py                     the network as functions over a dict of weights
    pipeline.py    Speech2Text          one object: from_pretrained, encode, forward
"""

from . import checkpoint, errors
from .audio import load_audio, resample
from .checkpoint import load_checkpoint, save_checkpoint
from .config import GenerationConfig, ModelConfig
from .errors import MiniS2TError
from .features import FeatureExtractor, fbank, utterance_cmvn
from .pipeline import Speech2Text
from .tokenizer import Tokenizer

__version__ = "0.1.0"

__all__ = [
    "FeatureExtractor",
    "GenerationConfig",
    "MiniS2TError",
    "ModelConfig",
    "Speech2Text",
    "Tokenizer",
    "checkpoint",
    "errors",
    "fbank",
    "load_audio",
    "load_checkpoint",
    "resample",
    "save_checkpoint",
    "utterance_cmvn",
]
