"""transformers' Speech2Text classes, in NumPy: the Hugging Face page's calls, over minis2t.

Code written for ``transformers`` runs with ``minis2t.hf`` in its place::

    from minis2t.hf import Speech2TextForConditionalGeneration, Speech2TextProcessor

    model = Speech2TextForConditionalGeneration.from_pretrained("bundled-asr")  # or a directory
    processor = Speech2TextProcessor.from_pretrained("bundled-asr")
    inputs = processor(wave, sampling_rate=16_000, return_tensors="np")
    ids = model.generate(inputs["input_features"], attention_mask=inputs["attention_mask"])
    processor.batch_decode(ids, skip_special_tokens=True)

This is a thin layer: every number comes from :class:`minis2t.Speech2Text` and the model
functions (:mod:`minis2t.reference.model`); what this module adds is transformers' names, argument
conventions and output objects. Arrays are NumPy (``return_tensors="np"``). What
transformers accepts and minis2t does not compute is refused with a typed error that names
the argument or config field (:class:`minis2t.errors.UnsupportedError`,
:class:`~minis2t.errors.ConfigError`, ...) — never a silent difference. :func:`refused` lists
those refusals with the reason; the documentation's *transformers API* page is generated
from it and from ``CALLS``.

``past_key_values`` are transformers 4's layout, which transformers 5's
``EncoderDecoderCache`` holds too: one tuple per decoder layer, ``(self_k, self_v,
cross_k, cross_v)``, each ``[B, H, P or S, Dh]``. :func:`cache_from_transformers` turns a
transformers cache into that tuple.
"""

from __future__ import annotations

import dataclasses
import inspect
from pathlib import Path

import numpy as np

# The model-side code this layer stands on, imported in one place (to rewire in one place).
from .app.pipeline import Speech2Text
from .engine import model as engine
from .errors import FeatureError, ModelInputError, TokenizerError, UnsupportedError
from .io.checkpoint import resolve_model_dir, save_checkpoint
from .io.config import GenerationConfig, ModelConfig, read_json
from .io.features import FeatureExtractor
from .io.tokenizer import Tokenizer
from .reference.search import search
from .reference import model as m
from .train import init_weights

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


# --- outputs ---------------------------------------------------------------------------


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


# --- config -------------------------------------------------------------------------------


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


# --- feature extractor ----------------------------------------------------------------------


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


# --- tokenizer ------------------------------------------------------------------------------------


