"""Stage 1: audio in, a clean 16 kHz mono float32 waveform out.

``load_audio`` is the single door through which sound enters minis2t. It accepts a file
(anything libsndfile reads: WAV, FLAC, OGG/Vorbis/Opus, MP3, ...; and, through PyAV's
FFmpeg, the audio track of M4A/AAC, MP4, WebM, MKV and the rest), the bytes of one, a
binary file object, or an array, and returns a float32 waveform ``[N]`` at 16 kHz, or
raises a :mod:`minis2t.errors` error that says what is wrong. The rules, all explicit,
none guessed from the data:

* **integer PCM** is scaled by its type's full range (int16 / 32768, int32 / 2**31, ...);
  floating-point input is taken as it is, by convention in [-1, 1];
* **several channels** are averaged to one (arrays are ``[N, C]``, soundfile's layout);
* **any rate** from 1 kHz to 384 kHz is resampled to 16 kHz with a polyphase filter
  (``scipy.signal.resample_poly``), whose output length is ``ceil(N * 16000 / rate)``;
* **bounded work**: the rate, the duration (from the file header, or from the array's
  length and rate) and the amplitude are checked *before* anything large is decoded,
  resampled or allocated, so a damaged header cannot exhaust the machine;
* **truncated files** (a WAV whose data chunk is shorter than its header says, a FLAC or
  Ogg stream that ends early) are refused, never transcribed in part;
* **the same checks everywhere**: :class:`AudioCheck` (NaN or infinite samples, range,
  empty, too short, silence) runs on the samples ``load_audio`` takes and on every block
  the long-form reader streams, so a recording gets the same typed error from
  ``transcribe``, ``transcribe_long``, the command and a corpus run;
* the caller's array is never modified: every path works on a copy.
"""

from __future__ import annotations

import importlib.util
import io
import math
import os
import struct
from collections.abc import Sequence
from pathlib import Path
from typing import BinaryIO, Union

import numpy as np
import scipy.signal
import soundfile

