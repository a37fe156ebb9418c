"""The front end where a user's audio comes in: ``minis2t.fbank`` and ``FeatureExtractor``.

The math of each step is :mod:`minis2t.reference.features`; this module checks what it
is given once (a 1-D float waveform of at least one frame, finite, of a sane range;
valid options), then runs the engine's version of the steps
(:func:`minis2t.engine.features.fbank`, bit-identical to the reference) and, for a batch,
CMVN, truncation and padding with an attention mask::

    waveform [N] -> fbank [T, F] -> utterance_cmvn [T, F] -> pad_batch [B, T, F] + mask [B, T]

``FeatureExtractor`` takes the same constructor and call arguments as
``transformers.Speech2TextFeatureExtractor``.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from ..engine import features as engine
from ..errors import (
    AudioDtypeError,
    AudioShapeError,
    AudioTooShortError,
    FeatureError,
    SamplingRateError,
)
from ..reference.features import FRAME_LENGTH, SAMPLING_RATE, global_cmvn, utterance_cmvn
from .audio import is_sample_list
from .audio_checks import check_samples
from .config import read_json

MAX_MEL_BINS = 256  # a 512-point FFT has 257 bins: more mel filters than that are empty


def fbank(
    waveform: np.ndarray,
    num_mel_bins: int = 80,
    dither: float = 0.0,
    seed: int | None = None,
) -> np.ndarray:
    """Raw Kaldi log-mel filter-bank features of a 16 kHz waveform: ``[N] -> [T, F]``,
    after checking the waveform and the options (the math:
    :func:`minis2t.reference.features.fbank`).

    Args:
        waveform: ``[N]`` float32 or float64 samples in [-1, 1] at 16 kHz (see
            :func:`minis2t.load_audio`). The result has the same dtype.
        num_mel_bins: number of mel filters ``F``.
        dither: standard deviation of Gaussian noise added to the 16-bit-scaled samples
            (0 = off, the S2T default).
        seed: seed of the dither noise.

    Raises:
        AudioShapeError: not 1-D.
        AudioDtypeError: not floating point.
        AudioTooShortError: shorter than one frame.
        NonFiniteAudioError: NaN or infinite samples.
        AudioRangeError: samples beyond +-2**32.
        FeatureError: a negative or non-finite ``dither``, or bad ``num_mel_bins``.
    """
    _check_dither(dither)
    _check_mel_bins(num_mel_bins)
    return engine.fbank(_check_waveform(waveform), num_mel_bins, dither, seed)


# Dither is Gaussian noise on the 16-bit-scaled samples (Kaldi's default is 1.0, one 16-bit
# step; S2T models use 0). At 2**15 its noise is as loud as a full-scale 16-bit signal, so the
# features would carry noise only; beyond, the squared frame energies head for float32's
# overflow (a preprocessor_config.json with dither 1e308 leaked NumPy's warnings, then NaN).
MAX_DITHER = 2.0**15


def _check_dither(dither) -> None:
    if isinstance(dither, bool) or not isinstance(dither, (int, float, np.floating)) or not (
        np.isfinite(dither) and 0 <= dither <= MAX_DITHER
    ):
        raise FeatureError(f"dither must be a number from 0 (off) to {MAX_DITHER:.0f} (noise as loud as a "
                           f"full-scale 16-bit signal), got {dither!r}")  # fmt: skip


def _check_mel_bins(num_mel_bins) -> None:
    if isinstance(num_mel_bins, bool) or not isinstance(num_mel_bins, (int, np.integer)) or not (
        1 <= num_mel_bins <= MAX_MEL_BINS
    ):
        raise FeatureError(f"num_mel_bins must be an integer in [1, {MAX_MEL_BINS}], got {num_mel_bins!r}")


def _check_waveform(waveform) -> np.ndarray:
    """Validate a waveform given straight to the front end (no resampling here)."""
    wave = np.asarray(waveform)
    if not (np.issubdtype(wave.dtype, np.floating) or np.issubdtype(wave.dtype, np.integer)):
        raise AudioDtypeError(f"a waveform must hold float samples, got dtype {wave.dtype}")
    if np.issubdtype(wave.dtype, np.integer):
        # Integers would be taken as already in [-1, 1]; make the caller decide the scale.
        raise AudioDtypeError(
            f"got integer samples ({wave.dtype}); the front end expects floats in "
            f"[-1, 1]. Use minis2t.load_audio(x) to scale integer PCM."
        )
    if wave.ndim != 1:
        channels_last = wave.ndim == 2 and wave.shape[0] > wave.shape[1]
        hint = (" It looks like [N, C] audio (channels last): mix it down with "
                "minis2t.load_audio(x)." if channels_last else "")  # fmt: skip
        raise AudioShapeError(
            f"a waveform must be 1-D [N], got shape {wave.shape}.{hint} Pass a batch as a "
            f"list of 1-D arrays."
        )
    if wave.dtype not in (np.float32, np.float64):
        wave = wave.astype(np.float32)
    if wave.shape[0] < FRAME_LENGTH:
        raise AudioTooShortError(
            f"a waveform of {wave.shape[0]} samples is shorter than one 25 ms frame "
            f"({FRAME_LENGTH} samples at 16 kHz); pass a longer one."
        )
    check_samples(wave, "the waveform")  # finite, and small enough for float32 energies
    return wave


# --- batching ----------------------------------------------------------------------


PADDING_STRATEGIES = ("longest", "max_length", "do_not_pad")


def padding_strategy(padding) -> str:
    """Map transformers' ``padding`` argument (bool or str) to one of ``PADDING_STRATEGIES``."""
    if padding is True:
        return "longest"
    if padding is False or padding is None:
        return "do_not_pad"
    if padding in PADDING_STRATEGIES:
        return padding
    raise FeatureError(
        f"padding must be True, False or one of {PADDING_STRATEGIES}, got {padding!r}"
    )