class Speech2TextTokenizer(Tokenizer):
    """transformers' ``Speech2TextTokenizer``: built from the two files
    (``Speech2TextTokenizer(vocab_file, spm_file, ...)``) or ``from_pretrained``, with
    transformers' methods and call options (:class:`minis2t.Tokenizer`)."""

    model_input_names = ["input_ids", "attention_mask"]
    bos_token, pad_token, eos_token, unk_token = "<s>", "<pad>", "</s>", "<unk>"

    def __init__(self, vocab_file, spm_file, bos_token="<s>", eos_token="</s>", pad_token="<pad>",
                 unk_token="<unk>", do_upper_case=False, do_lower_case=False, tgt_lang=None,
                 lang_codes=None, additional_special_tokens=None, sp_model_kwargs=None,
                 extra_config=None, **kwargs):  # fmt: skip
        given = {"bos_token": bos_token, "eos_token": eos_token, "pad_token": pad_token, "unk_token": unk_token}
        for name, value in given.items():
            if value != getattr(Speech2TextTokenizer, name):
                raise UnsupportedError(f"{name}={value!r}: minis2t keeps fairseq's special tokens "
                                       f"(<s>, <pad>, </s>, <unk> = 0, 1, 2, 3).")  # fmt: skip
        if additional_special_tokens:
            raise UnsupportedError("additional_special_tokens: minis2t's special tokens are fairseq's and "
                                   "the <lang:xx> codes of lang_codes.")  # fmt: skip
        vocab = read_json(Path(vocab_file), TokenizerError) if isinstance(vocab_file, (str, Path)) else vocab_file
        if isinstance(spm_file, (str, Path)):
            if not Path(spm_file).is_file():
                raise TokenizerError(f"{spm_file} not found: the tokenizer needs its SentencePiece model.")
            spm_file = Path(spm_file).read_bytes()
        super().__init__(vocab, spm_file, do_upper_case, do_lower_case, lang_codes, tgt_lang,
                         {**(extra_config or {}), **kwargs}, sp_model_kwargs)  # fmt: skip

    @classmethod
    def from_pretrained(cls, name, **overrides) -> "Speech2TextTokenizer":
        return super().from_pretrained(resolve_model_dir(name), **overrides)

    def __call__(self, text=None, text_pair=None, text_target=None, text_pair_target=None,
                 add_special_tokens: bool = True, **options) -> ModelOutput:  # fmt: skip
        """transformers' call: ``text`` (and ``text_target``, whose ids come back as
        ``labels``), with :meth:`minis2t.Tokenizer.__call__`'s options. Pairs are refused:
        Speech2Text encodes one text per item."""
        if text_pair is not None or text_pair_target is not None:
            raise UnsupportedError("text_pair / text_pair_target: Speech2Text encodes one text per item; "
                                   "join the texts, or call build_inputs_with_special_tokens.")  # fmt: skip
        if text is None and text_target is None:
            raise TokenizerError("give text (or text_target) to the tokenizer.")
        if text is None:
            return BatchEncoding(**super().__call__(text_target, add_special_tokens, **options))
        out = super().__call__(text, add_special_tokens, **options)
        if text_target is not None:
            out["labels"] = super().__call__(text_target, add_special_tokens, **options)["input_ids"]
        return BatchEncoding(**out)

    def decode(self, token_ids, skip_special_tokens: bool = False, clean_up_tokenization_spaces=None,
               **kwargs) -> str:  # fmt: skip
        """Ids -> text (:meth:`minis2t.Tokenizer.decode`). ``clean_up_tokenization_spaces``
        is off for Speech2Text in transformers; turning it on is refused, not ignored."""
        if kwargs:
            raise TokenizerError(f"unknown argument(s) {', '.join(sorted(kwargs))} of decode.")
        if clean_up_tokenization_spaces:
            raise UnsupportedError("clean_up_tokenization_spaces=True: minis2t decodes as Speech2Text's "
                                   "tokenizer does by default, without the English clean-up.")  # fmt: skip
        return super().decode(token_ids, skip_special_tokens)

    def batch_decode(self, sequences, skip_special_tokens: bool = False, clean_up_tokenization_spaces=None,
                     **kwargs) -> list[str]:  # fmt: skip
        return [self.decode(ids, skip_special_tokens, clean_up_tokenization_spaces, **kwargs) for ids in sequences]

    @property
    def prefix_tokens(self) -> list[int]:
        return self.prefix_ids

    @property
    def all_special_tokens(self) -> list[str]:
        return list(self.special_tokens)

    @property
    def all_special_ids(self) -> list[int]:
        return [self.vocab[t] if t in self.vocab else self.sp.PieceToId(t) for t in self.special_tokens]


# --- processor ---------------------------------------------------------------------------------


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


# --- models ------------------------------------------------------------------------------------------

# Generation arguments of transformers that minis2t's searches do not run. (top_k, top_p
# and temperature need do_sample=True, refused here; without it transformers ignores them
# too, so they are accepted and change nothing, as there.)
_GENERATE_REFUSED = {
    "do_sample": (False, "sampling: minis2t runs greedy and beam search (do_sample=False)"),
    "num_return_sequences": (1, "one sequence per input is returned (the best beam)"),
    "num_beam_groups": (1, "diverse beam search is not implemented"),
    "repetition_penalty": (1.0, "not implemented"),
    "bad_words_ids": (None, "not implemented"),
    "force_words_ids": (None, "constrained beam search is not implemented"),
    "prefix_allowed_tokens_fn": (None, "not implemented"),
    "logits_processor": (None, "custom logits processors are torch code"),
    "stopping_criteria": (None, "custom stopping criteria are torch code"),
    "output_attentions": (False, "generate's attentions are not collected; run forward on the output"),
    "output_hidden_states": (False, "generate's hidden states are not collected; run forward on the output"),
}


