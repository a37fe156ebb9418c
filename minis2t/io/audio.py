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
  a file may declare 1 to 64 (``MAX_CHANNELS``, checked from its header), and is decoded
  in 16 MiB chunks, each mixed to mono at once, so memory does not grow with channels;
* **any rate** from 1 kHz to 384 kHz is resampled to 16 kHz with a polyphase filter
  (``scipy.signal.resample_poly``), whose output length is ``ceil(N * 16000 / rate)``;
* **bounded work**: the rate, the channels, the duration (from the stream's structure,
  or from the array's length and rate) and the amplitude are checked *before* anything
  large is decoded, resampled or allocated, so a damaged header cannot exhaust the machine;
* **truncated or damaged files** are refused, never transcribed in part, judged per
  format from what the stream itself says (:func:`~minis2t.io.stream_checks.stream_frames`
  says what each check can and cannot see): a WAV, AIFF or AU whose data chunk is shorter
  than its header says, a FLAC that ends before its header's length, an Ogg page that
  fails its checksum, is missing or is cut (or a stream without its end-of-stream page),
  an MP3 whose last frame is cut or that holds fewer frames than its Xing/Info/VBRI
  header counts, an MP4 track shorter than its own duration, a Matroska/WebM element
  that runs past the end of the file or is not one, an MPEG-TS packet cut short, a RIFF
  (AVI) or CAF chunk that runs past the end; and any error FFmpeg reports while decoding;
* **a header's length** refuses audio as too long only where it is what the stream holds
  (a WAV's data, a walked Ogg or MP3); other claims (a FLAC's, an MP4's) are not trusted,
  and decoding stops just past ``max_seconds``;
* **the same checks everywhere**: :class:`AudioCheck` (NaN or infinite samples, range,
  empty, too short, silence) runs on the samples ``load_audio`` takes and on every block
  the long-form reader streams, so a recording gets the same typed error from
  ``transcribe``, ``transcribe_long``, the command and a corpus run;
* the caller's array is never modified: every path works on a copy.

Recordings of any length stream in blocks through the same decoders and checks
(:func:`audio_blocks`, :func:`read_blocks`), resampled block by block
(:class:`StreamResampler`). The decoders are in :mod:`minis2t.io.decoders`
(:mod:`~minis2t.io.sndfile_decoder`, :mod:`~minis2t.io.av_decoder`), the checks in
:mod:`minis2t.io.audio_checks`.
"""

from __future__ import annotations

import math
import os
from collections.abc import Sequence
from typing import BinaryIO, Union

import numpy as np
import scipy.signal

from ..errors import AudioDtypeError, AudioShapeError
from .audio_checks import (
    FRAME_LENGTH,
    SAMPLING_RATE,
    AudioCheck,
    check_duration,
    check_rate,
    chunk_frames,
)
from .decoders import describe, is_encoded, open_decoder


# The longest input load_audio takes by default: 1 hour is 230 MB of float32 at 16 kHz.
# Speech2Text.transcribe passes its model's own limit (240 s for s2t-small) instead.
MAX_SECONDS = 3600.0


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
        source = describe(path_or_array)
        return _read_encoded(path_or_array, source, sampling_rate, max_seconds, refuse_silence)
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


def _read_encoded(source, name: str, sampling_rate, max_seconds, refuse_silence: bool) -> np.ndarray:
    """Decode a file, bytes or a file object into a 16 kHz mono float32 ``[N']``.

    Decoded in chunks of at most ``CHUNK_VALUES`` samples (16 MiB), each checked and mixed
    to mono at once (:meth:`AudioCheck.take`) and resampled as a stream
    (:class:`StreamResampler`, equal to resampling the whole), so what is held is the
    16 kHz output and one chunk, whatever the channels and the rate. The duration is
    refused from the header only where the decoder knows it from the stream itself
    (``decoder.verified``: a WAV's data, a walked Ogg or MP3); a bare claim (a FLAC's
    STREAMINFO, an MP4's track) is not trusted to refuse, and decoding stops one chunk
    past ``max_seconds`` (work bounded by the audio the call would accept)."""
    with open_decoder(source, name, sampling_rate) as decoder:
        rate = decoder.rate
        if decoder.frames is not None and decoder.verified:  # what the stream holds, before decoding
            check_duration(decoder.frames, rate, max_seconds, name)
        check = AudioCheck(name, rate)
        resampler = None if rate == SAMPLING_RATE else StreamResampler(rate)
        size, pieces = chunk_frames(getattr(decoder, "channels", 1)), []
        while True:
            data = decoder.read(size)  # [n, C], at most 16 MiB
            last = data.shape[0] < size
            mono = check.take(data)  # [n]
            del data
            check_duration(check.count, rate, max_seconds, name)  # a header that said less
            pieces.append(mono if resampler is None else resampler(mono, last))
            if last:
                break
        decoder.check_complete(check.count)
    check.finish(refuse_silence)
    wave = pieces[0] if len(pieces) == 1 else np.concatenate(pieces)  # [N'] at 16 kHz
    return np.ascontiguousarray(wave, dtype=np.float32)


# --- recordings of any length: blocks -------------------------------------------------

BLOCK_SECONDS = 30.0  # audio read per step


def audio_blocks(audio, sampling_rate: int | None = None, block_seconds: float = BLOCK_SECONDS):
    """16 kHz blocks of one recording: encoded audio (files, bytes, file objects) streams;
    samples (already in memory) are loaded whole, without a length limit, and cut into
    blocks. Both get the checks of :class:`~minis2t.io.audio_checks.AudioCheck`, silence included."""
    if is_encoded(audio):
        yield from read_blocks(audio, block_seconds, sampling_rate)
        return
    wave = load_audio(audio, sampling_rate, max_seconds=None, refuse_silence=True)
    size = int(block_seconds * SAMPLING_RATE)
    for start in range(0, wave.shape[0], size):
        yield wave[start : start + size]


def read_blocks(source, block_seconds: float = BLOCK_SECONDS, sampling_rate: int | None = None):
    """16 kHz mono float32 blocks of encoded audio — a path, the bytes of a file or a
    binary file object — decoded as it streams (:func:`minis2t.io.decoders.open_decoder`:
    libsndfile, or FFmpeg through PyAV). Every block goes through the same
    :class:`minis2t.io.audio_checks.AudioCheck` as :func:`minis2t.load_audio` (NaN or infinite
    samples, range; at the end: empty, too short, silence), so a recording gets the same
    typed error here as from ``Speech2Text.transcribe``. ``sampling_rate``, if given, must
    be the file's."""
    name = describe(source)
    with open_decoder(source, name, sampling_rate) as decoder:
        rate = decoder.rate
        check = AudioCheck(name, rate)
        resampler = None if rate == SAMPLING_RATE else StreamResampler(rate)
        size = max(FRAME_LENGTH, int(block_seconds * rate))
        chunk = chunk_frames(getattr(decoder, "channels", 1))  # [chunk, C] is at most 16 MiB
        last = False
        while not last:
            pieces, have = [], 0
            while have < size and not last:
                want = min(chunk, size - have)
                data = decoder.read(want)  # [n, C] at the file's rate
                last = data.shape[0] < want
                pieces.append(check.take(data))  # [n], mixed at once
                have += pieces[-1].shape[0]
            mono = pieces[0] if len(pieces) == 1 else np.concatenate(pieces)  # [have]
            if resampler is not None:
                mono = resampler(mono, last)
            if mono.shape[0]:
                yield mono
        decoder.check_complete(check.count)
    check.finish()


class StreamResampler:
    """:func:`resample` of a stream, block by block, equal to resampling the whole.

    Polyphase resampling by ``up/down`` is shift-invariant for input shifts of ``down``
    samples (the output shifts by ``up``). So the stream is resampled in pieces that
    start at multiples of ``down`` and carry ``reach`` samples of context on each side,
    the filter's half-length; only outputs whose whole filter support lies inside the
    piece (or beyond the stream's ends, where both see zeros) are kept."""

    def __init__(self, rate: int):
        g = math.gcd(rate, SAMPLING_RATE)
        self.rate, self.up, self.down = rate, SAMPLING_RATE // g, rate // g
        self.reach = 10 * max(self.up, self.down) // self.up + 2  # input samples (resample_poly's half-length)
        self.buffer = np.zeros(0, np.float32)
        self.base = 0  # global index of buffer[0], a multiple of down
        self.emitted = 0  # output samples given so far

    def __call__(self, block: np.ndarray, last: bool = False) -> np.ndarray:
        self.buffer = np.concatenate([self.buffer, block])
        end_in = self.base + self.buffer.shape[0]
        total_out = -(-end_in * self.up // self.down)  # ceil: resample_poly's length
        # outputs j whose input support (j * down / up +- reach) ends inside the buffer
        ready = total_out if last else max(0, ((end_in - self.reach) * self.up) // self.down)
        if ready <= self.emitted:
            return np.zeros(0, np.float32)
        out = resample(self.buffer, self.rate, SAMPLING_RATE)
        first = self.base * self.up // self.down  # global index of out[0]
        samples = out[self.emitted - first : ready - first]
        self.emitted = ready
        drop = max(0, (self.emitted * self.down) // self.up - self.reach - self.base)
        drop -= drop % self.down
        self.buffer, self.base = self.buffer[drop:], self.base + drop
        return samples.astype(np.float32)


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
