"""What a stream itself says, read before it is decoded: its kind (from its first bytes),
its structure (Ogg pages, MP3 frames, Matroska elements) and the seconds it holds.

A container's or a header's claim alone never decides that a file is cut: each walk
checks what the stream's own structure promises (a page's checksum and sequence number,
a frame count, an element's size) against what the file holds, and refuses a damaged
or cut stream with a typed error before a decoder can transcribe part of it. The walks
read only headers (a 600 s MP3 or Ogg takes about 10-20 ms) and are bounded by the file.
"""

from __future__ import annotations

import struct
import zlib

from .decoder_base import cut, damaged


def head_bytes(opened, n: int = 12) -> bytes:
    """The first ``n`` bytes of a path or a seekable file object (left where it was)."""
    if isinstance(opened, str):
        with open(opened, "rb") as f:
            return f.read(n)
    where = opened.tell()
    opened.seek(0)
    head = opened.read(n)
    opened.seek(where)
    return head


def container_kind(opened) -> str:
    """What the first bytes say: "ogg", "matroska", "mp4", "mp3", "flac", "wav" (RIFF or
    RF64 WAVE, AIFF), "riff" (another RIFF file: an AVI), "caf", "mpegts" or "" (anything else)."""
    head = head_bytes(opened)
    if head[:4] == b"OggS":
        return "ogg"
    if head[:4] == b"\x1a\x45\xdf\xa3":
        return "matroska"
    if head[4:8] == b"ftyp":
        return "mp4"
    if head[:4] == b"fLaC":
        return "flac"
    if head[:4] in (b"RIFF", b"RF64") and head[8:12] == b"WAVE" or head[:4] == b"FORM" and head[8:12] in (
            b"AIFF", b"AIFC"):  # fmt: skip
        return "wav"  # not another RIFF (an AVI) or IFF file: those go to FFmpeg
    if head[:4] == b"RIFF":
        return "riff"
    if head[:4] == b"caff":
        return "caf"
    if len(head) >= 1 and head[0] == 0x47 and mpegts_synced(opened):
        return "mpegts"
    if head[:3] == b"ID3" or (len(head) > 1 and head[0] == 0xFF and head[1] & 0xE0 == 0xE0 and head[1] & 6):
        return "mp3"  # an ID3 tag, or an MPEG audio frame's sync (layer bits 00 is ADTS AAC)
    return ""


def stream_frames(opened, name: str, kind: str) -> float | None:
    """Walk a stream's own structure before it is decoded; refuse one that is damaged or
    cut, and return the seconds it holds where its structure tells them (Ogg, MP3), or
    None. What each walk can and cannot detect:

    * **Ogg** (:func:`ogg_seconds`): every page's CRC-32 (damage anywhere, a cut inside
      a page), its sequence number (a page lost), the end-of-stream flag on each logical
      stream's last page (a cut exactly between pages); the seconds are the last page's
      granule position. Not detected: damage that keeps every page's checksum right.
    * **MP3** (:func:`mp3_seconds`): the chain of frame headers from the first frame to
      the end (tags aside): a broken header or a last frame cut short; and, when the
      first frame is a Xing/Info or VBRI header, fewer frames than it counts. Not
      detected: damage inside a frame's data (MP3 frames rarely carry a checksum), and a
      cut exactly between frames of a file without a Xing/Info/VBRI header.
    * **Matroska/WebM** (:func:`matroska_check`): every element of the segment and of
      each cluster must start where the one before ended and end within the file, so a
      cut cluster or block, and damage to any element's header, are found. Not detected:
      a live-written file (unknown sizes) cut exactly between two clusters, and damage
      inside a block's audio (Matroska's checksums are optional, and the codecs it
      carries, Opus, Vorbis, AAC, have none either).
    * **MPEG-TS** (:func:`mpegts_check`): 188-byte packets, each starting with the sync
      byte 0x47, to the end of the file: a packet cut short or a lost sync is found. Not
      detected: a cut exactly between packets, damage inside a packet.
    * **RIFF** other than WAVE (an AVI: :func:`riff_check`): each top-level chunk (an AVI
      over 1 GB has several) must end within the file. Not detected: a cut exactly
      between two top-level chunks, damage inside a chunk.
    * **CAF** (:func:`caf_check`): each chunk, the audio data's included, ends within the
      file (a data size of -1, "to the end of the file", is open). Not detected: a file
      whose data size is open cut between two packets.
    * others, and all that FFmpeg decodes: FFmpeg's own error reports while decoding (a
      frame cut short, an invalid packet) refuse the file (``AvDecoder``). Not detected:
      a raw stream without a declared length (AC3, ADTS AAC) cut exactly between frames.
    * WAV, AIFF and AU: the libsndfile decoder checks their headers' data sizes; FLAC
      streams that end early make libsndfile raise; MP4 tracks carry their own duration.
    """
    f = open(opened, "rb") if isinstance(opened, str) else opened
    where = f.tell()  # a file object FFmpeg may be reading: put back where it was
    try:
        f.seek(0, 2)
        size = f.tell()
        f.seek(0)
        if kind == "ogg":
            return ogg_seconds(f, size, name)
        if kind == "mp3":
            return mp3_seconds(f, size, name)
        if kind == "matroska":
            matroska_check(f, size, name)
        if kind == "mpegts":
            mpegts_check(f, size, name)
        if kind == "riff":
            riff_check(f, size, name)
        if kind == "caf":
            caf_check(f, size, name)
        return None
    finally:
        if isinstance(opened, str):
            f.close()
        else:
            f.seek(where)


