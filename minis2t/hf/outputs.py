"""transformers' output objects: what every ``minis2t.hf`` call returns."""

from __future__ import annotations


class ModelOutput(dict):
    """transformers' output object: a dict whose keys are also attributes
    (``out.logits is out["logits"]``), whose integer index counts its values in order
    (``out[0]``), and which leaves out what was not computed (None)."""

    def __init__(self, **values):
        super().__init__((k, v) for k, v in values.items() if v is not None)

    def __getattr__(self, name):
        if name == "cache":  # transformers 5's name for past_key_values
            name = "past_key_values"
        if name in self:
            return dict.__getitem__(self, name)
        if name in OUTPUT_FIELDS:
            return None  # transformers: a field that was not computed reads as None
        raise AttributeError(f"{type(self).__name__} has no field {name!r}; it holds {', '.join(self)}")

    def __getitem__(self, key):
        if isinstance(key, (int, slice)):
            return self.to_tuple()[key]
        return super().__getitem__(key)

    def to_tuple(self) -> tuple:
        return tuple(self.values())


OUTPUT_FIELDS = frozenset((
    "loss", "logits", "last_hidden_state", "past_key_values", "hidden_states", "attentions",
    "decoder_hidden_states", "decoder_attentions", "cross_attentions", "encoder_last_hidden_state",
    "encoder_hidden_states", "encoder_attentions", "sequences", "sequences_scores", "scores",
    "input_features", "attention_mask", "input_ids", "labels",
))  # fmt: skip
BatchFeature = BatchEncoding = ModelOutput  # what the feature extractor and tokenizer return
