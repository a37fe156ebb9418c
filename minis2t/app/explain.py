"""``minis2t explain``: one recording followed through every stage, by the reference.

    minis2t explain RECORDING [--model M] [--segment N | --start S --duration D] [--beams K]
                              [--language xx] [--layer N] [--no-oracles] [-o FILE.html]

:func:`explain` runs the *reference* functions (:mod:`minis2t.reference`, the code the
site's stage pages include) on a user's recording, one step at a time, and keeps what
each step computed: the waveform and its frames, one frame through the front end, the
mel filter bank and the log-mel image, CMVN, the conv subsampler, the positions, one
encoder layer's self-attention, the beam search step by step, cross-attention and the
word times it gives, and the confidence signals. It returns an :class:`Explanation`
(plain data: arrays with their shapes, the functions' names); its ``to_html()`` is one
self-contained page (:mod:`minis2t.app.explain_page`) that opens from disk.

A **parity strip** compares each stage with the engine the application runs
(``Speech2Text.runtime``), and — where torch and transformers are installed and the
PyTorch twin (``parity/``, in a checkout) is importable — with the twin and transformers.

**Long recordings** are cut at pauses as ``transcribe`` cuts them
(:class:`minis2t.app.longform.Segmenter`, streaming: memory is one block and one
segment whatever the length); one segment is explained (``segment``, the first by
default) and the others are listed with their times. ``start``/``duration`` pick a
stretch instead.

**Model kinds**: every directory minis2t loads. An ONNX directory (``minis2t
export-onnx``) holds no weights NumPy can read: its front end and search are minis2t's
and are explained as for any model, while the network (encoder output, decoder
log-probabilities, cross-attention) comes from its graphs in onnxruntime; the stages
inside the encoder (conv layers, positions, self-attention) are not exposed by the
graphs and are marked so on the page.
"""

from __future__ import annotations

import copy
import importlib.util
import inspect
import math
import os
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from ..errors import MiniS2TError, OutputError, UsageError, guarded
from ..io.audio import SAMPLING_RATE, AudioInput, audio_blocks
from ..reference import features as F
from ..reference import generate as g
from ..reference import model as M
from ..reference.nn import ACTIVATIONS, attention, layer_norm, log_softmax
from . import confidence as conf
from . import longform, timing
from .formats import escaped

if TYPE_CHECKING:
    from .pipeline import Speech2Text

# The site's page for each stage (docs/*.md); the page links to them.
PAGES = {
    "recording": ("audio.md", "1. Audio loading and resampling"),
    "frame": ("frames.md", "2. Frames, window, pre-emphasis"),
    "mel": ("mel.md", "3. Power spectrum and mel filter bank"),
    "cmvn": ("cmvn.md", "4. Log-mel and CMVN"),
    "subsampling": ("subsampling.md", "5. Convolutional subsampling"),
    "positions": ("positions.md", "6. Sinusoidal positions"),
    "attention": ("attention.md", "7. Attention and masks"),
    "search": ("search.md", "9. Greedy and beam search"),
    "cross": ("long-form.md", "13. Recordings of any length (word times)"),
    "confidence": ("bundled-model.md", "The bundled model (confidence)"),
    "parity": ("parity.md", "Parity"),
}


def name_of(function) -> str:
    """``module.name`` of a function or class, as the page shows it."""
    return f"{function.__module__}.{function.__qualname__}"


@dataclass
class Stage:
    """What one stage computed: its arrays (shapes on the page), a few numbers, the
    functions that computed them (``module.name``) and the site's page for it."""

    id: str
    title: str
    functions: list[str]
    arrays: dict[str, np.ndarray] = field(default_factory=dict)
    numbers: dict[str, object] = field(default_factory=dict)
    note: str = ""
    available: bool = True  # False: this model kind does not expose the stage (ONNX)
    # what is not an array or a number: the search's "steps" (per step: beam, token,
    # score, ends [1, 2K], live [1, K]), "pieces" (the sequence's tokens as text) and
    # "pieces_by_id"; cross-attention's "words" and "pieces" (its rows); confidence's
    # "signals" (the calibration's signal names, in its order)
    details: dict = field(default_factory=dict)

    @property
    def page(self) -> tuple[str, str] | None:
        return PAGES.get(self.id)


@dataclass
class Explanation:
    """Everything the page shows, as data. ``stages`` maps a stage id to its
    :class:`Stage`, in the page's order; ``parity`` holds one row per compared stage:
    ``{"stage", "shape", "scale", "engine": max |reference - engine| or None, "twin",
    "transformers"}`` (None where that implementation was not run); ``oracles`` says
    which implementations were compared, or why not."""

    recording: str
    model: str
    model_kind: str
    runtime: str
    seconds: float  # of the recording read (all of it, or up to the end of --start/--duration)
    segments: list[tuple[float, float]]  # every segment's (start, end), seconds
    segment: int | None  # which one is explained (None: --start/--duration)
    start: float
    end: float
    text: str
    stages: dict[str, Stage]
    parity: list[dict]
    oracles: str
    options: dict

    def to_html(self, docs_url: str | None = None) -> str:
        """The page: one self-contained HTML document (see :mod:`minis2t.app.explain_page`)."""
        from .explain_page import render

        return render(self, docs_url)


