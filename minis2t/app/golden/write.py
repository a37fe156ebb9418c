"""``minis2t golden write``: every intermediate of one recording, computed by the reference in float64.

The reference's functions are called one by one, in the order of the data path, and each
result is kept under its golden name (:mod:`minis2t.app.golden.stages`). Nothing here is new
math: a test holds the encoder's and the decoder's outputs computed this way to
``reference.model.encode`` / ``decode``, bit for bit. The searches are the reference's
own; each step's record is their ``GenerateOutput.steps``.

The manifest is the safetensors file's metadata, one JSON string under the key
``minis2t.golden`` (a safetensors reader in any language gets it with the header):
``format``, the model (``config_sha256`` over its config, ``weights_sha256``), the
recording, the front end's and each search's settings, the rule sets computed (and why one
was left out), the measures, every stage pattern with its meaning, reference and tolerance
derivation, and every tensor in data-path order with its shape, dtype and tolerance.
"""

from __future__ import annotations

import hashlib
import json
import re
from pathlib import Path

import numpy as np

from ...errors import UnknownLanguageError, UsageError
from ...io.checkpoint import content_checksum
from ...reference import fairseq_search
from ...reference import features as rf
from ...reference import generate as g
from ...reference import model as m
from ...reference.nn import ACTIVATIONS, layer_norm
from . import stages as st
from .tensorfile import write

FORMAT = "minis2t-golden/1"
MANIFEST_KEY = "minis2t.golden"
DTYPE = np.float64
RULES = ("transformers", "fairseq")  # the two rule sets of beam search
PACKAGE_ROOT = Path(__file__).resolve().parents[3]  # the directory holding minis2t/


def config_sha256(config) -> str:
    """SHA-256 of the model config's known fields as sorted JSON."""
    values = {k: v for k, v in config.to_dict().items()
              if k in type(config).__dataclass_fields__ and k != "extra"}  # fmt: skip
    return hashlib.sha256(json.dumps(values, sort_keys=True, default=list).encode()).hexdigest()


# --- the front end and the encoder ---------------------------------------------------------


def frontend(waveform: np.ndarray, extractor) -> dict[str, np.ndarray]:
    """``waveform [N]`` -> every front-end step ``[T, ...]``, as ``reference.features.fbank``
    and the extractor's normalisation compute them, in float64 and without dither."""
    out = {"waveform": waveform}
    x = rf.frame_signal(rf.scale_waveform(waveform))  # [T, 400]
    out["frontend.frames"] = x
    out["frontend.dc_removed"] = x = rf.remove_dc_offset(x)
    out["frontend.preemphasized"] = x = rf.preemphasize(x)
    out["frontend.windowed"] = x = x * rf.povey_window(rf.FRAME_LENGTH, x.dtype)
    out["frontend.power"] = power = rf.power_spectrum(x)  # [T, 257]
    out["frontend.log_mel"] = x = rf.log_mel(power, rf.mel_filterbank(extractor.num_mel_bins))  # [T, F]
    if extractor.do_ceptral_normalize:
        x = rf.utterance_cmvn(x, extractor.normalize_means, extractor.normalize_vars)
    if extractor.global_cmvn is not None:
        x = rf.global_cmvn(x, **extractor.global_cmvn)
    out["frontend.features"] = x
    return out


def encoder(params: dict, config, features: np.ndarray, attention: bool) -> dict[str, np.ndarray]:
    """``features [1, T, F]`` -> the conv layers, positions, every layer and the output, and
    the cross-attention keys and values: ``reference.model.encode`` taken apart."""
    enc = params["model"]["encoder"]
    out = {}
    convs = m.conv_subsampler(features, enc["conv"]["conv_layers"], config.conv_kernel_sizes)
    for i, c in enumerate(convs):
        out[f"encoder.conv.{i}"] = c
    x = convs[-1]  # [1, S, D]
    if config.scale_embedding:
        x = x * x.dtype.type(np.sqrt(config.d_model))
    mask = m.frame_mask(None, 1, x.shape[1], config.num_conv_layers)  # [1, S]
    table = m.position_table(config.max_source_positions, config.d_model, config.pad_token_id, x.dtype)
    positions = table[m.encoder_position_ids(mask, config.pad_token_id)]  # [1, S, D]
    out["encoder.positions"] = positions[0]
    out["encoder.input"] = x = x + positions
    activation = ACTIVATIONS[config.activation_function]
    for i, layer in enumerate(enc["layers"]):
        x, weights = m.encoder_layer(x, layer, config.encoder_attention_heads, None, activation)
        out[f"encoder.layer.{i}"] = x
        if attention:
            out[f"encoder.layer.{i}.attention"] = weights
    out["encoder.output"] = x = layer_norm(x, **enc["layer_norm"])
    for i, (k, v) in enumerate(m.cross_attention_kv(params, config, x)):
        out[f"decoder.layer.{i}.cross_key"], out[f"decoder.layer.{i}.cross_value"] = k, v
    return out


