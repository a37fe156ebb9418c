"""transformers' Speech2Text models (its ``modeling_speech_to_text``):
``Speech2TextForConditionalGeneration`` and ``Speech2TextModel``, over the public methods
of :class:`minis2t.Speech2Text` (``encode``, ``init_cache``, ``decode``, ``generate``,
``generation_options``), whatever its runtime.

``past_key_values`` are transformers 4's layout, which transformers 5's
``EncoderDecoderCache`` holds too: one tuple per decoder layer, ``(self_k, self_v,
cross_k, cross_v)``, each ``[B, H, P or S, Dh]``. :func:`cache_from_transformers` turns a
transformers cache into that tuple.
"""

from __future__ import annotations

import numpy as np

from ..app.pipeline import Speech2Text
from ..errors import ModelInputError, UnsupportedError
from ..io.checkpoint import save_checkpoint
from ..io.config import GenerationConfig, ModelConfig
from ..reference import model as m
from ..reference.search import search
from ..train import init_weights
from .configuration import Speech2TextConfig
from .outputs import ModelOutput

# Generation arguments of transformers that minis2t's searches do not run. (top_k, top_p
# and temperature need do_sample=True, refused here; without it transformers ignores them
# too, so they are accepted and change nothing, as there.)
GENERATE_REFUSED = {
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

    def __init__(self, config: ModelConfig, seed: int = 0, dtype=np.float32):
        config = Speech2TextConfig.of(config)
        self._attach(Speech2Text(config, init_weights(config, seed, dtype), _generation_defaults(config)))

    def _attach(self, model: Speech2Text) -> None:
        self._s2t = model
        self.config = Speech2TextConfig.of(model.config)  # refuses config keys minis2t does not follow
        self.generation_config = model.generation_config

    @classmethod
    def from_speech2text(cls, model: Speech2Text):
        """The transformers face of a :class:`minis2t.Speech2Text` (its arrays shared, not copied)."""
        self = cls.__new__(cls)
        self._attach(model)
        return self

    @classmethod
    def from_pretrained(cls, name, dtype=np.float32, **kwargs):
        """A model directory, ``"bundled-asr"`` or ``"bundled-st"`` (or a fairseq S2T
        directory). ``dtype``: ``np.float32`` or ``np.float64``."""
        if kwargs:
            raise UnsupportedError(f"from_pretrained argument(s) {', '.join(sorted(kwargs))}: minis2t "
                                   f"takes the model (a directory or a bundled name) and dtype.")  # fmt: skip
        return cls.from_speech2text(Speech2Text.from_pretrained(name, dtype=dtype, runtime="numpy"))

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
            kv = s2t.init_cache(enc["last_hidden_state"])
        else:
            kv = _kv_cache(past_key_values, c)
        # Speech2TextModel's output is the decoder's last hidden state (after its final layer norm)
        dec = s2t.decode(np.asarray(decoder_input_ids), kv, enc["mask"], decoder_attention_mask,
                         hidden or self._bare, attentions)  # fmt: skip
        out = dict(
            loss=None if labels is None or self._bare else m.cross_entropy(dec["logits"], labels),
            **({"last_hidden_state": dec["hidden_states"][-1]} if self._bare else {"logits": dec["logits"]}),
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
        and the other options of ``GENERATE_REFUSED`` are refused by name.
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
        for name, (default, why) in GENERATE_REFUSED.items():
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
            enc = s2t.encode(features, attention_mask)
        batch, k = enc[0].shape[0], opts.num_beams
        encoder_mask = np.repeat(enc[1], k, axis=0)  # [B*K, S]
        cross = s2t.init_cache(enc[0])  # once per utterance, shared by its beams

        def step(tokens, history):
            sequence = tokens if history.tokens is None else np.concatenate([history.tokens, tokens], axis=1)
            out = s2t.decode(sequence, cross, encoder_mask)
            return out["logits"][:, -1], _History(sequence)

        return search(step, _History(None), batch, opts, s2t.config.vocab_size, "transformers", output_scores)


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
        enc = s2t.encode(input_features, attention_mask, hidden, attentions, return_dict=True)
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