class Speech2TextForConditionalGeneration:
    """transformers' ``Speech2TextForConditionalGeneration``: ``forward`` (also by
    calling the model) returns ``logits``, ``loss``, ``past_key_values``, the encoder's
    and decoder's hidden states and attentions; ``generate`` returns token ids ``[B, L]``.

    ``Speech2TextForConditionalGeneration(config)`` is a model with random weights drawn
    as transformers initialises them (``seed=`` chooses the draw)."""

    main_input_name = "input_features"
    _bare = False  # Speech2TextModel: the decoder's normalised states instead of logits

    def __init__(self, config: ModelConfig, seed: int = 0, dtype=np.float32, _s2t: Speech2Text | None = None):
        if _s2t is None:
            config = Speech2TextConfig.of(config)
            _s2t = Speech2Text(config, init_weights(config, seed, dtype), _generation_defaults(config))
        self._s2t = _s2t
        self.config = Speech2TextConfig.of(_s2t.config)
        self.generation_config = _s2t.generation_config
        if self._bare:  # the decoder with an identity head: "logits" are its last hidden state
            d = self.config.d_model
            self._params = {**_s2t.params, "lm_head": {"weight": np.eye(d, dtype=_s2t.dtype)}}
        else:
            self._params = _s2t.params

    @classmethod
    def from_pretrained(cls, name, dtype=np.float32, **kwargs):
        """A model directory, ``"bundled-asr"`` or ``"bundled-st"`` (or a fairseq S2T
        directory). ``dtype``: ``np.float32`` or ``np.float64``."""
        if kwargs:
            raise UnsupportedError(f"from_pretrained argument(s) {', '.join(sorted(kwargs))}: minis2t "
                                   f"takes the model (a directory or a bundled name) and dtype.")  # fmt: skip
        s2t = Speech2Text.from_pretrained(name, dtype=dtype)
        Speech2TextConfig.of(s2t.config)  # refuses config keys minis2t does not follow
        return cls(s2t.config, _s2t=s2t)

    def save_pretrained(self, directory) -> None:
        """``config.json``, ``generation_config.json`` and ``model.safetensors``."""
        save_checkpoint(directory, self._s2t.config, self._s2t.weights)
        self.generation_config.save_pretrained(directory)

    # transformers' model conveniences that mean nothing here
    def eval(self):
        return self

    def num_parameters(self) -> int:
        return self._s2t.num_parameters

    @property
    def dtype(self):
        return self._s2t.dtype

    def get_encoder(self) -> "_Encoder":
        return _Encoder(self)

    # --- forward ---------------------------------------------------------------------

    def forward(self, input_features=None, attention_mask=None, decoder_input_ids=None,
                decoder_attention_mask=None, encoder_outputs=None, past_key_values=None,
                decoder_inputs_embeds=None, labels=None, use_cache=None, output_attentions=None,
                output_hidden_states=None, return_dict=None, cache=None, **kwargs):  # fmt: skip
        """transformers' forward: see the class. ``past_key_values`` (or transformers 5's
        name, ``cache``) continue a decoder state; ``encoder_outputs`` (an output of
        :meth:`get_encoder`, or a tuple whose first item is the encoder states) skip the
        encoder. ``attention_mask`` is the feature-level mask, also with encoder outputs."""
        if kwargs:
            raise ModelInputError(f"unknown argument(s) {', '.join(sorted(kwargs))} of forward.")
        if labels is not None and self._bare:
            raise ModelInputError("Speech2TextModel has no language-model head and takes no labels: "
                                  "use Speech2TextForConditionalGeneration for a loss.")  # fmt: skip
        if decoder_inputs_embeds is not None:
            raise UnsupportedError(
                "decoder_inputs_embeds: the decoder's positions are computed from decoder_input_ids "
                "(padding tokens keep the padding position), and transformers fails without them "
                "too; pass decoder_input_ids.")  # fmt: skip
        if cache is not None:
            if past_key_values is not None:
                raise ModelInputError("give past_key_values or cache, not both.")
            past_key_values = cache
        c, s2t = self.config, self._s2t
        use_cache = c.use_cache if use_cache is None else use_cache
        hidden = _flag(output_hidden_states, c, "output_hidden_states", False)
        attentions = _flag(output_attentions, c, "output_attentions", False)
        if labels is not None and decoder_input_ids is None:
            decoder_input_ids = m.shift_tokens_right(labels, c.pad_token_id, c.decoder_start_token_id)
        if decoder_input_ids is None:
            raise ModelInputError("give decoder_input_ids (or labels, shifted right into them).")

        enc = self._encoder_outputs(input_features, attention_mask, encoder_outputs, hidden, attentions,
                                    need_states=past_key_values is None)  # fmt: skip
        if past_key_values is None:
            kv = engine.init_cache(self._params, c, enc["last_hidden_state"])
        else:
            kv = _kv_cache(past_key_values, c)
        dec = engine.decode(self._params, c, np.asarray(decoder_input_ids), kv, enc["mask"], decoder_attention_mask,
                       hidden, attentions)  # fmt: skip
        out = dict(
            loss=None if labels is None or self._bare else m.cross_entropy(dec["logits"], labels),
            **({"last_hidden_state": dec["logits"]} if self._bare else {"logits": dec["logits"]}),
            past_key_values=_legacy_cache(dec["cache"]) if use_cache else None,
            decoder_hidden_states=tuple(dec["hidden_states"]) if hidden else None,
            decoder_attentions=tuple(dec["self_attentions"]) if attentions else None,
            cross_attentions=tuple(dec["cross_attentions"]) if attentions else None,
            encoder_last_hidden_state=enc["last_hidden_state"],
            encoder_hidden_states=enc.get("hidden_states"),
            encoder_attentions=enc.get("attentions"),
        )  # fmt: skip
        result = ModelOutput(**out)
        return result if _flag(return_dict, c, "return_dict", True) else result.to_tuple()

    __call__ = forward

    def _encoder_outputs(self, input_features, attention_mask, encoder_outputs, hidden: bool,
                         attentions: bool, need_states: bool) -> dict:  # fmt: skip
        """``{"last_hidden_state", "mask", "hidden_states"?, "attentions"?}``: from the
        encoder, or from ``encoder_outputs`` with the mask from ``attention_mask``."""
        if encoder_outputs is None:
            if input_features is None:
                raise ModelInputError("give input_features (or encoder_outputs).")
            out = self.get_encoder()(input_features, attention_mask, output_hidden_states=hidden,
                                     output_attentions=attentions)  # fmt: skip
        elif isinstance(encoder_outputs, dict):
            out = encoder_outputs
        elif isinstance(encoder_outputs, (tuple, list)) and encoder_outputs:
            names = ("last_hidden_state", "hidden_states", "attentions")
            out = dict(zip(names, encoder_outputs))
        else:
            raise ModelInputError("encoder_outputs must be get_encoder()'s output or a tuple "
                                  "(last_hidden_state, [hidden_states, [attentions]]).")  # fmt: skip
        states = out.get("last_hidden_state")
        if states is None:
            if need_states:
                raise ModelInputError("encoder_outputs holds no last_hidden_state.")
            mask = None if attention_mask is None else np.asarray(attention_mask)
            return {"last_hidden_state": None, "mask": _frame_mask_or_none(mask, None, self.config)}
        states = np.asarray(states)
        mask = _frame_mask_or_none(attention_mask, states.shape[1], self.config, states.shape[0])
        return {"last_hidden_state": states, "mask": mask,
                **{k: out[k] for k in ("hidden_states", "attentions") if out.get(k) is not None}}  # fmt: skip

    # --- generate ----------------------------------------------------------------------

    def generate(self, inputs=None, generation_config: GenerationConfig | None = None, *,
                 input_features=None, attention_mask=None, encoder_outputs=None,
                 return_dict_in_generate: bool = False, output_scores: bool = False,
                 use_cache: bool | None = None, **kwargs):  # fmt: skip
        """Token ids ``[B, L]`` (rows start with the decoder start token), as transformers'
        ``generate``: the model's generation config, then ``generation_config``, then
        keyword options (``num_beams``, ``max_length``, ``max_new_tokens``,
        ``min_length``, ``forced_bos_token_id``, ``eos_token_id`` — an id or a list —,
        ``length_penalty``, ``early_stopping``, ``no_repeat_ngram_size``, ...). Sampling
        and the other options of ``_GENERATE_REFUSED`` are refused by name.
        ``return_dict_in_generate`` gives ``sequences`` (and ``sequences_scores``,
        ``scores``). ``use_cache`` (default: the config's) as in transformers: without the
        cache every step runs the decoder over the whole output so far, whose positions
        skip generated ``pad_token_id`` tokens (with the cache they count)."""
        if self._bare:
            raise UnsupportedError("Speech2TextModel has no language-model head: generate with "
                                   "Speech2TextForConditionalGeneration.")  # fmt: skip
        if inputs is not None and input_features is not None:
            raise ModelInputError("give the features once: inputs or input_features.")
        features = inputs if inputs is not None else input_features
        stored = {**self.generation_config.extra, **(generation_config.extra if generation_config else {})}
        for name, (default, why) in _GENERATE_REFUSED.items():
            if stored.get(name) not in (None, default):  # generation_config.json's keys too
                raise UnsupportedError(f"the generation config's {name}={stored[name]!r}: {why}.")
            value = kwargs.pop(name, default)
            if value not in (None, default):
                raise UnsupportedError(f"generate({name}={value!r}): {why}.")
        for name in ("top_k", "top_p", "temperature"):  # sampling's: without it, no effect (as there)
            kwargs.pop(name, None)
        options = {}
        if generation_config is not None:
            known = set(GenerationConfig.__dataclass_fields__) - {"extra"}
            options = {k: getattr(generation_config, k) for k in known}
            options["eos_token_id"] = list(generation_config.eos_token_ids)
            del options["extra_eos_token_ids"]
        options.update(kwargs)
        enc = None
        if encoder_outputs is not None:
            e = self._encoder_outputs(None, attention_mask, encoder_outputs, False, False, True)
            enc = (e["last_hidden_state"], e["mask"])
        elif features is None:
            raise ModelInputError("give the input features: generate(inputs=...) or input_features=....")
        if use_cache is None:
            use_cache = self.config.use_cache
        if use_cache:
            result = self._s2t.generate(features, attention_mask, output_scores=output_scores,
                                        return_dict=True, encoder_outputs=enc, **options)  # fmt: skip
        else:
            result = self._generate_without_cache(features, attention_mask, enc, output_scores, options)
        if not return_dict_in_generate:
            return result.sequences
        return ModelOutput(sequences=result.sequences, sequences_scores=result.sequences_scores,
                           scores=None if result.scores is None else tuple(result.scores))  # fmt: skip


    def _generate_without_cache(self, features, attention_mask, enc, output_scores: bool, options: dict):
        """transformers' ``use_cache=False``: the same search door (:func:`minis2t.reference.search.search`),
        each step decoding the whole output so far from an empty self-attention cache."""
        s2t = self._s2t
        opts = s2t.generation_options(**options)
        if enc is None:
            out = s2t._encode(s2t._features(features), attention_mask)
            enc = (out["last_hidden_state"], out["mask"])
        batch, k = enc[0].shape[0], opts.num_beams
        encoder_mask = np.repeat(enc[1], k, axis=0)  # [B*K, S]
        cross = engine.init_cache(self._params, self.config, enc[0])  # once per utterance, shared by its beams

        def step(tokens, history):
            sequence = tokens if history.tokens is None else np.concatenate([history.tokens, tokens], axis=1)
            out = engine.decode(self._params, self.config, sequence, cross, encoder_mask)
            return out["logits"][:, -1], _History(sequence)

        return search(step, _History(None), batch, opts, self.config.vocab_size, "transformers", output_scores)