from ..errors import (
    AudioDtypeError,
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
# The longest input load_audio takes by default: 1 hour is 230 MB of float32 at 16 kHz.
# Speech2Text.transcribe passes its model's own limit (240 s for s2t-small) instead.
MAX_SECONDS = 3600.0
# Float samples are by convention in [-1, 1]. Larger values are accepted up to 2**32 (an
# int32 recording cast to float without scaling; CMVN makes the features scale-free), a
# bound that keeps Kaldi's float32 arithmetic finite: a mel energy is at most
# 257 * (400 * 2**15 * A)**2, below float32's 3.4e38 for every A < 8.9e10.
MAX_AMPLITUDE = 2.0**32
# Non-seekable streams (stdin) are read into memory up to this many bytes.
MAX_STREAM_BYTES = 512 * 2**20

AudioInput = Union[str, os.PathLike, bytes, BinaryIO, np.ndarray, Sequence[float]]


def load_audio(path_or_array: AudioInput, sampling_rate: int | None = None,
               max_seconds: float | None = MAX_SECONDS, *, refuse_silence: bool = False) -> np.ndarray:  # fmt: skip
    """Load a file or take an array, and return a float32 mono waveform ``[N]`` at 16 kHz.

    Args:
        path_or_array: a path (``str`` or ``os.PathLike``) to an audio file; the encoded
            bytes of one (``bytes``); a binary file object (``open(f, "rb")``,
            ``sys.stdin.buffer``); or samples (an array or a list of numbers), ``[N]``
            (mono) or ``[N, C]`` (C channels, soundfile's layout).
        sampling_rate: the rate of samples, in Hz; ``None`` means 16 kHz. For encoded
            audio the rate is read from its header; passing a different value raises.
        max_seconds: refuse longer audio (checked before decoding or resampling);
            ``None`` removes the limit.
        refuse_silence: also refuse silence (:class:`AudioCheck`), as every
            transcription does.

    Returns:
        float32 array ``[N']`` at 16 kHz, C-contiguous, a new array.

    Raises:
        AudioFileError: missing, unreadable, undecodable or truncated file; a URL.
        AudioShapeError: an array of rank 0 or > 2, or a channel-first ``[C, N]`` array.
        AudioDtypeError: samples that are neither float nor integer PCM.
        SamplingRateError: a rate outside [1 kHz, 384 kHz], or one that contradicts a file.
        AudioTooLongError: longer than ``max_seconds``.
        AudioRangeError: float samples beyond +-2**32.
        EmptyAudioError, NonFiniteAudioError, AudioTooShortError, SilentAudioError: see
            :class:`AudioCheck`, the checks every entry point shares.
    """
    if is_encoded(path_or_array):
        source = _describe(path_or_array)
        samples, rate = _read_encoded(path_or_array, source, sampling_rate, max_seconds)
    else:
        source = "the audio array"
        samples = _pcm_to_float(_as_array(path_or_array))
        rate = SAMPLING_RATE if sampling_rate is None else sampling_rate
        check_rate(rate)
        if samples.ndim >= 1:
            check_duration(samples.shape[0], rate, max_seconds, source)
        _check_channels_last(samples, source)
    check = AudioCheck(source, rate)
    wave = check.take(samples)  # [N, C] or [N] -> [N], every sample checked
    check.finish(refuse_silence)
    wave = resample(wave, rate, SAMPLING_RATE)  # [N] -> [ceil(N * 16000 / rate)]
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


# --- encoded audio: files, bytes, file objects ------------------------------------------


def _describe(source) -> str:
    if isinstance(source, (str, os.PathLike)):
        return str(source)
    if isinstance(source, (bytes, bytearray, memoryview)):
        return f"the {len(source)} bytes given"
    return f"the file object {getattr(source, 'name', type(source).__name__)}"


def is_encoded(source) -> bool:
    """A path, bytes or a file object (audio still to decode), not samples."""
    return isinstance(source, (str, os.PathLike, bytes, bytearray, memoryview)) or hasattr(source, "read")


def _read_encoded(source, name: str, sampling_rate, max_seconds) -> tuple[np.ndarray, int]:
    """Decode a file, bytes or a file object into float32 ``[N, C]`` and its rate."""
    with open_decoder(source, name, sampling_rate) as decoder:
        rate = decoder.rate
        if decoder.frames is not None:  # from the header, before decoding
            check_duration(decoder.frames, rate, max_seconds, name)
        limit = -1 if max_seconds is None else int(max_seconds * rate) + 1
        samples = decoder.read(limit)  # [N, C]; at most one frame past the limit
        check_duration(samples.shape[0], rate, max_seconds, name)  # a header that said less
        decoder.check_complete(samples.shape[0])
    return samples, rate


def open_encoded(source, name: str):
    """What a decoder can open for encoded audio: a checked path (``str``), the bytes
    given as a file object, or a seekable file object; an empty one is refused."""
    if isinstance(source, (str, os.PathLike)):
        path = check_path(source)
        if os.path.getsize(path) == 0:
            raise EmptyAudioError(f"{path} is an empty file (0 bytes): there is no audio in it.")
        return path
    if isinstance(source, (bytes, bytearray, memoryview)):
        if len(source) == 0:
            raise EmptyAudioError(f"{name} are empty (0 bytes): there is no audio in them.")
        return io.BytesIO(bytes(source))
    stream = _seekable(source, name)
    start = stream.tell()
    if not stream.read(1):
        raise EmptyAudioError(f"{name} is empty (0 bytes left to read): there is no audio in it.")
    stream.seek(start)
    return stream


def open_decoder(source, name: str, sampling_rate: int | None = None):
    """A decoder for encoded audio (a path, bytes, a file object): libsndfile's (WAV, FLAC,
    Ogg, MP3, ...) or, for what libsndfile does not read, FFmpeg's through PyAV (M4A/AAC,
    MP4, WebM, MKV, ...). Its ``rate`` is checked (supported, and ``sampling_rate`` if
    given), and a WAV shorter than its header says is refused. The decoder has ``rate``,
    ``frames`` (from the header; None when unknown), ``read(n)`` (float32 ``[n', C]``,
    ``n' < n`` only at the end; ``n = -1`` reads everything), ``check_complete(n)`` and is
    a context manager."""
    opened = open_encoded(source, name)
    hint = ""
    if isinstance(source, (bytes, bytearray)) and len(source) < 4096 and _looks_like_path(source):
        hint = "; if these bytes are a path, pass it as str"
    try:
        decoder = SoundfileDecoder(opened, name)
    except DECODE_ERRORS as e:
        reason = e
        if not isinstance(opened, str):
            opened.seek(0)
        # A WAV, FLAC, Ogg or AIFF file libsndfile refuses is damaged: FFmpeg, more lenient,
        # might decode part of it, and minis2t never transcribes a damaged file in part.
        decoder = None if _magic(opened) in LIBSNDFILE_MAGIC else AvDecoder.open(opened, name)
        if decoder is None:
            if importlib.util.find_spec("av") is None:
                hint += " (and PyAV, which reads M4A, MP4, WebM and MKV, is not installed: pip install av)"
            raise undecodable(name, reason, hint) from None
    try:
        check_file_rate(decoder.rate, sampling_rate, name)
        decoder.check_header()
    except BaseException:
        decoder.close()
        raise
    return decoder


class _Closing:
    """A decoder used as a context manager: ``close()`` on the way out."""

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


class SoundfileDecoder(_Closing):
    """libsndfile (through soundfile), reading float32 (it scales integer PCM to [-1, 1])."""

    def __init__(self, opened, name: str):
        self.name = name
        self.declared = _declared_frames(opened)  # read before libsndfile takes the file
        self.file = soundfile.SoundFile(opened)
        self.rate, self.frames = self.file.samplerate, self.file.frames

    def check_header(self) -> None:
        """A WAV whose data chunk is shorter than its header says is truncated (libsndfile
        would silently read what is there)."""
        if self.declared is not None and self.frames < self.declared:
            raise truncated(self.name, self.declared, self.frames, self.rate)

    def read(self, n: int) -> np.ndarray:
        try:
            return self.file.read(n, dtype="float32", always_2d=True)
        except DECODE_ERRORS as e:
            raise undecodable(self.name, e) from None

    def check_complete(self, n: int) -> None:
        """``n`` frames were read: FLAC and Ogg streams that end early already raised."""

    def close(self) -> None:
        self.file.close()


class AvDecoder(_Closing):
    """FFmpeg's decoders through PyAV (the ``av`` package, which ships its own FFmpeg
    libraries): the first audio track of any container FFmpeg reads, decoded frame by
    frame and converted to float32 at the track's own rate (resampling stays minis2t's)."""

    def __init__(self, container, stream, name: str):
        import av

        self.container, self.stream, self.name = container, stream, name
        self.rate = int(stream.codec_context.sample_rate or stream.rate or 0)
        seconds = None
        if stream.duration is not None and stream.time_base is not None:
            seconds = float(stream.duration * stream.time_base)
        elif container.duration is not None:
            seconds = container.duration / av.time_base
        self.frames = None if seconds is None else int(round(seconds * self.rate))
        self._frames = container.decode(stream)
        self._convert = None  # an av.AudioResampler to float planar, made at the first frame
        self._pending: list[np.ndarray] = []  # decoded [k, C] pieces not yet returned
        self._have = 0  # frames in them
        self._ended = False

    @classmethod
    def open(cls, opened, name: str) -> AvDecoder | None:
        """The decoder, or None when PyAV is not installed or cannot open the data; a
        container without an audio track is an AudioFileError."""
        try:
            import av
        except ImportError:
            return None
        try:
            container = av.open(opened, mode="r")
        except (av.FFmpegError, *DECODE_ERRORS, ValueError):
            return None
        stream = next((s for s in container.streams if s.type == "audio"), None)
        if stream is None:
            container.close()
            raise AudioFileError(f"{name} has no audio track (a video without sound?); nothing to transcribe.")
        if stream.codec_context is None:
            container.close()
            raise AudioFileError(f"{name}: FFmpeg has no decoder for its audio track's codec; convert it to WAV "
                                 f"or FLAC with a tool that reads it.")  # fmt: skip
        return cls(container, stream, name)

    def check_header(self) -> None:
        if self.rate <= 0:
            raise AudioFileError(f"{self.name}: its audio track declares no sampling rate; it is damaged.")

    def _decode_more(self) -> bool:
        """Decode the next frame into ``_pending``; False at the end of the track."""
        import av

        if self._ended:
            return False
        try:
            frame = next(self._frames, None)
            if self._convert is None and frame is not None:
                self._convert = av.AudioResampler(format="fltp", layout=frame.layout.name, rate=self.rate)
            if self._convert is None:
                self._ended = True
                return False
            converted = self._convert.resample(frame)  # None flushes the converter
        except (av.FFmpegError, *DECODE_ERRORS, ValueError) as e:
            raise undecodable(self.name, e) from None
        for piece in converted:
            self._pending.append(piece.to_ndarray().T.astype(np.float32, copy=False))  # [C, k] -> [k, C]
            self._have += self._pending[-1].shape[0]
        if frame is None:
            self._ended = True
        return True

    def read(self, n: int) -> np.ndarray:
        while (n < 0 or self._have < n) and self._decode_more():
            pass
        if not self._pending:
            channels = self.stream.codec_context.channels or 1
            return np.zeros((0, channels), np.float32)
        data = np.concatenate(self._pending)  # [have, C]
        n = data.shape[0] if n < 0 else min(n, data.shape[0])
        self._pending = [data[n:]] if n < data.shape[0] else []
        self._have = data.shape[0] - n
        return data[:n]

    def check_complete(self, n: int) -> None:
        """A track that stops well short of the duration its container declares is
        truncated. The margin covers codec frame padding (an AAC frame is 1024 samples,
        and encoders add up to two frames of priming)."""
        if self.frames is not None and n < self.frames - max(4096, 0.05 * self.rate):
            raise truncated(self.name, self.frames, n, self.rate)

    def close(self) -> None:
        self.container.close()


# What libsndfile (through soundfile) raises for a file it cannot read.
DECODE_ERRORS = (soundfile.LibsndfileError, RuntimeError, TypeError, EOFError, OSError)


def check_path(source) -> str:
    """An audio file's path as ``str``, after the checks that need no decoding: not a URL,
    present, not a directory."""
    path = Path(source)
    if "://" in str(source):
        raise AudioFileError(
            f"{source} is a URL; minis2t does not download. Download the file first "
            f"(e.g. `curl -O {source}`) and pass its path."
        )
    if not path.exists():
        raise AudioFileError(f"audio file not found: {path}. Check the path.")
    if path.is_dir():
        raise AudioFileError(f"{path} is a directory, not an audio file.")
    return str(path)


def undecodable(name: str, error: Exception, hint: str = "") -> AudioFileError:
    """The error for a file no decoder can read (``error``: libsndfile's), saying what to do."""
    return AudioFileError(
        f"cannot decode {name}: {_clean_reason(error)}{hint}. minis2t reads what libsndfile "
        f"reads (WAV, FLAC, OGG, MP3 and more) and, through PyAV's FFmpeg, M4A/AAC, MP4, WebM "
        f"and MKV audio; this is none of them (damaged, or not audio). Converting it with ffmpeg "
        f"(`ffmpeg -i in.xyz -ar 16000 out.wav`) may tell more."
    )


def truncated(name: str, declared: int, present: int, rate: int) -> AudioFileError:
    """The error for a WAV whose header promises more frames than it holds."""
    return AudioFileError(
        f"{name} is truncated: its header declares {declared / rate:.2f} s of audio but "
        f"only {present / rate:.2f} s are there. Re-copy or re-export the file."
    )


def _clean_reason(error: Exception) -> str:
    """libsndfile's message without its boilerplate ("Error opening <object>: ", "Error : ")
    or its final period (we add our own sentence after it)."""
    reason = str(error).strip()
    if reason.startswith("Error opening ") and ": " in reason:
        reason = reason.split(": ", 1)[1]
    reason = reason.removeprefix("Error : ").strip().rstrip(".")
    return reason or type(error).__name__


def _seekable(stream, name: str) -> io.IOBase:
    """A seekable file object (libsndfile seeks): the stream itself, or its bytes read
    into memory, at most ``MAX_STREAM_BYTES``."""
    try:
        if stream.seekable():
            return stream
    except (AttributeError, OSError, ValueError):
        pass
    data = stream.read(MAX_STREAM_BYTES + 1)
    if not isinstance(data, (bytes, bytearray)):
        raise AudioFileError(f"{name} must be opened in binary mode ('rb'), got text.")
    if len(data) > MAX_STREAM_BYTES:
        raise AudioTooLongError(
            f"{name} holds more than {MAX_STREAM_BYTES // 2**20} MiB; pass a file path for "
            f"audio this large, or split it."
        )
    return io.BytesIO(data)


# The first bytes of the containers libsndfile reads (RIFF/RF64 WAV, FLAC, Ogg, AIFF).
LIBSNDFILE_MAGIC = (b"RIFF", b"RF64", b"fLaC", b"OggS", b"FORM")


def _magic(opened) -> bytes:
    """The first four bytes of a path or a seekable file object (left at its start)."""
    if isinstance(opened, str):
        with open(opened, "rb") as f:
            return f.read(4)
    head = opened.read(4)
    opened.seek(0)
    return head


def _looks_like_path(data: bytes) -> bool:
    return not data.startswith((b"RIFF", b"fLaC", b"OggS", b"FORM", b"ID3")) and all(
        32 <= c < 127 for c in data[:256]
    )


def _declared_frames(opened) -> int | None:
    """How many frames the container promises, where libsndfile does not check it:
    a RIFF WAV's data chunk size (libsndfile silently reads what is there). None for other
    formats: FLAC and Ogg streams that end early make libsndfile raise. A file object is
    left at its start."""
    f = open(opened, "rb") if isinstance(opened, str) else opened
    try:
        f.seek(0)
        head = f.read(12)
        if len(head) < 12 or head[:4] != b"RIFF" or head[8:12] != b"WAVE":
            return None
        position, block = 12, None
        while True:
            f.seek(position)
            chunk = f.read(8)
            if len(chunk) < 8:
                return None
            kind, size = chunk[:4], struct.unpack("<I", chunk[4:])[0]
            if kind == b"fmt ":
                fmt = f.read(16)
                if len(fmt) == 16:
                    channels, bits = struct.unpack("<H", fmt[2:4])[0], struct.unpack("<H", fmt[14:16])[0]
                    block = channels * max(1, (bits + 7) // 8)
            if kind == b"data":
                if size in (0, 0xFFFFFFFF) or not block:  # streamed WAVs leave the size open
                    return None
                return size // block
            position += 8 + size + (size & 1)  # chunks are padded to an even length
    finally:
        if isinstance(opened, str):
            f.close()
        else:
            f.seek(0)


# --- arrays ------------------------------------------------------------------------------


def is_sample_list(value) -> bool:
    """A non-empty list or tuple of plain numbers: one recording's samples (not a list of
    recordings)."""
    return isinstance(value, (list, tuple)) and bool(value) and all(
        isinstance(v, (int, float, np.number)) and not isinstance(v, bool) for v in value
    )


def _as_array(samples) -> np.ndarray:
    """An array, or a (nested) list of numbers -> an ndarray; anything else raises."""
    if isinstance(samples, np.ndarray):
        return samples
    try:
        array = np.asarray(samples)
    except (ValueError, TypeError) as e:  # ragged lists and the like
        raise AudioShapeError(f"cannot read the audio samples as an array ({e}).") from None
    if array.dtype == object or array.dtype.kind in "USV":
        raise AudioDtypeError(
            f"audio must be a path, bytes, a file object, or numbers; got "
            f"{type(samples).__name__} holding {array.dtype} values."
        )
    if array.dtype == np.int64 and isinstance(samples, (list, tuple)):
        array = array.astype(np.float64)  # a list of Python ints: numbers, not int64 PCM
    return array


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


def _check_channels_last(samples: np.ndarray, source: str) -> None:
    """An array ``[N, C]`` with more channels than samples is channel-first: refused."""
    if samples.ndim == 2 and samples.shape[1] > samples.shape[0] > 0:
        n, c = samples.shape
        raise AudioShapeError(
            f"{source} has shape {samples.shape}: more channels ({c}) than samples ({n}). "
            f"Arrays are [samples, channels]; pass `x.T` for a channel-first array."
        )


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
