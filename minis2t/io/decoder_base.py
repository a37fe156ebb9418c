"""What the two audio decoders share: the errors they raise and their context manager
(the walks of a stream's own structure are in :mod:`minis2t.io.stream_checks`)."""

from __future__ import annotations

import soundfile

from ..errors import AudioFileError


# What libsndfile (through soundfile) raises for a file it cannot read.
DECODE_ERRORS = (soundfile.LibsndfileError, RuntimeError, TypeError, EOFError, OSError)


class Closing:
    """A decoder used as a context manager: ``close()`` on the way out."""

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


def undecodable(name: str, error: Exception, hint: str = "") -> AudioFileError:
    """The error for a file no decoder can read (``error``: libsndfile's), saying what to do."""
    return AudioFileError(
        f"cannot decode {name}: {clean_reason(error)}{hint}. minis2t reads what libsndfile "
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


def clean_reason(error: Exception) -> str:
    """libsndfile's message without its boilerplate ("Error opening <object>: ", "Error : ")
    or its final period (we add our own sentence after it)."""
    reason = str(error).strip()
    if reason.startswith("Error opening ") and ": " in reason:
        reason = reason.split(": ", 1)[1]
    reason = reason.removeprefix("Error : ").strip().rstrip(".")
    return reason or type(error).__name__


def damaged(name: str, what: str) -> AudioFileError:
    """The error for a stream whose own structure is broken (a checksum, a lost page)."""
    return AudioFileError(f"{name} is damaged: {what}. Re-copy or re-export the file; minis2t never "
                          f"transcribes a damaged file in part.")  # fmt: skip


def cut(name: str, what: str) -> AudioFileError:
    """The error for a stream that ends before its own structure says it does."""
    return AudioFileError(f"{name} is truncated: {what}. Re-copy or re-export the file; minis2t never "
                          f"transcribes a cut file in part.")  # fmt: skip