class _History:
    """The searches' decoder state without a cache: the tokens so far ``[N, L]``."""

    def __init__(self, tokens):
        self.tokens = tokens

    def reorder(self, index) -> "_History":
        return _History(self.tokens[index])


class Speech2TextModel(Speech2TextForConditionalGeneration):
    """transformers' ``Speech2TextModel``: encoder and decoder without the language-model
    head; ``forward`` returns ``last_hidden_state`` (the decoder's normalised states
    ``[B, L, D]``) instead of ``logits``, with the same other outputs."""

    _bare = True


class _Encoder:
    """``model.get_encoder()``: features ``[B, T, F]`` (and mask) -> ``last_hidden_state
    [B, S, D]``, ``hidden_states``, ``attentions``."""

    def __init__(self, model: Speech2TextForConditionalGeneration):
        self._model = model

    def __call__(self, input_features, attention_mask=None, output_hidden_states=None,
                 output_attentions=None, return_dict=None, **kwargs):  # fmt: skip
        if kwargs:
            raise ModelInputError(f"unknown argument(s) {', '.join(sorted(kwargs))} of the encoder.")
        s2t, c = self._model._s2t, self._model.config
        hidden = _flag(output_hidden_states, c, "output_hidden_states", False)
        attentions = _flag(output_attentions, c, "output_attentions", False)
        enc = s2t._encode(s2t._features(input_features), attention_mask, hidden, attentions)
        out = ModelOutput(last_hidden_state=enc["last_hidden_state"],
                          hidden_states=tuple(enc["hidden_states"]) if hidden else None,
                          attentions=tuple(enc["attentions"]) if attentions else None, mask=enc["mask"])  # fmt: skip
        return out if _flag(return_dict, c, "return_dict", True) else out.to_tuple()


