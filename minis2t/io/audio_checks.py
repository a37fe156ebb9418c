"""The checks every recording passes, whichever way it comes in: rate, duration, samples.

:func:`minis2t.io.audio.load_audio` and the block reader
(:func:`minis2t.io.audio.read_blocks`) both feed what they decode through
:class:`AudioCheck`, so one recording gets the same typed error from every entry point.
"""

from __future__ import annotations

import math

import numpy as np

from ..errors import (
    AudioFileError,
    AudioRangeError,
    AudioShapeError,
    AudioTooLongError,
    AudioTooShortError,
    EmptyAudioError,
    NonFiniteAudioError,
    SamplingRateError,
    SilentAudioError,
)
# 16 kHz, what every S2T checkpoint was trained on; one 25 ms frame (400 samples), the
# shortest usable input: defined with the front end's math
from ..reference.features import FRAME_LENGTH, SAMPLING_RATE


# Rates outside this range are refused before any work. Below 1 kHz nothing of speech is
# left (its Nyquist frequency is 500 Hz); above 384 kHz no audio interface records. Within
# it the resampler's filter holds at most ~20 x 384 000 taps (60 MB, float64).
MIN_RATE, MAX_RATE = 1_000, 384_000


# Channels a file may declare, checked from its header before anything is decoded. Real
# recordings have 1-8 (7.1), up to 16 (7.1.4 beds, 3rd-order ambisonics) and, for
# microphone arrays, up to 64 (e.g. a 64-capsule spherical array); 4th-order ambisonics
# (25) fits. More is a damaged header or not a recording. The cost is per second and per
# channel: at MAX_RATE, 64 channels decode to 64 x 384 000 x 4 B = 98 MB of float32 a
# second, which is why decoded audio is taken in chunks of at most CHUNK_VALUES samples
# (16 MiB) and mixed to mono at once (1.5 MB a second at 384 kHz, 64 kB at 16 kHz): what
# is held does not grow with the channels.
MAX_CHANNELS = 64
CHUNK_VALUES = 2**22