# --- the decoder, one step, and the searches ------------------------------------------------


def decode_step(params: dict, config, tokens: np.ndarray, cache: m.KVCache):
    """One token per row ``[N, 1]`` -> ``(logits [N, V], cache, {"decoder.input", "decoder.layer.i"})``:
    ``reference.model.decode`` taken apart (every row sees every encoder frame)."""
    dec = params["model"]["decoder"]
    past = cache.length
    x = m.embed_tokens(params, config, tokens, past)  # [N, 1, D]
    record = {"decoder.input": x}
    self_bias = m.causal_bias(past, 1, None, x.dtype)  # [1, 1, 1, P + 1]
    activation = ACTIVATIONS[config.activation_function]
    new_kv = []
    for i, (layer, layer_past, cross) in enumerate(zip(dec["layers"], cache.self_kv, cache.cross_kv)):
        x, kv, _, _ = m.decoder_layer(x, layer, config.decoder_attention_heads, self_bias, layer_past,
                                      cross, None, activation)  # fmt: skip
        record[f"decoder.layer.{i}"] = x
        new_kv.append(kv)
    logits = m.lm_head(params, layer_norm(x, **dec["layer_norm"]))[:, -1]  # [N, V]
    return logits, m.KVCache(tuple(new_kv), cache.cross_kv), record


def run_search(rules: str, step, cache, options, vocab_size: int):
    """One search over one item, ``(GenerateOutput, steps)`` — ``steps`` is the search's
    per-step record (``GenerateOutput.steps``), None for greedy search."""
    k = options.num_beams
    if rules == "fairseq":
        out = fairseq_search.beam_search(step, cache, 1, k, max(1, g.max_length_of(options) - 2), vocab_size,
                                         min_len=max(1, options.min_length - 1),
                                         len_penalty=options.length_penalty, eos=options.eos_token_id,
                                         pad=options.pad_token_id)  # fmt: skip
        return out, getattr(out, "steps", None)  # None before GenerateOutput.steps: no beam state
    if k == 1:
        return g.greedy_search(step, cache, 1, options), None
    if "steps" in g.GenerateOutput.__dataclass_fields__:
        out = g.beam_search(step, cache, 1, options)
        return out, out.steps
    trace: list = []  # before GenerateOutput.steps: the same record through trace=
    return g.beam_search(step, cache, 1, options, trace=trace), trace


def finished_scores(record: dict, t: int, k: int, length_penalty: float) -> np.ndarray:
    """``[1, 2K]``: the score a candidate ending among the best K finishes with at step
    ``t`` — its sum over ``(t + 1) ** length_penalty``, as both searches divide it —
    and -inf for the others."""
    ending = record["ends"] & (np.arange(record["ends"].shape[1]) < k)[None, :]
    normalised = record["score"] / np.float32((t + 1) ** length_penalty)
    return np.where(ending, normalised, -np.inf)


def search(params: dict, config, states: np.ndarray, rules: str, options) -> dict[str, np.ndarray]:
    """Both the decoder's intermediates and the search's record at every step of one rule set."""
    k = options.num_beams
    cache = m.init_cache(params, config, np.repeat(states, k, axis=0))  # [K, H, S, Dh] per layer
    out, prefix = {}, f"search.{rules}"
    records = []

    def step(tokens, cache):
        logits, cache, record = decode_step(params, config, tokens, cache)
        records.append({**record, "logits": logits})
        return logits, cache

    result, steps = run_search(rules, step, cache, options, config.vocab_size)
    for t, record in enumerate(records):
        for name, value in record.items():
            out[f"{prefix}.step.{t}.{name}"] = value
        if steps is not None:
            s = steps[t]
            for name in ("beam", "token", "score", "ends", "live"):
                out[f"{prefix}.step.{t}.{name}"] = np.asarray(s[name])
            out[f"{prefix}.step.{t}.finished"] = finished_scores(s, t, k, options.length_penalty)
    out[f"{prefix}.sequences"] = result.sequences
    if result.sequences_scores is not None:
        out[f"{prefix}.sequences_scores"] = result.sequences_scores
    return out


# --- the tolerances and the manifest ----------------------------------------------------------