# Ogg's CRC-32 is the unreflected polynomial 0x04C11DB7 with a zero start and no final xor;
# zlib's crc32 is the same polynomial reflected. Reversing the bits of every byte, running
# the reflected CRC from zero (zlib's start 0xFFFFFFFF undoes its own inversion) and
# reversing the 32 bits of the result gives Ogg's CRC, at zlib's speed.
_BIT_REVERSED = bytes(int(f"{i:08b}"[::-1], 2) for i in range(256))


def ogg_crc(page: bytes) -> int:
    """The CRC-32 of an Ogg page (its checksum field zeroed)."""
    raw = zlib.crc32(page.translate(_BIT_REVERSED), 0xFFFFFFFF) ^ 0xFFFFFFFF
    return int(f"{raw:032b}"[::-1], 2)


def ogg_seconds(f, size: int, name: str) -> float | None:
    """Walk every page of an Ogg file (see :func:`stream_frames`); the seconds the first
    logical stream holds (Vorbis: its granule at its rate; Opus: at 48 kHz, less its
    pre-skip), or None for other codecs."""
    position, sequence, ended = 0, {}, set()
    first, granule, rate, skip = None, -1, 0, 0
    while position < size:
        f.seek(position)
        head = f.read(27)
        if len(head) < 27:
            raise cut(name, f"its last Ogg page is cut short at byte {position}")
        if head[:4] != b"OggS" or head[4] != 0:
            raise damaged(name, f"no Ogg page where one should start (byte {position})")
        flags, page_granule, serial, number, crc, count = struct.unpack("<BqIIIB", head[5:27])
        table = f.read(count)
        body = f.read(sum(table))
        if len(table) < count or len(body) < sum(table):
            raise cut(name, f"its last Ogg page (byte {position}) is cut short")
        if ogg_crc(head[:22] + b"\0\0\0\0" + head[26:] + table + body) != crc:
            raise damaged(name, f"the Ogg page at byte {position} fails its checksum")
        if serial in ended or (serial not in sequence and not flags & 2):
            raise damaged(name, f"the Ogg page at byte {position} belongs to no open stream")
        if serial in sequence and number != sequence[serial] + 1:
            raise damaged(name, f"Ogg pages are missing before byte {position} (page {number} follows "
                                f"{sequence[serial]})")  # fmt: skip
        sequence[serial] = number
        if flags & 4:
            ended.add(serial)
        if first is None:
            first = serial
            if body[:7] == b"\x01vorbis" and len(body) >= 16:
                rate = struct.unpack("<I", body[12:16])[0]
            elif body[:8] == b"OpusHead" and len(body) >= 12:
                rate, skip = 48000, struct.unpack("<H", body[10:12])[0]
        if serial == first and page_granule != -1:
            granule = page_granule
        position += 27 + count + sum(table)
    open_streams = set(sequence) - ended
    if open_streams:
        raise cut(name, "its Ogg stream ends without its end-of-stream page")
    return (granule - skip) / rate if rate and granule >= skip else None


# MPEG audio: kbit/s by (MPEG-1?, layer) and bitrate index; Hz by version and rate index.
_MPEG_BITRATES = {
    (True, 1): (0, 32, 64, 96, 128, 160, 192, 224, 256, 288, 320, 352, 384, 416, 448),
    (True, 2): (0, 32, 48, 56, 64, 80, 96, 112, 128, 160, 192, 224, 256, 320, 384),
    (True, 3): (0, 32, 40, 48, 56, 64, 80, 96, 112, 128, 160, 192, 224, 256, 320),
    (False, 1): (0, 32, 48, 56, 64, 80, 96, 112, 128, 144, 160, 176, 192, 224, 256),
    (False, 2): (0, 8, 16, 24, 32, 40, 48, 56, 64, 80, 96, 112, 128, 144, 160),
    (False, 3): (0, 8, 16, 24, 32, 40, 48, 56, 64, 80, 96, 112, 128, 144, 160),
}
_MPEG_RATES = {3: (44100, 48000, 32000), 2: (22050, 24000, 16000), 0: (11025, 12000, 8000)}