def chunk_frames(channels: int) -> int:
    """Frames per decoded chunk: at most ``CHUNK_VALUES`` samples in all (16 MiB of float32)."""
    return max(FRAME_LENGTH, CHUNK_VALUES // max(1, int(channels)))


def check_channels(channels, name: str) -> None:
    """The channels a file's header declares: 1 to ``MAX_CHANNELS``."""
    if not isinstance(channels, (int, np.integer)) or not 1 <= channels <= MAX_CHANNELS:
        raise AudioFileError(
            f"{name} declares {channels} audio channels; minis2t reads 1 to {MAX_CHANNELS} (real recordings "
            f"have up to 8 for 7.1 sound, up to 64 for microphone arrays). Its header is damaged, or mix it "
            f"down first (`ffmpeg -i in.xyz -ac 1 -ar 16000 out.wav`)."
        )


# Float samples are by convention in [-1, 1]. Larger values are accepted up to 2**32 (an
# int32 recording cast to float without scaling; CMVN makes the features scale-free), a
# bound that keeps Kaldi's float32 arithmetic finite: a mel energy is at most
# 257 * (400 * 2**15 * A)**2, below float32's 3.4e38 for every A < 8.9e10.
MAX_AMPLITUDE = 2.0**32


def check_rate(rate, source: str | None = None) -> None:
    """A sampling rate must be an integer number of Hz in ``[MIN_RATE, MAX_RATE]``;
    ``source`` names the file whose header declared it."""
    if not isinstance(rate, (int, np.integer)) or isinstance(rate, bool):
        raise SamplingRateError(f"sampling_rate must be an integer number of Hz, got {rate!r}.")
    if not MIN_RATE <= rate <= MAX_RATE:
        what = f"sampling_rate {rate} Hz" if source is None else f"{source} declares {rate} Hz, which"
        raise SamplingRateError(
            f"{what} is outside the supported {MIN_RATE}-{MAX_RATE} Hz. "
            + ("Check the rate." if source is None else "Its header is damaged, or it is not audio.")
        )


def check_file_rate(rate, given: int | None, name: str) -> None:
    """The rate a file's header declares: supported, and the one the caller gave, if any."""
    if given is not None and given != rate:
        raise SamplingRateError(
            f"{name} is sampled at {rate} Hz but sampling_rate={given} was "
            f"given. Leave sampling_rate out for files: the rate is read from the file."
        )
    check_rate(rate, name)


def check_duration(frames: int, rate: int, max_seconds: float | None, source: str) -> None:
    """Refuse more than ``max_seconds`` of audio, before any of it is processed."""
    if max_seconds is not None and frames > max_seconds * rate:
        raise AudioTooLongError(
            f"{source} lasts {frames / rate:.1f} s, longer than the {max_seconds:.1f} s "
            f"allowed (the model's input limit, or load_audio's max_seconds). Split the audio "
            f"into pieces shorter than {max_seconds:.1f} s, or use Speech2Text.transcribe_long "
            f"(or the minis2t command), which cuts recordings of any length at pauses."
        )


def check_samples(wave: np.ndarray, source: str) -> None:
    """Non-empty, finite, and within ``MAX_AMPLITUDE`` (a 16 kHz waveform ``[N]``; the
    feature extractor's check)."""
    if wave.shape[0] == 0:
        raise EmptyAudioError(f"{source} holds no samples. Pass a non-empty recording.")
    AudioCheck(source, SAMPLING_RATE).take(wave)


# Audio whose every sample lies within half a 16-bit step of one value is silence: stored
# as 16-bit PCM it could be a constant, and a constant gives the same features as zeros
# (each frame's DC offset is removed). Such input is refused by every transcription. In
# numbers: the samples' range (max - min) is under one 16-bit step, 2 * SILENCE_AMPLITUDE.
SILENCE_AMPLITUDE = 0.5 / 2**15


class AudioCheck:
    """The checks every way into a transcription makes on a recording, in one place.

    ``load_audio`` (and so ``Speech2Text.transcribe`` with files, bytes, file objects or
    arrays), the block reader of ``transcribe_long`` (the command, standard input, the
    corpus workers) all feed the samples they decode through :meth:`take`, block by block
    or all at once, and call :meth:`finish` at the end, so that one recording gets the
    same typed error whichever way it came in. Every check works on the samples at their
    own rate, before resampling, and on statistics that do not depend on how the
    recording was cut into blocks (a count, the first bad index, a minimum and a maximum):

    * :meth:`take` — the first sample (in time) that is NaN or infinite, or beyond
      ``MAX_AMPLITUDE``, in any channel, raises ``NonFiniteAudioError`` or
      ``AudioRangeError`` (before channels are mixed, so no NaN arithmetic runs);
    * :meth:`finish` — no samples: ``EmptyAudioError``; fewer than one 25 ms frame once
      at 16 kHz: ``AudioTooShortError``; and, when asked, the mono mix's range under one
      16-bit step (digital silence, a constant, anti-phase channels): ``SilentAudioError``.
    """

    def __init__(self, source: str, rate: int):
        self.source, self.rate = source, rate
        self.count = 0  # frames taken so far
        self.low, self.high = math.inf, -math.inf  # of the mono mix

    def take(self, samples: np.ndarray) -> np.ndarray:
        """Check a block ``[n]`` or ``[n, C]`` (at the source rate) and return its mono mix
        ``[n]``."""
        _check_layout(samples, self.source)
        with np.errstate(invalid="ignore"):  # NaN compares False: found by isfinite
            nonfinite = ~np.isfinite(samples)
            huge = np.abs(samples) > MAX_AMPLITUDE
        if samples.ndim == 2:
            nonfinite, huge = nonfinite.any(axis=1), huge.any(axis=1)
        first_bad = _first(nonfinite)
        first_huge = _first(huge)
        if first_bad is not None and (first_huge is None or first_bad <= first_huge):
            raise NonFiniteAudioError(
                f"{self.source} holds a NaN or infinite sample (the first at sample "
                f"{self.count + first_bad}, {self._at(first_bad)}). Clean the signal before passing it."
            )
        if first_huge is not None:
            value = float(np.max(np.abs(samples[first_huge])))
            raise AudioRangeError(
                f"{self.source} has a sample of {value:.3g} (at {self._at(first_huge)}); float audio "
                f"belongs in [-1, 1] (minis2t accepts up to 2**32). Rescale it, e.g. divide int16 "
                f"values by 32768."
            )
        mono = samples if samples.ndim == 1 else (
            samples.mean(axis=1, dtype=samples.dtype) if samples.shape[1] > 1 else samples[:, 0])  # fmt: skip
        if mono.shape[0]:
            self.low = min(self.low, float(mono.min()))
            self.high = max(self.high, float(mono.max()))
        self.count += samples.shape[0]
        return mono

    def _at(self, index: int) -> str:
        return f"{(self.count + index) / self.rate:.3f} s"

    def finish(self, refuse_silence: bool = True) -> None:
        """The checks that need the whole recording: empty, too short, silent."""
        if self.count == 0:
            raise EmptyAudioError(f"{self.source} holds no samples. Pass a non-empty recording.")
        at_16k = -(-self.count * SAMPLING_RATE // self.rate)  # resample's output length
        if at_16k < FRAME_LENGTH:
            raise AudioTooShortError(
                f"{self.source} has {at_16k} samples at 16 kHz ({1000 * at_16k / SAMPLING_RATE:.1f} ms); "
                f"at least {FRAME_LENGTH} (one 25 ms frame) are needed. Pass a longer recording."
            )
        spread = self.high - self.low
        if refuse_silence and spread < 2 * SILENCE_AMPLITUDE:
            middle = (self.high + self.low) / 2
            if spread == 0 and middle == 0:
                what = "digital silence (every sample is 0)"
            elif spread == 0:
                what = f"a constant signal (every sample is {middle:+.3g}), which sounds like silence"
            else:
                what = (f"silence: every sample is within {spread / 2:.1e} of {middle:+.3g}, below half "
                        f"a 16-bit step ({SILENCE_AMPLITUDE:.1e})")
            raise SilentAudioError(f"{self.source} is {what}. There is nothing to transcribe.")


def _first(flags: np.ndarray) -> int | None:
    """The index of the first True in ``flags [n]``, or None."""
    index = int(np.argmax(flags)) if flags.shape[0] else 0
    return index if flags.shape[0] and flags[index] else None


def _check_layout(samples: np.ndarray, source: str) -> None:
    """``[N]`` or ``[N, C]`` with at least one channel and no more channels than samples."""
    if samples.ndim == 1:
        return
    if samples.ndim != 2:
        raise AudioShapeError(
            f"{source} has shape {samples.shape}; expected [N] (mono) or [N, C] "
            f"(samples x channels). Pass one utterance at a time."
        )
    if samples.shape[1] == 0:
        raise EmptyAudioError(f"{source} has shape {samples.shape}: no channels.")
