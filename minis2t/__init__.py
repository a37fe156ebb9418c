"""minis2t: the fairseq S2T / Hugging Face Speech2Text model, in readable NumPy.

The data path, one module per stage::

    load_audio (audio.py) -> FeatureExtractor / fbank (features.py) -> ...

See DESIGN.md-style overview in the README and the documentation site.
"""

from . import errors
from .audio import load_audio, resample
from .errors import MiniS2TError
from .features import FeatureExtractor, fbank, utterance_cmvn
from .tokenizer import Tokenizer
from .config import GenerationConfig, ModelConfig

__version__ = "0.1.0"

__all__ = [
    "FeatureExtractor",
    "GenerationConfig",
    "ModelConfig",
    "Tokenizer",
    "MiniS2TError",
    "errors",
    "fbank",
    "load_audio",
    "resample",
    "utterance_cmvn",
]
