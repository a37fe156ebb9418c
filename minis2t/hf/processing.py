"""transformers' ``Speech2TextProcessor`` (its ``processing_speech_to_text``): the feature
extractor and the tokenizer together."""

from __future__ import annotations

from ..errors import FeatureError, UnsupportedError
from ..io.features import FeatureExtractor
from ..io.tokenizer import Tokenizer
from .feature_extraction import Speech2TextFeatureExtractor
from .tokenization import Speech2TextTokenizer


class Speech2TextProcessor:
    """transformers' ``Speech2TextProcessor``: the feature extractor for audio, the
    tokenizer for text (``labels`` when both are given), decoding by the tokenizer."""

    def __init__(self, feature_extractor: FeatureExtractor, tokenizer: Tokenizer):
        self.feature_extractor = feature_extractor
        self.tokenizer = tokenizer

    @classmethod
    def from_pretrained(cls, name, **overrides) -> "Speech2TextProcessor":
        if overrides:
            raise UnsupportedError(f"Speech2TextProcessor.from_pretrained argument(s) {', '.join(sorted(overrides))}: "
                                   f"load the feature extractor or tokenizer with them and build "
                                   f"Speech2TextProcessor(feature_extractor, tokenizer).")  # fmt: skip
        return cls(Speech2TextFeatureExtractor.from_pretrained(name), Speech2TextTokenizer.from_pretrained(name))

    def save_pretrained(self, directory) -> None:
        self.feature_extractor.save_pretrained(directory)
        self.tokenizer.save_pretrained(directory)

    def __call__(self, *args, audio=None, sampling_rate=None, text=None, **kwargs):
        if args:
            audio, args = args[0], args[1:]
        if audio is None and text is None:
            raise FeatureError("give audio (a waveform or a list of them) or text to the processor.")
        inputs = self.feature_extractor(audio, *args, sampling_rate=sampling_rate, **kwargs) if audio is not None else None
        if text is None:
            return inputs
        encodings = self.tokenizer(text, **kwargs)
        if inputs is None:
            return encodings
        inputs["labels"] = encodings["input_ids"]
        return inputs

    def batch_decode(self, *args, **kwargs):
        return self.tokenizer.batch_decode(*args, **kwargs)

    def decode(self, *args, **kwargs):
        return self.tokenizer.decode(*args, **kwargs)