def tolerances(tensors: dict[str, np.ndarray], length_penalty: float) -> dict[str, float | None]:
    """Each tensor's tolerance (None: exact). Scores get absolute bounds from the logits
    of their steps so far (:data:`stages._SCORE`), positions the table drift at their last
    row; everything else its stage's bar."""
    tol: dict[str, float | None] = {}
    logit_sums: dict[str, float] = {}
    for name, value in tensors.items():
        stage = st.stage_of(name)
        if stage.measure == "exact":
            tol[name] = None
        elif stage.measure == "score":
            rules = name.split(".")[1]
            parsed = st.step_of(name)
            if parsed is None:  # sequences_scores: every step's logits counted
                tol[name] = 2 * st.MODEL_FLOAT32 * logit_sums[rules]
            else:
                t = parsed[1]
                bound = 2 * st.MODEL_FLOAT32 * logit_sums[rules]
                tol[name] = bound / (t + 1) ** length_penalty if parsed[2] == "finished" else bound
        elif name in ("encoder.positions", "decoder.positions"):
            tol[name] = st.position_bar(value.shape[0] + 2)
        else:
            tol[name] = st.FRONT_END_FLOAT32 if name.startswith(("waveform", "frontend.")) else st.MODEL_FLOAT32
        parsed = st.step_of(name)
        if parsed is not None and parsed[2] == "logits":  # the steps' logits come before their scores
            logit_sums[parsed[0]] = logit_sums.get(parsed[0], 0.0) + float(np.abs(value).max())
    return tol


def source_lines(reference: str) -> list[str]:
    """``path:line`` of each function a stage's ``reference`` names (``minis2t.x.y.f``),
    in the installed package: where the formula is."""
    import importlib
    import inspect

    places = []
    for dotted in re.findall(r"minis2t(?:\.\w+)+", reference):
        module, _, name = dotted.rpartition(".")
        target = getattr(importlib.import_module(module), name)
        path = Path(inspect.getsourcefile(target)).resolve()
        line = inspect.getsourcelines(target)[1]
        places.append(f"{path.relative_to(PACKAGE_ROOT).as_posix()}:{line}")
    return places


def _dtype(array: np.ndarray) -> str:
    return {"f": "F64", "i": "I64", "u": "I64", "b": "BOOL"}[array.dtype.kind]


def manifest(tensors: dict, tol: dict, info: dict) -> dict:
    used = {st.stage_of(name).pattern for name in tensors}
    return {
        "format": FORMAT,
        **info,
        "measures": st.MEASURES,
        "stage_patterns": [{"pattern": s.pattern, "meaning": s.meaning, "reference": s.reference,
                            "source": source_lines(s.reference), "measure": s.measure, "derivation": s.derivation}
                           for s in st.STAGES if s.pattern in used],  # fmt: skip
        "tensors": [{"name": name, "shape": list(value.shape), "dtype": _dtype(value),
                     "pattern": st.stage_of(name).pattern, "tolerance": tol[name]}
                    for name, value in tensors.items()],  # fmt: skip
    }


# --- the command's entry point ------------------------------------------------------------------


def compute(model, waveform: np.ndarray, options, attention: bool = False) -> tuple[dict, dict]:
    """``(tensors, info)`` for one recording: ``model`` a float64 :class:`Speech2Text`,
    ``options`` its checked generation options."""
    from ...io.features import FeatureExtractor

    extractor = model.feature_extractor or FeatureExtractor()
    tensors = frontend(waveform.astype(DTYPE), extractor)
    tensors.update(encoder(model.params, model.config, tensors["frontend.features"][None], attention))
    searched, skipped = {}, {}
    for rules in RULES:
        refusal = refused(rules, options)
        if refusal:
            skipped[rules] = refusal
            continue
        searched[rules] = search(model.params, model.config, tensors["encoder.output"], rules, options)
    steps = max(sum(n.endswith(".logits") for n in s) for s in searched.values())
    c = model.config
    table = m.position_table(c.max_target_positions, c.d_model, c.pad_token_id, DTYPE)
    tensors["decoder.positions"] = table[c.pad_token_id + 1 : c.pad_token_id + 1 + steps]  # [P, D]
    for result in searched.values():
        tensors.update(result)
    return tensors, {**settings(extractor, options), "rules": list(searched), "rules_left_out": skipped}


