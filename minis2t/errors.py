"""Exception types raised by minis2t.

Every error minis2t raises on bad input is a :class:`MiniS2TError`. It subclasses
``ValueError`` so code written against the usual Python contract (bad value ->
``ValueError``) keeps working, and every message names the problem *and* what to do
about it. The subclasses let callers catch one kind of problem precisely::

    try:
        wave = minis2t.load_audio("talk.wav")
    except minis2t.errors.AudioFileError as e:
        print("could not read the file:", e)
"""

from __future__ import annotations


class MiniS2TError(ValueError):
    """Base class of every error minis2t raises on bad input or bad files."""


# --- audio ------------------------------------------------------------------------


class AudioError(MiniS2TError):
    """Something is wrong with an audio input (file or array)."""


class AudioFileError(AudioError):
    """An audio file is missing, unreadable, truncated, or in a format neither libsndfile nor
    FFmpeg (PyAV) decodes."""


class EmptyAudioError(AudioError):
    """The audio holds no samples."""


class NonFiniteAudioError(AudioError):
    """The audio holds NaN or infinite samples."""


class AudioTooShortError(AudioError):
    """The audio is shorter than one 25 ms analysis frame (400 samples at 16 kHz)."""


class AudioShapeError(AudioError):
    """An audio array has the wrong rank or an implausible channel layout."""


class AudioDtypeError(AudioError):
    """An audio array has a dtype that is neither floating point nor integer PCM."""


class AudioRangeError(AudioError):
    """Float samples far outside [-1, 1] (beyond 2**32): the audio's scale is wrong."""


class SamplingRateError(AudioError):
    """A sampling rate is missing, non-positive, or not the one a stage requires."""


# --- features ---------------------------------------------------------------------


class FeatureError(MiniS2TError):
    """Bad arguments to the feature extractor (padding, truncation, shapes)."""


# --- model directories ---------------------------------------------------------------


class ConfigError(MiniS2TError):
    """A config file is missing, malformed, or holds an impossible value (named in the message)."""


class TokenizerError(MiniS2TError):
    """Tokenizer files are missing or inconsistent, or a language code is unknown."""


class UnknownLanguageError(TokenizerError):
    """A language code the model does not know; the message lists the valid ones."""


class CheckpointError(MiniS2TError):
    """A weights file is missing, corrupt, truncated, or holds unexpected tensors."""


class UnsafePickleError(CheckpointError):
    """A ``pytorch_model.bin`` pickle asked for something other than tensor rebuilding.

    minis2t never runs such a pickle: it stops at the first forbidden instruction."""


class ModelNotFoundError(MiniS2TError):
    """A model name is neither a local directory nor resolvable through huggingface_hub."""


class OnnxModelError(CheckpointError):
    """An exported ONNX directory (``minis2t export-onnx``) cannot be run: a graph is
    missing, damaged, of an unsupported opset, lacks an input or output (a cache), or was
    exported from another model; or onnxruntime is not installed."""


class ExportError(MiniS2TError):
    """A model cannot be exported to ONNX (an option out of range, a configuration the
    graphs cannot carry, a target directory in the way, or torch/transformers/onnx missing)."""


class TensorFileError(MiniS2TError):
    """A golden or port tensor file (``minis2t golden``: safetensors) is missing, truncated,
    malformed (its header, a dtype, a shape or an offset), or not what it claims to be."""


# --- model inputs --------------------------------------------------------------------


class ModelInputError(MiniS2TError):
    """Model inputs of the wrong shape or range (feature bins, token ids, masks)."""


class LabelError(ModelInputError):
    """Training labels that are not ``[B, L]`` integers in the vocabulary (or -100)."""


class InputTooLongError(ModelInputError):
    """More encoder or decoder positions than the model has (``max_source_positions``,
    ``max_target_positions``): split the audio or ask for fewer tokens."""


class SilentAudioError(AudioError):
    """The audio is digital silence (every sample is zero): there is nothing to transcribe."""


class AudioTooLongError(AudioError, InputTooLongError):
    """Audio longer than allowed (``max_seconds``, or the model's ``max_source_positions``):
    split it. Refused before decoding where the length is known from the stream itself (an
    array's length, a WAV's data, a walked Ogg or MP3); a bare header claim (a FLAC's, an
    MP4's) is not trusted, and decoding stops one chunk past the limit instead."""


class UnsupportedError(MiniS2TError):
    """An argument or config value that transformers accepts and minis2t refuses on
    purpose (``return_tensors="pt"``: minis2t returns NumPy): the message names it and
    says why. Never a silent difference instead."""


class NumericalError(MiniS2TError):
    """The model produced NaN or infinite values: its weights are damaged, or the input is
    beyond what float arithmetic can carry. Never returned as text."""


class CorpusError(MiniS2TError):
    """A corpus run cannot start: a bad manifest, an output file that is not one of its
    own, no cluster at the given address, or the cluster engine not installed."""


# --- the command ---------------------------------------------------------------------


class UsageError(MiniS2TError):
    """A command-line option the ``minis2t`` command cannot work with (an unusable
    ``--output-dir``, a task or language the model does not have, options that contradict
    each other): exit status 2, in one line, before any file is read."""


class OutputError(MiniS2TError):
    """An output file of the command could not be written (that recording fails with
    this error; the others go on)."""


class ErrorText(str):
    """An error's message that remembers its type's name (``kind``): what :func:`guarded`
    returns, so that the command can report which typed error a file got."""

    kind: str = "MiniS2TError"

    def __new__(cls, message: str, kind: str):
        text = super().__new__(cls, message)
        text.kind = kind
        return text

    def __reduce__(self):
        # a corpus run sends it from a worker process: rebuilt from (message, kind), so the
        # type, the text and the kind cross the boundary (str's own reduce loses ``kind``)
        return (type(self), (str(self), self.kind))


def check_return_tensors(return_tensors) -> None:
    """``None`` and ``"np"`` are what minis2t returns; any other framework (``"pt"``,
    ``"tf"``, ``"jax"``, ``"mlx"``) is an :class:`UnsupportedError`, never a silent NumPy."""
    if return_tensors not in (None, "np"):
        raise UnsupportedError(
            f"return_tensors={return_tensors!r}: minis2t computes in NumPy and returns NumPy "
            f"arrays only (return_tensors='np'). Convert them where another library needs "
            f"them, e.g. torch.from_numpy(x)."
        )


def guarded(function, *args, **kwargs):
    """``(function(...), None)``, or ``(None, message)`` for any failure: one file's
    problem, even an unexpected one, never costs the other files their output. The
    message is an :class:`ErrorText`: its ``kind`` names the error's type."""
    try:
        return function(*args, **kwargs), None
    except MiniS2TError as e:
        return None, ErrorText(str(e), type(e).__name__)
    except MemoryError:
        return None, ErrorText("out of memory while processing this file; split it or free memory.", "MemoryError")
    except Exception as e:  # a bug of ours: report it, keep going
        return None, ErrorText(f"internal error ({type(e).__name__}: {e}); please report it.", "InternalError")