def pad_batch(
    features: list[np.ndarray],
    padding="longest",
    max_length: int | None = None,
    truncation: bool = False,
    pad_to_multiple_of: int | None = None,
    padding_value: float = 0.0,
):
    """Truncate and pad utterances ``[T_i, F]`` into ``[B, T, F]`` with a mask ``[B, T]``.

    Lengths are in *frames*. ``longest`` pads to the longest item, ``max_length`` to
    ``max_length``; either is then rounded up to a multiple of ``pad_to_multiple_of``.
    ``truncation`` cuts items longer than ``max_length`` first. ``do_not_pad`` returns
    lists when lengths differ. The mask is int32, 1 on real frames and 0 on padding.
    """
    strategy = padding_strategy(padding)
    if truncation:
        if max_length is None:
            raise FeatureError("truncation=True needs max_length (a number of frames).")
        features = [x[:max_length] for x in features]
    lengths = [x.shape[0] for x in features]
    if strategy == "do_not_pad":
        if len(set(lengths)) > 1:
            masks = [np.ones(n, dtype=np.int32) for n in lengths]
            return list(features), masks
        target = lengths[0]
    elif strategy == "longest":
        target = max(lengths)
    else:
        if max_length is None:
            raise FeatureError("padding='max_length' needs max_length (a number of frames).")
        target = max_length
    if pad_to_multiple_of and strategy != "do_not_pad":
        target = -(-target // pad_to_multiple_of) * pad_to_multiple_of  # round up
    f, dtype = features[0].shape[1], features[0].dtype
    batch = np.full((len(features), max(target, *lengths), f), padding_value, dtype=dtype)
    mask = np.zeros(batch.shape[:2], dtype=np.int32)  # [B, T]
    for i, x in enumerate(features):
        batch[i, : x.shape[0]] = x
        mask[i, : x.shape[0]] = 1
    return batch, mask


class FeatureExtractor:
    """The S2T front end as one callable: fbank -> truncation/padding -> CMVN.

    Takes the constructor arguments of ``transformers.Speech2TextFeatureExtractor``
    and returns the same numbers. Differences, on purpose:

    * ``padding`` defaults to ``"longest"``, so a batch always comes back as one array
      (transformers defaults to no padding and returns a list);
    * constant channels (silence) give zeros after CMVN, not NaN / -inf;
    * inputs shorter than one frame, NaN/inf and wrong ranks raise
      :mod:`minis2t.errors` errors instead of returning empty or NaN features;
    * ``return_attention_mask`` is honoured (transformers forces it to True).
    """

    def __init__(
        self,
        feature_size: int = 80,
        sampling_rate: int = SAMPLING_RATE,
        num_mel_bins: int = 80,
        padding_value: float = 0.0,
        do_ceptral_normalize: bool = True,  # sic: transformers' spelling
        normalize_means: bool = True,
        normalize_vars: bool = True,
        dither: float = 0.0,
        return_attention_mask: bool = True,
        global_cmvn: dict | None = None,
        **unused,
    ):
        """``global_cmvn``: ``{"mean": [F], "std": [F]}``, fairseq's global CMVN (features
        minus a corpus mean, over a corpus standard deviation), used instead of the
        per-utterance one by models whose ``config.yaml`` asks for it; transformers'
        extractor has no such option (it keeps the key but does not apply it)."""
        if sampling_rate != SAMPLING_RATE:
            raise SamplingRateError(
                f"the S2T front end works at {SAMPLING_RATE} Hz, got sampling_rate="
                f"{sampling_rate}. Resample the audio with minis2t.load_audio instead."
            )
        self.feature_size = feature_size
        self.sampling_rate = sampling_rate
        self.num_mel_bins = num_mel_bins
        self.padding_value = padding_value
        self.do_ceptral_normalize = do_ceptral_normalize
        self.normalize_means = normalize_means
        self.normalize_vars = normalize_vars
        for name, value in (("feature_size", feature_size), ("num_mel_bins", num_mel_bins)):
            if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= MAX_MEL_BINS:
                raise FeatureError(f"{name} must be an integer in [1, {MAX_MEL_BINS}], got {value!r}")
        if isinstance(padding_value, bool) or not isinstance(padding_value, (int, float)) \
                or not abs(padding_value) <= float(np.finfo(np.float32).max):  # fmt: skip
            raise FeatureError(f"padding_value must be a number that float32 holds (the features' type), "
                               f"got {padding_value!r}")  # fmt: skip
        _check_dither(dither)
        self.dither = dither
        self.return_attention_mask = return_attention_mask
        self.global_cmvn = None if global_cmvn is None else _check_global_cmvn(global_cmvn, num_mel_bins)
        self.unused = dict(unused)  # keys of the config file we do not need, kept for saving

    @classmethod
    def from_pretrained(cls, directory) -> "FeatureExtractor":
        """Read ``preprocessor_config.json`` (released checkpoints) or the
        ``feature_extractor`` section of ``processor_config.json`` (transformers 5)."""
        directory = Path(directory)
        config = _read_feature_config(directory)
        try:
            return cls(**config)
        except FeatureError as e:  # a value the file holds: name the file
            name = "preprocessor_config.json" if (directory / "preprocessor_config.json").is_file() \
                else "processor_config.json"  # fmt: skip
            raise FeatureError(f"{directory / name}: {e}") from None

    def to_dict(self) -> dict:
        """The config as transformers writes it in ``preprocessor_config.json``."""
        return {
            **self.unused,
            "feature_extractor_type": "Speech2TextFeatureExtractor",
            "feature_size": self.feature_size,
            "sampling_rate": self.sampling_rate,
            "num_mel_bins": self.num_mel_bins,
            "padding_value": self.padding_value,
            "do_ceptral_normalize": self.do_ceptral_normalize,
            "normalize_means": self.normalize_means,
            "normalize_vars": self.normalize_vars,
            "dither": self.dither,
            "return_attention_mask": self.return_attention_mask,
            "padding_side": "right",
            **({} if self.global_cmvn is None else
               {"global_cmvn": {k: v.tolist() for k, v in self.global_cmvn.items()}}),
        }  # fmt: skip

    def save_pretrained(self, directory) -> None:
        """Write ``preprocessor_config.json`` into ``directory``."""
        directory = Path(directory)
        directory.mkdir(parents=True, exist_ok=True)
        text = json.dumps(self.to_dict(), indent=2, sort_keys=True) + "\n"
        (directory / "preprocessor_config.json").write_text(text)

    def __call__(
        self,
        raw_speech,
        sampling_rate: int | None = SAMPLING_RATE,
        padding="longest",
        max_length: int | None = None,
        truncation: bool = False,
        pad_to_multiple_of: int | None = None,
        seed: int | None = None,
        return_attention_mask: bool | None = None,
        return_tensors: str | None = None,
        **unknown,
    ) -> dict:
        """Features of one waveform ``[N]`` or a batch (a list of ``[N_i]``, or ``[B, N]``).

        Returns ``{"input_features": [B, T, F] float32, "attention_mask": [B, T] int32}``
        (lists instead of arrays for ``padding="do_not_pad"`` with unequal lengths; no
        mask when ``return_attention_mask`` — this call's, else the extractor's — is False).
        ``return_tensors`` may be None or ``"np"`` (both give NumPy arrays); another
        framework (``"pt"``) is an :class:`~minis2t.errors.UnsupportedError`, and an
        unknown keyword a :class:`FeatureError`: nothing is silently ignored.
        """
        if unknown:
            raise FeatureError(
                f"unknown argument(s) {', '.join(sorted(unknown))} of the feature extractor's call; "
                f"it takes sampling_rate, padding, max_length, truncation, pad_to_multiple_of, "
                f"seed, return_attention_mask and return_tensors."
            )
        from ..errors import check_return_tensors

        check_return_tensors(return_tensors)
        if return_attention_mask is None:
            return_attention_mask = self.return_attention_mask
        if sampling_rate is not None and sampling_rate != self.sampling_rate:
            raise SamplingRateError(
                f"audio sampled at {sampling_rate} Hz; this extractor needs "
                f"{self.sampling_rate} Hz. Resample with minis2t.load_audio(x, {sampling_rate})."
            )
        waves = _as_batch(raw_speech)
        # The DSP runs in float64, then the features are rounded to float32, as in
        # transformers: in float32 the FFT's rounding noise sits about 140 dB below a frame's
        # peak, which swamps near-silent mel bands (up to 1e-3 off after CMVN).
        raw = [
            engine.fbank(_check_waveform(w).astype(np.float64), self.num_mel_bins, self.dither,
                  None if seed is None else seed + i).astype(np.float32)
            for i, w in enumerate(waves)
        ]  # B x [T_i, F]
        if truncation:
            if max_length is None:
                raise FeatureError("truncation=True needs max_length (a number of frames).")
            raw = [x[:max_length] for x in raw]  # before CMVN: statistics use the kept frames
        if self.do_ceptral_normalize:
            raw = [utterance_cmvn(x, self.normalize_means, self.normalize_vars) for x in raw]
        if self.global_cmvn is not None:
            raw = [global_cmvn(x, **self.global_cmvn) for x in raw]
        features, mask = pad_batch(
            raw, padding, max_length, False, pad_to_multiple_of, self.padding_value
        )
        out = {"input_features": features}
        if return_attention_mask:
            out["attention_mask"] = mask
        return out

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self.to_dict().items() if k in _INIT_KEYS)
        return f"FeatureExtractor({args})"


