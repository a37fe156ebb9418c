"""FFmpeg's decoders through PyAV (optional): M4A/AAC, MP4, WebM, MKV, MP3 and the rest."""

from __future__ import annotations

import contextlib

import numpy as np

from ..errors import AudioFileError
from .audio_checks import check_channels
from .decoder_base import DECODE_ERRORS, Closing, clean_reason, truncated
from .stream_checks import container_kind, stream_frames


class AvDecoder(Closing):
    """FFmpeg's decoders through PyAV (the ``av`` package, which ships its own FFmpeg
    libraries): the first audio track of any container FFmpeg reads, decoded frame by
    frame and converted to packed float32 at the track's own rate (resampling stays
    minis2t's).

    Packed ``flt``, reshaped here to ``[k, C]``: PyAV's planar ``fltp`` frames of 8 or
    more channels report one plane too many, and ``to_ndarray`` then reads past the
    frame's memory (a segmentation fault, seen with PyAV 18 on 7.1 AAC and 8-channel MKV).

    What is judged complete, and from what (never from the container's total duration,
    which is the longest track's, so a video longer than its sound is not "truncated"):

    * MP4/M4A/MOV: the track's own duration (its ``mdhd`` and sample table), compared
      with what was decoded; a file cut before its ``moov`` cannot be opened at all;
    * Matroska/WebM: a track has no duration of its own; the file's elements are walked
      (:func:`~minis2t.io.decoder_base.stream_frames`) and one that runs past the end of
      the file (a cut cluster or block) is truncation;
    * MP3: its frames are walked (a cut last frame, fewer frames than its Xing/Info/VBRI
      header counts);
    * anything else: only what FFmpeg itself reports as undecodable.
    """

    def __init__(self, container, stream, name: str, opened):
        self.container, self.stream, self.name = container, stream, name
        context = stream.codec_context
        self.rate = int(context.sample_rate or stream.rate or 0)
        self.channels = int(context.channels or 0)
        self.kind = container_kind(opened)
        seconds = None
        if self.kind == "mp4" and stream.duration is not None and stream.time_base is not None:
            seconds = float(stream.duration * stream.time_base)  # the track's own duration
        self.frames = None if seconds is None or self.rate <= 0 else int(round(seconds * self.rate))
        self.verified = False  # frames is a claim of the header, not what the stream holds
        self._opened = opened
        self._frames = container.decode(stream)
        self._convert = None  # an av.AudioResampler to packed float, made at the first frame
        self._pending: list[np.ndarray] = []  # decoded [k, C] pieces not yet returned
        self._have = 0  # frames in them
        self._decoded = 0  # frames decoded so far, for messages
        self._ended = False

    @classmethod
    def open(cls, opened, name: str) -> AvDecoder | None | Exception:
        """The decoder; None when PyAV is not installed; FFmpeg's error when it cannot
        open the data. A container without an audio track is an AudioFileError."""
        try:
            import av
        except ImportError:
            return None
        try:
            container = av.open(opened, mode="r")
        except (av.FFmpegError, *DECODE_ERRORS, ValueError) as e:
            return e
        stream = next((s for s in container.streams if s.type == "audio"), None)
        if stream is None:
            # a video track FFmpeg can decode: a video without sound; else (no track, or only
            # tracks without a codec, as a damaged moov leaves them) the container is damaged
            damaged = not any(s.type == "video" and s.codec_context is not None for s in container.streams)
            container.close()
            if damaged:
                raise AudioFileError(f"cannot decode {name}: FFmpeg finds no readable track in it; its container "
                                     f"is damaged. Re-copy or re-export the file.")  # fmt: skip
            raise AudioFileError(f"{name} has no audio track (a video without sound?); nothing to transcribe.")
        if stream.codec_context is None:
            container.close()
            raise AudioFileError(f"{name}: FFmpeg has no decoder for its audio track's codec (or the track's "
                                 f"header is damaged); convert it to WAV or FLAC with a tool that reads "
                                 f"it.")  # fmt: skip
        return cls(container, stream, name, opened)

    def check_header(self) -> None:
        """A rate, and what the stream's own structure says (see the class docstring)."""
        if self.rate <= 0:
            raise AudioFileError(f"{self.name}: its audio track declares no sampling rate; it is damaged.")
        check_channels(self.channels, self.name)
        seconds = stream_frames(self._opened, self.name, self.kind)
        if seconds is not None:
            self.frames, self.verified = int(round(seconds * self.rate)), True

    def _decode_more(self) -> bool:
        """Decode the next frame into ``_pending``; False at the end of the track."""
        import av

        if self._ended:
            return False
        try:
            frame = next(self._frames, None)
            if self._convert is None and frame is not None:
                self._convert = av.AudioResampler(format="flt", layout=frame.layout, rate=self.rate)
            if self._convert is None:
                self._ended = True
                return False
            converted = self._convert.resample(frame)  # None flushes the converter
            for piece in converted:
                channels = piece.layout.nb_channels
                data = piece.to_ndarray()  # packed: [1, k * C]
                self._pending.append(data.reshape(-1, channels).astype(np.float32, copy=False))  # [k, C]
                self._have += self._pending[-1].shape[0]
                self._decoded += self._pending[-1].shape[0]
        except (av.FFmpegError, *DECODE_ERRORS, ValueError) as e:  # the stream itself fails, mid-way
            reason = getattr(e, "strerror", None) or clean_reason(e)  # FFmpeg's words, without errno or call
            raise AudioFileError(
                f"cannot decode {self.name} to its end: FFmpeg's {self.stream.codec_context.name} decoder fails "
                f"after {self._decoded / self.rate:.2f} s ({reason}); the file is damaged or cut short. Re-copy "
                f"or re-export the file; minis2t never transcribes a damaged file in part."
            ) from None
        if frame is None:
            self._ended = True
        return True

    @contextlib.contextmanager
    def _ffmpeg_log(self):
        """FFmpeg's error log for this thread, captured while the block runs (one capture per
        :meth:`read`, not per frame: setting it up costs about as much as decoding a frame)."""
        import av.logging

        previous = av.logging.get_level()
        av.logging.set_level(av.logging.ERROR)
        try:
            with av.logging.Capture(local=True) as logs:
                yield logs
        finally:
            av.logging.set_level(previous)

    def _refuse_on_errors(self, logs: list) -> None:
        """FFmpeg logs an error and goes on where a stream is damaged or cut (an AC3 frame cut
        short, an invalid Matroska element, a corrupt packet) and would decode around it:
        any such error refuses the file. Valid files log none (tested on AAC, ALAC, Opus,
        Vorbis, FLAC, MP3, WMA, AC3 in their usual containers); warnings are not errors.
        Checked after every frame, so the time it names is where decoding was."""
        import av.logging

        reported = [message.strip() for level, _, message in logs if level <= av.logging.ERROR]
        if reported:
            raise AudioFileError(
                f"{self.name} is damaged or cut short: FFmpeg reports '{reported[0]}' after "
                f"{self._decoded / self.rate:.2f} s of audio. Re-copy or re-export the file; minis2t never "
                f"transcribes a damaged file in part."
            )

    def read(self, n: int) -> np.ndarray:
        with self._ffmpeg_log() as logs:
            while (n < 0 or self._have < n) and self._decode_more():
                self._refuse_on_errors(logs)
            self._refuse_on_errors(logs)  # the last call, which found the end
        if not self._pending:
            return np.zeros((0, max(1, self.channels)), np.float32)
        data = self._pending[0] if len(self._pending) == 1 else np.concatenate(self._pending)  # [have, C]
        n = data.shape[0] if n < 0 else min(n, data.shape[0])
        self._pending = [data[n:]] if n < data.shape[0] else []
        self._have = data.shape[0] - n
        return data[:n]

    def check_complete(self, n: int) -> None:
        """An MP4 track that stops well short of its own duration is truncated. The margin
        covers codec frame padding (an AAC frame is 1024 samples, and encoders add up to
        two frames of priming)."""
        if self.frames is not None and n < self.frames - max(4096, 0.05 * self.rate):
            raise truncated(self.name, self.frames, n, self.rate)

    def close(self) -> None:
        self.container.close()