def settings(extractor, options) -> dict:
    """The front end's and the searches' settings, for the manifest: what a port must set."""
    fe = {"num_mel_bins": extractor.num_mel_bins, "do_ceptral_normalize": extractor.do_ceptral_normalize,
          "normalize_means": extractor.normalize_means, "normalize_vars": extractor.normalize_vars,
          "global_cmvn": extractor.global_cmvn is not None, "dither": 0.0}  # fmt: skip
    if extractor.dither:
        fe["note"] = f"the model's dither ({extractor.dither}) is left out: noise has no golden value"
    longest = g.max_length_of(options)
    return {"front_end": fe,
            "search": {"num_beams": options.num_beams, "length_penalty": options.length_penalty,
                       "early_stopping": options.early_stopping, "max_length": longest,
                       "min_length": options.min_length, "no_repeat_ngram_size": options.no_repeat_ngram_size,
                       "forced_bos_token_id": options.forced_bos_token_id,
                       "decoder_start_token_id": options.decoder_start_token_id,
                       "eos_token_ids": list(options.eos_token_ids), "pad_token_id": options.pad_token_id,
                       "fairseq_max_len": max(1, longest - 2),
                       "fairseq_min_len": max(1, options.min_length - 1)}}  # fmt: skip


def refused(rules: str, options) -> str:
    """Why a rule set cannot search with these options ("" if it can): fairseq's beam
    search has no n-gram ban, no forced first token and one stop id — as
    ``Speech2Text.generate(search="fairseq")`` refuses them (a test holds the two to the same answer)."""
    if rules == "fairseq" and (options.no_repeat_ngram_size or options.forced_bos_token_id is not None):
        return "fairseq's rules take no no_repeat_ngram_size and no forced first token (language)"
    if rules == "fairseq" and len(options.eos_token_ids) > 1:
        return f"fairseq's rules stop on one id; eos_token_id is a list {list(options.eos_token_ids)}"
    return ""


def generation_options(model, language: str | None = None, **overrides):
    """The model's generation options with ``overrides`` and, for a translation model, the
    forced first token of ``language`` (required there, refused elsewhere)."""
    langs = model.languages
    if language is None and langs:
        raise UnknownLanguageError(f"this is a multilingual model: choose the target language, one of "
                                   f"{', '.join(langs)} (--language).")  # fmt: skip
    if language is not None:
        if language not in langs:
            raise UnknownLanguageError(f"this model does not translate into {language!r}; "
                                       + (f"it translates into {', '.join(langs)}." if langs else
                                          "it is monolingual: give no --language."))  # fmt: skip
        overrides["forced_bos_token_id"] = model.tokenizer.language_id(language)
    return model.generation_options(**overrides)


def write_golden(model_name, recording, out, attention: bool = False, language: str | None = None,
                 **generation) -> dict:  # fmt: skip
    """Compute and write the goldens of ``recording`` for the model ``model_name`` (a
    directory, ``bundled-asr`` or ``bundled-st``) to ``out``; returns the manifest."""
    from ..pipeline import Speech2Text

    out = Path(out)
    if out.is_dir() or not out.parent.is_dir():
        raise UsageError(f"cannot write {out}: " + ("it is a directory." if out.is_dir() else
                                                    f"no directory {out.parent}."))  # fmt: skip
    model = Speech2Text.from_pretrained(model_name, np.float64)
    if model.runtime.name != "numpy":
        raise UsageError(f"{model_name} is an exported ONNX directory: it holds graphs, not the weights the "
                         f"reference computes with. Pass the model directory it was exported from.")  # fmt: skip
    options = generation_options(model, language, **generation)
    waveform = model.load_waveform(str(recording))
    tensors, info = compute(model, waveform, options, attention)
    tol = tolerances(tensors, options.length_penalty)
    info = {"minis2t": _version(), "model": str(model_name), "config_sha256": config_sha256(model.config),
            "weights_sha256": content_checksum(model.weights),
            "recording": {"file": Path(recording).name, "samples": int(waveform.shape[0]),
                          "sha256": hashlib.sha256(np.ascontiguousarray(waveform, np.float64).tobytes()).hexdigest()},
            "dtype": "float64", "tolerances_for": "float32", **info}  # fmt: skip
    doc = manifest(tensors, tol, info)
    write(out, {n: _stored(v) for n, v in tensors.items()}, {MANIFEST_KEY: json.dumps(doc)})
    return doc


def _version() -> str:
    """The installed minis2t's version (from its metadata: nothing in the package imports
    its front door)."""
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("minis2t")
    except PackageNotFoundError:
        return "unknown"


def _stored(value: np.ndarray) -> np.ndarray:
    """float64, int64 or bool: the golden's three dtypes (float32 search scores are exact in float64)."""
    value = np.asarray(value)
    kind = value.dtype.kind
    return value.astype(np.float64 if kind == "f" else bool if kind == "b" else np.int64)