def mpeg_frame(header: bytes) -> tuple[tuple, int, int, int] | None:
    """An MPEG audio frame header's (version, layer, rate), its length in bytes, its
    samples and its rate, or None if these 4 bytes are not one (free format included)."""
    if len(header) < 4 or header[0] != 0xFF or header[1] & 0xE0 != 0xE0:
        return None
    version, layer = (header[1] >> 3) & 3, 4 - ((header[1] >> 1) & 3)
    index, rate_index, padding = header[2] >> 4, (header[2] >> 2) & 3, (header[2] >> 1) & 1
    if version == 1 or layer == 4 or index in (0, 15) or rate_index == 3:
        return None
    mpeg1 = version == 3
    kbps, rate = _MPEG_BITRATES[mpeg1, layer][index], _MPEG_RATES[version][rate_index]
    if layer == 1:
        length, samples = (12 * kbps * 1000 // rate + padding) * 4, 384
    else:
        per = 144 if layer == 2 or mpeg1 else 72
        length, samples = per * kbps * 1000 // rate + padding, 1152 if layer == 2 or mpeg1 else 576
    return (version, layer, rate), length, samples, rate


def mp3_seconds(f, size: int, name: str) -> float | None:
    """Walk an MP3's frames (see :func:`stream_frames`); the seconds they hold."""
    head = f.read(10)
    start = 0
    if head[:3] == b"ID3" and len(head) == 10:  # ID3v2: a 28-bit "syncsafe" size, a footer flag
        start = 10 + sum((b & 0x7F) << (7 * (3 - i)) for i, b in enumerate(head[6:10]))
        start += 10 if head[5] & 0x10 else 0
    end = size
    f.seek(max(0, size - 128))
    if size >= 128 and f.read(3) == b"TAG":  # ID3v1, at the very end
        end -= 128
    f.seek(max(0, end - 32))
    footer = f.read(32)
    if footer[:8] == b"APETAGEX" and len(footer) == 32:  # APEv2, before ID3v1
        tag = struct.unpack("<I", footer[12:16])[0] + (32 if struct.unpack("<I", footer[20:24])[0] & 2**31 else 0)
        end -= min(tag, end)
    f.seek(start)
    while start < end and f.read(1) == b"\0":  # padding after the tag
        start += 1
    position, kind, frames, samples, counted, rate = start, None, 0, 0, None, 0
    while position < end:
        f.seek(position)
        header = f.read(4 if position + 4 <= end else end - position)
        frame = mpeg_frame(header)
        if frame is None and kind is None:
            return None  # not a stream of MPEG frames this walk can follow (free format, ...)
        if frame is None:
            if not header.strip(b"\0") and not f.read(min(end - position, 2**16)).strip(b"\0"):
                break  # zero padding at the end
            why = "is cut short" if len(header) < 4 else "is broken"
            raise (cut if len(header) < 4 else damaged)(name, f"the MP3 frame at byte {position} {why}")
        this, length, per, rate = frame
        if kind is not None and this != kind:
            raise damaged(name, f"the MP3 frame at byte {position} does not match the stream's others")
        if position + length > end:
            raise cut(name, f"its last MP3 frame (byte {position}) is cut short")
        if kind is None:
            kind = this
            counted = xing_frames(f, position, header, length)
            if counted is not None:  # the Xing/Info/VBRI frame holds no audio
                position += length
                continue
        frames += 1
        samples += per
        position += length
    if counted is not None and frames < counted:
        raise cut(name, f"it holds {frames} MP3 frames where its header counts {counted}")
    return samples / rate if rate else None


def xing_frames(f, position: int, header: bytes, length: int) -> int | None:
    """The frame count of a Xing/Info or VBRI header in the first frame, or None."""
    f.seek(position)
    frame = f.read(min(length, 200))
    mpeg1, mono = (header[1] >> 3) & 3 == 3, header[3] >> 6 == 3
    side = (17 if mono else 32) if mpeg1 else (9 if mono else 17)
    tag = frame[4 + side : 4 + side + 12]
    if tag[:4] in (b"Xing", b"Info") and len(tag) == 12 and struct.unpack(">I", tag[4:8])[0] & 1:
        return struct.unpack(">I", tag[8:12])[0]
    if frame[36:40] == b"VBRI" and len(frame) >= 54:
        return struct.unpack(">I", frame[50:54])[0]
    return None


# Matroska (EBML): the segment, and a cluster, may have an unknown size (all ones).
_SEGMENT, _CLUSTER = 0x18538067, 0x1F43B675


def ebml_number(f, is_id: bool) -> tuple[int, int] | None:
    """An EBML element ID (with its marker) or size (without; -1 if unknown), and its length."""
    first = f.read(1)
    if not first or first[0] == 0:
        return None
    length = 9 - first[0].bit_length()
    if is_id and length > 4:
        return None
    rest = f.read(length - 1)
    if len(rest) < length - 1:
        return None
    value = int.from_bytes(first + rest, "big")
    if is_id:
        return value, length
    value &= (1 << (7 * length)) - 1
    return (-1 if value == (1 << (7 * length)) - 1 else value), length


def matroska_check(f, size: int, name: str) -> None:
    """Every element of a Matroska file's segment and of its clusters (the blocks that hold
    the audio) must start where the one before ended and end within the file (see
    :func:`stream_frames`)."""
    position, steps = 0, 0
    while position < size and steps < 2**22:  # bounded: ~4 million elements
        steps += 1
        f.seek(position)
        element, id_length = ebml_number(f, True) or (None, 0)
        measured = ebml_number(f, False) if element is not None else None
        if measured is None:
            if position + 12 > size:  # an element's ID and size take at most 12 bytes
                raise cut(name, f"its last Matroska element (byte {position}) is cut short")
            raise damaged(name, f"no Matroska element where one should start (byte {position})")
        length, size_length = measured
        body = position + id_length + size_length
        if length < 0:
            if element not in (_SEGMENT, _CLUSTER):
                return
            position = body  # unknown size: walk its children
            continue
        if body + length > size:
            raise cut(name, f"its Matroska element at byte {position} needs {body + length - size} more bytes "
                            f"than the file holds")  # fmt: skip
        position = body if element in (_SEGMENT, _CLUSTER) else body + length  # into a cluster: its blocks


TS_PACKET = 188  # an MPEG transport stream's packet: the sync byte 0x47 and 187 bytes


def mpegts_synced(opened) -> bool:
    """Whether the first three packets start with the sync byte (an MPEG-TS file)."""
    head = head_bytes(opened, 2 * TS_PACKET + 1)
    return len(head) == 2 * TS_PACKET + 1 and head[0] == head[TS_PACKET] == head[2 * TS_PACKET] == 0x47


def mpegts_check(f, size: int, name: str) -> None:
    """Every 188-byte packet of a transport stream starts with 0x47, and the file ends on a
    packet's end (see :func:`stream_frames`). Read in 1 MiB pieces."""
    step = TS_PACKET * 5577  # ~1 MiB
    for start in range(0, size, step):
        f.seek(start)
        piece = f.read(min(step, size - start))
        syncs = piece[::TS_PACKET]
        bad = next((i for i, b in enumerate(syncs) if b != 0x47), None)
        if bad is not None:
            raise damaged(name, f"its MPEG-TS packet at byte {start + bad * TS_PACKET} has lost its sync byte")
    if size % TS_PACKET:
        raise cut(name, f"its last MPEG-TS packet (byte {size - size % TS_PACKET}) is cut short")


def riff_check(f, size: int, name: str) -> None:
    """Each top-level chunk of a RIFF file ends within the file (see :func:`stream_frames`);
    a size field of 0xFFFFFFFF (a writer to a pipe) is open and ends the walk."""
    position = 0
    while position + 8 <= size:
        f.seek(position)
        length = struct.unpack("<I", f.read(8)[4:8])[0]
        if length == 0xFFFFFFFF:
            return
        end = position + 8 + length + (length & 1)  # chunks are padded to even sizes
        if end > size + 1:
            raise cut(name, f"its RIFF chunk at byte {position} needs {end - size:,} more bytes than the file holds")
        position = end


def caf_check(f, size: int, name: str) -> None:
    """Each chunk of a Core Audio Format file (a 4-byte type, a 64-bit big-endian size)
    ends within the file (see :func:`stream_frames`)."""
    position = 8  # "caff", version, flags
    while position + 12 <= size:
        f.seek(position)
        length = struct.unpack(">q", f.read(12)[4:12])[0]
        if length == -1:  # the data chunk of a file written as a stream: to the end
            return
        end = position + 12 + length
        if length < 0 or end > size:
            raise cut(name, f"its CAF chunk at byte {position} needs {end - size:,} more bytes than the file holds")
        position = end