# --- the decoder's cache -------------------------------------------------------------------------


def _legacy_cache(cache) -> tuple:
    """minis2t's :class:`KVCache` -> transformers' per-layer ``(self_k, self_v, cross_k, cross_v)``."""
    return tuple((k, v, ck, cv) for (k, v), (ck, cv) in zip(cache.self_kv, cache.cross_kv))


def _kv_cache(past, config: ModelConfig):
    """transformers' per-layer tuples (or a transformers cache object) -> minis2t's cache."""
    if not isinstance(past, (tuple, list)):
        past = cache_from_transformers(past)
    if len(past) != config.decoder_layers or any(len(layer) != 4 for layer in past):
        raise ModelInputError(f"past_key_values must hold {config.decoder_layers} layers of "
                              f"(self_k, self_v, cross_k, cross_v).")  # fmt: skip
    arrays = [[np.asarray(a) for a in layer] for layer in past]
    shapes = {a.shape[:2] + a.shape[3:] for layer in arrays for a in layer}
    if any(a.ndim != 4 for layer in arrays for a in layer) or len(shapes) != 1:
        raise ModelInputError("past_key_values' arrays must be [B, H, length, Dh], one B, H and Dh for all.")
    return m.KVCache(tuple((k, v) for k, v, _, _ in arrays), tuple((ck, cv) for _, _, ck, cv in arrays))


