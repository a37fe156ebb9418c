"""minis2t: the fairseq S2T / Hugging Face Speech2Text model, in readable NumPy.

The package in layers, each importing only from those below it (``ARCHITECTURE.md``)::

    app/        pipeline (Speech2Text), longform, timing, formats, corpus, explain, cli
    train/      loss_and_grads, the optimiser, the schedule
    io/         audio, features (fbank, FeatureExtractor), config, checkpoint, fairseq, tokenizer
    engine/     the reference made fast, held to it by tests
    reference/  the math: features, nn, model, generate, fairseq_search, search, grad, model_grad
    errors      the typed errors every layer raises (and _version, the version)
"""

from . import errors
from ._version import __version__
from .app.explain import explain
from .app.pipeline import Speech2Text
from .errors import MiniS2TError
from .io import checkpoint
from .io.audio import load_audio, resample
from .io.checkpoint import load_checkpoint, save_checkpoint
from .io.config import GenerationConfig, ModelConfig
from .io.features import FeatureExtractor, fbank, utterance_cmvn
from .io.tokenizer import Tokenizer

__all__ = [
    "FeatureExtractor",
    "GenerationConfig",
    "MiniS2TError",
    "ModelConfig",
    "Speech2Text",
    "Tokenizer",
    "__version__",
    "checkpoint",
    "errors",
    "explain",
    "fbank",
    "load_audio",
    "load_checkpoint",
    "resample",
    "save_checkpoint",
    "utterance_cmvn",
]