_INIT_KEYS = (
    "feature_size", "sampling_rate", "num_mel_bins", "padding_value", "do_ceptral_normalize",
    "normalize_means", "normalize_vars", "dither", "return_attention_mask", "global_cmvn",
)  # fmt: skip


def _check_global_cmvn(stats, num_mel_bins: int) -> dict[str, np.ndarray]:
    if not isinstance(stats, dict) or set(stats) != {"mean", "std"}:
        raise FeatureError("global_cmvn must be {'mean': [F], 'std': [F]}.")
    out = {}
    for key in ("mean", "std"):
        try:
            out[key] = np.asarray(stats[key], dtype=np.float64)
        except (TypeError, ValueError):
            raise FeatureError(f"global_cmvn['{key}'] must be a list of numbers.") from None
        if out[key].shape != (num_mel_bins,) or not np.all(np.isfinite(out[key])):
            raise FeatureError(f"global_cmvn['{key}'] must hold {num_mel_bins} finite numbers.")
    if np.any(out["std"] <= 0):
        raise FeatureError("global_cmvn['std'] must be positive.")
    return out


def _as_batch(raw_speech) -> list[np.ndarray]:
    """One waveform or a batch of them -> a list of 1-D float32/float64 arrays."""
    if isinstance(raw_speech, np.ndarray):
        if raw_speech.ndim == 1:
            return [raw_speech]
        if raw_speech.ndim == 2:
            if raw_speech.shape[1] < FRAME_LENGTH <= raw_speech.shape[0]:
                raise AudioShapeError(
                    f"got a 2-D array of shape {raw_speech.shape}, read as a batch of "
                    f"{raw_speech.shape[0]} waveforms of {raw_speech.shape[1]} samples. If it is "
                    f"one recording with {raw_speech.shape[1]} channels ([N, C]), mix it down "
                    f"with minis2t.load_audio(x) first."
                )
            return list(raw_speech)
        raise AudioShapeError(
            f"expected one waveform [N] or a batch [B, N], got shape {raw_speech.shape}. "
            f"Mix channels down with minis2t.load_audio first."
        )
    if isinstance(raw_speech, (list, tuple)):
        if len(raw_speech) == 0:
            raise FeatureError("got an empty batch: pass at least one waveform.")
        if is_sample_list(raw_speech):  # a plain list of samples
            return [np.asarray(raw_speech, dtype=np.float32)]
        if any(isinstance(w, (str, bytes)) for w in raw_speech):
            raise AudioDtypeError(
                "the feature extractor takes waveforms, not paths or bytes: load them with "
                "minis2t.load_audio first."
            )
        return [np.asarray(w) for w in raw_speech]
    raise AudioShapeError(
        f"expected a waveform array or a list of them, got {type(raw_speech).__name__}"
    )


def _read_feature_config(directory: Path) -> dict:
    pre = directory / "preprocessor_config.json"
    proc = directory / "processor_config.json"
    if pre.is_file():
        return read_json(pre)
    if proc.is_file():
        section = read_json(proc).get("feature_extractor")
        if isinstance(section, dict):
            return section
        raise FeatureError(f"{proc} has no 'feature_extractor' section.")
    raise FeatureError(
        f"{directory} has neither preprocessor_config.json nor processor_config.json; "
        f"it is not a Speech2Text model directory."
    )