def cache_from_transformers(cache) -> tuple:
    """A transformers 5 ``EncoderDecoderCache`` (or transformers 4's tuples of torch
    tensors) -> per-layer ``(self_k, self_v, cross_k, cross_v)`` NumPy arrays."""
    def numpy(t):
        return t.detach().cpu().numpy() if hasattr(t, "detach") else np.asarray(t)

    if hasattr(cache, "self_attention_cache"):
        self_layers = cache.self_attention_cache.layers
        cross_layers = cache.cross_attention_cache.layers
        return tuple((numpy(s.keys), numpy(s.values), numpy(x.keys), numpy(x.values))
                     for s, x in zip(self_layers, cross_layers))  # fmt: skip
    if isinstance(cache, (tuple, list)):
        return tuple(tuple(numpy(t) for t in layer) for layer in cache)
    raise ModelInputError(f"past_key_values of type {type(cache).__name__}: give per-layer "
                          f"(self_k, self_v, cross_k, cross_v) arrays or an EncoderDecoderCache.")  # fmt: skip


def _frame_mask_or_none(attention_mask, frames, config: ModelConfig, batch=None):
    """The encoder-level mask ``[B, S]`` from a feature-level one, or None (all real)."""
    if attention_mask is None:
        return None
    attention_mask = np.asarray(attention_mask)
    if frames is None:
        frames = int(m.subsampled_lengths(attention_mask.shape[-1], config.num_conv_layers))
    return m.frame_mask(attention_mask, attention_mask.shape[0] if batch is None else batch, frames,
                        config.num_conv_layers)  # fmt: skip


def _flag(value, config: ModelConfig, name: str, default: bool) -> bool:
    """A call's flag, else the config's (transformers reads ``output_hidden_states``,
    ``output_attentions`` and ``return_dict`` from the config when a call leaves them out)."""
    return bool(config.extra.get(name, default) if value is None else value)


def _generation_defaults(config: ModelConfig) -> GenerationConfig:
    """A model built from a config decodes as transformers' would: the config's ids."""
    return GenerationConfig(decoder_start_token_id=config.decoder_start_token_id,
                            bos_token_id=config.bos_token_id, eos_token_id=list(config.eos_token_ids),
                            pad_token_id=config.pad_token_id)  # fmt: skip


# --- what the documentation's API page lists ------------------------------------------------------

