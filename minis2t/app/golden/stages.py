"""The golden names: what each intermediate is, where its formula is, how a port is held to it.

Names are dotted, in the order the data flows (``t`` a decoding step from 0, ``i`` a
layer from 0, ``R`` the search rules, ``transformers`` or ``fairseq``)::

    waveform                                  [N]          16 kHz samples in [-1, 1]
    frontend.frames                           [T, 400]     x 2**15, cut into frames
    frontend.dc_removed / .preemphasized / .windowed   [T, 400]
    frontend.power                            [T, 257]
    frontend.log_mel                          [T, F]
    frontend.features                         [T, F]       after CMVN: the model's input
    encoder.conv.i                            [1, T_i, C_i]
    encoder.positions                         [S, D]       the sinusoidal rows added
    encoder.input                             [1, S, D]    conv output x sqrt(D) + positions
    encoder.layer.i  (.attention [1, H, S, S] on request)  [1, S, D]
    encoder.output                            [1, S, D]    after the final layer norm
    decoder.layer.i.cross_key / .cross_value  [1, H, S, Dh]
    decoder.positions                         [P, D]       rows for decoder positions 0 .. P-1
    search.R.step.t.decoder.input             [K, 1, D]    embedded token x sqrt(D) + position
    search.R.step.t.decoder.layer.i           [K, 1, D]
    search.R.step.t.logits                    [K, V]
    search.R.step.t.beam / .token / .score / .ends / .finished   [1, 2K]   the 2K candidates
    search.R.step.t.live                      [1, K]       the kept beams among them
    search.R.sequences [1, L], search.R.sequences_scores [1]

Each name matches one :class:`Stage` pattern below, which says what it is, the reference
function that computes it, how a port's value is measured against it (:data:`MEASURES`) and
the tolerance a float32 port must meet, with the derivation. The tolerances are the bars
of ``parity/bars.py`` (copied here because the golden command runs without torch, and
``parity/`` needs it; ``tests/test_golden.py`` checks that the two agree).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

# --- the bars (parity/bars.py; a test checks they are the same numbers) ------------------
FRONT_END_FLOAT32 = 1e-4  # bars.FRONT_END_TWIN["float32"]
MODEL_FLOAT32 = 1e-4  # bars.MODEL_TRANSFORMERS["float32"] (= bars.ONNX["float32"])
# The sinusoidal table of two float32 libraries drifts apart with the position p by at most
# 2e-7 + 1.2e-7 p (minis2t.reference.nn.sinusoidal_positions); the positions' bar adds it.
POSITION_DRIFT = (2e-7, 1.2e-7)

MEASURES = {
    "scale": "max |port - golden| / max |golden| over the whole tensor",
    "row_peak": "max over frames of max |port - golden| / the frame's largest golden value",
    "energy": "compared as energies exp(log-mel): max over frames of max |exp port - exp golden| / "
              "the frame's largest golden energy",
    "features": "max |port - golden| / (max |golden| + r / s): r = the frame's peak energy over the "
                "band's energy, s = the band's CMVN divisor (both from the golden log-mel and features)",
    "score": "max |port - golden| (log-probability sums), against an absolute tolerance",
    "exact": "equal, element for element",
}

_FRONT = (f"bars.FRONT_END_TWIN['float32'] = {FRONT_END_FLOAT32:g}: the float32 power spectrum's rounding "
          f"is ~1e-7 of a frame's peak; the bar leaves room for any FFT's order of sums")  # fmt: skip
_MODEL = (f"bars.MODEL_TRANSFORMERS['float32'] = {MODEL_FLOAT32:g}, relative to the scale: two float32 "
          f"implementations differ by their matrix products' orders of summation (measured ~1e-6 for "
          f"float32 ports against these float64 goldens); the float64 golden is nearer the exact value "
          f"than either")  # fmt: skip
_SCORE = ("log p = z - logsumexp(z) moves by at most 2 max|dz| (logsumexp is 1-Lipschitz in the max "
          "norm), so step t's running sum by 2 x bar x (the sum of the largest golden |logit| of steps "
          f"0..t), bar = MODEL_TRANSFORMERS['float32'] = {MODEL_FLOAT32:g}; a finished score is that "
          "divided by (t + 1) ** length_penalty")  # fmt: skip
_EXACT = "integers and flags: a port that chooses differently has diverged"


@dataclass(frozen=True)
class Stage:
    """A family of golden names (``pattern``, with ``{i}``, ``{t}``, ``{R}``)."""

    pattern: str
    meaning: str
    reference: str  # the function(s) of minis2t.reference computing it
    measure: str  # a key of MEASURES
    derivation: str

    @property
    def regex(self) -> re.Pattern:
        escaped = re.escape(self.pattern).replace(r"\{i\}", r"\d+").replace(r"\{t\}", r"\d+")
        return re.compile("^" + escaped.replace(r"\{R\}", "(transformers|fairseq)") + "$")


F, M = "minis2t.reference.features", "minis2t.reference.model"  # where the formulas are
_SEARCH = ("minis2t.reference.generate.beam_search (transformers' rules) or "
           "minis2t.reference.fairseq_search.beam_search (fairseq's), GenerateOutput.steps")

STAGES = [
    Stage("waveform", "the recording: 16 kHz mono samples in [-1, 1], float64 (the port starts from these)",
          "minis2t.io.audio.load_audio", "scale", _FRONT),
    Stage("frontend.frames", "samples x 2**15 (16-bit units), cut into 25 ms frames every 10 ms (snip edges)",
          f"{F}.scale_waveform, {F}.frame_signal", "scale", _FRONT),
    Stage("frontend.dc_removed", "each frame minus its mean", f"{F}.remove_dc_offset", "scale", _FRONT),
    Stage("frontend.preemphasized", "y[n] = x[n] - 0.97 x[n-1] within each frame, y[0] = 0.03 x[0]",
          f"{F}.preemphasize", "scale", _FRONT),
    Stage("frontend.windowed", "times the Povey window (Hann ** 0.85)", f"{F}.povey_window", "scale", _FRONT),
    Stage("frontend.power", "|rFFT_512|**2 of each frame", f"{F}.power_spectrum", "row_peak", _FRONT),
    Stage("frontend.log_mel", "log of the Kaldi mel filter bank's energies, floored at float32 eps",
          f"{F}.mel_filterbank, {F}.log_mel", "energy",
          _FRONT + "; near-silent bands sit far below the peak and carry the FFT's rounding noise, "
          "so energies are compared relative to the frame's peak"),  # fmt: skip
    Stage("frontend.features", "after CMVN (the model's input; per utterance, population variance, "
          "or the model's global statistics)", f"{F}.utterance_cmvn, {F}.global_cmvn", "features",
          _FRONT + ", on the scale for the mean and the division, plus the log-mel's allowance carried "
          "through CMVN's division: a near-silent band's error is the FFT noise over its energy"),  # fmt: skip
    Stage("encoder.conv.{i}", "conv layer i: stride-2 Conv1d then GLU", f"{M}.conv_subsampler", "scale", _MODEL),
    Stage("encoder.positions", "the sinusoidal rows added to the encoder frames (sines then cosines)",
          f"{M}.position_table, {M}.encoder_position_ids", "scale",
          _MODEL + "; plus the drift of float32 sin/cos tables, 2e-7 + 1.2e-7 p at position p "
          "(minis2t.reference.nn.sinusoidal_positions)"),  # fmt: skip
    Stage("encoder.input", "the last conv output x sqrt(d_model) (scale_embedding) + positions",
          f"{M}.encode", "scale", _MODEL),
    Stage("encoder.layer.{i}", "encoder layer i's output (pre-LN self-attention and feed-forward)",
          f"{M}.encoder_layer", "scale", _MODEL),
    Stage("encoder.layer.{i}.attention", "encoder layer i's attention weights", f"{M}.self_attention_block",
          "scale", _MODEL),
    Stage("encoder.output", "the encoder states: the last layer's output after the final layer norm",
          f"{M}.encode", "scale", _MODEL),
    Stage("decoder.layer.{i}.cross_key", "decoder layer i's cross-attention keys of the encoder states",
          f"{M}.cross_attention_kv", "scale", _MODEL),
    Stage("decoder.layer.{i}.cross_value", "decoder layer i's cross-attention values of the encoder states",
          f"{M}.cross_attention_kv", "scale", _MODEL),
    Stage("decoder.positions", "the sinusoidal rows added at decoder positions 0, 1, ...",
          f"{M}.position_table, {M}.position_ids", "scale",
          _MODEL + "; plus the drift of float32 sin/cos tables, 2e-7 + 1.2e-7 p"),
    Stage("search.{R}.step.{t}.decoder.input", "the step's token embeddings x sqrt(d_model) + its position, "
          "one row per beam", f"{M}.embed_tokens", "scale", _MODEL),  # fmt: skip
    Stage("search.{R}.step.{t}.decoder.layer.{i}", "decoder layer i's output at this step, per beam",
          f"{M}.decoder_layer", "scale", _MODEL),
    Stage("search.{R}.step.{t}.logits", "the step's logits per beam (final layer norm, LM head)",
          f"{M}.decode, {M}.lm_head", "scale", _MODEL),
    Stage("search.{R}.step.{t}.beam", "the beam each of the best 2K candidates extends", _SEARCH, "exact", _EXACT),
    Stage("search.{R}.step.{t}.token", "the token each candidate appends", _SEARCH, "exact", _EXACT),
    Stage("search.{R}.step.{t}.score", "each candidate's running sum of log-probabilities (float32)",
          _SEARCH, "score", _SCORE),
    Stage("search.{R}.step.{t}.ends", "whether the candidate ends here (EOS, or the length limit)",
          _SEARCH, "exact", _EXACT),
    Stage("search.{R}.step.{t}.live", "the positions among the candidates of the K beams kept",
          _SEARCH, "exact", _EXACT),
    Stage("search.{R}.step.{t}.finished", "the length-normalised score score / (t + 1) ** length_penalty "
          "with which a candidate ending among the best K finishes; -inf for the others", _SEARCH,
          "score", _SCORE),  # fmt: skip
    Stage("search.{R}.sequences", "the best finished hypothesis, start token first", _SEARCH, "exact", _EXACT),
    Stage("search.{R}.sequences_scores", "its length-normalised score", _SEARCH, "score", _SCORE),
]

BEAM_STATE = ("beam", "token", "score", "ends", "live", "finished")  # the per-step search record
STEP_NAME = re.compile(r"^search\.(transformers|fairseq)\.step\.(\d+)\.(.+)$")


def stage_of(name: str) -> Stage | None:
    """The pattern a name belongs to, or None (not a golden name)."""
    for stage in STAGES:
        if stage.regex.match(name):
            return stage
    return None


def step_of(name: str) -> tuple[str, int, str] | None:
    """``(rules, t, rest)`` of a per-step name, else None."""
    found = STEP_NAME.match(name)
    return (found.group(1), int(found.group(2)), found.group(3)) if found else None


def position_bar(rows: int) -> float:
    """The positions' tolerance (relative to their scale, 1): the model bar plus the drift
    of float32 tables at the last position used."""
    return MODEL_FLOAT32 + POSITION_DRIFT[0] + POSITION_DRIFT[1] * rows
