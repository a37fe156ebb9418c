"""Encoded audio — a path, the bytes of a file, a binary file object — opened for decoding.

:func:`open_decoder` picks the back end: libsndfile (:mod:`minis2t.io.sndfile_decoder`)
for what it reads, FFmpeg through PyAV (:mod:`minis2t.io.av_decoder`) for the rest.
"""

from __future__ import annotations

import importlib.util
import io
import os
from pathlib import Path

from ..errors import AudioFileError, AudioTooLongError, EmptyAudioError
from .audio_checks import check_file_rate
from .av_decoder import AvDecoder
from .decoder_base import DECODE_ERRORS, clean_reason, undecodable
from .sndfile_decoder import SoundfileDecoder
from .stream_checks import container_kind


# Non-seekable streams (stdin) are read into memory up to this many bytes.
MAX_STREAM_BYTES = 512 * 2**20


def describe(source) -> str:
    """How a recording is named in messages: its path, or what was given."""
    if isinstance(source, (str, os.PathLike)):
        return str(source)
    if isinstance(source, (bytes, bytearray, memoryview)):
        return f"the {len(source)} bytes given"
    return f"the file object {getattr(source, 'name', type(source).__name__)}"


def is_encoded(source) -> bool:
    """A path, bytes or a file object (audio still to decode), not samples."""
    return isinstance(source, (str, os.PathLike, bytes, bytearray, memoryview)) or hasattr(source, "read")


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
    stream = seekable(source, name)
    start = stream.tell()
    if not stream.read(1):
        raise EmptyAudioError(f"{name} is empty (0 bytes left to read): there is no audio in it.")
    stream.seek(start)
    return stream


def open_decoder(source, name: str, sampling_rate: int | None = None):
    """A decoder for encoded audio (a path, bytes, a file object): libsndfile's (WAV, FLAC,
    Ogg, ...) or, for what libsndfile does not read, FFmpeg's through PyAV (M4A/AAC, MP4,
    WebM, MKV, ...); MP3 goes to FFmpeg when PyAV is installed (libsndfile's libmpg123
    writes warnings to standard error), else to libsndfile. Its ``rate`` and ``channels``
    are checked from the header (supported, and ``sampling_rate`` if given), and a stream
    that its own structure shows damaged or cut is refused before it is decoded
    (:func:`~minis2t.io.decoder_base.stream_frames`). The decoder has ``rate``,
    ``channels``, ``frames`` (None when unknown) and ``verified`` (whether ``frames`` is
    what the stream holds rather than a header's claim), ``read(n)`` (float32 ``[n', C]``,
    ``n' < n`` only at the end; ``n = -1`` reads everything), ``check_complete(n)`` and is
    a context manager."""
    opened = open_encoded(source, name)
    hint = ""
    if isinstance(source, (bytes, bytearray)) and len(source) < 4096 and looks_like_path(source):
        hint = "; if these bytes are a path, pass it as str"
    kind = container_kind(opened)
    decoder = None
    if kind == "mp3":  # FFmpeg, when installed, decodes MP3 without libmpg123's warnings on stderr
        decoder = AvDecoder.open(opened, name)
        if not isinstance(decoder, AvDecoder):
            decoder = None
            rewind(opened)
    if decoder is None:
        try:
            decoder = SoundfileDecoder(opened, name)
        except DECODE_ERRORS as e:
            rewind(opened)
            decoder = fallback(opened, name, kind, e, hint)
    try:
        check_file_rate(decoder.rate, sampling_rate, name)
        decoder.check_header()
    except BaseException:
        decoder.close()
        raise
    return decoder


def fallback(opened, name: str, kind: str, reason: Exception, hint: str):
    """FFmpeg's decoder for what libsndfile refused (``reason``), or the error that says why
    neither reads it."""
    # A WAV, FLAC or AIFF file libsndfile refuses is damaged: FFmpeg, more lenient, might
    # decode part of it, and minis2t never transcribes a damaged file in part. An Ogg file
    # has passed its walk (every page's checksum, no page lost, its end) before libsndfile
    # saw it: one libsndfile cannot read carries a codec it lacks (FLAC in Ogg), for FFmpeg.
    if kind in ("wav", "flac"):
        raise undecodable(name, reason, hint) from None
    opened_av = AvDecoder.open(opened, name)
    if isinstance(opened_av, AvDecoder):
        return opened_av
    if isinstance(opened_av, Exception) and kind in ("mp4", "matroska", "mp3"):
        what = {"mp4": "an MP4/M4A", "matroska": "a Matroska/WebM", "mp3": "an MP3"}[kind]
        index = " (an MP4 cut before its index, the moov atom, cannot be read at all)" if kind == "mp4" else ""
        reason = getattr(opened_av, "strerror", None) or clean_reason(opened_av)  # FFmpeg's words, no errno or path
        raise AudioFileError(
            f"cannot decode {name}: it is {what} file that FFmpeg cannot read ({reason}); it "
            f"is damaged or cut short{index}. Re-copy or re-export the file."
        ) from None
    if opened_av is None and importlib.util.find_spec("av") is None:
        hint += " (and PyAV, which reads M4A, MP4, WebM and MKV, is not installed: pip install av)"
    raise undecodable(name, reason, hint) from None


def rewind(opened) -> None:
    """A file object back at its start (a path needs nothing)."""
    if not isinstance(opened, str):
        opened.seek(0)


def seekable(stream, name: str) -> io.IOBase:
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


def looks_like_path(data: bytes) -> bool:
    return not data.startswith((b"RIFF", b"fLaC", b"OggS", b"FORM", b"ID3")) and all(
        32 <= c < 127 for c in data[:256]
    )


def header_seconds(path) -> float | None:
    """A file's duration for a progress bar, from its header or its walked stream, or None
    (standard input, an unreadable, damaged or cut file: the transcription says what is
    wrong). Quiet: an MP3 is never handed to libsndfile (its libmpg123 writes warnings to
    standard error on a cut file), and nothing is decoded or refused here."""
    if str(path) == "-":
        return None
    try:
        with open_decoder(str(path), str(path)) as decoder:
            return decoder.frames / decoder.rate if decoder.frames is not None else None
    except Exception:  # the transcription reports it, with its typed error
        return None