class ReferenceRuntime:
    """The reference model behind the three runtime methods (``encode``, ``init_cache``,
    ``decode``), so that the application's own word-timing code
    (:mod:`minis2t.app.timing`) runs on the reference's numbers."""

    name = "reference"

    def __init__(self, params: dict, config):
        self.params, self.config = params, config

    def encode(self, features, attention_mask=None, output_hidden_states=False, output_attentions=False):
        return M.encode(self.params, self.config, features, attention_mask)

    def init_cache(self, encoder_states):
        return M.init_cache(self.params, self.config, encoder_states)

    def decode(self, input_ids, cache, encoder_mask=None, decoder_attention_mask=None,
               output_hidden_states=False, output_attentions=False):  # fmt: skip
        return M.decode(self.params, self.config, input_ids, cache, encoder_mask, decoder_attention_mask)


# --- the audio: one segment of a recording of any length -------------------------------


def pick_audio(model, recording, segment: int | None, start: float | None, duration: float | None):
    """``(wave [N], seconds read, [(start, end), ...], segment index or None, start, end)``.

    Streams the recording in blocks (the checks and typed errors of ``transcribe``):
    with ``start``, keeps the samples of ``[start, start + duration)``; otherwise cuts it
    at pauses as ``transcribe`` does and keeps only segment ``segment`` (default 0)."""
    limit = longform.segment_seconds(model)
    if start is not None:
        duration = limit if duration is None else duration
        if start < 0 or not duration > 0 or not math.isfinite(start + duration):
            raise UsageError(f"--start {start} --duration {duration}: give a start >= 0 and a duration > 0 (seconds).")
        if duration > limit:
            raise UsageError(f"--duration {duration:g}: this model takes at most {limit:.1f} s at once; "
                             f"give a shorter stretch.")  # fmt: skip
        lo, hi = int(round(start * SAMPLING_RATE)), int(round((start + duration) * SAMPLING_RATE))
        kept, read = [], 0
        for block in audio_blocks(recording):
            a, b = max(lo - read, 0), min(hi - read, block.shape[0])
            if b > a:
                kept.append(block[a:b])
            read += block.shape[0]
            if read >= hi:  # the stretch is complete: the rest of the file is not needed
                break
        wave = np.concatenate(kept) if kept else np.zeros(0, np.float32)
        if wave.shape[0] < F.FRAME_LENGTH:
            raise UsageError(f"--start {start:g}: the recording is {read / SAMPLING_RATE:.2f} s long; "
                             f"nothing (or less than one 25 ms frame) is left from there.")  # fmt: skip
        return wave, read / SAMPLING_RATE, [(lo / SAMPLING_RATE, (lo + wave.shape[0]) / SAMPLING_RATE)], None, \
            lo / SAMPLING_RATE, (lo + wave.shape[0]) / SAMPLING_RATE  # fmt: skip
    index = 0 if segment is None else segment
    if index < 0:
        raise UsageError(f"--segment {index}: segments are numbered from 0.")
    segmenter = longform.Segmenter(limit)
    times, chosen, read = [], None, 0

    def take(found):
        nonlocal chosen
        for s in found:
            if len(times) == index:
                chosen = s
            times.append((s.start, s.end))
            s.audio = s.audio if s is chosen else None  # only the explained segment's audio is kept

    for block in audio_blocks(recording):
        take(segmenter.feed(block))
        read += block.shape[0]
    take(segmenter.finish())
    if not times:
        raise MiniS2TError("found no speech to explain: no stretch of this recording rises above its "
                           "noise floor (minis2t transcribe finds no words in it either); explain a "
                           "stretch with --start S --duration D.")  # fmt: skip
    if chosen is None:
        raise UsageError(f"--segment {index}: the recording has {len(times)} segment(s) (0 to "
                         f"{len(times) - 1}); pick one of them, or --start S --duration D.")  # fmt: skip
    return chosen.audio, read / SAMPLING_RATE, times, index, chosen.start, chosen.end


# --- the stages -------------------------------------------------------------------------


