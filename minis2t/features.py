"""Stage 2: waveform in, normalised log-mel filter-bank features out.

This is the front end the S2T models were trained with: Kaldi's ``compute-fbank-feats``
with its defaults, then per-utterance mean and variance normalisation (CMVN). Each step
below is a small public function, in the order the data flows::

    waveform [N] in [-1, 1], 16 kHz
      x 2**15                        scale_waveform     Kaldi works on 16-bit sample values
      -> frames [T, 400]             frame_signal       25 ms windows every 10 ms, "snip edges"
      (+ dither)                     add_dither         optional Gaussian noise, seeded
      - frame mean                   remove_dc_offset
      pre-emphasis 0.97              preemphasize       y[n] = x[n] - 0.97 x[n-1]
      x Povey window                 povey_window       a Hann window raised to 0.85
      |FFT_512|**2 -> [T, 257]       power_spectrum
      @ Kaldi mel banks -> [T, F]    mel_filterbank     F triangles from 20 Hz to 8 kHz
      log(max(., eps))               log_mel            = fbank(...), the raw features
      CMVN over valid frames         utterance_cmvn     zero mean, unit variance per channel
      pad a batch + attention mask   pad_batch

``fbank`` runs the first eight; ``FeatureExtractor`` runs them all with the same
constructor and call arguments as ``transformers.Speech2TextFeatureExtractor``.

Every function computes in the floating dtype it is given (float32 by default, float64 for
parity checks) and never modifies its input.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from .audio import FRAME_LENGTH, SAMPLING_RATE, check_samples, is_sample_list
from .config import read_json
from .errors import (
    AudioDtypeError,
    AudioShapeError,
    AudioTooShortError,
    FeatureError,
    SamplingRateError,
)

# --- Kaldi's defaults, as used by fairseq's S2T data preparation -------------------
WAVEFORM_SCALE = 2.0**15  # Kaldi reads 16-bit PCM as integers in [-32768, 32767]
FRAME_SHIFT = 160  # samples: 10 ms at 16 kHz
FFT_SIZE = 512  # 400 samples rounded up to a power of two
PREEMPHASIS = 0.97
POVEY_EXPONENT = 0.85  # Povey window = Hann ** 0.85: like Hamming, but zero at the edges
LOW_FREQ = 20.0  # Hz: lower edge of the first mel triangle
MEL_BREAK_HZ = 700.0  # Kaldi / HTK mel scale: mel(f) = 1127 ln(1 + f / 700)
MEL_HIGH_Q = 1127.0
LOG_FLOOR = float(np.finfo(np.float32).eps)  # energies are floored here before the log
# CMVN: fairseq floors the variance at 1e-10, so a constant channel (silence) divides by
# 1e-5 instead of 0. transformers has no floor and returns NaN / -inf there.
VARIANCE_FLOOR = 1e-10
MAX_MEL_BINS = 256  # a 512-point FFT has 257 bins: more mel filters than that are empty
FRAMES_PER_BLOCK = 256  # fbank works on this many frames at a time (a cache-sized block)


def num_frames(num_samples: int) -> int:
    """Frames Kaldi cuts from ``num_samples`` samples with snip_edges: ``1 + (N - 400) // 160``."""
    if num_samples < FRAME_LENGTH:
        return 0
    return 1 + (num_samples - FRAME_LENGTH) // FRAME_SHIFT


def scale_waveform(waveform: np.ndarray) -> np.ndarray:
    """``[N]`` in [-1, 1] -> ``[N]`` in 16-bit sample units (exact: a power of two)."""
    return waveform * waveform.dtype.type(WAVEFORM_SCALE)


def frame_signal(waveform: np.ndarray) -> np.ndarray:
    """Cut ``[N]`` into overlapping frames ``[T, 400]``, one every 160 samples.

    Kaldi's ``snip_edges=true``: only whole frames, the first starting at sample 0, so
    ``T = 1 + (N - 400) // 160`` and up to 159 trailing samples are dropped.

    The result is a read-only *view* into ``waveform`` (frame ``t`` starts at sample
    ``160 t``): no sample is copied until a later step writes a new array.
    """
    t = num_frames(waveform.shape[0])
    windows = np.lib.stride_tricks.sliding_window_view(waveform, FRAME_LENGTH)  # [N-399, 400]
    return windows[: t * FRAME_SHIFT : FRAME_SHIFT]  # [T, 400], strides (160, 1) samples


def add_dither(frames: np.ndarray, dither: float, seed: int | None = None) -> np.ndarray:
    """Add ``dither * N(0, 1)`` noise to every sample (Kaldi's default is 1.0, S2T's 0).

    The noise comes from ``np.random.default_rng(seed)``, so a seed makes it repeatable
    (and lets the PyTorch twin add the very same noise).
    """
    if dither == 0.0:
        return frames
    noise = np.random.default_rng(seed).standard_normal(frames.shape)  # [T, 400]
    return frames + (dither * noise).astype(frames.dtype)


