"""Stage 2: waveform in, normalised log-mel filter-bank features out — the math.

This is the front end the S2T models were trained with: Kaldi's ``compute-fbank-feats``
with its defaults, then per-utterance mean and variance normalisation (CMVN). Each step
below is a small function, in the order the data flows::

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

Every function computes in the floating dtype it is given (float32 by default, float64 for
parity checks) and never modifies its input. Inputs are trusted: the checks on what a
user gives are in :mod:`minis2t.io.features` (``minis2t.fbank`` and
``FeatureExtractor``), and the version the application runs, in blocks of frames, is
:func:`minis2t.engine.features.fbank`.
"""

from __future__ import annotations

import numpy as np

FRAME_LENGTH = 400  # samples: 25 ms at 16 kHz
SAMPLING_RATE = 16_000  # Hz, what every S2T model was trained on
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


def fbank(waveform: np.ndarray, num_mel_bins: int = 80, dither: float = 0.0, seed: int | None = None) -> np.ndarray:
    """Raw Kaldi log-mel filter-bank features of a 16 kHz waveform: ``[N] -> [T, F]``,
    ``T = 1 + (N - 400) // 160``, in the waveform's dtype."""
    frames = frame_signal(scale_waveform(waveform))  # [N] -> [T, 400] (a view)
    frames = add_dither(frames, dither, seed)  # [T, 400]
    frames = remove_dc_offset(frames)  # [T, 400]
    frames = preemphasize(frames)  # [T, 400]
    frames = frames * povey_window(FRAME_LENGTH, waveform.dtype)  # [T, 400]
    power = power_spectrum(frames)  # [T, 400] -> [T, 257]
    return log_mel(power, mel_filterbank(num_mel_bins))  # [T, 257] -> [T, F]


# --- normalisation -----------------------------------------------------------------


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