def front_end(wave: np.ndarray, extractor) -> tuple[dict, np.ndarray]:
    """The reference front end step by step, in float64 as the application computes it:
    the stages ``recording``, ``frame``, ``mel``, ``cmvn``, and the features ``[T, F]``."""
    bins = extractor.num_mel_bins
    x = wave.astype(np.float64)  # [N]
    frames = F.frame_signal(F.scale_waveform(x))  # [T, 400], a view
    t = frames.shape[0]
    energy = (frames.astype(np.float64) ** 2).mean(axis=1)  # [T]
    loudest = int(energy.argmax())
    one = frames[loudest : loudest + 1]  # [1, 400]
    dc = F.remove_dc_offset(one)
    pre = F.preemphasize(dc)
    window = F.povey_window(F.FRAME_LENGTH, np.float64)  # [400]
    windowed = pre * window
    power_one = F.power_spectrum(windowed)  # [1, 257]
    power = F.power_spectrum(F.preemphasize(F.remove_dc_offset(frames)) * window)  # [T, 257]
    banks = F.mel_filterbank(bins)  # [257, F]
    raw = F.log_mel(power, banks).astype(np.float32)  # [T, F], rounded as the application does
    del power
    recording = Stage("recording", "The recording and where the frames fall",
                      [name_of(audio_blocks), name_of(longform.Segmenter), name_of(F.scale_waveform),
                       name_of(F.frame_signal), name_of(F.num_frames)],
                      {"waveform": wave, "frame starts": np.arange(t) * F.FRAME_SHIFT},
                      {"samples N": wave.shape[0], "seconds": round(wave.shape[0] / SAMPLING_RATE, 3),
                       "frames T = 1 + (N - 400) // 160": t, "frame length": F.FRAME_LENGTH,
                       "frame shift": F.FRAME_SHIFT, "samples dropped at the end": wave.shape[0] - (
                           F.FRAME_LENGTH + (t - 1) * F.FRAME_SHIFT) if t else wave.shape[0]})  # fmt: skip
    frame = Stage("frame", f"One frame through the front end (frame {loudest}, the loudest)",
                  [name_of(F.remove_dc_offset), name_of(F.preemphasize), name_of(F.povey_window),
                   name_of(F.power_spectrum)],
                  {"frame (x 2^15)": one[0], "DC removed": dc[0], "pre-emphasised": pre[0],
                   "Povey window": window, "windowed": windowed[0], "power spectrum": power_one[0]},
                  {"frame index": loudest, "starts at sample": loudest * F.FRAME_SHIFT,
                   "DC offset removed": float(one[0].mean()), "pre-emphasis": F.PREEMPHASIS,
                   "FFT size": F.FFT_SIZE})  # fmt: skip
    mel = Stage("mel", "The mel filter bank and the log-mel image",
                [name_of(F.mel_filterbank), name_of(F.log_mel)],
                {"mel filter bank": banks, "log-mel": raw},
                {"mel bins F": bins, "lowest edge (Hz)": F.LOW_FREQ, "highest edge (Hz)": SAMPLING_RATE / 2,
                 "log floor": F.LOG_FLOOR})  # fmt: skip
    x = raw
    functions, numbers = [], {}
    if extractor.do_ceptral_normalize:
        x = F.utterance_cmvn(x, extractor.normalize_means, extractor.normalize_vars)
        functions.append(name_of(F.utterance_cmvn))
        numbers.update({"normalise means": extractor.normalize_means, "normalise variances": extractor.normalize_vars})
    if extractor.global_cmvn is not None:
        x = F.global_cmvn(x, **extractor.global_cmvn)
        functions.append(name_of(F.global_cmvn))
        numbers["global CMVN (corpus statistics)"] = True
    cmvn = Stage("cmvn", "CMVN: each mel bin to zero mean and unit variance", functions or ["(none: this model's "
                 "feature extractor does not normalise)"],  # fmt: skip
                 {"means": raw.mean(axis=0, dtype=np.float64), "variances": raw.var(axis=0, dtype=np.float64),
                  "standard deviations": raw.std(axis=0, dtype=np.float64), "features": x},
                 {**numbers, "variance floor": F.VARIANCE_FLOOR,
                  "mean after (all bins)": float(x.mean()), "std after (all bins)": float(x.std())})  # fmt: skip
    if extractor.dither:
        cmvn.note = (f"This model's feature extractor adds dither ({extractor.dither}); the explanation leaves it "
                     f"out, so its numbers are repeatable.")  # fmt: skip
    return {s.id: s for s in (recording, frame, mel, cmvn)}, x


