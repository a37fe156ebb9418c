"""Stage 1: audio in, a clean 16 kHz mono float32 waveform out.

``load_audio`` is the single door through which sound enters minis2t. It accepts a file
(anything libsndfile reads: WAV, FLAC, OGG/Vorbis/Opus, ...) or an array, and returns a
float32 waveform ``[N]`` in [-1, 1] at 16 kHz, or raises a :mod:`minis2t.errors` error
that says what is wrong. The rules, all explicit, none guessed from the data:

* **integer PCM** is scaled by its type's full range (int16 / 32768, int32 / 2**31, ...);
  floating-point input is taken as it is, already in [-1, 1] by convention;
* **several channels** are averaged to one (arrays are ``[N, C]``, soundfile's layout);
* **any rate** is resampled to 16 kHz with a polyphase filter
  (``scipy.signal.resample_poly``), whose output length is ``ceil(N * 16000 / rate)``;
* the caller's array is never modified: every path works on a copy.
"""

from __future__ import annotations

import math
import os
from pathlib import Path

import numpy as np
import scipy.signal
import soundfile

from .errors import (
    AudioDtypeError,
    AudioFileError,
    AudioShapeError,
    AudioTooShortError,
    EmptyAudioError,
    NonFiniteAudioError,
    SamplingRateError,
)

SAMPLING_RATE = 16_000  # Hz: every S2T checkpoint was trained on 16 kHz audio
FRAME_LENGTH = 400  # samples: one 25 ms analysis frame at 16 kHz, the shortest usable input


def load_audio(path_or_array: str | os.PathLike | np.ndarray, sampling_rate: int | None = None) -> np.ndarray:
    """Load a file or take an array, and return a float32 mono waveform ``[N]`` at 16 kHz.

    Args:
        path_or_array: a path (``str`` or ``os.PathLike``) to an audio file, or an array
            of samples, ``[N]`` (mono) or ``[N, C]`` (C channels, soundfile's layout).
        sampling_rate: the rate of an array, in Hz. ``None`` means 16 kHz. For a file the
            rate is read from its header; passing a different value raises.

    Returns:
        float32 array ``[N']`` at 16 kHz, C-contiguous, a new array.

    Raises:
        AudioFileError: missing, unreadable or undecodable file.
        AudioShapeError: an array of rank 0 or > 2, or a channel-first ``[C, N]`` array.
        AudioDtypeError: an array that is neither float nor integer PCM.
        SamplingRateError: a non-positive rate, or one that contradicts the file.
        EmptyAudioError, NonFiniteAudioError, AudioTooShortError: see their names.
    """
    if isinstance(path_or_array, (str, os.PathLike)):
        samples, rate = _read_file(Path(path_or_array), sampling_rate)
        source = str(path_or_array)
    else:
        samples = _pcm_to_float(np.asarray(path_or_array))
        rate = SAMPLING_RATE if sampling_rate is None else sampling_rate
        source = "the audio array"
    _check_rate(rate)
    wave = _to_mono(samples, source)  # [N, C] or [N] -> [N]
    _check_samples(wave, source)
    wave = resample(wave, rate, SAMPLING_RATE)  # [N] -> [ceil(N * 16000 / rate)]
    if wave.shape[0] < FRAME_LENGTH:
        raise AudioTooShortError(
            f"{source} has {wave.shape[0]} samples at 16 kHz "
            f"({1000 * wave.shape[0] / SAMPLING_RATE:.1f} ms); at least {FRAME_LENGTH} "
            f"(one 25 ms frame) are needed. Pass a longer recording."
        )
    return np.ascontiguousarray(wave, dtype=np.float32)


def resample(wave: np.ndarray, orig_rate: int, new_rate: int) -> np.ndarray:
    """Resample ``[N]`` from ``orig_rate`` to ``new_rate`` with a polyphase FIR filter.

    The ratio is reduced by the gcd (44100 -> 16000 is up 160, down 441), and the output
    has ``ceil(N * new_rate / orig_rate)`` samples. Returns a new array.
    """
    if orig_rate == new_rate:
        return wave.copy()
    g = math.gcd(int(orig_rate), int(new_rate))
    up, down = int(new_rate) // g, int(orig_rate) // g
    return scipy.signal.resample_poly(wave, up, down).astype(wave.dtype, copy=False)


