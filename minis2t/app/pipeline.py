"""One object for the whole line: ``Speech2Text.from_pretrained(dir)``.

It holds the config, the feature extractor and the tokenizer of one model directory, and
the *runtime* that computes the network — given to it, not chosen by it
(:mod:`minis2t.engine.runtime` defines what a runtime is): the NumPy engine over the
checkpoint's weights (:class:`~minis2t.engine.runtime.NumpyRuntime`, what
``Speech2Text(config, weights)`` makes), or onnxruntime over an exported directory
(:class:`~minis2t.engine.onnx_runtime.OnnxRuntime`). :meth:`Speech2Text.from_pretrained`
picks the runtime from the directory and reads it once. What a user gives is checked
here, once, before any work, whatever the runtime::

    model = minis2t.Speech2Text.from_pretrained("s2t-small-librispeech-asr/")
    states, mask = model.encode(features, attention_mask)     # [B, S, D], [B, S]
    logits = model.forward(features, attention_mask, decoder_input_ids=ids)   # [B, L, V]
    scored = model.score(ids, (states, mask))                 # teacher forcing: log_probs [B, L - 1, V]
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from ..engine.onnx_format import MANIFEST, is_onnx_dir
from ..engine.runtime import NumpyRuntime, Runtime, check_threads
from ..errors import (
    ConfigError,
    InputTooLongError,
    ModelInputError,
    NumericalError,
    UnknownLanguageError,
)
from ..io.audio import AudioInput, is_sample_list, load_audio
from ..io.checkpoint import (
    BUNDLED_MODELS,
    TIED_HEAD,
    expected_shapes,
    load_checkpoint,
    resolve_model_dir,
    save_checkpoint,
)
from ..io.config import GenerationConfig, ModelConfig, check_generation_for_model
from ..io.fairseq import is_fairseq_dir, load_fairseq_dir
from ..io.features import FeatureExtractor
from ..io.tokenizer import Tokenizer
from ..reference import model as m
from ..reference import search as searches
from ..reference.features import FRAME_LENGTH, FRAME_SHIFT, SAMPLING_RATE
from ..reference.nn import log_softmax
from . import confidence, longform


BUNDLED_MODEL = BUNDLED_MODELS["bundled-asr"]  # see docs: "The bundled model"


SEARCHES = searches.RULES  # the two beam searches generate() offers


def _check_search(search: str, opts: GenerationConfig) -> None:
    if search not in SEARCHES:
        raise ConfigError(f"search={search!r}: choose one of {', '.join(SEARCHES)}.")
    if search == "fairseq" and (opts.no_repeat_ngram_size or opts.forced_bos_token_id is not None):
        raise ConfigError("search='fairseq' does not take no_repeat_ngram_size or a forced first "
                          "token (language); use search='transformers'.")  # fmt: skip
    if search == "fairseq" and opts.extra_eos_token_ids:
        raise ConfigError(f"search='fairseq' stops on one id; eos_token_id is a list "
                          f"{list(opts.eos_token_ids)}: use search='transformers'.")  # fmt: skip


class Output(dict):
    """A dict whose keys are also attributes: ``out.logits is out["logits"]``."""

    __getattr__ = dict.__getitem__


class Speech2Text:
    """A Speech2Text model: its config, its runtime, and what reads and writes its text.

    ``Speech2Text(config, weights)`` runs the NumPy engine over ``weights`` (``{name:
    array}``, the checkpoint's names); ``Speech2Text(config, runtime=runtime)`` runs any
    :class:`minis2t.engine.runtime.Runtime`. ``calibration``: the confidence calibration
    (:mod:`minis2t.app.confidence`), if the directory has one."""

    def __init__(self, config: ModelConfig, weights: dict[str, np.ndarray] | None = None,
                 generation_config: GenerationConfig | None = None,
                 feature_extractor: FeatureExtractor | None = None,
                 tokenizer: Tokenizer | None = None, *, runtime: Runtime | None = None,
                 calibration: confidence.Calibration | None = None):  # fmt: skip
        if (weights is None) == (runtime is None):
            raise ConfigError("give Speech2Text its weights or its runtime (one of them).")
        self.config = config
        self.runtime = NumpyRuntime(weights, config) if runtime is None else runtime
        self.generation_config = generation_config or GenerationConfig()
        self.feature_extractor = feature_extractor
        self.tokenizer = tokenizer
        self.calibration = calibration

    @property
    def weights(self) -> dict[str, np.ndarray] | None:
        """The checkpoint's arrays by name (None when the runtime holds its weights in its
        own form, as an exported ONNX directory's graphs do)."""
        return self.runtime.weights

    @property
    def params(self) -> dict:
        """The weights nested as the model functions read them, with the sinusoidal
        position tables (:func:`minis2t.reference.model.model_params`; NumPy runtime only)."""
        return self.runtime.params

    @property
    def dtype(self) -> np.dtype:
        """The float type the runtime computes in (features are cast to it)."""
        return self.runtime.dtype

    @property
    def positions(self) -> dict[str, np.ndarray]:
        """The ``{"encoder": table, "decoder": table}`` added to the embeddings, read from
        :attr:`params` (settable: parity checks swap in another library's table, see
        :func:`minis2t.reference.nn.sinusoidal_positions` on why they differ; NumPy runtime only)."""
        return {part: self.params["model"][part]["embed_positions"]["weights"] for part in ("encoder", "decoder")}

    @positions.setter
    def positions(self, tables: dict[str, np.ndarray]) -> None:
        for part, table in tables.items():
            self.params["model"][part]["embed_positions"]["weights"] = table

    @classmethod
    def from_pretrained(cls, path=None, dtype=np.float32, threads: int | None = None, runtime: str | None = None,
                        quantize: str | None = None) -> "Speech2Text":  # fmt: skip
        """Load config, runtime, generation config, feature extractor, tokenizer and
        confidence calibration.

        ``path`` is a model directory (or a hub name, see
        :func:`minis2t.io.checkpoint.resolve_model_dir`); ``None`` or ``"bundled-asr"`` loads
        the small recogniser bundled with the package, ``"bundled-st"`` the bundled
        translation model (English speech into French, German and Spanish), or a fairseq
        S2T directory (a ``*.pt`` checkpoint with its ``config.yaml``, SentencePiece model
        and dictionary; see
        :mod:`minis2t.io.fairseq`). The tokenizer and feature extractor are optional: a
        directory with only ``config.json`` and weights still encodes and decodes ids.

        The runtime follows from the directory: a directory written by ``minis2t
        export-onnx`` runs in onnxruntime (:class:`~minis2t.engine.onnx_runtime.OnnxRuntime`,
        ``threads`` its intra-op threads, None: all cores; its graphs are float32 and
        ``dtype`` does not apply), any other in the runtime :func:`~minis2t.app.onnx_cache.choose_runtime`
        picks: ``runtime="onnx"`` (the default where onnxruntime and onnx are installed,
        float32 only: the fused graphs built from the weights on first use and cached,
        :mod:`minis2t.app.onnx_cache`; ``quantize="int8"`` for int8 graphs) or ``"numpy"``
        (the NumPy engine in ``dtype``, whose BLAS threads ``threadpoolctl`` sets, as the
        command's ``--threads`` does; the default without onnxruntime, or with
        ``$MINIS2T_RUNTIME=numpy``)."""
        from . import onnx_cache

        threads = check_threads(threads)  # 1 to the usable cores, whichever runtime computes
        directory = resolve_model_dir(BUNDLED_MODEL if path is None else path)
        if is_onnx_dir(directory):  # written by `minis2t export-onnx`: run by onnxruntime
            if not (directory / "config.json").is_file():
                raise ConfigError(f"{directory} has {MANIFEST} but no config.json; re-export the model.")
            if runtime == "numpy" or quantize is not None:
                raise ConfigError(f"{directory} is an exported ONNX directory: it runs as exported, in "
                                  f"onnxruntime; load its source model for runtime='numpy' or quantize=.")  # fmt: skip
            config = ModelConfig.from_pretrained(directory)
            runtime = onnx_cache.open_exported(directory, config, threads)
        else:
            explicit_dtype = np.dtype(dtype) != np.float32
            choice = "numpy" if explicit_dtype and runtime is None and quantize is None else onnx_cache.choose_runtime(runtime)
            if choice == "onnx" and explicit_dtype:
                raise ConfigError(f"runtime='onnx' computes in float32; dtype={np.dtype(dtype).name} needs runtime='numpy'.")
            if choice == "numpy" and quantize is not None:
                raise ConfigError("quantize='int8' is a property of the ONNX graphs: use runtime='onnx'.")
            if is_fairseq_dir(directory):  # a checkpoint *.pt with fairseq's config.yaml
                config, weights, generation, extractor, tokenizer = load_fairseq_dir(directory, dtype)
                if choice == "numpy":
                    return cls(config, weights, generation, extractor, tokenizer)
                runtime = onnx_cache.runtime_for(directory, lambda: weights, config, threads, quantize)
                return cls(config, None, generation, extractor, tokenizer, runtime=runtime)
            if choice == "numpy":
                config, weights = load_checkpoint(directory, dtype=dtype)
                runtime = NumpyRuntime(weights, config)
            else:  # the weights are read only when the graphs are built (or when asked for)
                config = ModelConfig.from_pretrained(directory)
                runtime = onnx_cache.runtime_for(directory, lambda: load_checkpoint(directory)[1], config,
                                                 threads, quantize)  # fmt: skip
        has = lambda *names: any((directory / n).is_file() for n in names)  # noqa: E731
        extractor = (FeatureExtractor.from_pretrained(directory)
                     if has("preprocessor_config.json", "processor_config.json") else None)  # fmt: skip
        tokenizer = Tokenizer.from_pretrained(directory) if has("vocab.json") else None
        return cls(config, None, GenerationConfig.from_pretrained(directory), extractor, tokenizer,
                   runtime=runtime, calibration=confidence.load(directory))  # fmt: skip

    def save_pretrained(self, directory) -> None:
        """Write the model in the Hugging Face layout — ``config.json``,
        ``generation_config.json``, ``model.safetensors`` and, when present, the tokenizer
        files and ``preprocessor_config.json`` — which transformers loads."""
        if self.weights is None:
            raise ConfigError(f"this model runs in {self.runtime.name}, whose graphs hold its weights: "
                              f"save (or convert) the model it was exported from.")  # fmt: skip
        save_checkpoint(directory, self.config, self.weights)
        self.generation_config.save_pretrained(directory)
        if self.tokenizer is not None:
            self.tokenizer.save_pretrained(directory)
        if self.feature_extractor is not None:
            self.feature_extractor.save_pretrained(directory)
        if self.calibration is not None:  # the confidence calibration travels with the model
            (Path(directory) / confidence.FILENAME).write_text(json.dumps(self.calibration.to_dict(), indent=1) + "\n")

    @property
    def num_parameters(self) -> int:
        """Parameters, a tied head counted once (from the config's shapes when the runtime
        holds no NumPy weights)."""
        if self.weights is None:
            shapes = expected_shapes(self.config)
            if self.config.tie_word_embeddings:
                del shapes[TIED_HEAD]
            return int(sum(np.prod(shape) for shape in shapes.values()))
        return sum({id(a): a.size for a in self.weights.values()}.values())

    def _features(self, input_features) -> np.ndarray:
        x = np.asarray(input_features)
        if x.ndim == 2:
            x = x[None]  # one utterance [T, F] -> [1, T, F]
        if x.ndim != 3:
            raise ModelInputError(f"input_features must be [B, T, F], got shape {x.shape}.")
        if not np.all(np.isfinite(x)):
            raise ModelInputError("input_features hold NaN or infinite values.")
        c = self.config
        if x.shape[-1] != c.input_feat_per_channel * c.input_channels:
            raise ModelInputError(f"features have {x.shape[-1]} bins per frame; this model takes "
                                  f"{c.input_feat_per_channel * c.input_channels}.")  # fmt: skip
        s = int(m.subsampled_lengths(x.shape[1], c.num_conv_layers))
        if s > c.max_source_positions:
            seconds = c.max_source_positions * 2**c.num_conv_layers / 100
            raise InputTooLongError(
                f"{x.shape[1]} feature frames ({x.shape[1] / 100:.1f} s) give {s} encoder positions, more "
                f"than the model's max_source_positions ({c.max_source_positions}). Split the audio into "
                f"pieces shorter than {seconds:.0f} s, or use Speech2Text.transcribe_long (or the "
                f"minis2t command), which cuts recordings of any length at pauses."
            )
        return x.astype(self.dtype, copy=False)

    def _token_ids(self, ids, past: int = 0) -> np.ndarray:
        """Decoder input ids ``[B, L]``, checked: integers in the vocabulary, and no more
        positions than the decoder has (``past`` tokens already in its cache)."""
        ids = np.asarray(ids)
        if ids.ndim != 2 or not np.issubdtype(ids.dtype, np.integer):
            raise ModelInputError(f"decoder ids must be integers [B, L], got {ids.dtype} {ids.shape}.")
        if ids.min(initial=0) < 0 or ids.max(initial=0) >= self.config.vocab_size:
            raise ModelInputError(f"token ids must lie in [0, {self.config.vocab_size}).")
        if past + ids.shape[1] > self.config.max_target_positions:
            raise InputTooLongError(f"{past + ids.shape[1]} decoder positions exceed max_target_positions "
                                    f"({self.config.max_target_positions}); ask for fewer tokens.")  # fmt: skip
        return ids

    def encode(self, input_features, attention_mask=None, output_hidden_states=False, output_attentions=False,
               return_dict=False):  # fmt: skip
        """Features ``[B, T, F]`` and mask ``[B, T]`` -> (encoder states ``[B, S, D]``,
        encoder mask ``[B, S]``). With ``return_dict``, ``output_hidden_states`` or
        ``output_attentions``: an :class:`Output` with ``last_hidden_state``, ``mask`` and,
        as asked, ``conv_outputs``, ``hidden_states``, ``attentions``."""
        out = self._encode(self._features(input_features), attention_mask, output_hidden_states, output_attentions)
        if not (return_dict or output_hidden_states or output_attentions):
            return out["last_hidden_state"], out["mask"]
        return Output(out)

    def _encode(self, features, attention_mask, output_hidden_states=False, output_attentions=False):
        with np.errstate(over="ignore", invalid="ignore"):  # non-finite output raises below
            out = self.runtime.encode(features, attention_mask, output_hidden_states, output_attentions)
        _check_finite(out["last_hidden_state"], "encoder states")
        return out

    def forward(self, input_features, attention_mask=None, decoder_input_ids=None,
                decoder_attention_mask=None, labels=None, output_hidden_states=False,
                output_attentions=False, return_dict=False):  # fmt: skip
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
        enc = self._encode(self._features(input_features), attention_mask, output_hidden_states,
                           output_attentions)  # fmt: skip
        decoder_input_ids = self._token_ids(decoder_input_ids)
        cache = self.runtime.init_cache(enc["last_hidden_state"])
        dec = self.runtime.decode(decoder_input_ids, cache, enc["mask"], decoder_attention_mask,
                                  output_hidden_states, output_attentions)  # fmt: skip
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
                       decoder_attentions=dec.get("self_attentions"),
                       cross_attentions=dec["cross_attentions"])  # fmt: skip
        return out

    __call__ = forward

    def init_cache(self, encoder_states):
        """The decoder's state before any token, for ``encoder_states [B, S, D]`` (what
        :meth:`encode` returned): the runtime's cache."""
        return self.runtime.init_cache(encoder_states)

    def decode(self, decoder_input_ids, cache, encoder_mask=None, decoder_attention_mask=None,
               output_hidden_states=False, output_attentions=False) -> dict:  # fmt: skip
        """The decoder over ``decoder_input_ids [N, L]`` after the ``cache.length`` tokens
        ``cache`` holds (:meth:`init_cache`, or a previous call's ``"cache"``), ``encoder_mask
        [N, S]`` as :meth:`encode` gave it: ``{"logits": [N, L, V], "cache": ...}`` and, as
        asked, ``hidden_states`` (the last after the final layer norm), ``self_attentions``,
        ``cross_attentions`` (the runtime protocol's :meth:`decode`, ids checked)."""
        ids = self._token_ids(decoder_input_ids, cache.length)
        out = self.runtime.decode(ids, cache, encoder_mask, decoder_attention_mask, output_hidden_states,
                                  output_attentions)  # fmt: skip
        _check_finite(out["logits"], "decoder logits")
        return out

    def score(self, sequences, encoder_outputs, output_attentions: bool = False) -> Output:
        """Teacher forcing: the decoder once over chosen tokens ``sequences [B, L]``
        (decoder start token first, ``pad_token_id`` after end-of-sentence, as
        :meth:`generate` returns them), given ``encoder_outputs``: ``(states, mask)`` that
        :meth:`encode` returned for their audio.

        Returns an :class:`Output` with ``log_probs [B, L - 1, V]`` (float64: at position
        ``i`` the next-token log-probabilities that predict token ``i + 1``) and, with
        ``output_attentions``, ``cross_attentions`` (each decoder layer's ``[B, H, L, S]``;
        row ``i`` is the position whose input is token ``i``). The one pass that word times
        (:mod:`minis2t.app.timing`) and confidence (:mod:`minis2t.app.confidence`) read."""
        states, mask = encoder_outputs
        out = self.decode(sequences, self.init_cache(states), mask, output_attentions=output_attentions)
        log_probs = log_softmax(out["logits"][:, :-1].astype(np.float64))  # [B, L - 1, V]
        scored = Output(log_probs=log_probs)
        if output_attentions:
            scored["cross_attentions"] = out["cross_attentions"]
        return scored

    def generation_options(self, **options) -> GenerationConfig:
        """The checkpoint's generation config with ``options`` changed, validated on its
        own and against this model (token ids in the vocabulary, lengths in the decoder)."""
        known = set(GenerationConfig.__dataclass_fields__) - {"extra"}
        unknown = sorted(set(options) - known)
        if unknown:
            raise ConfigError(
                f"unknown generation option(s) {', '.join(unknown)}; valid: {', '.join(sorted(known))}"
            )
        opts = self.generation_config.replace(**options)
        check_generation_for_model(opts, self.config)
        return opts

    def generate(self, input_features, attention_mask=None, output_scores=False,
                 return_dict=False, search: str = "transformers", encoder_outputs=None,
                 **options):  # fmt: skip
        """Token ids ``[B, L]`` for a batch of features, as transformers' ``generate``.

        ``options`` override the checkpoint's generation config: ``num_beams``,
        ``max_length``, ``max_new_tokens``, ``min_length``, ``early_stopping``,
        ``length_penalty``, ``no_repeat_ngram_size``, ``forced_bos_token_id``, ...
        Rows start with the decoder start token; finished rows are padded with
        ``pad_token_id``. With ``return_dict`` a :class:`minis2t.reference.generate.GenerateOutput`
        (``sequences``, ``sequences_scores``, ``scores``, and beam search's ``steps``, one
        record per step for drawing the search) is returned instead.

        ``search="fairseq"`` decodes with fairseq's ``SequenceGenerator`` rules instead
        (:mod:`minis2t.reference.fairseq_search`: the search behind fairseq's published WERs), with
        ``num_beams`` beams, ``length_penalty`` as its ``lenpen``, at most
        ``max_length - 2`` tokens before EOS (the longest output is then as long as
        transformers' would be) and at least ``max(1, min_length - 1)``.

        ``encoder_outputs``: ``(states, mask)`` that :meth:`encode` returned for these
        features, reused instead of encoding them again.
        """
        opts = self.generation_options(**options)
        _check_search(search, opts)
        if encoder_outputs is None:
            enc = self._encode(self._features(input_features), attention_mask)
        else:
            enc = {"last_hidden_state": encoder_outputs[0], "mask": encoder_outputs[1]}
        batch, k = enc["last_hidden_state"].shape[0], opts.num_beams
        encoder_mask = np.repeat(enc["mask"], k, axis=0)  # [B*K, S]: each beam sees its item
        cache = self.runtime.init_cache(enc["last_hidden_state"])  # shared by each item's beams

        def step(tokens, cache):  # [B*K, 1] -> logits [B*K, V]
            out = self.runtime.decode(tokens, cache, encoder_mask)
            logits = out["logits"][:, -1]
            _check_finite(logits, "decoder logits")
            return logits, out["cache"]

        result = searches.search(step, cache, batch, opts, self.config.vocab_size, search, output_scores)
        return result if return_dict else result.sequences

    def transcribe(self, audio: AudioInput | list[AudioInput], sampling_rate: int | None = None,
                   language: str | None = None, batch_size: int = 8, search: str = "transformers",
                   **options: object) -> list[str]:  # fmt: skip
        """Text for one or more recordings.

        Args:
            audio: one recording or a list of them. A recording is a path, the bytes of an
                audio file, a binary file object, or samples (an array ``[N]`` / ``[N, C]``,
                or a list of numbers) at ``sampling_rate``.
            sampling_rate: the rate of every recording given as samples (default 16 kHz).
                Files carry their own rate; giving another one for a file raises.
            language: target language code of a multilingual (translation) model, e.g.
                ``"fr"``; its ``<lang:fr>`` token is forced as the first output token.
            batch_size: utterances per batch; batches are made of similar lengths.
            search: ``"transformers"`` (transformers' ``generate``) or ``"fairseq"``
                (fairseq's ``SequenceGenerator``), see :meth:`generate`.
            options: generation options (``num_beams``, ``max_length``, ...).

        Returns one string per recording, in the order given. An empty string means the
        model produced no words (its first token was end-of-sentence).
        """
        options = self._decoding_options(language, batch_size, search, options)
        items = recordings(audio)
        waves = [self.load_waveform(item, sampling_rate, i) for i, item in enumerate(items)]
        order = sorted(range(len(waves)), key=lambda i: -waves[i].shape[0])  # longest first
        texts: list[str] = [""] * len(waves)
        for start in range(0, len(order), batch_size):
            chosen = order[start : start + batch_size]
            batch = self.feature_extractor([waves[i] for i in chosen])
            ids = self.generate(batch["input_features"], batch["attention_mask"], search=search, **options)
            for i, text in zip(chosen, self.tokenizer.batch_decode(ids, skip_special_tokens=True)):
                texts[i] = text
        return texts

    def transcribe_long(self, audio: AudioInput, sampling_rate: int | None = None, language: str | None = None,
                        batch_size: int = 8, search: str = "transformers", word_timestamps: bool = True,
                        on_segment=None, on_progress=None, min_confidence: float | None = None,
                        keep_signals: bool = False, **options) -> dict:  # fmt: skip
        """A recording of any length, cut at pauses and decoded segment by segment (files
        are read in blocks: memory does not grow with their length).

        Returns ``{"text": str, "segments": [{"start": s, "end": s, "text": str,
        "avg_logprob": float | None, "words": [{"word": str, "start": s, "end": s,
        "probability": float}, ...]}, ...]}`` with times in seconds; ``avg_logprob`` is the
        beam's length-normalised log-probability (None for greedy search); word times come
        from cross-attention (:mod:`minis2t.app.timing`), ``word_timestamps=False`` leaves
        ``words`` out (and saves the extra decoder pass they cost, unless the confidence's
        signals need it: one pass serves both, :meth:`score`). ``language``,
        ``batch_size`` (segments per batch), ``search`` and ``options`` are as for
        :meth:`transcribe`; ``on_segment`` receives each segment as
        it is decoded, ``on_progress`` the seconds of audio read so far. See
        :mod:`minis2t.app.longform`.

        Each segment also has ``confidence`` (the calibrated probability that its text is
        exactly right; None when the model directory has no ``confidence.json``) and
        ``understood`` (``confidence >= min_confidence``, by default the model's threshold;
        always True without a calibration), see :mod:`minis2t.app.confidence`; the result's
        ``confidence`` is the recording's, its segments' weighted by their durations.
        ``keep_signals`` adds each segment's ``signals``, what its confidence was computed
        from (:data:`minis2t.app.confidence.SIGNALS`; for fitting a calibration)."""
        options = self._decoding_options(language, batch_size, search, options)
        return longform.transcribe_long(self, audio, sampling_rate, batch_size, on_segment=on_segment,
                                        on_progress=on_progress, search=search,
                                        word_timestamps=word_timestamps, min_confidence=min_confidence,
                                        keep_signals=keep_signals, **options)  # fmt: skip

    @property
    def max_seconds(self) -> float:
        """The longest audio the encoder takes: ``max_source_positions`` frames after the
        conv subsampler, i.e. ``2**layers x max_source_positions`` feature frames of 10 ms
        (plus the first frame's extra 15 ms)."""
        c = self.config
        frames = 2**c.num_conv_layers * c.max_source_positions  # T with subsampled(T) <= max
        return (FRAME_LENGTH + FRAME_SHIFT * (frames - 1)) / SAMPLING_RATE

    def _decoding_options(self, language, batch_size, search: str, options: dict) -> dict:
        """``options`` with the language's forced token, everything checked before any
        audio is read: the files decoding needs, the batch size, the options, the search."""
        if self.feature_extractor is None or self.tokenizer is None:
            raise ConfigError(
                "this model directory lacks its feature extractor or tokenizer files "
                "(preprocessor_config.json, vocab.json, sentencepiece.bpe.model)."
            )
        if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
            raise ConfigError(f"batch_size must be a positive integer, got {batch_size!r}")
        options = self._language_options(language, options)
        _check_search(search, self.generation_options(**options))
        return options

    @property
    def languages(self) -> list[str]:
        """The target languages: those the model was trained for, when its
        ``generation_config.json`` names them (``languages``; a vocabulary in MuST-C's
        layout has codes for eight), else every code of its vocabulary; [] when monolingual.
        Trained languages that are not codes of the vocabulary are a :class:`ConfigError`
        (with none left, a multilingual model would decode without a forced language)."""
        langs = self.tokenizer.langs if self.tokenizer is not None else []
        trained = self.generation_config.extra.get("languages")
        if trained is None:
            return list(langs)
        if not (isinstance(trained, list) and trained and set(trained) <= set(langs)):
            codes = ", ".join(langs) or "none: a monolingual vocabulary"
            raise ConfigError(
                f"generation_config.json's languages must be a non-empty list of the "
                f"vocabulary's language codes ({codes}), got {trained!r:.80}."
            )
        return [x for x in langs if x in trained]

    def _language_options(self, language, options: dict) -> dict:
        langs = self.languages
        if language is None:
            if langs and "forced_bos_token_id" not in options:
                raise UnknownLanguageError(
                    f"this is a multilingual model: choose the target language, one of "
                    f"{', '.join(langs)} (language=..., or --language in the command)."
                )
            return options
        if langs and language not in langs:
            vocabulary = (" (its vocabulary has the code, as MuST-C's layout requires)"
                          if language in self.tokenizer.langs else "")  # fmt: skip
            raise UnknownLanguageError(
                f"this model was not trained to produce {language!r}{vocabulary}; it "
                f"translates into {', '.join(langs)}."
            )
        return {**options, "forced_bos_token_id": self.tokenizer.language_id(language)}

    def load_waveform(self, item, sampling_rate: int | None = None, index: int = 0) -> np.ndarray:
        """One recording (see :meth:`transcribe`) -> 16 kHz waveform, refusing audio longer
        than the model takes (from the file header, before decoding) and everything
        :class:`minis2t.io.audio_checks.AudioCheck` refuses, silence included (the same checks as
        :meth:`transcribe_long` and the command). ``index`` is unused (kept for callers)."""
        return load_audio(item, sampling_rate, max_seconds=self.max_seconds, refuse_silence=True)

    def __repr__(self) -> str:
        c = self.config
        return (f"Speech2Text(d_model={c.d_model}, layers={c.encoder_layers}+{c.decoder_layers}, "
                f"vocab={c.vocab_size}, parameters={self.num_parameters:,}, dtype={self.dtype})")  # fmt: skip


def recordings(audio) -> list:
    """``transcribe``'s argument as a list of recordings: a list of numbers is one
    recording (samples), any other list or tuple is several."""
    if is_sample_list(audio):
        return [np.asarray(audio, dtype=np.float64)]
    return list(audio) if isinstance(audio, (list, tuple)) else [audio]


def _check_finite(x: np.ndarray, what: str) -> None:
    if not np.all(np.isfinite(x)):
        raise NumericalError(
            f"the model produced NaN or infinite {what}. Its weights are probably damaged "
            f"(re-download the model), or the model is broken for this input."
        )