def encoder_stages(model, features: np.ndarray, layer: int | None, heads: list[int] | None = None
                   ) -> tuple[dict, dict]:  # fmt: skip
    """The encoder by the reference: conv subsampler, positions, one layer's
    self-attention. Returns the stages and ``{"states" [1, S, D], "mask" [1, S], ...}``."""
    c = model.config
    x = features[None].astype(model.dtype)  # [1, T, F]
    if model.runtime.name == "onnxruntime":
        enc = model.runtime.encode(x, None)
        missing = "the exported encoder graph runs as one piece and exposes no intermediate values"
        stages = {sid: Stage(sid, title, [], note=f"Not shown for an ONNX directory: {missing}.", available=False)
                  for sid, title in (("subsampling", "The conv subsampler"), ("positions", "Positions added"),
                                     ("attention", "Encoder self-attention"))}  # fmt: skip
        stages["subsampling"].arrays["encoder states"] = enc["last_hidden_state"][0]
        stages["subsampling"].numbers["encoder states [S, D]"] = "x".join(map(str, enc["last_hidden_state"].shape[1:]))
        return stages, {"states": enc["last_hidden_state"], "mask": enc["mask"]}
    layer = c.encoder_layers - 1 if layer is None else layer
    enc = encode_keeping(model.params, c, x, layer)
    shapes = [x.shape] + [o.shape for o in enc["conv_outputs"]]
    sub = Stage("subsampling", "The conv subsampler: frames halved, channels to d_model",
                [name_of(M.conv_subsampler), name_of(M.subsampled_lengths)],
                {f"conv layer {i} output": o[0] for i, o in enumerate(enc["conv_outputs"])},
                {"shapes": " -> ".join("[" + ", ".join(map(str, s)) + "]" for s in shapes),
                 "kernel sizes": list(c.conv_kernel_sizes), "stride": 2,
                 "S = subsampled_lengths(T)": int(M.subsampled_lengths(x.shape[1], c.num_conv_layers)),
                 "ms per encoder frame": 10 * 2**c.num_conv_layers})  # fmt: skip
    table = M.position_table(c.max_source_positions, c.d_model, c.pad_token_id, x.dtype)
    ids = M.encoder_position_ids(enc["mask"], c.pad_token_id)  # [1, S]
    scaled = enc["conv_outputs"][-1][0] * (np.sqrt(c.d_model) if c.scale_embedding else 1.0)
    pos = Stage("positions", "Sinusoidal positions added to the scaled conv output",
                [name_of(M.position_table), name_of(M.encoder_position_ids)],
                {"position ids": ids[0], "positions added": table[ids[0]], "conv output x sqrt(D)": scaled,
                 "encoder input": enc["input"][0]},
                {"scale sqrt(D)": round(float(np.sqrt(c.d_model)), 4) if c.scale_embedding else 1.0,
                 "first position id": int(ids[0, 0]), "pad id (its row is zeros)": c.pad_token_id})  # fmt: skip
    heads = list(range(min(4, c.encoder_attention_heads))) if heads is None else heads
    weights = enc["attention"][0][heads]  # [H', S, S], the heads shown
    att = Stage("attention", f"Encoder self-attention, layer {layer} of {c.encoder_layers}, heads "
                f"{', '.join(map(str, heads))}",
                [name_of(M.encoder_layer), name_of(M.self_attention_block), name_of(attention)],
                {"weights": weights, "each query's most attended frame": weights.argmax(axis=-1)},
                {"layer": layer, "heads H": c.encoder_attention_heads, "heads shown": heads,
                 "rows sum to": float(weights.sum(-1).mean()),
                 "mean distance to the most attended frame (frames)": round(float(np.abs(
                     weights.argmax(-1) - np.arange(weights.shape[1])).mean()), 2)})  # fmt: skip
    return {s.id: s for s in (sub, pos, att)}, {"states": enc["last_hidden_state"], "mask": enc["mask"],
                                                "conv": enc["conv_outputs"][-1], "input": enc["input"]}


def encode_keeping(params: dict, config, features: np.ndarray, layer: int) -> dict:
    """:func:`minis2t.reference.model.encode`, step by step with the reference's own
    functions, keeping one layer's attention weights ``[1, H, S, S]`` (``encode`` keeps
    every layer's: gigabytes for s2t-small's four minutes). Returns ``conv_outputs``,
    ``input`` (the embedded input ``[1, S, D]``), ``attention``, ``last_hidden_state``
    and ``mask``."""
    enc = params["model"]["encoder"]
    conv_outputs = M.conv_subsampler(features, enc["conv"]["conv_layers"], config.conv_kernel_sizes)
    x = conv_outputs[-1]  # [1, S, D]
    if config.scale_embedding:
        x = x * x.dtype.type(np.sqrt(config.d_model))
    mask = M.frame_mask(None, 1, x.shape[1], config.num_conv_layers)  # [1, S], all real
    table = M.position_table(config.max_source_positions, config.d_model, config.pad_token_id, x.dtype)
    x = x + table[M.encoder_position_ids(mask, config.pad_token_id)]  # [1, S, D]
    embedded, kept = x, None
    activation = ACTIVATIONS[config.activation_function]
    for i, weights in enumerate(enc["layers"]):
        x, attention_weights = M.encoder_layer(x, weights, config.encoder_attention_heads, None, activation)
        kept = attention_weights if i == layer else kept
    return {"conv_outputs": conv_outputs, "input": embedded, "attention": kept, "mask": mask,
            "last_hidden_state": layer_norm(x, **enc["layer_norm"])}  # fmt: skip


def search_steps(step, cache, opts) -> tuple[g.GenerateOutput, list[dict]]:
    """The reference search on one utterance and its per-step record: beam search's
    ``GenerateOutput.steps`` (``beam``, ``token``, ``score``, ``ends`` ``[1, 2K]`` and
    ``live`` ``[1, K]``); for greedy search (K = 1) the same record is built here from
    each step's two best tokens."""
    if opts.num_beams > 1:
        if "trace" in inspect.signature(g.beam_search).parameters:  # until GenerateOutput.steps is on main
            steps: list = []
            return g.beam_search(step, cache, 1, opts, trace=steps), steps
        out = g.beam_search(step, cache, 1, opts)
        return out, out.steps
    steps, total, history = [], np.zeros(1, np.float32), []

    def recording_step(tokens, cache):  # greedy's step, recording its two best (processed) scores
        nonlocal total
        history.append(tokens)  # the token chosen last step (the start token first)
        logits, cache = step(tokens, cache)
        processed = g.process_scores(np.concatenate(history, axis=1), log_softmax(logits.astype(np.float32)), opts)
        scores, index = g.top_k(processed, 2)  # [1, 2]: what greedy chose, and the runner-up
        steps.append({"beam": np.zeros_like(index), "token": index, "score": total + scores,
                      "ends": np.isin(index, opts.eos_token_ids), "live": np.zeros((1, 1), np.int64)})  # fmt: skip
        total = total + scores[:, 0]
        return logits, cache

    return g.greedy_search(recording_step, cache, 1, opts), steps


