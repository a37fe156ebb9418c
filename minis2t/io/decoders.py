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
from .decoder_base import DECODE_ERRORS, undecodable
from .sndfile_decoder import SoundfileDecoder


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
    Ogg, MP3, ...) or, for what libsndfile does not read, FFmpeg's through PyAV (M4A/AAC,
    MP4, WebM, MKV, ...). Its ``rate`` is checked (supported, and ``sampling_rate`` if
    given), and a WAV shorter than its header says is refused. The decoder has ``rate``,
    ``frames`` (from the header; None when unknown), ``read(n)`` (float32 ``[n', C]``,
    ``n' < n`` only at the end; ``n = -1`` reads everything), ``check_complete(n)`` and is
    a context manager."""
    opened = open_encoded(source, name)
    hint = ""
    if isinstance(source, (bytes, bytearray)) and len(source) < 4096 and looks_like_path(source):
        hint = "; if these bytes are a path, pass it as str"
    try:
        decoder = SoundfileDecoder(opened, name)
    except DECODE_ERRORS as e:
        reason = e
        if not isinstance(opened, str):
            opened.seek(0)
        # A WAV, FLAC, Ogg or AIFF file libsndfile refuses is damaged: FFmpeg, more lenient,
        # might decode part of it, and minis2t never transcribes a damaged file in part.
        decoder = None if magic(opened) in LIBSNDFILE_MAGIC else AvDecoder.open(opened, name)
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


# The first bytes of the containers libsndfile reads (RIFF/RF64 WAV, FLAC, Ogg, AIFF).
LIBSNDFILE_MAGIC = (b"RIFF", b"RF64", b"fLaC", b"OggS", b"FORM")


def magic(opened) -> bytes:
    """The first four bytes of a path or a seekable file object (left at its start)."""
    if isinstance(opened, str):
        with open(opened, "rb") as f:
            return f.read(4)
    head = opened.read(4)
    opened.seek(0)
    return head


def looks_like_path(data: bytes) -> bool:
    return not data.startswith((b"RIFF", b"fLaC", b"OggS", b"FORM", b"ID3")) and all(
        32 <= c < 127 for c in data[:256]
    )
