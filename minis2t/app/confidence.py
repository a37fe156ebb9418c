"""How sure the model is of a segment: a calibrated probability that its text is exactly right.

A recogniser trained on a closed grammar answers every input with a fluent grammar
sentence, noise and German included. Its decoder still betrays doubt: the tokens it
chose are less probable, the runner-up tokens closer, and the sentence it settles on is
too short or too long for the audio. This module turns those signals into one number:

1. **signals** (:func:`signals`): the decoder is run once more over the tokens the
   search chose (teacher forcing, :meth:`minis2t.Speech2Text.score`, on the encoder
   states the search used — the pass that also gives the word times) and, per segment,
   gives the mean and the least log-probability of its tokens, the least margin between
   a chosen token and the best other token, the mean entropy of the next-token
   distributions, the number of tokens and the seconds of audio per token;
2. **calibration** (:class:`Calibration`): a logistic regression of those signals,
   fitted on held-out material (``recipes/synthetic_speech/confidence.py``: grammar
   sentences from voices the model never trained on, and material it must reject —
   open English, other languages, digit strings, noise, music, hum) and shipped in the
   model directory as ``confidence.json``; its output is the segment's ``confidence``;
3. **understood**: ``confidence >= threshold`` — the file's default threshold, chosen
   on held-out data, or the caller's ``min_confidence``.

A model directory without ``confidence.json`` has no calibration: its segments carry
``"confidence": None`` and are all understood.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..errors import ConfigError
from ..jsonfile import read_json_file

FILENAME = "confidence.json"
FORMAT = "minis2t-confidence/1"
# The signals, in the order the calibration's coefficients follow.
SIGNALS = ("avg_logprob", "min_logprob", "min_margin", "mean_entropy", "log_tokens", "log_seconds_per_token")


def signals(log_probs: np.ndarray, ids: list[np.ndarray], seconds: list[float]) -> list[dict | None]:
    """The decoder's signals (:data:`SIGNALS`) for each row of a batch: ``log_probs [B, L - 1,
    V]`` from the teacher-forced pass over the chosen tokens (:meth:`Speech2Text.score`),
    ``ids`` each row's tokens ``[L_b]`` without padding (decoder start token first,
    end-of-sentence included when reached), ``seconds`` each row's audio duration. None
    for a row with no output token."""
    return [token_signals(log_probs[b, : x.shape[0] - 1], x[1:], s) if x.shape[0] > 1 else None
            for b, (x, s) in enumerate(zip(ids, seconds))]  # fmt: skip


def token_signals(log_p: np.ndarray, targets: np.ndarray, seconds: float) -> dict:
    """``log_p [n, V]`` the next-token log-probabilities where ``targets [n]`` were chosen."""
    n = targets.shape[0]
    chosen = log_p[np.arange(n), targets]  # [n]
    others = log_p.copy()
    others[np.arange(n), targets] = -np.inf
    margin = chosen - others.max(axis=1)  # [n]: > 0 where the chosen token was the most probable
    entropy = -(np.exp(log_p) * log_p).sum(axis=1)  # [n]
    return {"avg_logprob": float(chosen.mean()), "min_logprob": float(chosen.min()),
            "min_margin": float(margin.min()), "mean_entropy": float(entropy.mean()),
            "log_tokens": math.log(n), "log_seconds_per_token": math.log(max(seconds, 1e-3) / n)}  # fmt: skip


# A fit on standardised signals has coefficients of order 1-10 and scales of order 0.1-1 (the
# bundled model's largest coef / scale is under 20). Every signal is bounded too: log
# probabilities of a float32 softmax are above -104, entropies below log V, log lengths below
# 10. So |coef / scale|, |mean| and |intercept| up to 1e6 admit any real fit, and with them
# z = b + w . (x - mean) stays below ~1e14 in magnitude: never an overflow, never a NaN.
MAX_WEIGHT = 1e6


@dataclass
class Calibration:
    """A logistic regression of standardised signals: ``p = 1 / (1 + exp(-(b + w . (x - mean) / scale)))``."""

    features: list[str]
    mean: np.ndarray  # [F]
    scale: np.ndarray  # [F]
    coef: np.ndarray  # [F]
    intercept: float
    threshold: float
    info: dict  # the rest of the file (how it was fitted, the held-out numbers)

    def __call__(self, signal: dict) -> float:
        """The probability that the segment with these signals is exactly right."""
        x = np.array([signal[name] for name in self.features], np.float64)
        z = self.intercept + float(self.coef @ ((x - self.mean) / self.scale))
        return float(1.0 / (1.0 + math.exp(-z))) if z > -700 else 0.0

    @classmethod
    def from_dict(cls, data: dict, name: str = FILENAME) -> "Calibration":
        if not isinstance(data, dict) or data.get("format") != FORMAT:
            raise ConfigError(f"{name}: not a confidence calibration (its 'format' must be {FORMAT!r}).")
        absent = [k for k in ("features", "mean", "scale", "coef", "intercept", "threshold") if k not in data]
        if absent:
            raise ConfigError(f"{name}: missing field(s) {', '.join(absent)}; needs features, mean, "
                              "scale, coef, intercept, threshold.")  # fmt: skip
        # each field's JSON type checked: json gives true for 1 and "0.5" for 0.5 only by mistake,
        # and float() would take both (a threshold of true made every segment "not understood")
        if not isinstance(data["features"], list) or not all(isinstance(f, str) for f in data["features"]):
            raise ConfigError(f"{name}: 'features' must be a list of signal names (strings), "
                              f"got {data['features']!r:.80}.")  # fmt: skip
        for key in ("mean", "scale", "coef"):
            if not isinstance(data[key], list) or not all(_is_number(v) for v in data[key]):
                raise ConfigError(f"{name}: '{key}' must be a list of finite numbers, got {data[key]!r:.80}.")
        for key in ("intercept", "threshold"):
            if not _is_number(data[key]):
                kind = {bool: "boolean", str: "string", list: "array", dict: "object"}.get(type(data[key]), "null")
                raise ConfigError(f"{name}: malformed field '{key}': must be a number, got {data[key]!r:.80} "
                                  f"(a JSON {kind}, not a number).")  # fmt: skip
        features = list(data["features"])
        arrays = [np.asarray(data[k], np.float64) for k in ("mean", "scale", "coef")]
        intercept, threshold = float(data["intercept"]), float(data["threshold"])
        unknown = sorted(set(features) - set(SIGNALS))
        if unknown or not features:
            raise ConfigError(f"{name}: unknown signal(s) {unknown or 'none given'}; known: {', '.join(SIGNALS)}.")
        if any(a.shape != (len(features),) or not np.isfinite(a).all() for a in arrays) or not (arrays[1] > 0).all():
            raise ConfigError(f"{name}: mean, scale and coef must be {len(features)} finite numbers (scale > 0).")
        if not (math.isfinite(intercept) and 0.0 <= threshold <= 1.0):
            raise ConfigError(f"{name}: intercept must be finite and threshold in [0, 1].")
        mean, scale, coef = arrays
        with np.errstate(over="ignore", divide="ignore"):
            weights = coef / scale  # [F]: what each raw signal is multiplied by
        if not (np.abs(weights) <= MAX_WEIGHT).all() or not (np.abs(mean) <= MAX_WEIGHT).all() \
                or abs(intercept) > MAX_WEIGHT:  # fmt: skip
            raise ConfigError(f"{name}: a weight (coef / scale), a mean or the intercept is beyond "
                              f"{MAX_WEIGHT:.0e}; no fitted calibration is (the bundled one's largest weight is "
                              f"under 20), so the file is damaged. Refit it or delete it.")  # fmt: skip
        rest = {k: v for k, v in data.items() if k not in ("features", "mean", "scale", "coef", "intercept", "threshold")}
        return cls(features, *arrays, intercept, threshold, rest)

    def to_dict(self) -> dict:
        return {**self.info, "format": FORMAT, "features": list(self.features), "mean": self.mean.tolist(),
                "scale": self.scale.tolist(), "coef": self.coef.tolist(), "intercept": self.intercept,
                "threshold": self.threshold}  # fmt: skip


def _is_number(value) -> bool:
    """A JSON number: an int or a float, and not a boolean (``True`` is an int in Python)."""
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def load(directory) -> Calibration | None:
    """The calibration in ``directory/confidence.json``, or None when there is none."""
    path = Path(directory) / FILENAME
    if not path.is_file():
        return None
    data = read_json_file(path, ConfigError)  # bounded in size and depth
    return Calibration.from_dict(data, str(path))


def check_min_confidence(value) -> float | None:
    """``value`` as a threshold in [0, 1] (None: the model's default)."""
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0.0 <= float(value) <= 1.0:
        raise ConfigError(f"min_confidence must be a number in [0, 1], got {value!r}.")
    return float(value)


def assess(model, segments: list, min_confidence: float | None = None) -> None:
    """Set ``confidence`` and ``understood`` on each :class:`minis2t.app.longform.Segment`
    from its ``signals`` (computed with its tokens, :func:`signals`): with no calibration,
    None and True."""
    calibration = model.calibration
    for segment in segments:
        if calibration is None:
            segment.confidence, segment.understood = None, True
            continue
        threshold = calibration.threshold if min_confidence is None else min_confidence
        segment.confidence = round(calibration(segment.signals), 4)
        segment.understood = bool(segment.confidence >= threshold)


def file_confidence(segments: list[dict]) -> float | None:
    """A recording's confidence: its segments' confidences weighted by their durations
    (None when no segment has one)."""
    scored = [(s["confidence"], max(s["end"] - s["start"], 1e-3)) for s in segments if s.get("confidence") is not None]
    if not scored:
        return None
    return round(sum(c * w for c, w in scored) / sum(w for _, w in scored), 4)