def stop_reason(steps: list[dict], opts) -> str:
    """Which of the search's rules ended it, from its last step."""
    n = len(steps)
    k = opts.num_beams
    if n + 1 >= g.max_length_of(opts):
        return f"the length limit: {g.max_length_of(opts)} tokens (max_length, the start token included) reached"
    if k == 1:
        return "greedy search: the most likely token was end-of-sentence"
    finished = sum(int((s["ends"][0, :k]).sum()) for s in steps)
    if opts.early_stopping is True and finished >= k:
        return (f"early_stopping=True: {k} hypotheses had ended (candidates that end among the best "
                f"{k} of a step finish)")  # fmt: skip
    return (f"no live beam could still beat the worst finished hypothesis (length_penalty "
            f"{opts.length_penalty}, early_stopping {opts.early_stopping})")  # fmt: skip


def decoder_stages(model, work: dict, opts, seconds: float) -> tuple[dict, np.ndarray, dict]:
    """Search, cross-attention and word times, and confidence, by the reference (the
    network by the model's ONNX graphs for an ONNX directory)."""
    onnx = model.runtime.name == "onnxruntime"
    runtime = model.runtime if onnx else ReferenceRuntime(model.params, model.config)
    states, mask = work["states"], work["mask"]
    k = opts.num_beams

    def step(tokens, cache):  # [K, 1] -> logits [K, V]
        out = runtime.decode(tokens, cache, np.repeat(mask, k, axis=0))
        return out["logits"][:, -1], out["cache"]

    cache = runtime.init_cache(np.repeat(states, k, axis=0) if not onnx else states)
    result, steps = search_steps(step, cache, opts)
    pad = model.config.pad_token_id
    seq = result.sequences[0]
    seq = seq[: 1 + int((seq[1:] != pad).sum())]  # [L], start token first
    pieces = model.tokenizer.convert_ids_to_tokens(seq.tolist())
    text = model.tokenizer.decode(seq, skip_special_tokens=True).strip()
    fn = g.beam_search if k > 1 else g.greedy_search
    search = Stage("search", f"The decoder's search ({'beam search, ' + str(k) + ' beams' if k > 1 else 'greedy'})",
                   [name_of(fn), name_of(g.process_scores), name_of(M.decode)],
                   {"sequence": seq, **{f"step {i} {key}": s[key][0] for i, s in enumerate(steps)
                                        for key in ("token", "score")}},
                   {"beams K": k, "candidates per step (2K)": 2 * k if k > 1 else 2, "steps": len(steps),
                    "max_length": g.max_length_of(opts), "length_penalty": opts.length_penalty,
                    "early_stopping": opts.early_stopping, "stopped by": stop_reason(steps, opts),
                    "score of the result": None if result.sequences_scores is None else
                    round(float(result.sequences_scores[0]), 4)})  # fmt: skip
    seen = sorted({int(t) for s in steps for t in s["token"][0]})
    search.details = {"steps": steps, "pieces": pieces,
                      "pieces_by_id": dict(zip(seen, model.tokenizer.convert_ids_to_tokens(seen)))}  # fmt: skip
    if onnx:
        search.note = "The search is minis2t's; each step's logits come from the ONNX decoder graph (onnxruntime)."
    # cross-attention, teacher-forced over the chosen tokens, and the word times it gives
    timed = copy.copy(model)
    timed.runtime = runtime
    heads = timing.alignment_heads(model)
    att = timing.cross_attention(timed, states, mask, seq[None], heads)
    targets = seq[1:]
    text_at = timing.text_positions(model, targets)
    matrix = np.zeros((0, int(mask.sum())))
    if text_at.size:
        ended = bool(text_at[-1] + 1 < targets.size)
        matrix = timing.alignment_matrix(att["weights"][0][:, timing.token_rows(text_at, ended), : int(mask.sum())])
    words = timing.word_timestamps(timed, states, mask, seq[None], heads)[0]["words"]
    cross = Stage("cross", "Cross-attention over the encoder frames, and the word times it gives",
                  [name_of(timing.cross_attention), name_of(timing.alignment_matrix), name_of(timing.token_starts),
                   name_of(timing.word_timestamps), name_of(M.decode)],
                  {"weights of the alignment heads": att["weights"][0], "alignment matrix": matrix},
                  {"alignment heads (layer, head)": [list(h) for h in heads],
                   "seconds per encoder frame": timing.frame_seconds(model.config)})  # fmt: skip
    cross.details = {"words": words, "pieces": [pieces[1 + i] for i in text_at]}
    if onnx:
        cross.note = "Cross-attention weights from the ONNX decoder graph (onnxruntime), not the reference."
    # confidence: the application's signals with the reference as their network, and
    # per token what they summarise, from a teacher-forced pass
    out = runtime.decode(seq[None], runtime.init_cache(states), mask)
    log_p = log_softmax(out["logits"][0, :-1].astype(np.float64))  # [L - 1, V]
    signals = conf.signals(log_p[None], [seq], [work["wave"].shape[0] / SAMPLING_RATE])[0]
    chosen = log_p[np.arange(targets.size), targets]
    others = log_p.copy()
    others[np.arange(targets.size), targets] = -np.inf
    calibration = model.calibration
    numbers = {name: round(v, 4) for name, v in signals.items()}
    if calibration is not None:
        z = (np.array([signals[f] for f in calibration.features]) - calibration.mean) / calibration.scale
        numbers.update({"calibrated confidence": round(calibration(signals), 4), "threshold": calibration.threshold,
                        "understood": bool(calibration(signals) >= calibration.threshold)})  # fmt: skip
        contributions = {"standardised signal": z, "coefficient": calibration.coef, "contribution": calibration.coef * z}
    else:
        numbers["calibrated confidence"] = "none: this model directory has no confidence.json"
        contributions = {}
    confidence = Stage("confidence", "How sure the model is: the signals and the calibrated confidence",
                       [name_of(conf.signals), name_of(conf.Calibration), name_of(M.decode)],
                       {"chosen token log-probability": chosen, "margin to the best other token":
                        chosen - others.max(axis=1), "entropy": -(np.exp(log_p) * log_p).sum(axis=1),
                        **contributions},
                       numbers)  # fmt: skip
    confidence.details = {"signals": list(calibration.features) if calibration is not None else [],
                          "intercept": None if calibration is None else calibration.intercept,
                          "pieces": pieces[1:]}  # fmt: skip
    confidence.note = ("The signals come from the decoder run once more over the chosen tokens (the network: "
                       f"{'the ONNX graphs' if onnx else 'the reference'}; the features: the application's front "
                       "end, equal to the reference's as the parity strip shows).")  # fmt: skip
    work.update(sequence=seq, logits=out["logits"], score=result.sequences_scores)
    return {s.id: s for s in (search, cross, confidence)}, text, work


