"""FFmpeg's decoders through PyAV (optional): M4A/AAC, MP4, WebM, MKV and the rest."""

from __future__ import annotations

import numpy as np

from ..errors import AudioFileError
from .decoder_base import DECODE_ERRORS, Closing, truncated, undecodable


class AvDecoder(Closing):
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
