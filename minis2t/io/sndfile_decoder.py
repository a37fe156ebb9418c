"""libsndfile's decoder (through soundfile): WAV, FLAC, Ogg, AIFF, MP3, ...

libsndfile reads a WAV whose data chunk is shorter than its header says without a word;
:func:`declared_frames` reads the header's promise so that such a file is refused.
"""

from __future__ import annotations

import struct

import numpy as np
import soundfile

from .decoder_base import DECODE_ERRORS, Closing, truncated, undecodable


class SoundfileDecoder(Closing):
    """libsndfile (through soundfile), reading float32 (it scales integer PCM to [-1, 1])."""

    def __init__(self, opened, name: str):
        self.name = name
        self.declared = declared_frames(opened)  # read before libsndfile takes the file
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


def declared_frames(opened) -> int | None:
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