# --- parity -------------------------------------------------------------------------------


def _max_diff(a, b) -> float:
    return float(np.abs(np.asarray(a, np.float64) - np.asarray(b, np.float64)).max())


def engine_parity(model, wave: np.ndarray, features: np.ndarray, work: dict, options: dict) -> list[dict]:
    """Per stage, the largest difference between the reference and what the application
    runs (``model.feature_extractor`` and ``model.runtime``) on the same input."""
    rows = []

    def row(stage, ref, engine):
        rows.append({"stage": stage, "shape": tuple(np.shape(ref)), "scale": float(np.abs(ref).max()),
                     "engine": None if engine is None else _max_diff(ref, engine)})  # fmt: skip

    row("features (log-mel after CMVN)", features, model.feature_extractor(wave)["input_features"][0])
    x = features[None].astype(model.dtype)
    onnx = model.runtime.name == "onnxruntime"
    if onnx:  # the reference cannot run the network: the directory holds graphs, not weights
        rows.append({"stage": "network (ONNX graphs)", "shape": (), "scale": None, "engine": None,
                     "tokens": "not compared: an ONNX directory has no weights the reference can run"})  # fmt: skip
    else:
        enc = model.runtime.encode(x, None, output_hidden_states=True)
        row("conv subsampler output", work["conv"][0], enc["conv_outputs"][-1][0])
        row("encoder input (positions added)", work["input"][0], enc["hidden_states"][0][0])
        row("encoder output", work["states"][0], enc["last_hidden_state"][0])
        dec = model.runtime.decode(work["sequence"][None], model.runtime.init_cache(enc["last_hidden_state"]),
                                   enc["mask"])  # fmt: skip
        row("decoder logits (teacher-forced)", work["logits"][0], dec["logits"][0])
    ids = model.generate(x, None, **options)[0]  # the application's search (engine top_k)
    ids = ids[: 1 + int((ids[1:] != model.config.pad_token_id).sum())]
    same = ids.shape == work["sequence"].shape and bool((ids == work["sequence"]).all())
    rows.append({"stage": "search: output tokens", "shape": tuple(work["sequence"].shape), "scale": None,
                 "engine": 0.0 if same else math.inf, "tokens": "same tokens" if same else
                 f"different tokens: {ids.tolist()}"})  # fmt: skip
    return rows


def oracle_parity(model, wave, features, work, rows: list[dict]) -> str:
    """Add the twin's and transformers' differences to ``rows`` where they can run;
    returns the sentence the page shows about them."""
    missing = [p for p in ("torch", "transformers") if importlib.util.find_spec(p) is None]
    if missing:
        return f"The twin and transformers were not compared: {' and '.join(missing)} not installed."
    if model.runtime.name == "onnxruntime":
        return ("The twin and transformers were not compared: an ONNX directory has no weights for them "
                "(export-onnx's source directory has).")  # fmt: skip
    try:
        twin = importlib.util.find_spec("parity.explain_oracles") is not None
    except ModuleNotFoundError:
        twin = False
    if not twin:
        return ("The twin and transformers were not compared: the PyTorch twin lives in a checkout's parity/ "
                "(not installed with the package); run from a checkout to compare them.")  # fmt: skip
    from parity.explain_oracles import oracle_stages  # a checkout's twin (torch): imported only here

    found = oracle_stages(model, wave, features, work["sequence"])
    ours = {"features (log-mel after CMVN)": features, "conv subsampler output": work["conv"][0],
            "encoder input (positions added)": work["input"][0], "encoder output": work["states"][0],
            "decoder logits (teacher-forced)": work["logits"][0]}  # fmt: skip
    for r in rows:
        for name, stages in found.items():
            if r["stage"] in ours and stages.get(r["stage"]) is not None:
                r[name] = _max_diff(ours[r["stage"]], stages[r["stage"]])
    return ("Compared with the PyTorch twin (parity/) and transformers in float32, on the same weights: "
            "the features from each one's own front end; the network on the reference's features, "
            "teacher-forced over the same tokens.")