def _read_file(path: Path, sampling_rate: int | None) -> tuple[np.ndarray, int]:
    """Decode a file with libsndfile into float32 ``[N, C]`` and its rate."""
    if not path.exists():
        raise AudioFileError(f"audio file not found: {path}. Check the path.")
    if path.is_dir():
        raise AudioFileError(f"{path} is a directory, not an audio file.")
    try:
        # dtype float32 makes libsndfile scale integer PCM to [-1, 1] for us.
        samples, rate = soundfile.read(str(path), dtype="float32", always_2d=True)
    except (soundfile.LibsndfileError, RuntimeError, TypeError) as e:
        raise AudioFileError(
            f"cannot decode {path}: {e}. minis2t reads what libsndfile reads (WAV, FLAC, "
            f"OGG, ...); convert other formats first, e.g. `sox in.mp3 -r 16000 out.wav`."
        ) from None
    if sampling_rate is not None and sampling_rate != rate:
        raise SamplingRateError(
            f"{path} is sampled at {rate} Hz but sampling_rate={sampling_rate} was given. "
            f"Leave sampling_rate out for files: the rate is read from the file."
        )
    return samples, rate


# Full-scale value of each integer PCM type: int16 / 32768 maps to [-1, 1).
_INT_SCALE = {np.dtype(np.int8): 2.0**7, np.dtype(np.int16): 2.0**15, np.dtype(np.int32): 2.0**31}


def _pcm_to_float(samples: np.ndarray) -> np.ndarray:
    """Integer PCM -> float in [-1, 1] by the type's full range; floats copied as float32/64."""
    if samples.dtype == np.uint8:  # 8-bit WAV is unsigned, centred on 128
        return (samples.astype(np.float32) - 128.0) / 128.0
    if samples.dtype in _INT_SCALE:
        return samples.astype(np.float32) / np.float32(_INT_SCALE[samples.dtype])
    if samples.dtype == np.float32 or samples.dtype == np.float64:
        return samples.copy()
    if samples.dtype == np.float16:
        return samples.astype(np.float32)
    raise AudioDtypeError(
        f"audio arrays must be float (in [-1, 1]) or integer PCM (int8/16/32, uint8), "
        f"got dtype {samples.dtype}. Convert it, e.g. `x.astype(np.float32)`."
    )


def _check_rate(rate) -> None:
    if not isinstance(rate, (int, np.integer)) or isinstance(rate, bool) or rate <= 0:
        raise SamplingRateError(
            f"sampling_rate must be a positive integer number of Hz, got {rate!r}."
        )


def _to_mono(samples: np.ndarray, source: str) -> np.ndarray:
    """``[N]`` stays; ``[N, C]`` is averaged over channels; anything else raises."""
    if samples.ndim == 1:
        return samples
    if samples.ndim != 2:
        raise AudioShapeError(
            f"{source} has shape {samples.shape}; expected [N] (mono) or [N, C] "
            f"(samples x channels). Pass one utterance at a time."
        )
    n, c = samples.shape
    if c > n and n > 0:
        raise AudioShapeError(
            f"{source} has shape {samples.shape}: more channels ({c}) than samples ({n}). "
            f"Arrays are [samples, channels]; pass `x.T` for a channel-first array."
        )
    return samples.mean(axis=1, dtype=samples.dtype) if c > 1 else samples[:, 0]


def _check_samples(wave: np.ndarray, source: str) -> None:
    if wave.shape[0] == 0:
        raise EmptyAudioError(f"{source} holds no samples. Pass a non-empty recording.")
    if not np.all(np.isfinite(wave)):
        bad = int(np.count_nonzero(~np.isfinite(wave)))
        raise NonFiniteAudioError(
            f"{source} holds {bad} NaN or infinite sample(s) (first at index "
            f"{int(np.argmax(~np.isfinite(wave)))}). Clean the signal before passing it."
        )