def remove_dc_offset(frames: np.ndarray) -> np.ndarray:
    """Subtract each frame's mean: ``[T, 400] -> [T, 400]``."""
    return frames - frames.mean(axis=1, keepdims=True)


def preemphasize(frames: np.ndarray, coefficient: float = PREEMPHASIS) -> np.ndarray:
    """First-order high-pass ``y[n] = x[n] - c x[n-1]`` within each frame.

    Kaldi treats the sample before the frame as a copy of the first one, so
    ``y[0] = (1 - c) x[0]``.
    """
    c = frames.dtype.type(coefficient)
    out = np.empty_like(frames)  # [T, 400]
    np.subtract(frames[:, 1:], c * frames[:, :-1], out=out[:, 1:])
    np.subtract(frames[:, 0], c * frames[:, 0], out=out[:, 0])
    return out


def povey_window(length: int = FRAME_LENGTH, dtype=np.float32) -> np.ndarray:
    """Kaldi's Povey window ``(0.5 - 0.5 cos(2 pi n / (L - 1))) ** 0.85``, ``[L]``."""
    n = np.arange(length, dtype=np.float64)
    hann = 0.5 - 0.5 * np.cos(2.0 * np.pi * n / (length - 1))
    return (hann**POVEY_EXPONENT).astype(dtype)


def power_spectrum(frames: np.ndarray, fft_size: int = FFT_SIZE) -> np.ndarray:
    """``|rFFT|**2`` of each frame, zero-padded to ``fft_size``: ``[T, 400] -> [T, fft/2+1]``."""
    spectrum = np.fft.rfft(frames, n=fft_size, axis=1)  # [T, 257] complex
    power = np.square(spectrum.real)  # [T, 257]
    power += np.square(spectrum.imag)
    return power


def hz_to_mel(hz):
    """Kaldi's mel scale: ``1127 ln(1 + f / 700)``."""
    return MEL_HIGH_Q * np.log1p(np.asarray(hz, dtype=np.float64) / MEL_BREAK_HZ)


def mel_to_hz(mel):
    """Inverse of :func:`hz_to_mel`: ``700 (exp(m / 1127) - 1)``."""
    return MEL_BREAK_HZ * np.expm1(np.asarray(mel, dtype=np.float64) / MEL_HIGH_Q)