# --- the whole -----------------------------------------------------------------------------


def model_kind(model, given) -> str:
    from ..io.checkpoint import BUNDLED_MODELS

    if model.runtime.name == "onnxruntime":
        return "ONNX directory (minis2t export-onnx), run by onnxruntime"
    if given in (None, *BUNDLED_MODELS):
        return f"bundled model ({given or 'bundled-asr'})"
    from ..io.checkpoint import resolve_model_dir
    from ..io.fairseq import is_fairseq_dir

    if is_fairseq_dir(resolve_model_dir(given)):
        return "fairseq S2T directory"
    return "Hugging Face directory"


def decoding_options(model, language: str | None, beams: int | None) -> dict:
    """The search's options, with ``transcribe``'s checks (the files decoding needs, the
    beam size, the language: the same typed errors): ``num_beams`` and a translation
    model's forced language token."""
    options = {} if beams is None else {"num_beams": beams}
    model.transcribe([], language=language, **options)  # checks everything, decodes nothing
    if language is not None:
        options["forced_bos_token_id"] = model.tokenizer.language_id(language)
    return options


def explain(recording: AudioInput, model: Speech2Text | str | os.PathLike | None = None, segment: int | None = None, start: float | None = None,
            duration: float | None = None, beams: int | None = None, language: str | None = None,
            layer: int | None = None, heads: list[int] | None = None, oracles: bool = True) -> Explanation:  # fmt: skip
    """Follow one recording through every stage with the reference functions.

    Args:
        recording: a path, the bytes of an audio file or a binary file object (as for
            :meth:`minis2t.Speech2Text.transcribe_long`); read in blocks.
        model: a :class:`minis2t.Speech2Text`, a model directory, ``"bundled-asr"``
            (default) or ``"bundled-st"``.
        segment: which segment (cut at pauses as ``transcribe`` cuts) to explain; 0 first.
        start: explain from ``start`` seconds instead of a segment...
        duration: ...for ``duration`` seconds (default: as long as the model takes).
        beams: the search's beam size (default: the model's); 1 is greedy search.
        language: the target language of a translation model.
        layer: the encoder layer whose self-attention is shown (default: the last).
        heads: its heads shown (default: the first four, at most eight).
        oracles: compare with the PyTorch twin and transformers where they are installed.

    Returns an :class:`Explanation`; ``.to_html()`` is the page. Bad input raises the
    typed errors ``transcribe`` raises (:mod:`minis2t.errors`)."""
    from .pipeline import Speech2Text

    if segment is not None and start is not None:
        raise UsageError("give --segment N or --start S --duration D, not both.")
    if duration is not None and start is None:
        raise UsageError("--duration needs --start.")
    loaded = model if isinstance(model, Speech2Text) else Speech2Text.from_pretrained(model)
    options = decoding_options(loaded, language, beams)
    opts = loaded.generation_options(**options)
    c = loaded.config
    if layer is not None and not (0 <= layer < c.encoder_layers):
        raise UsageError(f"--layer {layer}: this encoder has layers 0 to {c.encoder_layers - 1}.")
    if heads is not None and (not heads or len(heads) > 8 or len(set(heads)) != len(heads)
                              or not all(0 <= h < c.encoder_attention_heads for h in heads)):  # fmt: skip
        raise UsageError(f"--heads {','.join(map(str, heads))}: give one to eight different heads from 0 to "
                         f"{c.encoder_attention_heads - 1}.")  # fmt: skip
    wave, seconds, times, index, begin, end = pick_audio(loaded, recording, segment, start, duration)
    stages, features = front_end(wave, loaded.feature_extractor)
    enc_stages, work = encoder_stages(loaded, features, layer, heads)
    work["wave"] = wave
    stages.update(enc_stages)
    dec_stages, text, work = decoder_stages(loaded, work, opts, wave.shape[0] / SAMPLING_RATE)
    stages.update(dec_stages)
    rows = engine_parity(loaded, wave, features, work, options)
    note = oracle_parity(loaded, wave, features, work, rows) if oracles else \
        "The twin and transformers were not compared (--no-oracles)."  # fmt: skip
    name = recording if isinstance(recording, (str, os.PathLike)) else getattr(recording, "name", "the audio given")
    if isinstance(model, Speech2Text):
        model_name, kind = "the Speech2Text given", f"a loaded Speech2Text ({loaded.runtime.name} runtime)"
    else:
        model_name, kind = str(model or "bundled-asr"), model_kind(loaded, model)
    return Explanation(str(name), model_name, kind,
                       loaded.runtime.name, seconds, times, index, begin, end, text, stages, rows, note,
                       {k: v for k, v in opts.to_dict().items() if k in ("num_beams", "max_length", "length_penalty",
                        "early_stopping", "no_repeat_ngram_size", "forced_bos_token_id")})  # fmt: skip


