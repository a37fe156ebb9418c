"""libsndfile's decoder (through soundfile): WAV, FLAC, Ogg, AIFF, MP3, ...

libsndfile reads a WAV whose data chunk is shorter than its header says without a word;
:func:`declared_frames` reads the header's promise so that such a file is refused. It also
reads an Ogg or MP3 file cut short, or with damaged pages, without a word (and its MP3
decoder, libmpg123, writes warnings to standard error): those streams are walked first
(:func:`~minis2t.io.decoder_base.stream_frames`), before libsndfile sees them.
"""

from __future__ import annotations

import re
import struct

import numpy as np
import soundfile

from ..errors import AudioFileError
from .audio_checks import check_channels
from .decoder_base import DECODE_ERRORS, Closing, clean_reason, cut, truncated, undecodable
from .stream_checks import container_kind, stream_frames


class SoundfileDecoder(Closing):
    """libsndfile (through soundfile), reading float32 (it scales integer PCM to [-1, 1])."""

    def __init__(self, opened, name: str):
        self.name = name
        self.kind = kind = container_kind(opened)
        self.read_frames = 0
        self.declared = declared_frames(opened)  # read before libsndfile takes the file
        seconds = stream_frames(opened, name, kind)  # a cut or damaged Ogg or MP3 stops here
        self.file = soundfile.SoundFile(opened)
        self.rate, self.frames, self.channels = self.file.samplerate, self.file.frames, self.file.channels
        if seconds is not None:
            self.frames = int(round(seconds * self.rate))
        # frames is what the stream holds (a WAV's or AIFF's data as the file's size bounds it,
        # an Ogg's or MP3's walked stream), not a header's bare claim (a FLAC's STREAMINFO)
        self.verified = kind == "wav" or seconds is not None

    def check_header(self) -> None:
        """The channels; a WAV whose data chunk is shorter than its header says is truncated
        (libsndfile would silently read what is there)."""
        check_channels(self.channels, self.name)
        if self.declared is not None and self.frames < self.declared:
            raise truncated(self.name, self.declared, self.frames, self.rate)
        short = data_chunk_short(self.file.extra_info)
        if short is not None:
            raise cut(self.name, f"its header declares {short[0]:,} bytes of audio data but the file holds "
                                 f"{short[1]:,}")  # fmt: skip

    def read(self, n: int) -> np.ndarray:
        try:
            data = self.file.read(n, dtype="float32", always_2d=True)
        except DECODE_ERRORS as e:
            if self.kind in ("flac", "ogg", "wav"):  # a format libsndfile opened: it is the stream that broke
                raise AudioFileError(
                    f"cannot decode {self.name} to its end: it is damaged or truncated (its header declares "
                    f"{self.frames / self.rate:.2f} s of audio; libsndfile fails reading past "
                    f"{self.read_frames / self.rate:.2f} s: {clean_reason(e)}). Re-copy or re-export the file."
                ) from None
            raise undecodable(self.name, e) from None
        self.read_frames += data.shape[0]
        return data

    def check_complete(self, n: int) -> None:
        """``n`` frames were read: a FLAC stream that ends early already raised; a walked
        stream (Ogg, MP3) must give what its structure holds, less an MP3's encoder delay
        and padding (under 4096 samples)."""
        if self.verified and n < self.frames - max(4096, 0.05 * self.rate):
            raise truncated(self.name, self.frames, n, self.rate)

    def close(self) -> None:
        self.file.close()


# libsndfile's log of the header it parsed (SFC_GET_LOG_INFO) notes a data chunk that runs
# past the end of the file as "SSND : 117044 (should be 70208)" (AIFF), "Data Size : ...
# (should be ...)" (AU), "data : ... (should be ...)" (WAV): the file is cut, and libsndfile
# would read what is there in silence. One byte of slack: chunks are padded to even sizes.
# Writers to a pipe, which cannot seek back to fill in the size, put a placeholder there
# (0xFFFFFFFF: FFmpeg, libsndfile; 0x7FFFF000: SoX): an open size, not a claim.
DATA_CHUNK = re.compile(r"^\s*(?:SSND|Data Size|data)\s*:\s*(\d+)\s*\(should be (\d+)\)", re.MULTILINE)


OPEN_SIZE = 0x7FFFF000


def data_chunk_short(log: str) -> tuple[int, int] | None:
    """``(declared, present)`` bytes of a data chunk the file cuts short, from libsndfile's log."""
    for match in DATA_CHUNK.finditer(log):
        declared, present = int(match[1]), int(match[2])
        if present + 1 < declared < OPEN_SIZE:
            return declared, present
    return None


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