# (transformers call, minis2t.hf call, note)
CALLS = [
    ("Speech2TextConfig(**fields)", "Speech2TextConfig(**fields)", "every field; unknown keys kept in .extra"),
    ("Speech2TextConfig.from_pretrained(name)", "Speech2TextConfig.from_pretrained(dir or 'bundled-asr')", ""),
    ("Speech2TextFeatureExtractor.from_pretrained(name)", "Speech2TextFeatureExtractor.from_pretrained(...)", ""),
    ("feature_extractor(audio, sampling_rate=, padding=, max_length=, truncation=, pad_to_multiple_of=, "
     "return_attention_mask=, return_tensors='pt')", "the same, return_tensors='np'", "NumPy arrays"),
    ("Speech2TextTokenizer(vocab_file, spm_file, ...)", "Speech2TextTokenizer(vocab_file, spm_file, ...)",
     "sp_model_kwargs honoured"),
    ("tokenizer(text, padding=, truncation=, max_length=, return_attention_mask=, return_tensors=)",
     "the same", "return_tensors None or 'np'"),
    ("tokenizer.build_inputs_with_special_tokens / get_special_tokens_mask / "
     "create_token_type_ids_from_sequences / save_vocabulary / batch_decode / decode", "the same", ""),
    ("Speech2TextProcessor.from_pretrained(name)", "Speech2TextProcessor.from_pretrained(...)", ""),
    ("processor(audio, sampling_rate=, text=, ...)", "the same", "labels when both are given"),
    ("Speech2TextForConditionalGeneration.from_pretrained(name)", "the same (dir or bundled name)",
     "dtype=np.float32 or np.float64"),
    ("Speech2TextForConditionalGeneration(config)", "the same (seed=...)", "random weights, transformers' scheme"),
    ("model(input_features, attention_mask=, decoder_input_ids=, decoder_attention_mask=, labels=, "
     "encoder_outputs=, past_key_values=, use_cache=, output_hidden_states=, output_attentions=)",
     "the same", "past_key_values: per-layer (self_k, self_v, cross_k, cross_v) NumPy arrays"),
    ("model.get_encoder()(input_features, attention_mask=)", "the same", "last_hidden_state, hidden_states, attentions"),
    ("model.generate(inputs=, attention_mask=, num_beams=, max_length=, max_new_tokens=, min_length=, "
     "forced_bos_token_id=, eos_token_id=, length_penalty=, early_stopping=, no_repeat_ngram_size=, "
     "return_dict_in_generate=, output_scores=)", "the same", "greedy and beam search"),
    ("Speech2TextModel(...)(input_features, decoder_input_ids=...).last_hidden_state", "the same", ""),
    ("save_pretrained(dir)", "save_pretrained(dir)", "transformers reads it back"),
]


def refused() -> list[tuple[str, str]]:
    """``(what, why)`` for everything transformers accepts and minis2t refuses by name."""
    from .reference.nn import ACTIVATIONS

    out = [("return_tensors='pt' / 'tf' / 'jax' / 'mlx'", "minis2t computes in NumPy and returns NumPy")]
    out += [(f"generate({name}=...)", why) for name, (_, why) in _GENERATE_REFUSED.items()]
    out += [
        ("forward(decoder_inputs_embeds=...)", "positions come from decoder_input_ids; transformers fails "
                                               "without them too"),
        ("config activation_function outside " + ", ".join(sorted(ACTIVATIONS)), "not implemented (ConfigError)"),
        ("config conv_kernel_sizes with an even kernel", "the subsampled lengths then differ from the odd-kernel "
                                                         "formula the masks use (ConfigError)"),
        ("config with 0 encoder or decoder layers", "not a usable model (ConfigError)"),
        ("config token ids outside the vocabulary", "they would index past the embedding (ConfigError)"),
        ("config dtype other than float32/float64", "NumPy computes in those two"),
        ("Speech2TextTokenizer(bos_token=/eos_token=/pad_token=/unk_token= other than fairseq's, "
         "additional_special_tokens=)", "fairseq's dictionary layout is fixed"),
        ("from_pretrained(revision=, device_map=, ...)", "a local directory or bundled name is read as is"),
    ]
    return out


def signature(obj) -> str:
    """The call signature, for the documentation page."""
    return str(inspect.signature(obj))