def mel_filterbank(
    num_mel_bins: int = 80,
    fft_size: int = FFT_SIZE,
    sampling_rate: int = SAMPLING_RATE,
    low_freq: float = LOW_FREQ,
    high_freq: float | None = None,
) -> np.ndarray:
    """Kaldi's triangular mel filters as a matrix ``[fft/2+1, F]`` (float64).

    ``F + 2`` edges are spaced evenly on the mel scale from ``low_freq`` to ``high_freq``
    (Nyquist by default); filter ``j`` rises from edge ``j`` to ``j+1`` and falls to
    ``j+2``, linearly *in mel* (not in Hz, unlike HTK). The triangles are not normalised
    to equal area. The Nyquist bin is never covered: its row is zero, as in Kaldi.
    """
    if high_freq is None:
        high_freq = sampling_rate / 2
    if not 0 <= low_freq < high_freq <= sampling_rate / 2:
        raise FeatureError(
            f"need 0 <= low_freq < high_freq <= {sampling_rate / 2} Hz, "
            f"got low_freq={low_freq}, high_freq={high_freq}"
        )
    edges = np.linspace(hz_to_mel(low_freq), hz_to_mel(high_freq), num_mel_bins + 2)  # [F+2]
    left, centre, right = edges[:-2], edges[1:-1], edges[2:]  # [F] each
    bin_hz = np.arange(fft_size // 2 + 1) * (sampling_rate / fft_size)  # [257]
    mel = hz_to_mel(bin_hz)[:, None]  # [257, 1]
    rising = (mel - left) / (centre - left)  # [257, F]
    falling = (right - mel) / (right - centre)  # [257, F]
    banks = np.maximum(0.0, np.minimum(rising, falling))  # [257, F]
    banks[-1] = 0.0  # Kaldi builds fft/2 rows and appends a zero one for Nyquist
    return banks


def log_mel(power: np.ndarray, banks: np.ndarray) -> np.ndarray:
    """Mel energies and their log: ``[T, 257] @ [257, F] -> [T, F]``, floored at float32 eps."""
    energies = power @ banks.astype(power.dtype)  # [T, 257] -> [T, F]
    return np.log(np.maximum(energies, power.dtype.type(LOG_FLOOR)))


def fbank(
    waveform: np.ndarray,
    num_mel_bins: int = 80,
    dither: float = 0.0,
    seed: int | None = None,
) -> np.ndarray:
    """Raw Kaldi log-mel filter-bank features of a 16 kHz waveform: ``[N] -> [T, F]``.

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
    return _fbank_of_checked(_check_waveform(waveform), num_mel_bins, dither, seed)


def _check_dither(dither) -> None:
    if isinstance(dither, bool) or not isinstance(dither, (int, float, np.floating)) or not (
        np.isfinite(dither) and dither >= 0
    ):
        raise FeatureError(f"dither must be a finite number >= 0 (0 = off), got {dither!r}")


def _fbank_of_checked(wave: np.ndarray, num_mel_bins: int, dither: float, seed: int | None):
    """:func:`fbank` on a waveform :func:`_check_waveform` has already accepted."""
    all_frames = frame_signal(scale_waveform(wave))  # [N] -> [T, 400] (a view)
    all_frames = add_dither(all_frames, dither, seed)  # [T, 400]
    window = povey_window(FRAME_LENGTH, wave.dtype)  # [400]
    banks = _cached_filterbank(num_mel_bins)  # [257, F]
    out = np.empty((all_frames.shape[0], banks.shape[1]), dtype=wave.dtype)  # [T, F]
    # Frames are independent, so we process them in blocks: each block's temporaries
    # (~1 MB) stay in the CPU cache, which makes the whole thing ~1.5x faster than
    # one pass per step over all frames. The numbers are the same either way.
    for start in range(0, all_frames.shape[0], FRAMES_PER_BLOCK):
        frames = all_frames[start : start + FRAMES_PER_BLOCK]  # [b, 400]
        frames = remove_dc_offset(frames)  # [b, 400]
        frames = preemphasize(frames)  # [b, 400]
        frames = frames * window  # [b, 400]
        power = power_spectrum(frames)  # [b, 400] -> [b, 257]
        out[start : start + FRAMES_PER_BLOCK] = log_mel(power, banks)  # [b, 257] -> [b, F]
    return out


_FILTERBANKS: dict[int, np.ndarray] = {}


def _cached_filterbank(num_mel_bins: int) -> np.ndarray:
    """The default 16 kHz filter bank, built once per ``num_mel_bins`` (read-only)."""
    if num_mel_bins not in _FILTERBANKS:
        if not isinstance(num_mel_bins, (int, np.integer)) or num_mel_bins < 1:
            raise FeatureError(f"num_mel_bins must be a positive integer, got {num_mel_bins!r}")
        banks = mel_filterbank(int(num_mel_bins))
        banks.setflags(write=False)
        _FILTERBANKS[num_mel_bins] = banks
    return _FILTERBANKS[num_mel_bins]


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


# --- normalisation and batching ----------------------------------------------------


def utterance_cmvn(
    features: np.ndarray,
    normalize_means: bool = True,
    normalize_vars: bool = True,
) -> np.ndarray:
    """Per-utterance CMVN: each channel to zero mean and unit variance, ``[T, F] -> [T, F]``.

    Statistics are taken over all ``T`` rows (pass only the valid frames), accumulated in
    float64 and applied in the features' dtype. The standard deviation is the population
    one (ddof 0), taken after subtracting the mean, as in transformers; its square is
    floored at ``VARIANCE_FLOOR`` as in fairseq, so a constant channel (digital silence, a
    DC signal) becomes exact zeros instead of transformers' NaN or -inf. (Float64
    statistics matter there: a float32 mean of a constant column is off by an ulp, which
    the floor would blow up to 0.1.)
    """
    x = features
    if normalize_means:
        x = x - x.mean(axis=0, dtype=np.float64).astype(x.dtype)  # [T, F] - [F]
    if normalize_vars:
        std = x.std(axis=0, dtype=np.float64)  # [F]
        x = x / np.maximum(std, np.sqrt(VARIANCE_FLOOR)).astype(x.dtype)  # [T, F] / [F]
    return x


def global_cmvn(features: np.ndarray, mean: np.ndarray, std: np.ndarray) -> np.ndarray:
    """fairseq's global CMVN, ``(x - mean) / std`` with corpus statistics ``[F]``;
    computed in float64 (as fairseq does with its float64 statistics) and returned in
    the features' dtype."""
    return ((features - mean) / std).astype(features.dtype)


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
        if isinstance(padding_value, bool) or not isinstance(padding_value, (int, float)):
            raise FeatureError(f"padding_value must be a number, got {padding_value!r}")
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
        return cls(**config)

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
        from .errors import check_return_tensors  # here: the imports above are the math's

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
            _fbank_of_checked(_check_waveform(w).astype(np.float64), self.num_mel_bins, self.dither,
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