# --- the command ---------------------------------------------------------------------------


def check_can_draw() -> None:
    """The page's figures need matplotlib (the ``explain`` extra)."""
    from ..errors import UnsupportedError

    if importlib.util.find_spec("matplotlib") is None:
        raise UnsupportedError('minis2t explain draws its figures with matplotlib: pip install "minis2t[explain]".')


def add_parser(subparsers) -> None:
    """``minis2t explain``'s options."""
    p = subparsers.add_parser("explain", help="follow one recording through every stage (the reference "
                              "functions), in one HTML page that opens offline")  # fmt: skip
    p.add_argument("recording", help="an audio file (WAV, FLAC, OGG, MP3, M4A, ...)")
    p.add_argument("--model", default=None, help="model directory (Hugging Face, fairseq or ONNX), bundled-asr "
                   "(the default) or bundled-st")
    p.add_argument("--segment", type=int, default=None, help="which segment to explain (cut at pauses as "
                   "transcribe cuts them; 0 is the first, the default)")
    p.add_argument("--start", type=float, default=None, help="explain from S seconds instead of a segment")
    p.add_argument("--duration", type=float, default=None, help="with --start: D seconds (default: as much as "
                   "the model takes)")
    p.add_argument("--beams", type=positive_int, default=None, help="beam size (default: the model's; 1: greedy)")
    p.add_argument("--language", default=None, help="the target language of a translation model (e.g. de)")
    p.add_argument("--layer", type=int, default=None, help="the encoder layer whose self-attention is shown "
                   "(default: the last)")
    p.add_argument("--heads", type=_head_list, default=None, help="its heads shown, e.g. 0,2,5 (default: "
                   "the first four)")
    p.add_argument("--no-oracles", dest="oracles", action="store_false", help="do not compare with the PyTorch "
                   "twin and transformers (faster)")
    p.add_argument("--docs-url", default=None, help="where the site is (e.g. http://127.0.0.1:8000/): the "
                   "page links each stage to its page there")
    p.add_argument("-o", "--output", default=None, help="the page to write (default: RECORDING.explain.html "
                   "beside the recording)")


def positive_int(text: str) -> int:
    """``--beams``: a whole number from 1 (as the command's other options take it)."""
    import argparse

    if not text.strip().isdigit() or int(text) < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}")
    return int(text)


def _head_list(text: str) -> list[int]:
    import argparse

    try:
        return [int(x) for x in text.split(",")]
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected head numbers separated by commas, got {text!r}") from None


def output_path(recording: str, given: str | None) -> Path:
    if given is not None:
        return Path(given)
    path = Path(recording)
    return path.with_name(path.name + ".explain.html")


def write_page(target: Path, page: str) -> None:
    """The page, written beside its place and renamed into it (never half a file)."""
    aside = target.with_name(f".{target.name}.{os.getpid()}.partial")
    try:
        aside.write_text(page, encoding="utf-8")
        os.replace(aside, target)
    except OSError as e:
        raise OutputError(f"cannot write {target} ({e.strerror or e}).") from None
    finally:
        aside.unlink(missing_ok=True)


def run(args) -> int:
    """``minis2t explain``: 0 written; 1 the recording (or writing the page) failed, its
    error on stderr as ``transcribe`` prints it; 2 a usage error (raised to the command)."""
    from .pipeline import Speech2Text

    if args.segment is not None and args.start is not None:
        raise UsageError("give --segment N or --start S --duration D, not both.")
    check_can_draw()
    model = Speech2Text.from_pretrained(args.model)  # a bad model directory: exit 2, before reading audio
    decoding_options(model, args.language, args.beams)
    target = output_path(args.recording, args.output)
    if target.is_dir() or not target.parent.is_dir():  # found before the work, as transcribe's --output-dir
        raise UsageError(f"-o {target}: {'a directory' if target.is_dir() else 'its directory does not exist'}; "
                         f"give a file name in an existing directory.")  # fmt: skip

    def work():
        result = explain(args.recording, model, args.segment, args.start, args.duration, args.beams,
                         args.language, args.layer, args.heads, args.oracles)  # fmt: skip
        result.model = args.model or "bundled-asr"
        result.model_kind = model_kind(model, args.model)
        write_page(target, result.to_html(args.docs_url))
        return result

    result, error = guarded(work)
    if error is not None:
        if error.kind == "UsageError":
            raise UsageError(error)
        print(f"{escaped(args.recording)}: error: {escaped(error)}", file=sys.stderr)
        return 1
    size = target.stat().st_size
    print(f"wrote {escaped(target)} ({size / 1e6:.1f} MB): segment {result.segment if result.segment is not None else '-'} "
          f"of {len(result.segments)}, {result.start:.2f}-{result.end:.2f} s: {result.text}")  # fmt: skip
    return 0


__all__ = ["Explanation", "Stage", "add_parser", "explain", "run"]
